// The netkit child kind (#12 item 2), where the kernel has netkit (6.7+, CONFIG_NETKIT: the kernel
// matrix's 6.12 guest): children are L2 netkit pairs whose peer carries the user's name, MAC and MTU in
// its netns, whose transmit is decided by our program in netkit's peer slot (a pinned link), and which
// forward with the same rules as veth children (the differential and TCP tests run netkit children
// too, see differential.test.ts and tcp.test.ts). Where the kernel has no netkit (this host's 6.18,
// Debian's 6.1) `kind netkit` is refused with the reason and nothing changes, and `kind auto` makes a
// veth child.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox, run } from '../helpers/sandbox.js';
import { kernelHasNetkit } from '../helpers/kernel.js';
import { IN_GUEST } from '../helpers/scale.js';
import { Topology, EXT_MAC, waitFor, type ChildSpec } from '../../src/lab/topology.js';
import { addon, inNetns } from '../../src/native.js';
import { buildFrame } from '../../src/frames.js';

const NETKIT = kernelHasNetkit();
const sb = new Sandbox('nk');
afterAll(() => sb.cleanup());

const CHILDREN: ChildSpec[] = [
  { name: 'b1', mode: 'bridge', mac: '02:00:00:00:04:01' },
  { name: 'b2', mode: 'bridge', mac: '02:00:00:00:04:02', mtu: 1400 },
  { name: 'v1', mode: 'vepa', mac: '02:00:00:00:02:01' },
];

interface Shown { ifname: string; child_kind: string; host_end: string; address: string; mtu: number }
const show = (t: Topology, dev?: string) => JSON.parse(t.cli(['-j', 'link', 'show', ...(dev ? [dev] : [])])) as Shown[];
const ipShow = (ns: string, dev: string) => (JSON.parse(run('ip', ['-n', ns, '-d', '-j', 'link', 'show', 'dev', dev])) as { address: string; mtu: number; linkinfo?: { info_kind?: string } }[])[0]!;
const hostIndex = (t: Topology, dev: string) => inNetns(`/run/netns/${t.host}`, () => addon().ifNameToIndex(dev));

/** The program id in our pinned peer-slot link on a child's primary (0: none), and our netkit program's id. */
function peerSlot(t: Topology, child: string): { onHook: number; ours: number; pin: string } {
  const a = addon();
  const pin = path.join(t.pinRoot, 'links', `netkit-${hostIndex(t, show(t, child)[0]!.host_end)}`);
  const prog = new a.BpfProgram({ pin: path.join(t.pinRoot, 'prog_child_netkit') });
  try {
    let onHook = 0;
    if (fs.existsSync(pin)) {
      const l = new a.BpfLink({ pin });
      try {
        onHook = l.info().ifindex ? l.info().progId : 0;
      } finally {
        l.close();
      }
    }
    return { onHook, ours: prog.info().id, pin };
  } finally {
    prog.close();
  }
}

/** Sends [from, dst, id] frames and says who got each (the sender's own reflection left out). */
async function deliveries(t: Topology, frames: [string, string, number][]): Promise<Record<number, string[]>> {
  await t.drain(50);
  for (const [from, dst, id] of frames) {
    const src = from === 'wire' ? EXT_MAC : CHILDREN.find((c) => c.name === from)!.mac;
    t.send(from === 'wire' ? { from: 'wire' } : { from: 'child', name: from }, buildFrame({ src, dst: dst as never, id }));
  }
  const got = await t.collect();
  return Object.fromEntries(frames.map(([from, , id]) => [id, [...(got.get(id)?.keys() ?? [])].filter((ep) => ep !== from).sort()]));
}

if (NETKIT) describe('netkit children (this kernel has netkit)', () => {
  let t: Topology;
  const saved = process.env.MACVLAN_BPF_AUDIT_MS;
  beforeAll(() => {
    process.env.MACVLAN_BPF_AUDIT_MS = '200'; // the agent looks at its hooks every 200 ms
    t = Topology.build(sb, { datapath: 'bpf', children: CHILDREN, reflector: false, childKind: 'netkit' }, 'n');
  }, 60_000);
  afterAll(() => {
    t?.close();
    if (saved === undefined) delete process.env.MACVLAN_BPF_AUDIT_MS;
    else process.env.MACVLAN_BPF_AUDIT_MS = saved;
  });

  it('each child is a netkit peer with its name, MAC and MTU in its netns; its primary carries our program in the peer slot', () => {
    for (const c of CHILDREN) {
      const l = ipShow(t.childNs.get(c.name)!, c.name);
      expect(l.linkinfo?.info_kind, `${c.name} is a netkit device`).toBe('netkit');
      expect(l.address).toBe(c.mac);
      expect(l.mtu).toBe(c.mtu ?? 1500);
      const s = show(t, c.name)[0]!;
      expect(s.child_kind).toBe('netkit');
      expect(ipShow(t.host, s.host_end).linkinfo?.info_kind, 'the primary stays beside the parent').toBe('netkit');
      const slot = peerSlot(t, c.name);
      expect(slot.onHook, `${c.name}'s peer slot holds our program`).toBe(slot.ours);
    }
    expect(t.cli(['-d', 'link', 'show', 'b1'])).toMatch(/kind netkit/);
  });

  it('frames go by the rules: from the wire, to a bridge sibling, to the wire, broadcast', async () => {
    const got = await deliveries(t, [
      ['wire', '02:00:00:00:04:01', 1], // → b1
      ['b1', '02:00:00:00:04:02', 2], // bridge → bridge sibling, in the child's own transmit
      ['b1', EXT_MAC, 3], // → the wire
      ['v1', '02:00:00:00:04:01', 4], // vepa → the wire (no switch reflecting here)
      ['b2', 'ff:ff:ff:ff:ff:ff', 5], // bridge broadcast → the bridge sibling and the wire (vepa only from the wire)
      ['wire', 'ff:ff:ff:ff:ff:ff', 6], // → every child and the parent's stack
    ]);
    expect(got).toEqual({ 1: ['b1'], 2: ['b2'], 3: ['wire'], 4: ['wire'], 5: ['b1', 'wire'], 6: ['b1', 'b2', 'stack', 'v1'] });
  });

  it('with the XDP fast path on the parent, frames for netkit children go on to TC, which delivers them', async () => {
    t.cli(['port', 'set', 'p0', 'fastpath', 'xdp']);
    const rx = (name: string) => (JSON.parse(t.cli(['-j', 'stats'])) as { children: { name: string; counters: { rxPackets: number } }[] }).children.find((c) => c.name === name)!.counters.rxPackets;
    try {
      const before = rx('v1');
      expect(await deliveries(t, [['wire', '02:00:00:00:04:01', 11], ['wire', '02:00:00:00:02:01', 12], ['b1', '02:00:00:00:04:02', 13]])).toEqual({ 11: ['b1'], 12: ['v1'], 13: ['b2'] });
      expect(rx('v1') - before, 'counted once, by TC (XDP passed it on uncounted)').toBe(1);
    } finally {
      t.cli(['port', 'set', 'p0', 'fastpath', 'tc']);
    }
  });

  it('a peer-slot program detached behind the agent\'s back is attached again, logged', () => {
    const before = peerSlot(t, 'v1');
    const l = new (addon().BpfLink)({ pin: before.pin });
    try {
      l.detach(); // bpftool link detach pinned PIN
    } finally {
      l.close();
    }
    waitFor(() => t.agentLog.includes('child v1: no program of ours on its transmit hook; ours attached again'), 'the agent to log the repair', 10_000);
    expect(peerSlot(t, 'v1').onHook).toBe(before.ours);
  });

  it('kill -9 of the agent: the pinned links keep forwarding; restarted, it is in sync', async () => {
    t.stopAgent(true);
    expect(await deliveries(t, [['b1', '02:00:00:00:04:02', 7], ['wire', '02:00:00:00:02:01', 8]])).toEqual({ 7: ['b2'], 8: ['v1'] });
    t.startAgent();
    expect(t.agentLog).toMatch(/reconciled \(start\): in sync/);
    expect(await deliveries(t, [['b2', '02:00:00:00:04:01', 9]])).toEqual({ 9: ['b1'] });
  });

  it('kind auto makes a netkit child here; link del removes both devices and the pin', () => {
    const ns = t.childNs.get('v1')!;
    t.cli(['link', 'add', 'link', 'p0', 'a1', 'netns', ns, 'type', 'macvlan', 'mode', 'bridge', 'kind', 'auto']);
    const s = show(t, 'a1')[0]!;
    expect(s.child_kind).toBe('netkit');
    expect(ipShow(ns, 'a1').linkinfo?.info_kind).toBe('netkit');
    const { pin } = peerSlot(t, 'a1');
    expect(fs.existsSync(pin)).toBe(true);
    t.cli(['link', 'del', 'a1']);
    expect(() => run('ip', ['-n', ns, 'link', 'show', 'dev', 'a1'])).toThrow();
    expect(() => run('ip', ['-n', t.host, 'link', 'show', 'dev', s.host_end])).toThrow();
    expect(fs.existsSync(pin), 'the link pin is gone').toBe(false);
  });

  it('port set PARENT kind: the kind of the parent\'s new children (a child\'s own kind still wins)', () => {
    const ns = t.childNs.get('v1')!;
    t.cli(['port', 'set', 'p0', 'kind', 'veth']);
    expect(JSON.parse(t.cli(['-j', 'port', 'show', 'p0']))[0].kind).toBe('veth');
    t.cli(['link', 'add', 'link', 'p0', 'a2', 'netns', ns, 'type', 'macvlan', 'mode', 'bridge']);
    t.cli(['link', 'add', 'link', 'p0', 'a3', 'netns', ns, 'type', 'macvlan', 'mode', 'bridge', 'kind', 'netkit']);
    expect(show(t).filter((c) => c.ifname === 'a2' || c.ifname === 'a3').map((c) => c.child_kind)).toEqual(['veth', 'netkit']);
    t.cli(['link', 'del', 'a2']);
    t.cli(['link', 'del', 'a3']);
    t.cli(['port', 'set', 'p0', 'kind', 'netkit']);
  });
});

if (!NETKIT) describe('netkit children (this kernel has no netkit)', () => {
  let t: Topology;
  beforeAll(() => {
    t = Topology.build(sb, { datapath: 'bpf', children: CHILDREN.slice(0, 1), reflector: false, control: 'direct' }, 'x');
  });
  afterAll(() => t?.close());
  const cli = (args: string[]) => {
    try {
      return { out: t.cli(args), code: 0 };
    } catch (e) {
      return { out: String((e as { stderr?: unknown }).stderr ?? e), code: (e as { status?: number }).status ?? -1 };
    }
  };

  it('kind netkit is refused with the reason and the way out, and nothing changes', () => {
    const ns = t.childNs.get('b1')!;
    const links = () => run('ip', ['-n', t.host, '-o', 'link', 'show']) + run('ip', ['-n', ns, '-o', 'link', 'show']);
    const [before, shown] = [links(), t.cli(['-j', 'link', 'show'])];
    const r = cli(['link', 'add', 'link', 'p0', 'n1', 'netns', ns, 'type', 'macvlan', 'mode', 'bridge', 'kind', 'netkit']);
    expect(r.code, 'a refusal, as ip exits on a kernel error').toBe(2);
    expect(r.out).toMatch(/this kernel has no netkit devices \(they came in Linux 6\.7, CONFIG_NETKIT\): use kind veth, or kind auto/);
    expect(links()).toBe(before);
    expect(t.cli(['-j', 'link', 'show'])).toBe(shown);
  });

  it('a kind that does not exist is refused, naming the choices', () => {
    const r = cli(['link', 'add', 'link', 'p0', 'n1', 'type', 'macvlan', 'kind', 'tap']);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/"tap" is not a child kind: use veth, netkit \(Linux 6\.7\+\) or auto/);
  });

  // The control plane's own (the parent's kind, the file's): the host checks them; on a kernel without
  // netkit every try makes the kernel look for a module, which takes seconds in the emulated guests.
  if (!IN_GUEST) it('port set PARENT kind netkit is kept, and the parent\'s next child is refused as above; kind auto makes veth ones', () => {
    const ns = t.childNs.get('b1')!;
    t.cli(['port', 'set', 'p0', 'kind', 'netkit']);
    expect(JSON.parse(t.cli(['-j', 'port', 'show', 'p0']))[0].kind).toBe('netkit');
    const r = cli(['link', 'add', 'link', 'p0', 'n2', 'netns', ns, 'type', 'macvlan']);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/this kernel has no netkit devices/);
    t.cli(['port', 'set', 'p0', 'kind', 'auto']);
    expect(t.cli(['port', 'show', 'p0'])).toMatch(/kind auto/);
    t.cli(['link', 'add', 'link', 'p0', 'n2', 'netns', ns, 'type', 'macvlan']);
    expect(show(t, 'n2')[0]!.child_kind).toBe('veth');
    t.cli(['link', 'del', 'n2']);
  });

  if (!IN_GUEST) it('the configuration file\'s kind, for a parent and for a child, is checked and applied', () => {
    const ns = t.childNs.get('b1')!;
    const file = path.join(os.tmpdir(), `${sb.prefix}-k.yaml`);
    try {
      fs.writeFileSync(file, `parents:\n  - { name: p0, kind: veth }\nchildren:\n  - { name: b1, parent: p0, mode: bridge, address: "02:00:00:00:04:01", netns: ${ns} }\n  - { name: k2, parent: p0, netns: ${ns}, kind: tap }\n`);
      const bad = cli(['apply', '-f', file]);
      expect(bad.code).not.toBe(0);
      expect(bad.out).toMatch(/:5: children\[1\]\.kind: "tap" is not a child kind/);
      fs.writeFileSync(file, `parents:\n  - { name: p0, kind: veth }\nchildren:\n  - { name: b1, parent: p0, mode: bridge, address: "02:00:00:00:04:01", netns: ${ns} }\n  - { name: k2, parent: p0, netns: ${ns}, kind: auto }\n`);
      t.cli(['apply', '-f', file]);
      expect(JSON.parse(t.cli(['-j', 'port', 'show', 'p0']))[0].kind).toBe('veth');
      expect(show(t, 'k2')[0]!.child_kind).toBe('veth');
      t.cli(['link', 'del', 'k2']);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('kind auto makes a veth child', () => {
    const ns = t.childNs.get('b1')!;
    t.cli(['link', 'add', 'link', 'p0', 'a1', 'netns', ns, 'type', 'macvlan', 'mode', 'bridge', 'kind', 'auto']);
    expect(show(t, 'a1')[0]!.child_kind).toBe('veth');
    expect(ipShow(ns, 'a1').linkinfo?.info_kind).toBe('veth');
    t.cli(['link', 'del', 'a1']);
  });
});
