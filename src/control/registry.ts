// The registry of children (mvb_children) as one operation sees it: read once, in one batched call,
// when the operation first asks, and kept equal to the map by writing through it. An `apply` of a
// thousand children reads it once, not once per child. Point lookups by host ifindex always ask the map.
// Lookups by name and the count of a parent's children use indexes kept beside the cache: 10,000
// children made in one apply would otherwise scan (and copy) every sibling for every new child.
import type { Datapath } from '../datapath/datapath.js';
import { CHILD_SLOTS, COPY_PEER, type ChildRecord } from '../datapath/abi.js';
import { kindOf } from './kinds/index.js';
import { ConfigError } from './errors.js';

export class Registry {
  private cache: Map<number, ChildRecord> | null = null;
  /** Host ifindexes by child name, and the number of children per parent, for what is in cache. */
  private byName = new Map<string, Set<number>>();
  private perParent = new Map<number, number>();
  /** Counter slots the cached children hold, and where the next free one may be (none is below it). */
  private slots = new Set<number>();
  private slotHint = 1;

  constructor(private readonly dp: Datapath) {}

  /** Forgets what was read: the next question reads the map again. Every user operation starts here. */
  refresh(): void {
    this.cache = null;
  }

  private load(): Map<number, ChildRecord> {
    if (!this.cache) {
      this.cache = new Map();
      this.byName.clear();
      this.perParent.clear();
      this.slots.clear();
      this.slotHint = 1;
      for (const c of this.dp.listChildren()) this.remember(c);
    }
    return this.cache;
  }

  /** Puts c in the cache (an existing entry keeps its place: the cache stays oldest first). */
  private remember(c: ChildRecord): void {
    const old = this.cache!.get(c.hostIfindex);
    if (old) this.unindex(old);
    this.cache!.set(c.hostIfindex, { ...c });
    let names = this.byName.get(c.name);
    if (!names) this.byName.set(c.name, (names = new Set()));
    names.add(c.hostIfindex);
    this.perParent.set(c.parentIfindex, (this.perParent.get(c.parentIfindex) ?? 0) + 1);
    if (c.slot) this.slots.add(c.slot);
  }

  private forget(hostIfindex: number): void {
    const old = this.cache!.get(hostIfindex);
    if (!old) return;
    this.cache!.delete(hostIfindex);
    this.unindex(old);
  }

  private unindex(old: ChildRecord): void {
    const names = this.byName.get(old.name);
    names?.delete(old.hostIfindex);
    if (names?.size === 0) this.byName.delete(old.name);
    const n = (this.perParent.get(old.parentIfindex) ?? 1) - 1;
    if (n > 0) this.perParent.set(old.parentIfindex, n);
    else this.perParent.delete(old.parentIfindex);
    if (old.slot) {
      this.slots.delete(old.slot);
      this.slotHint = Math.min(this.slotHint, old.slot);
    }
  }

  /** The lowest counter slot no child holds (1 and up: slot 0 is none's), for a child about to be made.
   * Its counters are zeroed by the caller before the child's entries name it. */
  freeSlot(): number {
    this.load();
    let s = this.slotHint;
    while (this.slots.has(s)) s++;
    if (s >= CHILD_SLOTS) throw new ConfigError('ENOSPC', `no counter slot is free: ${CHILD_SLOTS - 1} children exist, the most one instance holds; delete some first`);
    this.slotHint = s;
    return s;
  }

  /** Every child, oldest first. */
  all(): ChildRecord[] {
    return [...this.load().values()].map((c) => ({ ...c }));
  }

  /** Children named `name` (in `netns`, when given). */
  find(name: string, netns?: string): ChildRecord[] {
    const cache = this.load();
    const out: ChildRecord[] = [];
    for (const h of this.byName.get(name) ?? []) {
      const c = cache.get(h)!;
      if (netns === undefined || c.netns === netns) out.push({ ...c });
    }
    // Oldest first, as the list is.
    return out.sort((x, y) => (x.createdNs < y.createdNs ? -1 : x.createdNs > y.createdNs ? 1 : 0));
  }

  /** How many children parentIfindex has (no copies made). */
  countOf(parentIfindex: number): number {
    this.load();
    return this.perParent.get(parentIfindex) ?? 0;
  }

  ofParent(parentIfindex: number): ChildRecord[] {
    return this.where((c) => c.parentIfindex === parentIfindex);
  }

  private where(pred: (c: ChildRecord) => boolean): ChildRecord[] {
    const out: ChildRecord[] = [];
    for (const c of this.load().values()) if (pred(c)) out.push({ ...c });
    return out;
  }

  /** The child whose host-side device is hostIfindex, read from the map. */
  get(hostIfindex: number): ChildRecord | null {
    const c = this.dp.getChild(hostIfindex);
    if (this.cache) {
      if (c) this.remember(c);
      else this.forget(hostIfindex);
    }
    return c;
  }

  /** Writes the child's entry, with how its flood copies reach it (its kind says, as for its flood entry). */
  put(c: ChildRecord): void {
    this.dp.putChild(c, kindOf(c.kind).floodByPeer(c) ? COPY_PEER : 0);
    if (this.cache) this.remember(c);
  }

  delete(hostIfindex: number): void {
    this.dp.deleteChild(hostIfindex);
    if (this.cache) this.forget(hostIfindex);
  }
}
