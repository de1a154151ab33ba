// The XDP fast path (issue 12): `port set PARENT fastpath xdp` puts a native XDP program on the parent
// that redirects unicast to UP children into their veths before an skb exists and drops strict
// isolation's frames there; everything else passes on to the TC program. Tested: the same deliveries as
// kernel macvlan (unicast and multicast differentials, run by the agent from a config file with
// `fastpath: xdp`), that XDP really carries the unicast (a tap on the parent, which sees every frame TC
// gets, sees none of them), the counters, TCP both ways, the hook pinned and in driver mode, GRO on the
// child ends and off again, a parent without native XDP refused with nothing changed, and forwarding
// across an agent's kill -9.
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, run } from '../helpers/sandbox.js';
import { multicastDifferential, unicastDifferential } from '../helpers/differential.js';
import { Topology, MIXED_CHILDREN, EXT_MAC } from '../../src/lab/topology.js';
import { addon } from '../../src/native.js';
import { buildFrame, ETH_P_TEST } from '../../src/frames.js';
import { waitFor } from '../../src/lab/wait.js';
import { IN_GUEST, scaled } from '../helpers/scale.js';
import { kernelAtLeast } from '../helpers/kernel.js';

const sb = new Sandbox('x');
afterAll(() => sb.cleanup());

const gro = (ns: string, dev: string) => /generic-receive-offload: on/.test(run('nsenter', [`--net=/run/netns/${ns}`, 'ethtool', '-k', dev]));
function xdpOf(ns: string, dev: string): { mode?: number; prog?: { id: number } } | undefined {
  const [l] = JSON.parse(run('ip', ['-n', ns, '-d', '-j', 'link', 'show', 'dev', dev])) as { xdp?: { mode?: number; prog?: { id: number } } }[];
  return l!.xdp;
}
const XDP_ATTACHED_DRV = 1;

describe('XDP fast path: the same deliveries as kernel macvlan', () => {
  let cells = 0;
  const scenarios = [['mixed', MIXED_CHILDREN], ['passthru', [{ name: 't1', mode: 'passthru', mac: '02:00:00:00:08:01' }]]] as const;
  // The guests (emulated, five times slower) take the mixed scenario; the host all.
  for (const [name, children] of scaled(scenarios, scenarios.slice(0, 1))) {
    // The guests (emulated, five times slower) take the hairpinning half, which has the most cases.
    for (const reflector of scaled([false, true], [true])) {
      it(`unicast, ${name}, reflector ${reflector ? 'ON' : 'OFF'}`, async () => {
        cells += await unicastDifferential(sb, { children: [...children], reflector, isolation: 'kernel', fastpath: 'xdp' });
      });
    }
  }
  if (!IN_GUEST) it('multicast, mixed, reflector ON', async () => {
    const r = await multicastDifferential(sb, { children: MIXED_CHILDREN, reflector: true, isolation: 'kernel', fastpath: 'xdp' });
    expect(r.cells).toBeGreaterThan(100);
  });
  it('compared the cells', () => {
    console.log(`XDP fast path: ${cells} unicast cells compared with kernel macvlan`);
    expect(cells).toBeGreaterThan(scaled(200, 50));
  });
});

describe('XDP fast path: the hook, the children, the frames', () => {
  it('XDP delivers unicast (the parent\'s tap never sees it), drops strict isolation\'s frames, passes the rest; counters exact', async () => {
    const t = Topology.build(sb, { datapath: 'bpf', children: MIXED_CHILDREN, reflector: false, fastpath: 'xdp' }, 'h');
    try {
      const ifindex = Number(run('ip', ['-n', t.host, '-j', 'link', 'show', 'dev', 'p0']).match(/"ifindex":(\d+)/)![1]);
      const x = xdpOf(t.host, 'p0');
      expect(x?.mode, 'native (driver) XDP on p0').toBe(XDP_ATTACHED_DRV);
      expect(fs.existsSync(path.join(t.pinRoot, 'links', `xdp-${ifindex}`)), 'the XDP link is pinned').toBe(true);
      for (const c of MIXED_CHILDREN) expect(gro(t.childNs.get(c.name)!, c.name), `GRO on at ${c.name}`).toBe(true);
      expect(t.cli(['port', 'show', 'p0'])).toMatch(/fastpath xdp/);

      const a = addon();
      // Every frame the parent's TC hook gets passes its taps first: a tap that sees nothing saw XDP take it.
      const tap = new a.PacketSocket({ ifname: 'p0', netns: `/run/netns/${t.host}` });
      const wire = new a.PacketSocket({ ifname: 'e0', netns: `/run/netns/${t.ext}` });
      const rx = Object.fromEntries(MIXED_CHILDREN.map((c) => [c.name, new a.PacketSocket({ ifname: c.name, netns: `/run/netns/${t.childNs.get(c.name)!}` })]));
      type Snap = { children: { name: string; counters: { rxPackets: number } }[]; parents: { name: string; counters: { drops: Record<string, number>; stackPackets: number } }[] };
      const stats = () => JSON.parse(t.cli(['-j', 'stats'])) as Snap;
      const before = stats();
      const N = 20;
      const p1 = MIXED_CHILDREN.find((c) => c.name === 'p1')!;
      const p2 = MIXED_CHILDREN.find((c) => c.name === 'p2')!;
      for (let i = 0; i < N; i++) {
        for (const c of MIXED_CHILDREN) wire.send(buildFrame({ src: EXT_MAC, dst: c.mac, ethertype: ETH_P_TEST, id: 1000 + i }));
        wire.send(buildFrame({ src: p2.mac, dst: p1.mac, ethertype: ETH_P_TEST, id: 2000 + i })); // hairpinned sibling → private
        wire.send(buildFrame({ src: EXT_MAC, dst: 'ff:ff:ff:ff:ff:ff', ethertype: ETH_P_TEST, id: 3000 + i }));
      }
      const got: Record<string, Buffer[]> = Object.fromEntries(MIXED_CHILDREN.map((c) => [c.name, []]));
      const tapped: Buffer[] = [];
      const take = () => {
        for (const [n, s] of Object.entries(rx)) got[n]!.push(...s.recv().map((f) => f.data).filter((d) => d.readUInt16BE(12) === ETH_P_TEST));
        tapped.push(...tap.recv().map((f) => f.data).filter((d) => d.readUInt16BE(12) === ETH_P_TEST));
      };
      try {
        waitFor(() => (take(), Object.values(got).every((g) => g.length >= 2 * N)), 'every child to get its frames', 5000);
      } catch { /* the counts below say what is missing */ }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
      take();
      for (const c of MIXED_CHILDREN) expect(got[c.name]!.length, `${c.name}: ${N} unicast + ${N} broadcast`).toBe(2 * N);
      expect(tapped.filter((d) => !(d[0]! & 1)).length, 'no unicast frame reached the parent\'s TC hook').toBe(0);
      expect(tapped.filter((d) => d[0]! & 1).length, 'the broadcasts passed on to TC').toBe(N);
      const after = stats();
      for (const c of MIXED_CHILDREN) {
        const d = after.children.find((x) => x.name === c.name)!.counters.rxPackets - before.children.find((x) => x.name === c.name)!.counters.rxPackets;
        expect(d, `${c.name}'s rx counter`).toBe(2 * N);
      }
      const dp = (s: Snap) => s.parents.find((p) => p.name === 'p0')!.counters;
      expect(dp(after).drops['private-src']! - dp(before).drops['private-src']!, 'strict isolation\'s drops, counted in XDP').toBe(N);
      expect(dp(after).stackPackets - dp(before).stackPackets, 'the broadcasts reached the stack').toBe(N);
      for (const s of [tap, wire, ...Object.values(rx)]) s.close();
    } finally {
      t.close();
    }
  });

  // A pinned link outlives its maker on every kernel with XDP links (5.9): the host checks it; the guests' time is counted.
  if (!IN_GUEST) it('kill -9 of the agent: XDP keeps forwarding (its link is pinned), and the restarted agent keeps the same link', () => {
    const t = Topology.build(sb, { datapath: 'bpf', children: MIXED_CHILDREN.slice(0, 2), reflector: false, fastpath: 'xdp' }, 'k');
    try {
      const id = xdpOf(t.host, 'p0')?.prog?.id;
      expect(id).toBeGreaterThan(0);
      t.stopAgent(true);
      const a = addon();
      const c = MIXED_CHILDREN[0]!;
      const wire = new a.PacketSocket({ ifname: 'e0', netns: `/run/netns/${t.ext}` });
      const rx = new a.PacketSocket({ ifname: c.name, netns: `/run/netns/${t.childNs.get(c.name)!}` });
      const tap = new a.PacketSocket({ ifname: 'p0', netns: `/run/netns/${t.host}` });
      const count = (s: { recv(): { data: Buffer }[] }) => s.recv().filter((f) => f.data.readUInt16BE(12) === ETH_P_TEST && !(f.data[0]! & 1)).length;
      const burst = () => {
        for (let i = 0; i < 10; i++) wire.send(buildFrame({ src: EXT_MAC, dst: c.mac, ethertype: ETH_P_TEST, id: i }));
        let got = 0;
        waitFor(() => (got += count(rx)) >= 10, `${c.name} to get 10 frames`, 3000);
        return got;
      };
      expect(burst(), 'while no agent runs').toBe(10);
      t.startAgent();
      t.waitForAgentSync();
      expect(burst(), 'after the restart').toBe(10);
      expect(count(tap), 'none of them through TC').toBe(0);
      expect(xdpOf(t.host, 'p0')?.prog?.id, 'the same XDP program').toBe(id);
      for (const s of [wire, rx, tap]) s.close();
    } finally {
      t.close();
    }
  });

  // Builds before the chunked flood (2026-12-01) made the children past a parent's 500th with GRO on
  // for life and their host end's TSO off (their flood copies went through NAPI: kinds/veth.ts). This
  // build makes none, but keeps theirs as they are: made here by hand, as those builds left them.
  // On the host and the 6.1 guest (the oldest kernel; the 6.12 guest is the kernel matrix's long pole).
  if (!IN_GUEST || !kernelAtLeast(6, 12)) it('children an older build made with GRO for life: XDP arms them when it comes (unicast arrives), and their GRO stays when it goes', async () => {
    const t = Topology.build(sb, { datapath: 'bpf', children: MIXED_CHILDREN.slice(0, 2), reflector: false }, 'n');
    try {
      const shown = JSON.parse(t.cli(['-j', 'link', 'show'])) as { ifname: string; host_end: string }[];
      for (const c of MIXED_CHILDREN.slice(0, 2)) {
        run('nsenter', [`--net=/run/netns/${t.host}`, 'ethtool', '-K', shown.find((l) => l.ifname === c.name)!.host_end, 'tso', 'off']);
        run('nsenter', [`--net=/run/netns/${t.childNs.get(c.name)!}`, 'ethtool', '-K', c.name, 'gro', 'on']);
      }
      const kids = MIXED_CHILDREN.slice(0, 2);
      for (const c of kids) expect(gro(t.childNs.get(c.name)!, c.name), `GRO on at ${c.name} from birth`).toBe(true);
      t.cli(['port', 'set', 'p0', 'fastpath', 'xdp']);
      for (const [i, c] of kids.entries()) t.send({ from: 'wire' }, buildFrame({ src: EXT_MAC, dst: c.mac, id: 700 + i }));
      const seen = await t.collect();
      for (const [i, c] of kids.entries()) expect(seen.get(700 + i)?.get(c.name), `${c.name} got its frame with the XDP fast path on`).toBe(1);
      t.cli(['port', 'set', 'p0', 'fastpath', 'tc']);
      for (const c of kids) expect(gro(t.childNs.get(c.name)!, c.name), `GRO still on at ${c.name}`).toBe(true);
    } finally {
      t.close();
    }
  });

  it('back to tc: the XDP link goes, GRO goes off again; a parent without native XDP is refused and nothing changes', () => {
    const t = Topology.build(sb, { datapath: 'bpf', children: MIXED_CHILDREN.slice(0, 2), reflector: false, fastpath: 'xdp' }, 'g');
    try {
      t.cli(['port', 'set', 'p0', 'fastpath', 'tc']);
      expect(xdpOf(t.host, 'p0')?.prog, 'no XDP program on p0').toBeUndefined();
      expect(fs.readdirSync(path.join(t.pinRoot, 'links')).filter((f) => f.startsWith('xdp-'))).toEqual([]);
      for (const c of MIXED_CHILDREN.slice(0, 2)) expect(gro(t.childNs.get(c.name)!, c.name), `GRO off again at ${c.name}`).toBe(false);
      expect(t.cli(['port', 'show', 'p0'])).toMatch(/fastpath tc/);
    } finally {
      t.close();
    }
    const b = Topology.build(sb, { datapath: 'bpf', children: MIXED_CHILDREN.slice(0, 2), reflector: false, parent: 'bridge' }, 'r');
    try {
      let err = '';
      try {
        b.cli(['port', 'set', 'br0', 'fastpath', 'xdp']);
      } catch (e) {
        err = String((e as { stderr?: string }).stderr ?? e);
      }
      expect(err).toMatch(/br0 has no native XDP .*keep its fast path tc/);
      expect(b.cli(['port', 'show', 'br0'])).toMatch(/fastpath tc/);
      for (const c of MIXED_CHILDREN.slice(0, 2)) expect(gro(b.childNs.get(c.name)!, c.name), `GRO untouched at ${c.name}`).toBe(false);
      expect(xdpOf(b.host, 'br0')?.prog).toBeUndefined();
    } finally {
      b.close();
    }
  });
});
