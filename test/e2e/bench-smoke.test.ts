// The benchmark in smoke mode: every case once, tiny counts. It asserts only that each datapath
// delivered copies, never anything about speed.
import { describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/sandbox.js';
import { benchFanout } from '../../src/bench/fanout.js';

describe('bench --smoke', () => {
  it('fan-out delivers through macvlan-bpf and kernel macvlan', async () => {
    requireRoot();
    const rows = await benchFanout({ sizes: [1, 8], reps: 1, copies: 2000, log: () => {} });
    expect(rows.map((r) => r.datapath)).toEqual(['macvlan-bpf', 'kernel macvlan', 'macvlan-bpf', 'kernel macvlan']);
    for (const r of rows) expect(r.delivered[0], `${r.datapath} N=${r.n}`).toBeGreaterThan(0);
    expect(rows[0]!.nsPerCopy).toBeGreaterThan(0);
  });
});

describe('bench --smoke: counters', () => {
  it('reads 1,000 children\'s counters by every method', async () => {
    const { benchCounters } = await import('../../src/bench/counters.js');
    const r = await benchCounters({ children: 1000, reps: 2, log: () => {} });
    expect(r.rows.map((x) => x.what.split(',')[0])).toEqual(['child counter map', 'child counter map', 'full snapshot (registry', 'Prometheus /metrics text (fresh snapshot inside)', 'dashboard tick: rates and top 10']);
    expect(r.scrapeBytes).toBeGreaterThan(1000 * 5 * 80); // five child series per child at least
  });
});
