// Pure parts of the metrics: rates between snapshots (top-N, sparse busy set, reused keys), the
// Prometheus exposition read back by a real text-format parser, listen addresses, the stats table, and
// the Grafana dashboard's queries against the metric names we export.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import parsePrometheus from 'parse-prometheus-text-format';
import { computeRates, topologyOf } from '../../src/metrics/rates.js';
import { MetricsExporter, METRIC_NAMES } from '../../src/metrics/prometheus.js';
import { parseListen } from '../../src/metrics/http.js';
import { formatStats, human, parseStatsArgs } from '../../src/cli/stats.js';
import { COUNTED_DROP_REASONS, type ChildCounters, type ChildSample, type ParentCounters, type Snapshot } from '../../src/metrics/snapshot.js';

const cc = (rx: number, tx = 0, flood = 0): ChildCounters => ({ rxPackets: rx, rxBytes: rx * 100, txPackets: tx, txBytes: tx * 100, floodCopies: flood });
const pc = (stack: number, drops: Partial<ParentCounters['drops']> = {}): ParentCounters => ({
  stackPackets: stack, stackBytes: stack * 60, wirePackets: 0, wireBytes: 0,
  drops: { ...(Object.fromEntries(COUNTED_DROP_REASONS.map((r) => [r, 0])) as ParentCounters['drops']), ...drops },
});
function child(key: number, name: string, perCpu: ChildCounters[]): ChildSample {
  const sum = perCpu.reduce((t, c) => cc(t.rxPackets + c.rxPackets, t.txPackets + c.txPackets, t.floodCopies + c.floodCopies), cc(0));
  return { key, name, netns: `ns-${name}`, parent: 'p0', mode: 'bridge', mac: `02:00:00:00:00:${key.toString(16).padStart(2, '0')}`, up: true, counters: sum, perCpu };
}
function snap(mono: number, children: ChildSample[], parent: ParentCounters[] = [pc(0), pc(0)]): Snapshot {
  const sum = parent.reduce((t, p) => {
    const d = { ...t.drops };
    for (const r of COUNTED_DROP_REASONS) d[r] += p.drops[r];
    return { ...t, stackPackets: t.stackPackets + p.stackPackets, stackBytes: t.stackBytes + p.stackBytes, drops: d };
  }, pc(0));
  return {
    time: 1_700_000_000_000 + mono, mono, cpus: 2, readMs: 0.5, children,
    parents: [{ ifindex: 2, name: 'p0', isolation: 'strict', fastpath: 'tc', passthru: false, children: children.length, childrenUp: children.length, counters: sum, perCpu: parent }],
  };
}

describe('rates between two snapshots', () => {
  const a = snap(0, [child(10, 'c10', [cc(0), cc(0)]), child(11, 'c11', [cc(0), cc(0)]), child(12, 'c12', [cc(5), cc(0)])], [pc(0), pc(0)]);
  const b = snap(2000, [child(10, 'c10', [cc(100, 20), cc(100)]), child(11, 'c11', [cc(10), cc(0)]), child(12, 'c12', [cc(5), cc(0)])], [pc(40, { pause: 4 }), pc(0, { 'private-src': 2 })]);

  it('gives per-second rates, busiest first, and leaves idle children out', () => {
    const r = computeRates(a, b, 1);
    expect(r.intervalMs).toBe(2000);
    expect(r.top).toHaveLength(1);
    expect(r.top[0]).toMatchObject({ key: 10, rxPps: 100, txPps: 10, rxBps: 10_000, txBps: 1000 });
    expect(r.busy).toEqual({ 10: [100, 10], 11: [5, 0] }); // c12 did nothing
    expect(r.others).toEqual({ children: 1, rxPps: 5, txPps: 0 });
    expect(r.totals).toMatchObject({ rxPps: 105, txPps: 10, stackPps: 20, dropPps: 3 });
    expect(r.drops).toMatchObject({ pause: 2, 'private-src': 1, 'no-dest': 0 });
    // cpu0: c10 rx 100 + tx 20, c11 10, stack 40, pause 4 = 174 in 2 s; cpu1: 100 rx + 2 drops.
    expect(r.cpus).toEqual([87, 51]);
  });

  it('starts a reused key from zero: a new child never inherits its predecessor\'s counters', () => {
    const before = snap(0, [child(10, 'old', [cc(5000), cc(0)])]);
    const after = snap(1000, [child(10, 'new', [cc(30), cc(0)])]);
    expect(computeRates(before, after).busy).toEqual({ 10: [30, 0] });
    // Same name, counters went backwards (deleted and re-made between two reads): also from zero.
    const again = snap(2000, [child(10, 'new', [cc(7), cc(0)])]);
    expect(computeRates(after, again).busy).toEqual({ 10: [7, 0] });
  });

  it('the topology view carries no counters', () => {
    const t = topologyOf(b);
    expect(t.children[0]).toEqual({ key: 10, name: 'c10', netns: 'ns-c10', parent: 'p0', mode: 'bridge', mac: '02:00:00:00:00:0a', up: true });
    expect(JSON.stringify(t)).not.toContain('rxPackets');
  });
});

describe('the Prometheus exposition', () => {
  const s = snap(0, [child(10, 'c10', [cc(3, 1, 2), cc(4)])], [pc(7, { pause: 1 }), pc(1)]);

  it('parses, follows the naming conventions, and holds the snapshot\'s values', async () => {
    const text = await new MetricsExporter(() => s, { processMetrics: false }).scrape();
    const fams = new Map(parsePrometheus(text).map((f) => [f.name, f]));
    for (const n of METRIC_NAMES) expect(fams.has(n), n).toBe(true);
    for (const f of fams.values()) {
      expect(f.name).toMatch(/^macvlan_bpf_[a-z_]+$/);
      if (f.type === 'COUNTER') expect(f.name).toMatch(/_total$/);
      expect(f.help.length).toBeGreaterThan(10);
    }
    const rx = fams.get('macvlan_bpf_child_rx_packets_total')!.metrics;
    expect(rx).toEqual([{ labels: { parent: 'p0', child: 'c10', netns: 'ns-c10', mode: 'bridge' }, value: '7' }]);
    const drops = fams.get('macvlan_bpf_drops_total')!.metrics;
    expect(drops).toHaveLength(COUNTED_DROP_REASONS.length);
    expect(drops.find((m) => m.labels?.reason === 'pause')?.value).toBe('1');
    expect(fams.get('macvlan_bpf_parent_stack_packets_total')!.metrics[0]!.value).toBe('8');
  });

  it('with per_cpu, one series per CPU that sum to the total', async () => {
    const text = await new MetricsExporter(() => s, { processMetrics: false }).scrape(true);
    const rx = parsePrometheus(text).find((f) => f.name === 'macvlan_bpf_child_rx_packets_total')!.metrics;
    expect(rx.map((m) => [m.labels?.cpu, m.value])).toEqual([['0', '3'], ['1', '4']]);
  });

  it('a MAC conflict is a gauge per child; the agent\'s repairs are counters by what', async () => {
    const c = { ...child(10, 'c10', [cc(0), cc(0)]), conflict: true as const };
    const text = await new MetricsExporter(() => ({ ...snap(0, [c, child(11, 'c11', [cc(0), cc(0)])]), repairs: { macConflicts: 3, hooks: 2 } }), { processMetrics: false }).scrape();
    const fams = new Map(parsePrometheus(text).map((f) => [f.name, f]));
    expect(fams.get('macvlan_bpf_child_mac_conflict')!.metrics.map((m) => [m.labels?.child, m.value])).toEqual([['c10', '1'], ['c11', '0']]);
    expect(fams.get('macvlan_bpf_repairs_total')!.metrics.map((m) => [m.labels?.what, m.value])).toEqual([['mac_conflict', '3'], ['hook', '2']]);
  });

  it('reads a fresh snapshot at every scrape', async () => {
    let n = 0;
    const e = new MetricsExporter(() => snap(0, [child(10, 'c10', [cc(++n), cc(0)])]), { processMetrics: false });
    await e.scrape();
    const text = await e.scrape();
    expect(text).toContain('macvlan_bpf_child_rx_packets_total{parent="p0",child="c10",netns="ns-c10",mode="bridge"} 2');
  });
});

describe('the Grafana dashboard', () => {
  it('queries only metrics we export', () => {
    const dash = JSON.parse(fs.readFileSync('contrib/grafana/macvlan-bpf.json', 'utf8'));
    const exprs: string[] = JSON.stringify(dash).match(/"expr":"(?:[^"\\]|\\.)*"/g) ?? [];
    expect(exprs.length).toBeGreaterThanOrEqual(6);
    for (const e of exprs)
      for (const m of e.match(/macvlan_bpf_[a-z_]+/g) ?? []) expect(METRIC_NAMES, `${m} in ${e}`).toContain(m);
  });
});

describe('listen addresses and the stats command line', () => {
  it.each([
    ['127.0.0.1:9742', { host: '127.0.0.1', port: 9742 }],
    [':9100', { host: '127.0.0.1', port: 9100 }],
    ['[::1]:80', { host: '::1', port: 80 }],
    ['off', null],
  ])('%s', (s, want) => expect(parseListen(s)).toEqual(want));
  it.each(['9742', 'localhost', '1.2.3.4:99999', '[::1]'])('refuses %s, naming the fix', (s) => expect(() => parseListen(s)).toThrow(/HOST:PORT/));

  it('parses options and refuses unknown ones', () => {
    expect(parseStatsArgs(['--per-cpu', '--watch', '2', '--top', '5', 'dev', 'b1'], false)).toMatchObject({ perCpu: true, watchSeconds: 2, top: 5, dev: 'b1' });
    expect(parseStatsArgs(['--watch'], true)).toMatchObject({ json: true, watchSeconds: 1 });
    expect(() => parseStatsArgs(['--bogus'], false)).toThrow(/unknown stats option "--bogus"/);
    expect(() => parseStatsArgs(['--top', 'x'], false)).toThrow(/--top "x"/);
  });

  it('prints parents, children and per-CPU rows', () => {
    const s = snap(0, [child(10, 'c10', [cc(3, 1, 2), cc(4)])], [pc(7, { pause: 1 }), pc(1)]);
    const out = formatStats(s, { json: false, perCpu: true, top: 20 });
    expect(out).toContain('stack 8 pkts');
    expect(out).toContain('drops: pause 1');
    expect(out).toMatch(/c10\s+ns-c10\s+p0\s+bridge\s+UP\s+7\s+700\s+1\s+100\s+2/);
    expect(out).toMatch(/cpu1\s+4\s+400\s+0\s+0\s+0/);
    expect(human(1_234_567)).toBe('1.23M');
  });
});
