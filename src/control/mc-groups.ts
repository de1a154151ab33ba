// The members of every joined group, by parent (mvb_groups): a group frame on a port whose children
// all filter exactly is copied to the children that joined it, without walking the whole flood list
// with a lookup per entry. That walk made each new child's MLD reports, router solicitations and DAD
// cost O(N), O(N^2) for N new children (issue 18; docs/benchmarks.md, "Scale"). Kept beside the exact
// filter's per-child entries (mvb_mc, mc-filter.ts), which the walk still reads for groups with more
// members than the datapath lists (GROUP_LIST_MAX) and on ports with a child that gets every group.
// A member is any child of the parent holding the group, UP or DOWN: the datapath checks UP and mode.
import { type ChildRecord } from '../datapath/abi.js';
import type { Datapath } from '../datapath/datapath.js';
import type { Mac } from '../mac.js';

const keyOf = (parentIfindex: number, group: Mac) => `${parentIfindex}/${group}`;

export class GroupMembers {
  /** parent/group -> host ifindexes: this process's view, made from mvb_mc by rebuild(). */
  private readonly members = new Map<string, Set<number>>();

  constructor(private readonly dp: Datapath) {}

  join(c: ChildRecord, group: Mac): void {
    const k = keyOf(c.parentIfindex, group);
    let s = this.members.get(k);
    if (!s) this.members.set(k, (s = new Set()));
    if (s.has(c.hostIfindex)) return;
    s.add(c.hostIfindex);
    this.dp.setGroupMembers(c.parentIfindex, group, [...s]);
  }

  leave(c: ChildRecord, group: Mac): void {
    const k = keyOf(c.parentIfindex, group);
    const s = this.members.get(k);
    if (!s?.delete(c.hostIfindex)) return;
    if (s.size === 0) this.members.delete(k);
    this.dp.setGroupMembers(c.parentIfindex, group, [...s]);
  }

  /**
   * Makes the lists say what the children's entries say (after a restart, or a process that died
   * between the two writes): `groups` by host ifindex, `parentOf` a host's parent. Writes only what differs.
   */
  rebuild(groups: Map<number, Set<Mac>>, parentOf: (hostIfindex: number) => number | undefined): void {
    this.members.clear();
    for (const [h, gs] of groups) {
      const p = parentOf(h);
      if (p === undefined) continue;
      for (const g of gs) {
        const k = keyOf(p, g);
        let s = this.members.get(k);
        if (!s) this.members.set(k, (s = new Set()));
        s.add(h);
      }
    }
    const seen = new Set<string>();
    for (const e of this.dp.groupEntries()) {
      const k = keyOf(e.parentIfindex, e.mac);
      seen.add(k);
      const want = this.members.get(k);
      if (!want) this.dp.setGroupMembers(e.parentIfindex, e.mac, []);
      else if (want.size !== e.n || (e.hosts.length > 0 && e.hosts.some((h) => !want.has(h)))) this.dp.setGroupMembers(e.parentIfindex, e.mac, [...want]);
    }
    for (const [k, s] of this.members) {
      if (seen.has(k)) continue;
      const [p, g] = k.split('/') as [string, Mac];
      this.dp.setGroupMembers(Number(p), g, [...s]);
    }
  }
}
