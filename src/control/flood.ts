// The flood list: per parent, a dense array (mvb_flood, indexes 0..port.nflood-1) of its UP children
// but source-mode ones (floods never reach them: they get only copies by source), which the datapath
// walks to copy a broadcast or multicast frame. Every change keeps the invariant the datapath relies
// on: an index below nflood always names a live entry.
import type { Datapath } from '../datapath/datapath.js';
import { CHILD_MC_EXACT, FLOOD_MODES, type ChildRecord, type FloodEntry, type PortRecord } from '../datapath/abi.js';
import { kindOf } from './kinds/index.js';

/** A child's flood entry: its mode, whether the exact multicast filter applies to it, and how its copies
 * reach it (its kind says). */
const entryOf = (c: ChildRecord): FloodEntry => ({
  hostIfindex: c.hostIfindex,
  mode: c.mode,
  ...(c.flags & CHILD_MC_EXACT ? { mcExact: true } : {}),
  ...(kindOf(c.kind).floodByPeer(c) ? { peer: true } : {}),
  slot: c.slot ?? 0,
});

/**
 * The port's per-mode and every-group counts (mvb_port.nflood_mode, nflood_all) with `gone` out and
 * `came` in: the datapath's member path counts withheld copies from them, and walks while any entry
 * gets every group.
 */
export function recount(port: PortRecord, gone: FloodEntry | null, came: FloodEntry | null): Pick<PortRecord, 'nfloodMode' | 'nfloodAll'> {
  const nfloodMode = [...port.nfloodMode];
  let nfloodAll = port.nfloodAll;
  for (const [e, d] of [[gone, -1], [came, 1]] as const) {
    if (!e) continue;
    const i = FLOOD_MODES.indexOf(e.mode);
    if (i >= 0) nfloodMode[i] = Math.max(0, (nfloodMode[i] ?? 0) + d);
    if (!e.mcExact) nfloodAll = Math.max(0, nfloodAll + d);
  }
  return { nfloodMode, nfloodAll };
}

/** The counts of a whole list. */
function countsOf(entries: FloodEntry[]): Pick<PortRecord, 'nfloodMode' | 'nfloodAll'> {
  return {
    nfloodMode: FLOOD_MODES.map((m) => entries.filter((e) => e.mode === m).length),
    nfloodAll: entries.filter((e) => !e.mcExact).length,
  };
}

export class FloodList {
  /** Positions by parent and host ifindex: an agent would otherwise scan the list on every up/down. */
  private readonly positions = new Map<number, Map<number, number>>();

  constructor(private readonly dp: Datapath) {}

  /** Where a child sits in its parent's list, or -1; cached positions are checked against the map. */
  private pos(parentIfindex: number, hostIfindex: number, nflood: number): number {
    const known = this.positions.get(parentIfindex);
    const cached = known?.get(hostIfindex);
    if (known && cached === undefined && known.size === nflood) return -1; // this instance keeps it current
    if (cached !== undefined && cached < nflood && this.dp.getFlood(parentIfindex, cached)?.hostIfindex === hostIfindex) return cached;
    const index = new Map<number, number>();
    for (const [i, e] of this.dp.floodEntries(parentIfindex)) if (i < nflood) index.set(e.hostIfindex, i);
    this.positions.set(parentIfindex, index);
    return index.get(hostIfindex) ?? -1;
  }

  /** Appends the child: entry first, then the count, so the datapath never reads a missing entry. */
  add(c: ChildRecord): void {
    if (c.mode === 'source') return;
    const port = this.dp.getPort(c.parentIfindex);
    if (!port) return;
    if (this.pos(c.parentIfindex, c.hostIfindex, port.nflood) >= 0) return;
    const e = entryOf(c);
    this.dp.putFlood(c.parentIfindex, port.nflood, e);
    this.dp.putPort(c.parentIfindex, { ...port, nflood: port.nflood + 1, ...recount(port, null, e) });
    this.positions.get(c.parentIfindex)?.set(c.hostIfindex, port.nflood);
  }

  /** Removes the child by moving the last entry into its place: the count shrinks first, so a frame in
   * flight may miss the moved child once but never gets a second copy. */
  remove(c: ChildRecord): void {
    const port = this.dp.getPort(c.parentIfindex);
    if (!port) return;
    const at = this.pos(c.parentIfindex, c.hostIfindex, port.nflood);
    if (at < 0) return;
    const last = port.nflood - 1;
    const moved = this.dp.getFlood(c.parentIfindex, last);
    const gone = at === last ? moved : this.dp.getFlood(c.parentIfindex, at);
    this.dp.putPort(c.parentIfindex, { ...port, nflood: last, ...recount(port, gone, null) });
    if (at !== last && moved) this.dp.putFlood(c.parentIfindex, at, moved);
    this.dp.deleteFlood(c.parentIfindex, last);
    const index = this.positions.get(c.parentIfindex);
    index?.delete(c.hostIfindex);
    if (at !== last && moved) index?.set(moved.hostIfindex, at);
  }

  /** The UP child's mode, multicast filter or netns changed: its entry carries the new one (a source
   * child leaves, or enters). */
  setMode(c: ChildRecord): void {
    if (c.mode === 'source') return this.remove(c);
    const port = this.dp.getPort(c.parentIfindex);
    const at = port ? this.pos(c.parentIfindex, c.hostIfindex, port.nflood) : -1;
    if (at < 0) return this.add(c);
    const was = this.dp.getFlood(c.parentIfindex, at);
    const e = entryOf(c);
    const counts = { ...port!, ...recount(port!, was, e) };
    // A child that now gets every group counts before its entry says so, one that now filters after:
    // while the count says some entry gets every group, the datapath walks and reads each entry's flag.
    if (!e.mcExact) this.dp.putPort(c.parentIfindex, counts);
    this.dp.putFlood(c.parentIfindex, at, e);
    if (e.mcExact) this.dp.putPort(c.parentIfindex, counts);
  }

  /** Rewrites a parent's list from its UP children when the map disagrees (reconcile). */
  rebuild(parentIfindex: number, upChildren: ChildRecord[]): void {
    const up = upChildren.filter((c) => c.mode !== 'source');
    this.positions.delete(parentIfindex);
    const port = this.dp.getPort(parentIfindex);
    if (!port) return;
    const have = this.dp.floodEntries(parentIfindex);
    const want = up.map((c) => c.hostIfindex);
    const current = [...Array(port.nflood).keys()].map((i) => have.get(i)?.hostIfindex ?? -1);
    const strays = [...have.keys()].filter((i) => i >= port.nflood);
    const byHost = new Map(up.map((c) => [c.hostIfindex, c]));
    const exactRight = [...Array(port.nflood).keys()].every((i) => {
      const e = have.get(i);
      const c = e && byHost.get(e.hostIfindex);
      if (!c) return true;
      const want = entryOf(c);
      return !!e.mcExact === !!want.mcExact && !!e.peer === !!want.peer; // flags a build before may lack
    });
    const counts = countsOf(up.map(entryOf));
    const countsRight = counts.nfloodAll === port.nfloodAll && counts.nfloodMode.every((n, i) => port.nfloodMode[i] === n);
    const listRight = exactRight && strays.length === 0 && current.length === want.length && [...current].sort().join() === [...want].sort().join();
    if (listRight && countsRight) return;
    if (listRight) return this.dp.putPort(parentIfindex, { ...port, ...counts }); // only the counts (a build that had none)
    this.dp.putPort(parentIfindex, { ...port, nflood: 0, nfloodAll: up.length });
    up.forEach((c, i) => this.dp.putFlood(parentIfindex, i, entryOf(c)));
    for (const i of have.keys()) if (i >= up.length) this.dp.deleteFlood(parentIfindex, i);
    this.dp.putPort(parentIfindex, { ...port, nflood: up.length, ...counts });
  }

  /** The port is gone: every entry of it goes. */
  drop(parentIfindex: number): void {
    for (const i of this.dp.floodEntries(parentIfindex).keys()) this.dp.deleteFlood(parentIfindex, i);
    this.positions.delete(parentIfindex);
  }
}
