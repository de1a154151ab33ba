// The registry of children (mvb_children) as one operation sees it: read once, in one batched call,
// when the operation first asks, and kept equal to the map by writing through it. An `apply` of a
// thousand children reads it once, not once per child. Point lookups by host ifindex always ask the map.
import type { Datapath } from '../datapath/datapath.js';
import type { ChildRecord } from '../datapath/abi.js';

export class Registry {
  private cache: Map<number, ChildRecord> | null = null;

  constructor(private readonly dp: Datapath) {}

  /** Forgets what was read: the next question reads the map again. Every user operation starts here. */
  refresh(): void {
    this.cache = null;
  }

  private load(): Map<number, ChildRecord> {
    if (!this.cache) this.cache = new Map(this.dp.listChildren().map((c) => [c.hostIfindex, c]));
    return this.cache;
  }

  /** Every child, oldest first. */
  all(): ChildRecord[] {
    return [...this.load().values()].map((c) => ({ ...c }));
  }

  /** Children named `name` (in `netns`, when given). */
  find(name: string, netns?: string): ChildRecord[] {
    return this.where((c) => c.name === name && (netns === undefined || c.netns === netns));
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
      if (c) this.cache.set(hostIfindex, { ...c });
      else this.cache.delete(hostIfindex);
    }
    return c;
  }

  put(c: ChildRecord): void {
    this.dp.putChild(c);
    this.cache?.set(c.hostIfindex, { ...c });
  }

  delete(hostIfindex: number): void {
    this.dp.deleteChild(hostIfindex);
    this.cache?.delete(hostIfindex);
  }
}
