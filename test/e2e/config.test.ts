// Configuration rules and errors (spec §5, §7, §11): each refused command carries the kernel's errno,
// names the problem, and changes nothing (links, registry and MAC table are the same before and after).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkLines, withMacvlan } from '../helpers/instance.js';
import { Sandbox, run } from '../helpers/sandbox.js';
import { Macvlan, hostEndName, type AddChildRequest } from '../../src/control/macvlan.js';
import { ConfigError } from '../../src/control/errors.js';
import { CHILD_UP } from '../../src/datapath/abi.js';
import { IN_GUEST } from '../helpers/scale.js';

const sb = new Sandbox('c');
const CLI = path.resolve(__dirname, '../../bin/macvlan-bpf');
let host = '';
let kids = '';
let pins = '';

const links = linkLines;
const withM = <T>(fn: (m: Macvlan) => T): T => withMacvlan(host, pins, fn);
function snapshot() {
  return withM((m) => ({
    host: links(host),
    kids: links(kids),
    children: m.dp.listChildren().map((c) => `${c.name} ${c.mac} ${c.mode} ${c.flags} ${c.mtu}`).sort(),
    macs: m.dp.listMacs().map((e) => `${e.parentIfindex} ${e.mac} ${e.entry.hostIfindex}`).sort(),
    ports: m.dp.listPorts().map((p) => `${p.parentIfindex} ${p.port.flags} ${p.port.nchildren}`).sort(),
  }));
}
/** Runs op, expects a ConfigError with code and a message matching re, and no change at all. */
function refused(code: string, re: RegExp, op: (m: Macvlan) => unknown) {
  const before = snapshot();
  let err: unknown;
  try {
    withM(op);
  } catch (e) {
    err = e;
  }
  expect(err, 'the command must be refused').toBeInstanceOf(ConfigError);
  expect((err as ConfigError).code).toBe(code);
  expect((err as ConfigError).message).toMatch(re);
  expect(snapshot(), 'a refused command changes nothing').toEqual(before);
}
function cli(args: string[]) {
  const r = spawnSync('nsenter', [`--net=/run/netns/${host}`, CLI, ...args], { encoding: 'utf8', env: { ...process.env, MACVLAN_BPF_PIN_ROOT: pins } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const add = (req: Partial<AddChildRequest> & { name: string }) => (m: Macvlan) => m.add({ parent: 'p0', netns: kids, mode: 'bridge', ...req });

beforeAll(() => {
  host = sb.netns('host');
  kids = sb.netns('kids');
  const ext = sb.netns('ext');
  pins = sb.pinRoot();
  run('ip', ['-n', host, 'link', 'add', 'p0', 'address', '02:0a:00:00:00:01', 'mtu', '1500', 'type', 'veth', 'peer', 'name', 'e0', 'netns', ext]);
  run('ip', ['-n', host, 'link', 'add', 'pt0', 'address', '02:0a:00:00:00:02', 'type', 'veth', 'peer', 'name', 'e1', 'netns', ext]);
  run('ip', ['-n', host, 'link', 'add', 'enp0s3', 'type', 'veth', 'peer', 'name', 'e2', 'netns', ext]);
  run('ip', ['-n', host, 'link', 'add', 'sl0', 'type', 'veth', 'peer', 'name', 'e3', 'netns', ext]);
  run('ip', ['-n', host, 'link', 'add', 'br0', 'type', 'bridge']);
  run('ip', ['-n', host, 'link', 'set', 'sl0', 'master', 'br0']);
  run('ip', ['-n', host, 'tuntap', 'add', 'mode', 'tun', 'name', 'tun0']);
  for (const l of ['p0', 'pt0', 'enp0s3']) run('ip', ['-n', host, 'link', 'set', l, 'up']);
  withM((m) => {
    m.add({ parent: 'p0', name: 'c1', netns: kids, mode: 'bridge', address: '02:00:00:00:00:01' });
    m.add({ parent: 'p0', name: 'c2', netns: kids, mode: 'vepa', address: '02:00:00:00:00:02' });
    m.setUp('c1', true);
    m.add({ parent: 'pt0', name: 't1', netns: kids, mode: 'passthru' });
  });
});
afterAll(() => sb.cleanup());

describe('configuration errors change nothing', () => {
  it('a loopback parent: EINVAL', () => refused('EINVAL', /loopback/, add({ parent: 'lo', name: 'x1' })));
  it('a parent that is not Ethernet: EINVAL', () => refused('EINVAL', /not an Ethernet device/, add({ parent: 'tun0', name: 'x1' })));
  it('a parent that does not exist: ENODEV', () => refused('ENODEV', /Cannot find device "nope0"/, add({ parent: 'nope0', name: 'x1' })));
  it('a bridge port as parent: EBUSY', () => refused('EBUSY', /enslaved to br0/, add({ parent: 'sl0', name: 'x1' })));
  it('mtu above the parent\'s: EINVAL', () => refused('EINVAL', /above the parent p0's mtu 1500/, add({ name: 'x1', mtu: 1600 })));
  it('mtu below 68: EINVAL', () => refused('EINVAL', /less than device minimum/, add({ name: 'x1', mtu: 67 })));
  it('a malformed MAC: EINVAL', () => refused('EINVAL', /not a MAC address/, add({ name: 'x1', address: '02:00:00:00:01' })));
  it('a multicast MAC: EADDRNOTAVAIL', () => refused('EADDRNOTAVAIL', /unicast/, add({ name: 'x1', address: '03:00:00:00:00:01' })));
  it('an unknown mode: EINVAL', () => refused('EINVAL', /"source2" is not a mode/, add({ name: 'x1', mode: 'source2' as never })));
  it('a missing netns: ENOENT', () => refused('ENOENT', /does not exist/, add({ name: 'x1', netns: `${sb.prefix}-nope` })));
  it('a passthru child on a port with children: EINVAL', () => refused('EINVAL', /passthru needs a parent without children/, add({ name: 'x1', mode: 'passthru' })));
  it('any child on a passthru port: EINVAL', () => refused('EINVAL', /passthru child \(t1\)/, add({ parent: 'pt0', name: 'x1' })));
  it('a name that exists with other settings: EEXIST', () => refused('EEXIST', /already exists with other settings/, add({ name: 'c1', mode: 'private' })));
  it('a name used by another interface there: EEXIST', () => refused('EEXIST', /already exists in netns/, add({ name: 'lo' })));
  it('mode change to passthru: EINVAL', () => refused('EINVAL', /to or from passthru/, (m) => m.setMode('c2', 'passthru')));
  it('mode change from passthru: EINVAL', () => refused('EINVAL', /to or from passthru/, (m) => m.setMode('t1', 'vepa')));
  it('set mtu above the parent\'s: EINVAL', () => refused('EINVAL', /above the parent/, (m) => m.setMtu('c1', 9000)));
  it('set an UP sibling\'s MAC: EADDRINUSE', () => refused('EADDRINUSE', /belongs to UP child c1/, (m) => m.setAddress('c2', '02:00:00:00:00:01')));
  it('set the parent\'s MAC: EADDRINUSE', () => refused('EADDRINUSE', /parent p0's own MAC/, (m) => m.setAddress('c2', '02:0a:00:00:00:01')));
  it('a child that does not exist: ENODEV', () => refused('ENODEV', /Cannot find device "ghost"/, (m) => m.setUp('ghost', true)));
});

describe('configuration rules', () => {
  it('a child of ours named as the parent: the new child goes on the real parent, as kernel macvlan does (no nesting)', () => {
    withM((m) => {
      m.add({ parent: 'p0', name: 'n1', mode: 'bridge', address: '02:00:00:00:00:31' }); // in the parent's netns
      const n2 = m.add({ parent: 'n1', name: 'n2', netns: kids, mode: 'bridge', address: '02:00:00:00:00:32' });
      try {
        expect(m.ifname(n2.parentIfindex)).toBe('p0');
        expect(m.dp.getPort(m.dp.getChild(n2.hostIfindex)!.parentIfindex)).not.toBeNull();
        const n1 = m.findChild('n1');
        expect(m.dp.getPort(n1.hostIfindex), 'the host end is no port').toBeNull();
      } finally {
        m.del('n2', kids);
        m.del('n1');
      }
    });
    // The kernel's own answer on the same kind of device.
    run('ip', ['-n', host, 'link', 'add', 'link', 'p0', 'name', 'km1', 'type', 'macvlan']);
    run('ip', ['-n', host, 'link', 'add', 'link', 'km1', 'name', 'km2', 'type', 'macvlan']);
    try {
      expect(run('ip', ['-n', host, '-o', 'link', 'show', 'km2'])).toMatch(/km2@p0:/);
    } finally {
      run('ip', ['-n', host, 'link', 'del', 'km2']);
      run('ip', ['-n', host, 'link', 'del', 'km1']);
    }
  });
  it('two children may share a MAC; the second cannot come up (EADDRINUSE at open)', () => {
    withM((m) => m.add({ parent: 'p0', name: 'd1', netns: kids, mode: 'bridge', address: '02:00:00:00:00:01' }));
    refused('EADDRINUSE', /belongs to UP child c1/, (m) => m.setUp('d1', true));
    withM((m) => m.del('d1'));
  });

  it('a child with the parent\'s MAC is created, but cannot come up', () => {
    withM((m) => m.add({ parent: 'p0', name: 'd2', netns: kids, mode: 'vepa', address: '02:0a:00:00:00:01' }));
    refused('EADDRINUSE', /parent p0's own MAC/, (m) => m.setUp('d2', true));
    withM((m) => m.del('d2'));
  });

  it('setting a DOWN sibling\'s MAC is allowed', () => {
    withM((m) => {
      m.setAddress('c2', '02:00:00:00:00:07');
      m.add({ parent: 'p0', name: 'd3', netns: kids, mode: 'vepa', address: '02:00:00:00:00:08' });
      m.setAddress('d3', '02:00:00:00:00:07');
      expect(m.findChild('d3').mac).toBe('02:00:00:00:00:07');
      m.del('d3');
      m.setAddress('c2', '02:00:00:00:00:02');
    });
  });

  it('up inserts the MAC and adds it to the parent\'s unicast filter; down removes both', () => {
    withM((m) => {
      m.setUp('c2', true);
      const c = m.findChild('c2');
      expect(m.dp.getMac(c.parentIfindex, c.mac)?.hostIfindex).toBe(c.hostIfindex);
      expect(run('bridge', ['-n', host, 'fdb', 'show', 'dev', 'p0'])).toContain('02:00:00:00:00:02 self permanent');
      m.setUp('c2', false);
      expect(m.dp.getMac(c.parentIfindex, c.mac)).toBeNull();
      expect(m.findChild('c2').flags & CHILD_UP).toBe(0);
      expect(run('bridge', ['-n', host, 'fdb', 'show', 'dev', 'p0'])).not.toContain('02:00:00:00:00:02');
    });
  });

  it('a MAC change while UP re-keys the table', () => {
    withM((m) => {
      m.setUp('c2', true);
      m.setAddress('c2', '02:00:00:00:00:22');
      const c = m.findChild('c2');
      expect(m.dp.getMac(c.parentIfindex, '02:00:00:00:00:22')?.hostIfindex).toBe(c.hostIfindex);
      expect(m.dp.getMac(c.parentIfindex, '02:00:00:00:00:02')).toBeNull();
      m.setAddress('c2', '02:00:00:00:00:02');
      m.setUp('c2', false);
    });
  });

  it('a passthru child inherits the parent\'s MAC and makes the parent promiscuous while UP', () => {
    withM((m) => {
      expect(m.findChild('t1').mac).toBe('02:0a:00:00:00:02');
      m.setUp('t1', true);
      expect(run('ip', ['-n', host, 'link', 'show', 'pt0'])).toContain('PROMISC');
      m.setUp('t1', false);
      expect(run('ip', ['-n', host, 'link', 'show', 'pt0'])).not.toContain('PROMISC');
    });
  });

  it('the mode changes at run time and takes effect in the table', () => {
    withM((m) => {
      m.setMode('c1', 'vepa');
      const c = m.findChild('c1');
      expect(m.dp.getMac(c.parentIfindex, c.mac)?.mode).toBe('vepa');
      m.setMode('c1', 'bridge');
    });
  });

  it('adding the same child twice converges', () => {
    const before = snapshot();
    withM((m) => m.add({ parent: 'p0', name: 'c1', netns: kids, mode: 'bridge', address: '02:00:00:00:00:01' }));
    expect(snapshot()).toEqual(before);
  });

  it('a host end left by a crash halfway is cleaned up and the add completes', () => {
    const host0 = hostEndName(pins, kids, 'r1');
    run('ip', ['-n', host, 'link', 'add', host0, 'type', 'veth', 'peer', 'name', 'r1tmp']);
    withM((m) => {
      m.add({ parent: 'p0', name: 'r1', netns: kids, mode: 'vepa' });
      expect(m.findChild('r1').hostIfindex).toBeGreaterThan(0);
      m.del('r1');
    });
    expect(links(host).join('\n')).not.toMatch(/r1tmp|mvb.*r1/);
  });

  it('a host end of ours in no registry (a command killed between making and recording) is removed by the next command; one that is not ours stays', () => {
    const ours = hostEndName(pins, kids, 'o1');
    run('ip', ['-n', host, 'link', 'add', ours, 'type', 'veth', 'peer', 'name', 'o1', 'netns', kids]);
    const notOurs = hostEndName('/sys/fs/bpf/another-instance', kids, 'o2');
    run('ip', ['-n', host, 'link', 'add', notOurs, 'type', 'veth', 'peer', 'name', 'o2', 'netns', kids]);
    try {
      expect(cli(['link', 'show']).code).toBe(0);
      expect(links(host).some((l) => l.startsWith(`${ours} `)), 'our orphan is gone').toBe(false);
      expect(links(kids).some((l) => l.startsWith('o1 ')), 'with its child end').toBe(false);
      expect(links(host).some((l) => l.startsWith(`${notOurs} `)), 'another instance\'s stays').toBe(true);
    } finally {
      run('ip', ['-n', host, 'link', 'del', notOurs]);
    }
  });

  it('deleting the parent removes its children and all their state', () => {
    withM((m) => {
      m.add({ parent: 'enp0s3', name: 'g1', netns: kids, mode: 'bridge' });
      m.add({ parent: 'enp0s3', name: 'g2', netns: kids, mode: 'private' });
      m.setUp('g1', true);
    });
    run('ip', ['-n', host, 'link', 'del', 'enp0s3']);
    const r = withM((m) => {
      const rep = m.reconcile();
      return { rep, names: m.dp.listChildren().map((c) => c.name), macs: m.dp.listMacs().length, ports: m.dp.listPorts().length };
    });
    expect(r.names).not.toContain('g1');
    expect(r.names).not.toContain('g2');
    expect(links(kids).join('\n')).not.toMatch(/^g[12] /m);
    expect(r.macs).toBe(1); // only c1's
    expect(r.ports).toBe(2); // p0 and pt0
    run('ip', ['-n', host, 'link', 'add', 'enp0s3', 'type', 'veth', 'peer', 'name', 'e2b']);
    run('ip', ['-n', host, 'link', 'set', 'enp0s3', 'up']);
  });

  it('ip link set up/down made outside macvlan-bpf is taken into the table on the next command', () => {
    run('ip', ['-n', kids, 'link', 'set', 'c2', 'up']);
    withM((m) => {
      const c = m.findChild('c2');
      expect(m.dp.getMac(c.parentIfindex, c.mac)?.hostIfindex).toBe(c.hostIfindex);
    });
    run('ip', ['-n', kids, 'link', 'set', 'c2', 'down']);
    withM((m) => {
      const c = m.findChild('c2');
      expect(m.dp.getMac(c.parentIfindex, c.mac)).toBeNull();
    });
  });
});

// The command line's words and exit codes do not depend on the kernel: the host checks them.
if (!IN_GUEST) describe('the CLI', () => {
  it('accepts the seed\'s own syntax and shows the child like ip -j', () => {
    expect(cli(['li', 'add', 'link', 'enp0s3', 'mac0', 'type', 'macvlan', 'mode', 'private'])).toMatchObject({ code: 0 });
    const show = cli(['-j', 'link', 'show', 'mac0']);
    expect(show.code).toBe(0);
    const [j] = JSON.parse(show.out);
    expect(j).toMatchObject({ ifname: 'mac0', link: 'enp0s3', linkinfo: { info_kind: 'macvlan', info_data: { mode: 'private' } } });
    expect(j.flags).not.toContain('UP');
    expect(cli(['link', 'set', 'dev', 'mac0', 'up']).code).toBe(0);
    expect(JSON.parse(cli(['link', 'show', 'dev', 'mac0', '-j']).out)[0].flags).toContain('UP');
    expect(cli(['link', 'del', 'mac0']).code).toBe(0);
    expect(links(host).join('\n')).not.toMatch(/^mac0 /m);
  });

  it('a refused command prints the kernel\'s words and exits 2', () => {
    const r = cli(['link', 'add', 'link', 'p0', 'x9', 'mtu', '9000', 'type', 'macvlan', 'mode', 'vepa']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^Error: Invalid argument: mtu 9000 is above the parent p0's mtu 1500/);
  });

  it('bad syntax prints usage and exits 1', () => {
    const r = cli(['link', 'add', 'link', 'p0', 'x9', 'type', 'macvlan', 'colour', 'blue']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/unknown macvlan option "colour"/);
  });

  // Finding 11 of issue 17: small things an operator tried on the first day.
  it('link set NAME up down: the last keyword wins, as in iproute2', () => {
    expect(cli(['link', 'set', 'c1', 'up']).code).toBe(0);
    expect(cli(['link', 'set', 'c1', 'up', 'down']).code).toBe(0);
    expect(JSON.parse(cli(['-j', 'link', 'show', 'c1']).out)[0].flags).not.toContain('UP');
    expect(links(kids).find((l) => l.startsWith('c1 '))).toMatch(/ DOWN$/);
    expect(cli(['link', 'set', 'c1', 'down', 'up']).code).toBe(0);
    expect(links(kids).find((l) => l.startsWith('c1 '))).toMatch(/ UP$/);
  });

  for (const [what, ns] of [['an empty netns name', ''], ['a netns name that is a path', '../../etc'], ['a netns path', '/proc/1/ns/net']] as const) {
    it(`${what} is refused before anything is made (no setns on a raw path)`, () => {
      const before = snapshot();
      const r = cli(['link', 'add', 'link', 'p0', 'x8', 'netns', ns, 'type', 'macvlan']);
      expect(r.code).toBe(2);
      expect(r.err).toContain(`"${ns}" is not a network namespace name`);
      expect(snapshot()).toEqual(before);
    });
  }

  // The command line's cost, the same on every kernel: on the host only.
  if (!IN_GUEST) it('20,000 repeated keywords are one change, made at once', { timeout: 15_000 }, () => {
    const args = ['link', 'set', 'c2'];
    for (let i = 0; i < 20_000; i++) args.push('mtu', '1400');
    const r = cli(args);
    expect(r.code, r.err).toBe(0);
    expect(links(kids).find((l) => l.startsWith('c2 '))).toContain(' 1400 ');
    expect(cli(['link', 'set', 'c2', 'mtu', '1500']).code).toBe(0);
  });

  it('a malformed MAC is a syntax error (exit 1); a zero MAC is refused for what it is (exit 2)', () => {
    const bad = cli(['link', 'add', 'link', 'p0', 'x7', 'address', '02:00:00:00:01', 'type', 'macvlan']);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('"02:00:00:00:01" is not a MAC address');
    expect(cli(['link', 'set', 'c1', 'address', 'zz']).code).toBe(1);
    const zero = cli(['link', 'add', 'link', 'p0', 'x7', 'address', '00:00:00:00:00:00', 'type', 'macvlan']);
    expect(zero.code).toBe(2);
    expect(zero.err).toMatch(/not a unicast, non-zero MAC/);
    expect(zero.err).not.toMatch(/group bit/);
  });

  it('port set isolation kernel|strict is kept and shown', () => {
    expect(cli(['port', 'set', 'p0', 'isolation', 'kernel']).code).toBe(0);
    expect(JSON.parse(cli(['-j', 'port', 'show', 'p0']).out)[0]).toMatchObject({ parent: 'p0', isolation: 'kernel' });
    expect(cli(['port', 'set', 'p0', 'isolation', 'strict']).code).toBe(0);
    expect(JSON.parse(cli(['-j', 'port', 'show', 'p0']).out)[0]).toMatchObject({ isolation: 'strict' });
    expect(cli(['port', 'set', 'p0', 'isolation', 'loose']).code).toBe(2);
  });
});

describe('teardown', () => {
  it('deleting the last child removes the program, the clsact qdisc and the port', () => {
    withM((m) => {
      for (const c of m.dp.listChildren()) m.del(c.name, c.netns);
      expect(m.dp.listChildren()).toEqual([]);
      expect(m.dp.listMacs()).toEqual([]);
      expect(m.dp.listPorts()).toEqual([]);
    });
    expect(run('tc', ['-n', host, 'qdisc', 'show', 'dev', 'p0'])).not.toContain('clsact');
    expect(run('ip', ['-n', host, '-d', 'link', 'show', 'p0'])).toMatch(/promiscuity 0/);
    expect(links(host).join('\n')).not.toMatch(/^mvb/m);
  });
});
