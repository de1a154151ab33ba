// Rates between two snapshots, shaped for a live view of hundreds of children: totals, drops by reason,
// the per-CPU split, the top N children in full and every other busy child as a sparse pair of rates.
// Idle children cost nothing on the wire. Pure: unit-tested without a kernel.
import { CHILD_COUNTERS, COUNTED_DROP_REASONS, type ChildCounters, type Snapshot } from './snapshot.js';

export interface ChildRates {
  key: number;
  name: string;
  netns: string;
  parent: string;
  rxPps: number;
  txPps: number;
  rxBps: number; // bytes per second
  txBps: number;
  floodPps: number;
}
export interface Rates {
  time: number;
  intervalMs: number;
  totals: { rxPps: number; txPps: number; rxBps: number; txBps: number; floodPps: number; stackPps: number; wirePps: number; dropPps: number };
  drops: Record<string, number>;
  /** Packets per second handled on each CPU (child rx + tx, parent stack + wire, drops). */
  cpus: number[];
  top: ChildRates[];
  /** Every busy child, key -> [rxPps, txPps], for the table; a child not listed had no traffic. */
  busy: Record<number, [number, number]>;
  /** How many children were busy but not in the top N, and their summed rates. */
  others: { children: number; rxPps: number; txPps: number };
}

type Counts = Record<keyof ChildCounters, number>;
const perSec = (d: number, ms: number) => (ms > 0 && d > 0 ? (d * 1000) / ms : 0);

/** A counter can only go backwards if its child was deleted and re-made under the same key: start over. */
const delta = (now: number, before: number | undefined) => (before === undefined || now < before ? now : now - before);

export function computeRates(prev: Snapshot, cur: Snapshot, topN = 10): Rates {
  const ms = cur.mono - prev.mono;
  const before = new Map(prev.children.map((c) => [c.key, c]));
  const all: ChildRates[] = [];
  const cpus = new Array<number>(cur.cpus).fill(0);
  for (const c of cur.children) {
    const p = before.get(c.key);
    // A new child under a reused key (deleted and re-made) starts from zero, never from its predecessor.
    const same = p && p.name === c.name && p.netns === c.netns ? p : undefined;
    const d = {} as Counts;
    for (const k of CHILD_COUNTERS) d[k] = delta(c.counters[k], same?.counters[k]);
    if (d.rxPackets || d.txPackets)
      all.push({ key: c.key, name: c.name, netns: c.netns, parent: c.parent, rxPps: perSec(d.rxPackets, ms), txPps: perSec(d.txPackets, ms), rxBps: perSec(d.rxBytes, ms), txBps: perSec(d.txBytes, ms), floodPps: perSec(d.floodCopies, ms) });
    c.perCpu.forEach((s, i) => {
      const q = same?.perCpu[i];
      cpus[i] = (cpus[i] ?? 0) + delta(s.rxPackets, q?.rxPackets) + delta(s.txPackets, q?.txPackets);
    });
  }
  const pbefore = new Map(prev.parents.map((p) => [p.ifindex, p]));
  const drops = Object.fromEntries(COUNTED_DROP_REASONS.map((r) => [r, 0])) as Record<string, number>;
  let stack = 0;
  let wire = 0;
  for (const p of cur.parents) {
    const q = pbefore.get(p.ifindex);
    const same = q && q.name === p.name ? q : undefined;
    stack += delta(p.counters.stackPackets, same?.counters.stackPackets);
    wire += delta(p.counters.wirePackets, same?.counters.wirePackets);
    for (const r of COUNTED_DROP_REASONS) drops[r]! += delta(p.counters.drops[r], same?.counters.drops[r]);
    p.perCpu.forEach((s, i) => {
      const o = same?.perCpu[i];
      let n = delta(s.stackPackets, o?.stackPackets) + delta(s.wirePackets, o?.wirePackets);
      for (const r of COUNTED_DROP_REASONS) n += delta(s.drops[r], o?.drops[r]);
      cpus[i] = (cpus[i] ?? 0) + n;
    });
  }
  all.sort((a, b) => b.rxPps + b.txPps - (a.rxPps + a.txPps) || a.key - b.key);
  const top = all.slice(0, topN);
  const rest = all.slice(topN);
  const sum = (f: (c: ChildRates) => number) => all.reduce((s, c) => s + f(c), 0);
  const dropTotal = Object.values(drops).reduce((s, v) => s + v, 0);
  return {
    time: cur.time,
    intervalMs: ms,
    totals: {
      rxPps: sum((c) => c.rxPps), txPps: sum((c) => c.txPps), rxBps: sum((c) => c.rxBps), txBps: sum((c) => c.txBps), floodPps: sum((c) => c.floodPps),
      stackPps: perSec(stack, ms), wirePps: perSec(wire, ms), dropPps: perSec(dropTotal, ms),
    },
    drops: Object.fromEntries(Object.entries(drops).map(([r, v]) => [r, perSec(v, ms)])),
    cpus: cpus.map((n) => perSec(n, ms)),
    top,
    busy: Object.fromEntries(all.map((c) => [c.key, [c.rxPps, c.txPps]])),
    others: { children: rest.length, rxPps: rest.reduce((s, c) => s + c.rxPps, 0), txPps: rest.reduce((s, c) => s + c.txPps, 0) },
  };
}

/** The topology as the dashboard's table needs it: no counters, so it is sent only when it changes. */
export interface TopologyView {
  parents: { name: string; ifindex: number; isolation: string; fastpath: string; passthru: boolean; children: number; childrenUp: number }[];
  children: { key: number; name: string; netns: string; parent: string; mode: string; mac: string; up: boolean }[];
}
export function topologyOf(s: Snapshot): TopologyView {
  return {
    parents: s.parents.map(({ name, ifindex, isolation, fastpath, passthru, children, childrenUp }) => ({ name, ifindex, isolation, fastpath, passthru, children, childrenUp })),
    children: s.children.map(({ key, name, netns, parent, mode, mac, up }) => ({ key, name, netns, parent, mode, mac, up })),
  };
}
