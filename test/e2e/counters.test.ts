// The per-CPU counters against the frames receivers really got. In the lab topology (run by an agent),
// N frames of each kind are sent; for every kind, each child's rx (packets and bytes, flood copies),
// the parent's stack and wire counters and each drop reason must move by exactly what the packet
// sockets at the children, the parent's stack and the external host captured. Then the same numbers
// through /metrics (read by a Prometheus text parser), the JSON API and `stats -j`; then a child made
// in a deleted child's slot (same host ifindex, stale entries left by a dead agent) starts at zero.
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IN_GUEST } from '../helpers/scale.js';
import { kernelHasNetkit } from '../helpers/kernel.js';
import parsePrometheus from 'parse-prometheus-text-format';
import { Sandbox } from '../helpers/sandbox.js';
import { httpGet } from '../helpers/http.js';
import { EXT_MAC, MIXED_CHILDREN, Topology, type ChildSpec } from '../../src/lab/topology.js';
import { buildFrame, ETH_P_PAUSE, type FrameSpec } from '../../src/frames.js';
import { isMulticastMac, type Mac } from '../../src/mac.js';
import type { Endpoint, Injection } from '../../src/model.js';
import { addon, inNetns } from '../../src/native.js';
import { decodeChildStatsPerCpu, sumChildStats } from '../../src/datapath/abi.js';
import { COUNTED_DROP_REASONS, CounterReader, type Snapshot } from '../../src/metrics/snapshot.js';
import { Macvlan } from '../../src/control/macvlan.js';
import { run } from '../helpers/sandbox.js';

const sb = new Sandbox('c');
const CHILDREN: ChildSpec[] = [...MIXED_CHILDREN, { name: 'd1', mode: 'bridge', mac: '02:00:00:00:04:09', up: false }];
const mac = (n: string) => CHILDREN.find((c) => c.name === n)!.mac;
const N = 50;
let t: Topology;
let reader: CounterReader;

interface Kind {
  label: string;
  inj: Injection;
  frame: Omit<FrameSpec, 'id' | 'length'>;
  /** Copies each endpoint receives per frame sent. */
  deliveries: Partial<Record<Endpoint, number>>;
  /** Drops counted per frame sent, by reason. */
  drops?: Partial<Record<(typeof COUNTED_DROP_REASONS)[number], number>>;
}

const KINDS: Kind[] = [
  { label: 'external → b1', inj: { from: 'wire' }, frame: { src: EXT_MAC, dst: mac('b1') }, deliveries: { b1: 1 } },
  { label: 'external → p1 (private)', inj: { from: 'wire' }, frame: { src: EXT_MAC, dst: mac('p1') }, deliveries: { p1: 1 } },
  { label: 'b1 → external', inj: { from: 'child', name: 'b1' }, frame: { src: mac('b1'), dst: EXT_MAC }, deliveries: { wire: 1 } },
  { label: 'b1 → b2 (bridge)', inj: { from: 'child', name: 'b1' }, frame: { src: mac('b1'), dst: mac('b2') }, deliveries: { b2: 1 } },
  { label: 'v1 → v2 (vepa: to the wire)', inj: { from: 'child', name: 'v1' }, frame: { src: mac('v1'), dst: mac('v2') }, deliveries: { wire: 1 } },
  {
    label: 'external broadcast', inj: { from: 'wire' }, frame: { src: EXT_MAC, dst: 'ff:ff:ff:ff:ff:ff' },
    deliveries: { p1: 1, p2: 1, v1: 1, v2: 1, b1: 1, b2: 1, stack: 1 },
  },
  {
    // A bridge child's broadcast reaches the other bridge child and the wire; the four copies its mode
    // withholds from the private and vepa children are counted as mode-filter.
    label: 'b1 broadcast', inj: { from: 'child', name: 'b1' }, frame: { src: mac('b1'), dst: 'ff:ff:ff:ff:ff:ff' },
    deliveries: { b2: 1, wire: 1 }, drops: { 'mode-filter': 4 },
  },
  { label: 'p2 → p1 through the wire (strict isolation)', inj: { from: 'wire' }, frame: { src: mac('p2'), dst: mac('p1') }, deliveries: {}, drops: { 'private-src': 1 } },
  { label: 'PAUSE from the wire', inj: { from: 'wire' }, frame: { src: EXT_MAC, dst: '01:80:c2:00:00:01', ethertype: ETH_P_PAUSE }, deliveries: { stack: 1 }, drops: { pause: 1 } },
  { label: 'external → a DOWN child (to the stack)', inj: { from: 'wire' }, frame: { src: EXT_MAC, dst: mac('d1') }, deliveries: { stack: 1 } },
];

const read = (): Snapshot => inNetns(`/run/netns/${t.host}`, () => reader.read());

beforeAll(() => {
  t = Topology.build(sb, { datapath: 'bpf', children: CHILDREN, reflector: false, isolation: 'strict' }, 'c');
  reader = new CounterReader(t.pinRoot);
}, 120_000);
afterAll(() => {
  reader?.close();
  t?.close();
  sb.cleanup();
});

function exactCounters(topo: () => Topology, snap: () => Snapshot): void {
  let seq = 1;
  const t = { drain: (ms: number) => topo().drain(ms), send: (...a: Parameters<Topology['send']>) => topo().send(...a) };
  const read = snap;
  KINDS.forEach((k, i) => {
    it(k.label, async () => {
      await t.drain(50); // nothing left over from earlier kinds
      const len = 64 + 16 * i; // a distinct size per kind, so bytes are checked too
      const before = read();
      for (let n = 0; n < N; n++) t.send(k.inj, buildFrame({ ...k.frame, id: seq++, length: len }));
      const got = await t.drain(300);
      const after = read();
      const child = (s: Snapshot, name: string) => s.children.find((c) => c.name === name)!.counters;
      const parent = (s: Snapshot) => s.parents[0]!.counters;
      const frames = (ep: Endpoint) => got.get(ep) ?? [];

      for (const c of CHILDREN) {
        const d = (f: 'rxPackets' | 'rxBytes' | 'txPackets' | 'txBytes' | 'floodCopies') => child(after, c.name)[f] - child(before, c.name)[f];
        const rx = frames(c.name);
        expect(rx.length, `${c.name} received`).toBe(N * (k.deliveries[c.name] ?? 0));
        expect(d('rxPackets'), `${c.name} rx_packets`).toBe(rx.length);
        expect(d('rxBytes'), `${c.name} rx_bytes`).toBe(rx.reduce((s, f) => s + f.length, 0));
        expect(d('floodCopies'), `${c.name} flood_copies`).toBe(rx.filter((f) => isMulticastMac(macOf(f))).length);
        const sent = k.inj.from === 'child' && k.inj.name === c.name ? N : 0;
        expect(d('txPackets'), `${c.name} tx_packets`).toBe(sent);
        expect(d('txBytes'), `${c.name} tx_bytes`).toBe(sent * len);
      }
      const stack = frames('stack');
      expect(stack.length, 'the parent\'s stack received').toBe(N * (k.deliveries.stack ?? 0));
      expect(parent(after).stackPackets - parent(before).stackPackets, 'stack_packets').toBe(stack.length);
      expect(parent(after).stackBytes - parent(before).stackBytes, 'stack_bytes').toBe(stack.reduce((s, f) => s + f.length, 0));
      // The external host's socket sees what came out of the parent (only children send here).
      const wire = frames('wire');
      expect(wire.length, 'the wire received').toBe(N * (k.deliveries.wire ?? 0));
      expect(parent(after).wirePackets - parent(before).wirePackets, 'wire_packets').toBe(wire.length);
      expect(parent(after).wireBytes - parent(before).wireBytes, 'wire_bytes').toBe(wire.reduce((s, f) => s + f.length, 0));
      for (const r of COUNTED_DROP_REASONS)
        expect(parent(after).drops[r] - parent(before).drops[r], `drops{reason=${r}}`).toBe(N * (k.drops?.[r] ?? 0));
      // Per-CPU slots add up to the totals.
      for (const c of after.children)
        expect(c.perCpu.reduce((s, x) => s + x.rxPackets, 0)).toBe(c.counters.rxPackets);
    });
  });
}

describe('counters are exact against delivered frames', () => exactCounters(() => t, read));

// The XDP fast path counts what it finishes (unicast delivered, strict isolation's drops) and TC the
// rest: the same numbers.
// (On the host only: the kernel matrix's guests check the XDP fast path's counters in fastpath.test.ts.)
if (!IN_GUEST) describe('counters are exact against delivered frames, fast path xdp', () => {
  let tx: Topology;
  let rx: CounterReader;
  beforeAll(() => {
    tx = Topology.build(sb, { datapath: 'bpf', children: CHILDREN, reflector: false, isolation: 'strict', fastpath: 'xdp' }, 'cx');
    rx = new CounterReader(tx.pinRoot);
  }, 120_000);
  afterAll(() => {
    rx?.close();
    tx?.close();
  });
  exactCounters(() => tx, () => inNetns(`/run/netns/${tx.host}`, () => rx.read()));
});

// netkit children where the kernel has them (the 6.12 guest): their transmit is counted in the peer slot.
if (kernelHasNetkit()) describe('counters are exact against delivered frames, netkit children', () => {
  let tn: Topology;
  let rn: CounterReader;
  beforeAll(() => {
    tn = Topology.build(sb, { datapath: 'bpf', children: CHILDREN, reflector: false, isolation: 'strict', childKind: 'netkit' }, 'cn');
    rn = new CounterReader(tn.pinRoot);
  }, 120_000);
  afterAll(() => {
    rn?.close();
    tn?.close();
  });
  exactCounters(() => tn, () => inNetns(`/run/netns/${tn.host}`, () => rn.read()));
});

function macOf(f: Buffer): Mac {
  return [...f.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':') as Mac;
}

// What /metrics, the JSON API and stats print from the maps does not depend on the kernel: the host
// checks it (the counters themselves are checked in the guests above).
if (!IN_GUEST) describe('the same numbers everywhere', () => {
  it('/metrics (Prometheus text format), /api/v1/snapshot and stats -j agree with the maps', () => {
    const s = read();
    const metrics = httpGet(t.host, 'http://127.0.0.1:9742/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const fams = new Map(parsePrometheus(metrics.body).map((f) => [f.name, f]));
    const value = (name: string, labels: Record<string, string>) =>
      Number(fams.get(name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value);
    for (const c of s.children) {
      const labels = { parent: 'p0', child: c.name, netns: c.netns, mode: c.mode };
      expect(value('macvlan_bpf_child_rx_packets_total', labels), c.name).toBe(c.counters.rxPackets);
      expect(value('macvlan_bpf_child_tx_bytes_total', labels), c.name).toBe(c.counters.txBytes);
      expect(value('macvlan_bpf_child_up', labels), c.name).toBe(c.up ? 1 : 0);
    }
    expect(s.children.find((c) => c.name === 'b1')!.counters.rxPackets).toBeGreaterThan(0);
    for (const r of COUNTED_DROP_REASONS) expect(value('macvlan_bpf_drops_total', { parent: 'p0', reason: r }), r).toBe(s.parents[0]!.counters.drops[r]);
    expect(fams.get('macvlan_bpf_agent_process_resident_memory_bytes')?.metrics.length).toBe(1);

    const perCpu = parsePrometheus(httpGet(t.host, 'http://127.0.0.1:9742/metrics?per_cpu=1').body).find((f) => f.name === 'macvlan_bpf_child_rx_packets_total')!;
    const b1 = perCpu.metrics.filter((m) => m.labels?.child === 'b1');
    expect(b1.map((m) => m.labels?.cpu)).toEqual(s.cpus > 0 ? Array.from({ length: s.cpus }, (_, i) => String(i)) : []);
    expect(b1.reduce((x, m) => x + Number(m.value), 0)).toBe(s.children.find((c) => c.name === 'b1')!.counters.rxPackets);

    const api = JSON.parse(httpGet(t.host, 'http://127.0.0.1:9742/api/v1/snapshot').body) as Snapshot;
    const cli = JSON.parse(t.cli(['-j', 'stats'])) as Snapshot;
    for (const other of [api, cli]) {
      expect(other.children.map((c) => [c.name, c.netns, c.mode, c.mac, c.up, c.counters])).toEqual(s.children.map((c) => [c.name, c.netns, c.mode, c.mac, c.up, c.counters]));
      expect(other.parents.map((p) => [p.name, p.counters])).toEqual(s.parents.map((p) => [p.name, p.counters]));
    }
    const topo = JSON.parse(httpGet(t.host, 'http://127.0.0.1:9742/api/v1/topology').body);
    expect(topo.children.map((c: { name: string; up: boolean }) => `${c.name}:${c.up}`).sort()).toEqual(CHILDREN.map((c) => `${c.name}:${c.up !== false}`).sort());
    expect(httpGet(t.host, 'http://127.0.0.1:9742/nope').status).toBe(404);
    expect(httpGet(t.host, 'http://127.0.0.1:9742/metrics', 'POST').status).toBe(405);
  });

  it('stats --watch prints rates each interval; stats without an instance says what to do', async () => {
    const sending = setInterval(() => {
      for (let n = 0; n < 5; n++) t.send({ from: 'wire' }, buildFrame({ src: EXT_MAC, dst: mac('v1'), id: 70_000 }));
    }, 10);
    let out: string;
    try {
      out = await new Promise<string>((resolve, reject) =>
        execFile('nsenter', [`--net=/run/netns/${t.host}`, 'bin/macvlan-bpf', '-j', 'stats', '--watch', '0.5', '--count', '2'], { env: { ...process.env, MACVLAN_BPF_PIN_ROOT: t.pinRoot } }, (e, so) => (e ? reject(e) : resolve(so))));
    } finally {
      clearInterval(sending);
    }
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Snapshot & { rates: { busy: Record<string, [number, number]>; top: { name: string }[] } });
    expect(lines).toHaveLength(2);
    const v1 = lines[1]!.children.find((c) => c.name === 'v1')!;
    expect(lines[1]!.rates.top[0]!.name).toBe('v1');
    expect(lines[1]!.rates.busy[v1.key]![0]).toBeGreaterThan(50);
    let err = '';
    try {
      t.cli(['stats']);
      run('nsenter', [`--net=/run/netns/${t.host}`, 'bin/macvlan-bpf', 'stats'], { MACVLAN_BPF_PIN_ROOT: `${t.pinRoot}-none` });
    } catch (e) {
      err = String((e as { stderr?: string }).stderr);
    }
    expect(err).toMatch(/no macvlan-bpf instance is pinned at .*-none .*MACVLAN_BPF_PIN_ROOT/);
  });

  it('the dashboard and its assets are served from this host, no CDN', () => {
    const page = httpGet(t.host, 'http://127.0.0.1:9742/');
    expect(page.status).toBe(200);
    const refs = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThanOrEqual(4);
    for (const r of refs) {
      expect(r, 'a local path').toMatch(/^\/assets\//);
      expect(httpGet(t.host, `http://127.0.0.1:9742${r}`).status, r).toBe(200);
    }
  });
});

describe('a deleted child\'s counters never reach a new child', () => {
  it('a child made in the same slot (host ifindex) starts from zero, even over stale entries', async () => {
    for (let n = 0; n < 5; n++) t.send({ from: 'wire' }, buildFrame({ src: EXT_MAC, dst: mac('b2'), id: 80_000 + n }));
    await t.drain(200);
    const before = read().children.find((c) => c.name === 'b2')!;
    expect(before.counters.rxPackets).toBeGreaterThan(0);
    const slot = before.key;
    // The worst case: the agent is dead, so nobody deletes b2's entries when its link goes.
    t.stopAgent(true);
    const links = JSON.parse(run('ip', ['-n', t.host, '-j', 'link', 'show'])) as { ifindex: number; ifname: string }[];
    const hostEnd = links.find((l) => l.ifindex === slot)!.ifname;
    run('ip', ['-n', t.host, 'link', 'del', hostEnd]);
    expect(inNetns(`/run/netns/${t.host}`, () => reader.read()).children.some((c) => c.key === slot), 'stale registry entry').toBe(true);
    const counterSlots = inNetns(`/run/netns/${t.host}`, () => {
      const m = Macvlan.open(t.pinRoot, { reconcile: false });
      try {
        const was = m.dp.getChild(slot)!.slot;
        m.add({ parent: 'p0', name: 'n2', mode: 'bridge', address: '02:00:00:00:04:22', netns: t.childNs.get('b2')!, hostIfindex: slot });
        // The stale entry's counter slot, freed when n2's entry replaced it, is the lowest free one: the
        // next child is given it, zeroed.
        m.add({ parent: 'p0', name: 'n3', mode: 'bridge', address: '02:00:00:00:04:23', netns: t.childNs.get('b2')! });
        const n3 = m.dp.listChildren().find((c) => c.name === 'n3')!;
        const counters = sumChildStats(decodeChildStatsPerCpu(m.dp.childStatsRaw(n3.hostIfindex)!));
        m.del('n3', t.childNs.get('b2')!);
        return { was, n3: n3.slot, counters };
      } finally {
        m.close();
      }
    });
    expect(counterSlots.n3, 'the deleted child\'s counter slot, given again').toBe(counterSlots.was);
    expect(counterSlots.counters).toEqual({ rxPackets: 0n, rxBytes: 0n, txPackets: 0n, txBytes: 0n, floodCopies: 0n });
    const fresh = read().children.find((c) => c.key === slot)!;
    expect(fresh.name).toBe('n2');
    expect(fresh.counters).toEqual({ rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, floodCopies: 0 });
    expect(fresh.perCpu.every((c) => c.rxPackets === 0 && c.rxBytes === 0)).toBe(true);

    // The agent comes back, the child goes UP and gets exactly what is sent to it.
    t.startAgent();
    run('ip', ['-n', t.childNs.get('b2')!, 'link', 'set', 'n2', 'up']);
    const sock = new (addon().PacketSocket)({ ifname: 'n2', netns: `/run/netns/${t.childNs.get('b2')}` });
    try {
      await waitUntil(() => read().children.find((c) => c.key === slot)?.up === true); // the agent saw it
      for (let n = 0; n < 7; n++) t.send({ from: 'wire' }, buildFrame({ src: EXT_MAC, dst: '02:00:00:00:04:22', id: 90_000 + n, length: 100 }));
      await new Promise((r) => setTimeout(r, 300));
      expect(sock.recv().length).toBe(7);
      expect(read().children.find((c) => c.key === slot)!.counters).toMatchObject({ rxPackets: 7, rxBytes: 700 });
      const m = httpGet(t.host, 'http://127.0.0.1:9742/metrics').body;
      expect(m).not.toMatch(/child="b2"/);
      expect(m).toMatch(/macvlan_bpf_child_rx_packets_total\{parent="p0",child="n2",[^}]*\} 7\n/);
    } finally {
      sock.close();
    }
    // Deleting it the normal way takes its counters with it.
    t.cli(['link', 'del', 'n2', '-n', t.childNs.get('b2')!]);
    expect(read().children.some((c) => c.key === slot)).toBe(false);
    const stats = inNetns(`/run/netns/${t.host}`, () => Macvlan.open(t.pinRoot, { reconcile: false }));
    try {
      expect(stats.dp.childStatsRaw(slot), 'the counter entry of a deleted child').toBeNull();
    } finally {
      stats.close();
    }
  });
});

async function waitUntil(ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
