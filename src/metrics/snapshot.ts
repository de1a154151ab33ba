// One consistent reading of every counter and of the topology they belong to: the registry of children
// and ports and both per-CPU counter maps, each read with one call (BPF_MAP_LOOKUP_BATCH). Everything
// that shows counters (/metrics, the JSON API, the dashboard's stream, `macvlan-bpf stats`) starts here,
// so they all say the same.
import fs from 'node:fs';
import path from 'node:path';
import { addon, type BpfMap } from '../native.js';
import {
  CHILD_MAC_BUSY, CHILD_SPOOFCHK, CHILD_UP, DROP_REASONS, PORT_FASTPATH_XDP, PORT_ISOLATION_KERNEL, decodeChild, decodeChildStatsPerCpu, decodeParentStatsPerCpu, decodePort,
  type ChildStats, type DropReason, type Mode, type ParentStats,
} from '../datapath/abi.js';
import { Rtnl } from '../net/rtnetlink.js';
import { DatapathError } from '../datapath/datapath.js';

export interface ChildCounters {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  floodCopies: number;
}
export const CHILD_COUNTERS: readonly (keyof ChildCounters)[] = ['rxPackets', 'rxBytes', 'txPackets', 'txBytes', 'floodCopies'];

export interface ParentCounters {
  stackPackets: number;
  stackBytes: number;
  wirePackets: number;
  wireBytes: number;
  /** Every reason but "none", zero or not, so series never appear out of nowhere. */
  drops: Record<Exclude<DropReason, 'none'>, number>;
}
export const PARENT_COUNTERS: readonly Exclude<keyof ParentCounters, 'drops'>[] = ['stackPackets', 'stackBytes', 'wirePackets', 'wireBytes'];
export const COUNTED_DROP_REASONS = DROP_REASONS.filter((r): r is Exclude<DropReason, 'none'> => r !== 'none');

export interface ChildSample {
  /** Unique within the instance: the host end's ifindex (a child's name is unique only per netns). */
  key: number;
  name: string;
  netns: string;
  parent: string;
  mode: Mode;
  mac: string;
  up: boolean;
  /** UP with a MAC an UP sibling or the parent holds (set with plain ip): out of the forwarding table. */
  conflict?: true;
  /** spoofchk on: frames with another source MAC are dropped (the parent's spoof drops). */
  spoofchk?: true;
  counters: ChildCounters;
  /** One entry per possible CPU. */
  perCpu: ChildCounters[];
}
export interface ParentSample {
  ifindex: number;
  name: string;
  isolation: 'strict' | 'kernel';
  /** Where unicast from the wire is decided: 'xdp' (the fast path) or 'tc'. */
  fastpath: 'tc' | 'xdp';
  passthru: boolean;
  children: number;
  childrenUp: number;
  counters: ParentCounters;
  perCpu: ParentCounters[];
}
export interface Snapshot {
  /** Wall clock (ms since the epoch) and a monotonic clock (ms) for rates. */
  time: number;
  mono: number;
  cpus: number;
  parents: ParentSample[];
  children: ChildSample[];
  /** How long reading and decoding took (ms). */
  readMs: number;
  /** What the agent found wrong and repaired since it started (absent outside the agent). */
  repairs?: Repairs;
}

export interface Repairs {
  /** Children found UP with a busy MAC (each conflict once, when it started). */
  macConflicts: number;
  /** Parent or child hooks found missing or replaced by a foreign program, and attached again. */
  hooks: number;
}

const MAPS = ['mvb_children', 'mvb_ports', 'mvb_child_ctrs', 'mvb_parent_ctrs'] as const;

function childCounters(s: ChildStats): ChildCounters {
  return { rxPackets: Number(s.rxPackets), rxBytes: Number(s.rxBytes), txPackets: Number(s.txPackets), txBytes: Number(s.txBytes), floodCopies: Number(s.floodCopies) };
}
function parentCounters(s: ParentStats): ParentCounters {
  const drops = Object.fromEntries(COUNTED_DROP_REASONS.map((r) => [r, Number(s.drops[r])])) as ParentCounters['drops'];
  return { stackPackets: Number(s.stackPackets), stackBytes: Number(s.stackBytes), wirePackets: Number(s.wirePackets), wireBytes: Number(s.wireBytes), drops };
}
function sumChild(per: ChildCounters[]): ChildCounters {
  const t: ChildCounters = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, floodCopies: 0 };
  for (const s of per) for (const k of CHILD_COUNTERS) t[k] += s[k];
  return t;
}
function sumParent(per: ParentCounters[]): ParentCounters {
  const t = parentCounters({ stackPackets: 0n, stackBytes: 0n, wirePackets: 0n, wireBytes: 0n, drops: Object.fromEntries(DROP_REASONS.map((r) => [r, 0n])) as ParentStats['drops'] });
  for (const s of per) {
    for (const k of PARENT_COUNTERS) t[k] += s[k];
    for (const r of COUNTED_DROP_REASONS) t.drops[r] += s.drops[r];
  }
  return t;
}

/** Splits a dump into (key as u32, value) pairs. */
function entries(m: BpfMap): [number, Buffer][] {
  const d = m.dump();
  const out: [number, Buffer][] = [];
  for (let i = 0; i < d.count; i++)
    out.push([d.keys.readUInt32LE(i * d.keySize), d.values.subarray(i * d.valueBytes, (i + 1) * d.valueBytes)]);
  return out;
}

/**
 * Reads the counters of one instance. It opens only the pinned maps, read-only in effect: reading never
 * loads, upgrades or attaches anything, so `stats` is safe on a live host.
 */
export class CounterReader {
  private readonly maps: Record<(typeof MAPS)[number], BpfMap>;

  constructor(readonly pinRoot: string) {
    for (const n of MAPS)
      if (!fs.existsSync(path.join(pinRoot, n)))
        throw new DatapathError(`no macvlan-bpf instance is pinned at ${pinRoot} (missing ${n}): add a child first, or point MACVLAN_BPF_PIN_ROOT at the instance`);
    const a = addon();
    this.maps = Object.fromEntries(MAPS.map((n) => [n, new a.BpfMap({ pin: path.join(pinRoot, n) })])) as CounterReader['maps'];
  }

  close(): void {
    for (const m of Object.values(this.maps)) m.close();
  }

  /** Every child's and parent's counters with their topology. Parent names come from this netns. */
  read(): Snapshot {
    const t0 = performance.now();
    const time = Date.now();
    const registry = entries(this.maps.mvb_children);
    const ports = entries(this.maps.mvb_ports);
    // The children's counter slots are the lowest free ones: the array up to the highest slot, in one call.
    const records = registry.map(([key, v]) => [key, decodeChild(v)] as const);
    const top = records.reduce((n, [, c]) => Math.max(n, c.slot ?? 0), 0);
    const slots = top ? this.maps.mvb_child_ctrs.dump(top + 1) : null;
    const portRecords = ports.map(([ifindex, v]) => [ifindex, decodePort(v)] as const);
    const ptop = portRecords.reduce((n, [, p]) => Math.max(n, p.slot ?? 0), 0);
    const pslots = ptop ? this.maps.mvb_parent_ctrs.dump(ptop + 1) : null;
    const names = new Map<number, string>();
    if (ports.length) Rtnl.once('', (r) => { for (const l of r.links()) names.set(l.ifindex, l.ifname); });
    const cpus = addon().possibleCpus();
    const zeroChild = () => Array.from({ length: cpus }, () => sumChild([]));

    const children: ChildSample[] = records.map(([key, c]) => {
      const raw = slots && c.slot && c.slot < slots.count ? slots.values.subarray(c.slot * slots.valueBytes, (c.slot + 1) * slots.valueBytes) : null;
      // A child without a slot (none is 0) has no counters: zeros, never another's.
      const perCpu = raw ? decodeChildStatsPerCpu(raw).map(childCounters) : zeroChild();
      return {
        key, name: c.name, netns: c.netns, parent: names.get(c.parentIfindex) ?? `if${c.parentIfindex}`, mode: c.mode, mac: c.mac,
        up: (c.flags & CHILD_UP) !== 0, ...(c.flags & CHILD_MAC_BUSY ? { conflict: true as const } : {}), ...(c.flags & CHILD_SPOOFCHK ? { spoofchk: true as const } : {}), counters: sumChild(perCpu), perCpu,
      };
    });
    children.sort((a, b) => a.parent.localeCompare(b.parent) || a.netns.localeCompare(b.netns) || a.name.localeCompare(b.name));

    const parents: ParentSample[] = portRecords.map(([ifindex, p]) => {
      const raw = pslots && p.slot && p.slot < pslots.count ? pslots.values.subarray(p.slot * pslots.valueBytes, (p.slot + 1) * pslots.valueBytes) : null;
      const perCpu = raw ? decodeParentStatsPerCpu(raw).map(parentCounters) : Array.from({ length: cpus }, () => sumParent([]));
      const name = names.get(ifindex) ?? `if${ifindex}`;
      const mine = children.filter((c) => c.parent === name);
      return {
        ifindex, name, isolation: p.flags & PORT_ISOLATION_KERNEL ? 'kernel' : 'strict', fastpath: p.flags & PORT_FASTPATH_XDP ? 'xdp' : 'tc', passthru: p.passthruHost !== 0,
        children: mine.length, childrenUp: mine.filter((c) => c.up).length, counters: sumParent(perCpu), perCpu,
      };
    });
    parents.sort((a, b) => a.name.localeCompare(b.name));
    return { time, mono: performance.now(), cpus, parents, children, readMs: performance.now() - t0 };
  }
}

/** The snapshot without its per-CPU arrays (what JSON readers get unless they ask for per_cpu). */
export function withoutPerCpu(s: Snapshot): Omit<Snapshot, 'children' | 'parents'> & {
  children: Omit<ChildSample, 'perCpu'>[];
  parents: Omit<ParentSample, 'perCpu'>[];
} {
  return { ...s, children: s.children.map(({ perCpu: _, ...c }) => c), parents: s.parents.map(({ perCpu: _, ...p }) => p) };
}
