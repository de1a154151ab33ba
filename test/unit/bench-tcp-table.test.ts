// The benchmark's TCP table and the verdict lines under it (src/bench/main.ts), with and without tcx's
// limit (a kernel without tcx has no such runs).
import { describe, expect, it } from 'vitest';
import { tcpTable, tcpVerdict } from '../../src/bench/main.js';
import { DATAPATHS, TCP_LIMIT, TCP_PATHS, rotated, type TcpSample } from '../../src/bench/paths.js';

/** Twelve rounds of every datapath on every path, at `gbps(datapath, round)`. */
function runs(gbps: (d: TcpSample['datapath'], round: number) => number, withLimit: boolean): TcpSample[] {
  const out: TcpSample[] = [];
  for (let round = 0; round < 12; round++)
    for (const path of TCP_PATHS)
      for (const datapath of [...DATAPATHS, ...(withLimit ? [TCP_LIMIT] : [])]) out.push({ datapath, path, gbps: gbps(datapath, round), round });
  return out;
}

// Kernel macvlan at 20 Gbit/s; TC mode 5 % under it in every round; the bare tcx redirect 10 % over.
const speeds = (d: TcpSample['datapath']) => ({ 'macvlan-bpf': 19, 'kernel macvlan': 20, [TCP_LIMIT]: 22 } as Record<string, number>)[d] ?? 10;

describe('tcpTable', () => {
  it('adds the tcx limit\'s column and TC mode\'s ratio to it where the limit ran', () => {
    const t = tcpTable(runs(speeds, true)).split('\n');
    expect(t[0]).toContain('tcx redirect limit (bare, both ways');
    expect(t[0]).toContain('| tc / tcx limit | tcx limit / kernel macvlan |');
    expect(t).toHaveLength(2 + TCP_PATHS.length);
    for (const row of t.slice(2)) {
      const cells = row.split(' | ');
      expect(cells.length).toBe(t[0]!.split(' | ').length);
      expect(row).toContain('22.0 Gbit/s');
      expect(row).toMatch(/\| 0\.86 \[0\.86–0\.86\][^|]*\| 1\.10 \[1\.10–1\.10\][^|]*\|$/);
    }
  });
  it('has no limit column where the kernel had no tcx', () => {
    const t = tcpTable(runs(speeds, false)).split('\n');
    expect(t[0]).not.toContain('tcx');
    for (const row of t.slice(2)) expect(row.split(' | ').length).toBe(t[0]!.split(' | ').length);
  });
});

describe('tcpVerdict', () => {
  it('says what TC mode and the bare hook can claim against kernel macvlan', () => {
    const lines = tcpVerdict(runs(speeds, true)).split('\n');
    expect(lines).toEqual([
      'TC mode against kernel macvlan, at 95 %: slower external → child, slower child → external, slower bridge child → child.',
      'tcx\'s bare redirect (the most TC mode\'s hook allows) against kernel macvlan, at 95 %: faster external → child, faster child → external, faster bridge child → child.',
    ]);
  });
  it('leaves the hook\'s line out without its runs, and says nothing without rounds enough', () => {
    expect(tcpVerdict(runs(speeds, false)).split('\n')).toHaveLength(1);
    expect(tcpVerdict(runs(speeds, true).filter((x) => (x.round ?? 0) < 3))).toBe('');
  });
});

describe('rotated', () => {
  it('starts at the k-th subject, wrapping, so each goes first in turn', () => {
    expect(rotated(['a', 'b', 'c'], 0)).toEqual(['a', 'b', 'c']);
    expect(rotated(['a', 'b', 'c'], 1)).toEqual(['b', 'c', 'a']);
    expect(rotated(['a', 'b', 'c'], 5)).toEqual(['c', 'a', 'b']);
    expect(rotated([], 3)).toEqual([]);
  });
  it('puts every one of six TCP subjects first on every path over three repetitions of four rounds', () => {
    // The paths part's turns: one a TCP path per round, the repetition's offset added (benchPaths).
    const firsts = TCP_PATHS.map(() => new Set<number>());
    for (let rep = 0; rep < 3; rep++) {
      let turn = rep;
      for (let i = 0; i < 4; i++) TCP_PATHS.forEach((_, p) => firsts[p]!.add(rotated([0, 1, 2, 3, 4, 5], turn++)[0]!));
    }
    for (const f of firsts) expect([...f].sort()).toEqual([0, 1, 2, 3, 4, 5]);
  });
});
