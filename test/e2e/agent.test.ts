// The agent (issue 4): children changed with plain `ip` inside their namespaces are reflected in the
// maps; the parent's fate is the children's; killing and restarting the agent loses no frame; the
// control socket, the config file and the instance lock behave; churn leaves no stale or missing entry.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { Sandbox, run } from '../helpers/sandbox.js';
import { IN_GUEST, scaled } from '../helpers/scale.js';
import { kernelAtLeast } from '../helpers/kernel.js';
import { Topology, EXT_MAC, waitFor, type ChildSpec } from '../../src/lab/topology.js';
import { addon, inNetns } from '../../src/native.js';
import { IngressHooks } from '../../src/datapath/hooks.js';
import { decodeChild, decodeFloodVal, decodeMacKey, decodeMacVal, decodePort, CHILD_MAC_BUSY, CHILD_UP } from '../../src/datapath/abi.js';
import { buildFrame, frameId } from '../../src/frames.js';
import { socketPathFor } from '../../src/agent/control-socket.js';

const sb = new Sandbox('a');
afterAll(() => sb.cleanup());
const CLI = path.resolve(__dirname, '../../bin/macvlan-bpf');

/** What the pinned maps say, read without the control plane. */
function state(pinRoot: string) {
  const a = addon();
  const open = (n: string) => new a.BpfMap({ pin: path.join(pinRoot, n) });
  const [macs, children, ports] = [open('mvb_macs'), open('mvb_children'), open('mvb_ports')];
  try {
    // The agent changes these maps meanwhile: a key listed may be gone by its lookup.
    const entries = (m: typeof macs) => m.keys().map((k) => [k, m.lookup(k)] as const).filter((e): e is readonly [Buffer, Buffer] => e[1] !== null);
    return {
      macs: new Map(entries(macs).map(([k, v]) => [decodeMacKey(k).mac as string, decodeMacVal(v).hostIfindex])),
      children: entries(children).map(([, v]) => decodeChild(v)),
      ports: entries(ports).map(([k, v]) => ({ ifindex: k.readUInt32LE(0), ...decodePort(v) })),
    };
  } finally {
    for (const m of [macs, children, ports]) m.close();
  }
}
const ipIn = (ns: string, ...args: string[]) => run('ip', ['-n', ns, ...args]);
const linkIn = (ns: string, dev: string) => (JSON.parse(ipIn(ns, '-j', 'link', 'show', 'dev', dev)) as { flags: string[]; mtu: number; address: string; operstate: string }[])[0]!;
/** The bound we hold events to in tests; the benchmark measures the real latency (p50/p99). */
const EVENT_BOUND_MS = 2000;
const eventually = (ok: () => boolean, what: string) => waitFor(ok, what, EVENT_BOUND_MS);

describe('the agent follows plain ip commands', () => {
  const kids: ChildSpec[] = [
    { name: 'b1', mode: 'bridge', mac: '02:00:00:00:04:01' },
    { name: 'b2', mode: 'bridge', mac: '02:00:00:00:04:02' },
    { name: 'v1', mode: 'vepa', mac: '02:00:00:00:02:01' },
  ];
  let t: Topology;
  afterAll(() => t?.close()); // also when a test in between failed

  it('starts, and every UP child is in the map', () => {
    t = Topology.build(sb, { datapath: 'bpf', children: kids, reflector: false }, 'e');
    expect([...state(t.pinRoot).macs.keys()].sort()).toEqual(kids.map((k) => k.mac).sort());
  });

  it('down inside the netns removes the MAC, up inserts it again', () => {
    const ns = t.childNs.get('b1')!;
    ipIn(ns, 'link', 'set', 'b1', 'down');
    // The MAC goes first and the flood list follows (one event's handling): wait for the whole of it.
    eventually(() => !state(t.pinRoot).macs.has('02:00:00:00:04:01') && state(t.pinRoot).ports[0]!.nflood === 2, 'b1 to leave the map and the flood list');
    expect(state(t.pinRoot).children.find((c) => c.name === 'b1')!.flags & CHILD_UP).toBe(0);
    ipIn(ns, 'link', 'set', 'b1', 'up');
    eventually(() => state(t.pinRoot).macs.has('02:00:00:00:04:01') && state(t.pinRoot).ports[0]!.nflood === 3, 'b1 to come back, in the map and the flood list');
  });

  it('a MAC change re-keys, a rename and an MTU change are followed', () => {
    const ns = t.childNs.get('b2')!;
    ipIn(ns, 'link', 'set', 'b2', 'address', '02:00:00:00:04:22');
    eventually(() => state(t.pinRoot).macs.has('02:00:00:00:04:22') && !state(t.pinRoot).macs.has('02:00:00:00:04:02'), 'b2 to be re-keyed');
    // Kernels before 6.2 rename only a device that is down (EBUSY otherwise): there it goes down first.
    if (kernelAtLeast(6, 2)) ipIn(ns, 'link', 'set', 'b2', 'name', 'b2x');
    else {
      ipIn(ns, 'link', 'set', 'b2', 'down'); // one request would rename first, and be refused
      ipIn(ns, 'link', 'set', 'b2', 'name', 'b2x');
    }
    eventually(() => state(t.pinRoot).children.some((c) => c.name === 'b2x'), 'the rename to reach the registry');
    if (!kernelAtLeast(6, 2)) {
      ipIn(ns, 'link', 'set', 'b2x', 'up');
      eventually(() => state(t.pinRoot).macs.has('02:00:00:00:04:22'), 'b2x to come back up under its new name');
    }
    ipIn(ns, 'link', 'set', 'b2x', 'mtu', '1400');
    eventually(() => state(t.pinRoot).children.find((c) => c.name === 'b2x')?.mtu === 1400, 'the MTU to reach the registry');
    expect(JSON.parse(t.cli(['-j', 'link', 'show', 'b2x']))[0]).toMatchObject({ ifname: 'b2x', address: '02:00:00:00:04:22', mtu: 1400 });
  });

  it('a busy MAC set with plain ip (kernel macvlan: EADDRINUSE): the later child stays out of the table, marked, logged and counted, and enters when the address is free', () => {
    const [b1, v1] = ['b1', 'v1'].map((n) => state(t.pinRoot).children.find((c) => c.name === n)!);
    const B1 = '02:00:00:00:04:01', V1 = '02:00:00:00:02:01';
    const holder = () => state(t.pinRoot).macs.get(B1);
    const show = (n: string) => JSON.parse(t.cli(['-j', 'link', 'show', n]))[0] as { conflict?: string; flags: string[] };
    ipIn(t.childNs.get('v1')!, 'link', 'set', 'v1', 'address', B1);
    eventually(() => (state(t.pinRoot).children.find((c) => c.name === 'v1')!.flags & CHILD_MAC_BUSY) !== 0, 'v1 to be marked');
    expect(holder(), 'b1 keeps its address').toBe(b1!.hostIfindex);
    expect(state(t.pinRoot).macs.has(V1), 'v1\'s old address left the table').toBe(false);
    eventually(() => t.agentLog.includes(`v1 is UP with ${B1}, which UP sibling b1 holds`), 'the conflict to be logged'); // logged after the maps change
    expect(show('v1').conflict).toMatch(/held by UP sibling b1/);
    expect(show('v1').flags).toContain('UP');
    expect(show('b1').conflict).toBeUndefined();
    // The holder goes down: the address is free, v1 enters.
    ipIn(t.childNs.get('b1')!, 'link', 'set', 'b1', 'down');
    eventually(() => holder() === v1!.hostIfindex, 'v1 to take the free address');
    expect(show('v1').conflict).toBeUndefined();
    // b1 comes back up: now it is the later one.
    ipIn(t.childNs.get('b1')!, 'link', 'set', 'b1', 'up');
    eventually(() => (state(t.pinRoot).children.find((c) => c.name === 'b1')!.flags & CHILD_MAC_BUSY) !== 0, 'b1 to be marked');
    expect(holder()).toBe(v1!.hostIfindex);
    // v1 gives the address back: b1 enters; both as before.
    ipIn(t.childNs.get('v1')!, 'link', 'set', 'v1', 'address', V1);
    eventually(() => holder() === b1!.hostIfindex && state(t.pinRoot).macs.get(V1) === v1!.hostIfindex, 'both back in the table');
    // The parent's own MAC is busy too.
    const parentMac = linkIn(t.host, 'p0').address;
    ipIn(t.childNs.get('v1')!, 'link', 'set', 'v1', 'address', parentMac);
    eventually(() => /held by the parent p0/.test(show('v1').conflict ?? ''), 'v1 to be marked (the parent\'s MAC)');
    expect(state(t.pinRoot).macs.has(parentMac)).toBe(false);
    ipIn(t.childNs.get('v1')!, 'link', 'set', 'v1', 'address', V1);
    eventually(() => state(t.pinRoot).macs.get(V1) === v1!.hostIfindex && !show('v1').conflict, 'v1 back');
    expect(t.agentLog.match(/kernel macvlan refuses this with EADDRINUSE/g)).toHaveLength(3);
  });

  it('children follow the parent: carrier, lower MTU', () => {
    ipIn(t.host, 'link', 'set', 'p0', 'down');
    eventually(() => !linkIn(t.childNs.get('b1')!, 'b1').flags.includes('LOWER_UP'), 'b1 to lose carrier');
    ipIn(t.host, 'link', 'set', 'p0', 'up');
    eventually(() => linkIn(t.childNs.get('b1')!, 'b1').flags.includes('LOWER_UP'), 'b1 to regain carrier');
    ipIn(t.host, 'link', 'set', 'p0', 'mtu', '1300');
    eventually(() => linkIn(t.childNs.get('v1')!, 'v1').mtu === 1300, 'v1 to take the lower MTU');
    eventually(() => state(t.pinRoot).children.every((c) => c.mtu === 1300), 'the registry to say so');
  });

  it('a child moved with plain ip to the parent\'s netns is followed, and back while no agent runs, and so is how its flood copies reach it', async () => {
    const home = t.childNs.get('v1')!;
    const a = addon();
    const v1 = () => state(t.pinRoot).children.find((c) => c.name === 'v1')!;
    const host = v1().hostIfindex;
    const entry = () => {
      const m = new a.BpfMap({ pin: path.join(t.pinRoot, 'mvb_flood') });
      try {
        return m.keys().map((k) => m.lookup(k)).filter((v): v is Buffer => v !== null).map(decodeFloodVal).find((e) => e.hostIfindex === host);
      } finally {
        m.close();
      }
    };
    /** A broadcast from the wire reaches v1, wherever it is. */
    const broadcastReaches = async (ns: string) => {
      const wire = new a.PacketSocket({ ifname: 'e0', netns: `/run/netns/${t.ext}` });
      const rx = new a.PacketSocket({ ifname: 'v1', netns: `/run/netns/${ns}` });
      try {
        const id = 7000 + Math.floor(Math.random() * 1000);
        wire.send(buildFrame({ dst: 'ff:ff:ff:ff:ff:ff', src: EXT_MAC, id }));
        for (let i = 0; i < 100; i++) {
          if (rx.recv().some((f) => frameId(f.data) === id)) return true;
          await new Promise((r) => setTimeout(r, 10));
        }
        return false;
      } finally {
        wire.close();
        rx.close();
      }
    };
    // In a netns of its own, a copy enters the host end and is handed over by a peer redirect.
    expect(entry()).toMatchObject({ mode: 'vepa', peer: true });
    expect(await broadcastReaches(home)).toBe(true);
    // Beside the parent there is no peer to hand it to: copies go through the host end's transmit.
    ipIn(home, 'link', 'set', 'v1', 'netns', t.host);
    ipIn(t.host, 'link', 'set', 'v1', 'up');
    eventually(() => v1().netns === '' && (v1().flags & CHILD_UP) !== 0 && entry() !== undefined && !entry()!.peer, 'v1 beside the parent, UP, copied through its transmit');
    expect(await broadcastReaches(t.host)).toBe(true);
    expect(t.agentLog).toContain(`child v1 moved from netns ${home} to (parent)`);
    // And back while no agent runs: the next one finds it by its host end's peer (it must not take the
    // child for gone, and delete its pair).
    t.stopAgent();
    ipIn(t.host, 'link', 'set', 'v1', 'netns', home);
    ipIn(home, 'link', 'set', 'v1', 'up');
    t.startAgent();
    expect(t.agentLog).toMatch(new RegExp(`reconciled \\(start\\): .*moved v1 from netns \\(parent\\) to ${home}`));
    expect(v1()).toMatchObject({ netns: home, hostIfindex: host });
    expect(v1().flags & CHILD_UP).not.toBe(0);
    expect(entry()?.peer).toBe(true);
    expect(await broadcastReaches(home)).toBe(true);
  });

  it('deleting a child\'s netns removes all it owned', () => {
    const before = state(t.pinRoot);
    const v1 = before.children.find((c) => c.name === 'v1')!;
    t.closeEndpoint('v1');
    sb.dropNetns(t.childNs.get('v1')!);
    t.childNs.delete('v1');
    // The purge's last step is the port's count (a reader may see the maps in between).
    eventually(() => {
      const s = state(t.pinRoot);
      return !s.children.some((c) => c.name === 'v1') && s.ports[0]!.nchildren === 2;
    }, 'v1 to leave the registry and its port');
    const after = state(t.pinRoot);
    expect(after.macs.has('02:00:00:00:02:01')).toBe(false);
    expect([...after.macs.values()]).not.toContain(v1.hostIfindex);
    expect(after.ports[0]!.nflood).toBe(2);
    expect(after.ports[0]!.nchildren).toBe(2);
  });

  it('deleting the parent deletes its children and their state', () => {
    ipIn(t.host, 'link', 'del', 'p0');
    // The children go first, then the port: wait for the handling to finish, not for its first step.
    eventually(() => { const s = state(t.pinRoot); return s.children.length === 0 && s.ports.length === 0; }, 'the children and the port to be removed');
    const s = state(t.pinRoot);
    expect(s.macs.size).toBe(0);
    expect(s.ports).toEqual([]);
    expect(ipIn(t.childNs.get('b1')!, '-j', 'link', 'show')).not.toContain('"b1"');
    eventually(() => /parent p0 deleted/.test(t.agentLog), 'the deletion to be logged'); // logged after the state goes
    t.close();
  });
});

describe('hooks the agent repairs', () => {
  // Hooks change with no link event: the agent looks every MACVLAN_BPF_AUDIT_MS (default 5 s).
  const saved = { audit: process.env.MACVLAN_BPF_AUDIT_MS, mode: process.env.MACVLAN_BPF_TC_ATTACH };
  let t: Topology | undefined;
  afterAll(() => {
    t?.close();
    for (const [k, v] of [['MACVLAN_BPF_AUDIT_MS', saved.audit], ['MACVLAN_BPF_TC_ATTACH', saved.mode]] as const)
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  });
  const ourId = (pinRoot: string, role: 'parent' | 'child') => {
    const p = new (addon().BpfProgram)({ pin: path.join(pinRoot, `prog_${role}_ingress`) });
    try {
      return p.info().id;
    } finally {
      p.close();
    }
  };
  const onHook = (t: Topology, dev: string) => inNetns(`/run/netns/${t.host}`, () => new IngressHooks(t.pinRoot, 'cls_bpf').programId(addon().ifNameToIndex(dev)));
  /** Takes our program off a hook behind the agent's back, as an operator's tool would. */
  const strip = (t: Topology, dev: string) => {
    const pin = path.join(t.pinRoot, 'links', `tcx_ingress-${inNetns(`/run/netns/${t.host}`, () => addon().ifNameToIndex(dev))}`);
    if (fs.existsSync(pin)) {
      // bpftool link detach pinned PIN, done with the addon (bpftool is not installed everywhere).
      const l = new (addon().BpfLink)({ pin });
      try {
        l.detach();
      } finally {
        l.close();
      }
    }
    else run('tc', ['-n', t.host, 'filter', 'del', 'dev', dev, 'ingress']);
  };

  // In the emulated guests only the kernel's own mode (tcx on 6.12, cls_bpf on 6.1): the forced one is
  // the host's to check, and the guests' time is counted.
  for (const mode of (IN_GUEST ? ['auto'] : ['auto', 'cls_bpf']) as ('auto' | 'cls_bpf')[]) {
    it(`${mode === 'auto' ? 'tcx (where the kernel has it)' : 'cls_bpf'}: a program detached${mode === 'cls_bpf' ? ' or replaced by another' : ''} on the parent or a child is attached again, logged and counted`, () => {
      process.env.MACVLAN_BPF_AUDIT_MS = '200';
      process.env.MACVLAN_BPF_TC_ATTACH = mode;
      t = Topology.build(sb, { datapath: 'bpf', children: [{ name: 'h1', mode: 'bridge', mac: '02:00:00:00:07:01' }], reflector: false }, mode === 'auto' ? 'ht' : 'hc');
      try {
        repairs(t, mode);
      } finally {
        t.close(); // its agent too, also when the test failed
        t = undefined;
      }
    });
  }
  function repairs(t: Topology, mode: 'auto' | 'cls_bpf'): void {
    const host = JSON.parse(t.cli(['-j', 'link', 'show', 'h1']))[0].host_end as string;
    const [parentId, childId] = [ourId(t.pinRoot, 'parent'), ourId(t.pinRoot, 'child')];
    expect(onHook(t, 'p0')).toBe(parentId);
    strip(t, 'p0');
    strip(t, host);
    // The agent logs a repair after making it: wait for the lines, not only for the hooks.
    const repaired = ['parent p0: no program of ours on its TC ingress; ours attached again', 'child h1: no program of ours on its transmit hook; ours attached again'];
    eventually(() => repaired.every((l) => t.agentLog.includes(l)), 'the agent to log both repairs');
    expect(onHook(t, 'p0'), 'the parent carries our program again').toBe(parentId);
    expect(onHook(t, host), 'the child carries our program again').toBe(childId);
    if (mode === 'cls_bpf' || !fs.existsSync(path.join(t.pinRoot, 'links'))) {
      // Another program put in our place (our handle and priority): only cls_bpf has a place to take.
      run('tc', ['-n', t.host, 'filter', 'replace', 'dev', 'p0', 'ingress', 'handle', '0x4d56', 'prio', String(0x4d56), 'bpf', 'da', 'obj', path.resolve(__dirname, '../../bpf/bench.bpf.o'), 'sec', 'tc']);
      // No look at the hook in between: the agent may already have put ours back (it looks every 200 ms).
      const replaced = /parent p0: another program \(id \d+\) in our place on its TC ingress; ours attached again/;
      eventually(() => replaced.test(t.agentLog), 'the agent to log putting ours back');
      expect(onHook(t, 'p0'), 'our program back in its place').toBe(parentId);
    }
  }
});

describe('restart without loss', () => {
  it('kill -9, a child toggled and the programs rebuilt while the agent is down, restart: every frame arrives, state is right', async () => {
    const kids: ChildSpec[] = [
      { name: 'b1', mode: 'bridge', mac: '02:00:00:00:04:01' },
      { name: 'b2', mode: 'bridge', mac: '02:00:00:00:04:02' },
      { name: 'v1', mode: 'vepa', mac: '02:00:00:00:02:01' },
    ];
    const t = Topology.build(sb, { datapath: 'bpf', children: kids, reflector: false }, 'r');
    try {
      const a = addon();
      const wire = new a.PacketSocket({ ifname: 'e0', netns: `/run/netns/${t.ext}` });
      const b2 = new a.PacketSocket({ ifname: 'b2', netns: `/run/netns/${t.childNs.get('b2')}` });
      const b1 = new a.PacketSocket({ ifname: 'b1', netns: `/run/netns/${t.childNs.get('b1')}` });
      const N = 3000; // per stream, 1 frame per ms per stream
      const seen = new Map<number, number>();
      const drain = () => { for (const f of b1.recv()) { const id = frameId(f.data); if (id !== undefined) seen.set(id, (seen.get(id) ?? 0) + 1); } };
      let progBefore: number[] = [];
      const attachedIds = () => inNetns(`/run/netns/${t.host}`, () => {
        const hooks = [a.ifNameToIndex('p0'), ...state(t.pinRoot).children.map((c) => c.hostIfindex)];
        const ours = new IngressHooks(t.pinRoot, 'tcx'); // the program id of our hook, tcx or cls_bpf
        return hooks.map((i) => ours.programId(i));
      });
      for (let i = 0; i < N; i++) {
        wire.send(buildFrame({ dst: '02:00:00:00:04:01', src: EXT_MAC, id: i }));
        b2.send(buildFrame({ dst: '02:00:00:00:04:01', src: '02:00:00:00:04:02', id: N + i }));
        if (i === 800) {
          t.stopAgent(true); // kill -9
          run('ip', ['-n', t.childNs.get('v1')!, 'link', 'set', 'v1', 'down']);
          // And pretend the BPF objects were rebuilt: the restarted agent loads and swaps them in.
          for (const f of fs.readdirSync(t.pinRoot)) if (f.startsWith('build-')) fs.rmdirSync(path.join(t.pinRoot, f));
          progBefore = attachedIds();
        }
        if (i === 1600) {
          expect(state(t.pinRoot).macs.has('02:00:00:00:02:01'), 'nobody removed v1 while the agent was dead').toBe(true);
          t.startAgent();
        }
        if (i % 50 === 0) drain();
        await new Promise((r) => setTimeout(r, 1));
      }
      await new Promise((r) => setTimeout(r, 300));
      drain();
      for (const s of [wire, b1, b2]) s.close();
      const missing = [...Array(2 * N).keys()].filter((id) => seen.get(id) !== 1);
      expect(missing.length, `frames lost or duplicated: ${missing.slice(0, 10).join(',')}`).toBe(0);
      eventually(() => !state(t.pinRoot).macs.has('02:00:00:00:02:01'), 'the restarted agent to remove v1');
      expect(t.agentLog, `the agent's log:\n${t.agentLog}`).toMatch(/reconciled \(start\): state v1/);
      // The programs were replaced on every hook, atomically (no frame lost above).
      const progAfter = attachedIds();
      expect(progAfter.every((id) => id > 0)).toBe(true);
      expect(progAfter.filter((id, i) => id === progBefore[i])).toEqual([]);
    } finally {
      t.close();
    }
  });
});

// The socket, the config file's errors and the lock do not depend on the kernel: the host checks them.
if (!IN_GUEST) describe('control socket, config file and lock', () => {
  let t: Topology;
  let dir = '';
  afterAll(() => {
    t?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  const cfgFile = (name: string, text: string) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text);
    return f;
  };
  const cli = (args: string[], env: Record<string, string> = {}) => {
    const r = spawnSync('nsenter', [`--net=/run/netns/${t.host}`, CLI, ...args], { encoding: 'utf8', env: { ...process.env, MACVLAN_BPF_PIN_ROOT: t.pinRoot, ...env } });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  it('the socket is root-only, and a second agent refuses to start', () => {
    t = Topology.build(sb, { datapath: 'bpf', children: [{ name: 'b1', mode: 'bridge', mac: '02:00:00:00:04:01' }], reflector: false }, 'k');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `${sb.prefix}-`));
    const sock = socketPathFor(t.pinRoot);
    expect(fs.statSync(sock).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(sock)).mode & 0o777).toBe(0o700);
    const r = spawnSync('nsenter', [`--net=/run/netns/${t.host}`, process.execPath, path.resolve(__dirname, '../../dist/cli/main.js'), 'agent'],
      { encoding: 'utf8', env: { ...process.env, MACVLAN_BPF_PIN_ROOT: t.pinRoot }, timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/another macvlan-bpf agent is already running/);
  });

  it('a malformed config names the line and the field, and changes nothing', () => {
    const before = state(t.pinRoot);
    const cases: [string, RegExp][] = [
      ['children:\n  - name: c2\n    parent: p0\n    mode: brige\n', /:4: children\[0\]\.mode: "brige" is not a mode/],
      ['children:\n  - name: c2\n    parent: p0\n  - name: c3\n    parent: p0\n    adress: 02:00:00:00:00:01\n', /:6: children\[1\]\.adress: unknown field/],
      ['children:\n  - name: c2\n    parent: p0\n    address: 01:00:5e:00:00:01\n', /:4: children\[0\]\.address: .* not a unicast/],
      ['children:\n  - name: c2\n    parent: p0\n    mtu: big\n', /:4: children\[0\]\.mtu: expected an integer/],
      ['children:\n  - name: c2\n    parent: nosuch0\n', /:2: children\[0\]\.parent: no interface "nosuch0"/],
      ['children:\n  - name: c2\n    parent: p0\n    netns: nosuchns\n', /:2: children\[0\]\.netns: network namespace "nosuchns" does not exist/],
      ['children: [\n', /:\d+: not valid YAML/],
      ['children:\n  - name: c2\n    parent: p0\n  - name: c2\n    parent: p0\n', /:4: children\[1\]\.name: child "c2" is already listed at line 2/],
    ];
    for (const [text, re] of cases) {
      const r = cli(['apply', '-f', cfgFile('bad.yaml', text)]);
      expect(r.code, text).toBe(2);
      expect(r.err, text).toMatch(re);
      expect(r.err).toContain(path.join(dir, 'bad.yaml'));
    }
    expect(state(t.pinRoot)).toEqual(before);
  });

  it('apply converges and is idempotent; the CLI gives the same answer with and without the agent', () => {
    const ns = t.childNs.get('b1')!;
    const good = cfgFile('good.yaml', [
      'children:',
      '  - { name: b1, parent: p0, mode: bridge, address: "02:00:00:00:04:01", netns: ' + ns + ' }',
      '  - { name: c2, parent: p0, mode: private, address: "02:00:00:00:01:02", netns: ' + ns + ' }',
      '  - { name: c3, parent: p0, mode: vepa, address: "02:00:00:00:02:03", netns: ' + ns + ', state: down }',
    ].join('\n') + '\n');
    const first = cli(['apply', '-f', good]);
    expect(first.err).toBe('');
    expect(first.out).toMatch(/added c2/);
    expect(first.out).toMatch(/added c3/);
    // The kernel's view: c2 was made UP from the start and has carrier; c3, asked down, was not made UP.
    const flags = (n: string) => (JSON.parse(run('ip', ['-n', ns, '-j', 'link', 'show', n])) as { flags: string[] }[])[0]!.flags;
    expect(flags('c2')).toEqual(expect.arrayContaining(['UP', 'LOWER_UP']));
    expect(flags('c3')).not.toContain('UP');
    expect(cli(['apply', '-f', good]).out.trim()).toBe('no changes');
    const viaAgent = cli(['-j', 'link', 'show']);
    const direct = cli(['-j', 'link', 'show'], { MACVLAN_BPF_NO_AGENT: '1' });
    expect(viaAgent.code).toBe(0);
    expect(JSON.parse(viaAgent.out)).toEqual(JSON.parse(direct.out));
    expect(JSON.parse(viaAgent.out).map((l: { ifname: string }) => l.ifname).sort()).toEqual(['b1', 'c2', 'c3']);
    expect([...state(t.pinRoot).macs.keys()].sort()).toEqual(['02:00:00:00:01:02', '02:00:00:00:04:01']);
    // A bad command through the agent: the same error and exit code as without it.
    const bad = cli(['link', 'set', 'nosuch', 'up']);
    const badDirect = cli(['link', 'set', 'nosuch', 'up'], { MACVLAN_BPF_NO_AGENT: '1' });
    expect([bad.code, bad.err]).toEqual([badDirect.code, badDirect.err]);
    expect(bad.err).toMatch(/Cannot find device "nosuch"/);
    // prune: children the file does not list go.
    const only = cfgFile('only.yaml', `children:\n  - { name: b1, parent: p0, mode: bridge, address: "02:00:00:00:04:01", netns: ${ns} }\nprune: true\n`);
    expect(cli(['apply', '-f', only]).out).toMatch(/deleted c2[\s\S]*deleted c3/);
    expect(state(t.pinRoot).children.map((c) => c.name)).toEqual(['b1']);
    t.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

// The agent's own recovery, the same on every kernel: on the host only (the guests' time is counted).
if (!IN_GUEST) describe('event overrun', () => {
  it('ENOBUFS on the netlink socket: the agent re-dumps and ends exactly right', () => {
    // A tiny receive buffer and a burst of changes: events are lost, and the agent must notice.
    process.env.MACVLAN_BPF_NETLINK_RCVBUF = '4096';
    const kids: ChildSpec[] = [...Array(60).keys()].map((i) => ({ name: `o${i}`, mode: 'bridge' as const, mac: `02:00:00:00:05:${i.toString(16).padStart(2, '0')}`, up: false }));
    let t: Topology | undefined;
    try {
      t = Topology.build(sb, { datapath: 'bpf', children: kids, reflector: false }, 'o');
      delete process.env.MACVLAN_BPF_NETLINK_RCVBUF;
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${sb.prefix}-`));
      const byNs = new Map<string, string[]>();
      kids.forEach((k, i) => {
        const ns = t!.childNs.get(k.name)!;
        byNs.set(ns, [...(byNs.get(ns) ?? []), `link set ${k.name} up`, ...(i % 3 === 0 ? [`link set ${k.name} down`] : [])]);
      });
      // Changes back to back, with no wait for the agent: more events than 4 KiB can hold.
      [...byNs].forEach(([ns, cmds], i) => {
        const f = path.join(dir, `${i}.batch`);
        fs.writeFileSync(f, cmds.join('\n') + '\n');
        run('ip', ['-n', ns, '-batch', f]);
      });
      const wantUp = kids.filter((_, i) => i % 3 !== 0).map((k) => k.mac).sort();
      try {
        waitFor(() => [...state(t!.pinRoot).macs.keys()].sort().join() === wantUp.join(), 'the map to hold exactly the UP children', 20_000);
      } catch (e) {
        console.log(t.agentLog.slice(-4000), [...state(t.pinRoot).macs.keys()].length, wantUp.length);
        throw e;
      }
      expect(t.agentLog).toMatch(/ENOBUFS/);
      expect(t.agentLog).toMatch(/reconciled \(event overrun\)/);
      fs.rmSync(dir, { recursive: true, force: true });
    } finally {
      delete process.env.MACVLAN_BPF_NETLINK_RCVBUF;
      t?.close();
    }
  });
});

describe('churn', () => {
  it(`${scaled('1,000', '50')} children created, toggled and deleted in random order: no stale, no missing entry`, () => {
    const t = Topology.build(sb, { datapath: 'bpf', children: [], reflector: false }, 'c');
    const nss = [0, 1, 2, 3].map((i) => sb.netns(`c${i}`));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${sb.prefix}-`));
    try {
      let rnd = 12345;
      const random = () => ((rnd = (rnd * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
      const N = scaled(1000, 50);
      const kids = [...Array(N).keys()].map((i) => ({ name: `k${i}`, ns: nss[i % 4]!, mac: `02:01:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}` }));
      const cfg = path.join(dir, 'churn.yaml');
      fs.writeFileSync(cfg, 'children:\n' + kids.map((k) => `  - { name: ${k.name}, parent: p0, mode: ${['private', 'vepa', 'bridge'][k.name.length % 3]}, address: "${k.mac}", netns: ${k.ns}, state: ${random() < 0.5 ? 'up' : 'down'} }`).join('\n') + '\n');
      t.cli(['apply', '-f', cfg]);
      // Random toggles, MAC changes and deletions with plain ip, every netns at once.
      const batches = new Map(nss.map((ns) => [ns, [] as string[]]));
      const alive = new Set(kids.map((k) => k.name));
      for (let i = 0; i < scaled(4000, 400); i++) {
        const k = kids[Math.floor(random() * N)]!;
        if (!alive.has(k.name)) continue;
        const r = random();
        const cmd = r < 0.06 ? `link del ${k.name}` : r < 0.1 ? `link set ${k.name} address 02:02:00:00:${(i >> 8 & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}` : `link set ${k.name} ${r < 0.55 ? 'up' : 'down'}`;
        if (cmd.startsWith('link del')) alive.delete(k.name);
        batches.get(k.ns)!.push(cmd);
      }
      const files = [...batches].map(([ns, cmds]) => {
        const f = path.join(dir, `${ns}.batch`);
        fs.writeFileSync(f, cmds.join('\n') + '\n');
        return [ns, f] as const;
      });
      for (const [ns, f] of files) run('ip', ['-n', ns, '-force', '-batch', f]);
      // One more netns goes away whole, with its children.
      sb.dropNetns(nss[3]!);
      const truth = () => {
        const want = new Map<string, { mac: string; up: boolean }>();
        for (const ns of nss.slice(0, 3))
          for (const l of JSON.parse(run('ip', ['-n', ns, '-j', 'link', 'show'])) as { ifname: string; address: string; flags: string[] }[])
            if (l.ifname.startsWith('k')) want.set(`${ns}/${l.ifname}`, { mac: l.address, up: l.flags.includes('UP') });
        return want;
      };
      const diff = () => {
        const want = truth();
        const s = state(t.pinRoot);
        const have = new Map(s.children.map((c) => [`${c.netns}/${c.name}`, c]));
        const out: string[] = [];
        for (const [k, w] of want) {
          const c = have.get(k);
          if (!c) { out.push(`missing ${k}`); continue; }
          if (c.mac !== w.mac) out.push(`${k}: mac ${c.mac} != ${w.mac}`);
          if (((c.flags & CHILD_UP) !== 0) !== w.up) out.push(`${k}: up ${!w.up} != ${w.up}`);
          if (w.up !== (s.macs.get(w.mac) === c.hostIfindex)) out.push(`${k}: map entry ${w.up ? 'missing' : 'stale'}`);
        }
        for (const k of have.keys()) if (!want.has(k)) out.push(`stale child ${k}`);
        const ups = [...want.values()].filter((w) => w.up).length;
        if (s.macs.size !== ups) out.push(`map holds ${s.macs.size} MACs, ${ups} children are up`);
        if (s.ports[0]?.nflood !== ups) out.push(`flood list holds ${s.ports[0]?.nflood}, ${ups} children are up`);
        return out;
      };
      let last: string[] = [];
      try {
        waitFor(() => (last = diff()).length === 0, 'the maps to match the kernel', 60_000);
      } catch { /* reported below */ }
      if (last.length) console.log(last.slice(0, 20).join('\n'), t.agentLog.slice(-3000));
      expect(last, t.agentLog.split('\n').filter((l) => /error|conflict/.test(l)).slice(0, 5).join('\n')).toEqual([]);
    } finally {
      t.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
