// The exact per-child multicast filter (issue 16 item 2, docs/multicast-filter.md): a child gets a
// multicast group only if it joined it, or is ALLMULTI or PROMISC; broadcast always. Its groups are its
// child end's multicast list, read from /proc/net/dev_mcast inside the child's netns (the kernel has no
// netlink message for that list), and kept in mvb_mc; its flood entry's MVB_FLOOD_MC_EXACT says the
// datapath may filter. Who keeps the lists current is the agent (src/agent/mc-watch.ts): without one,
// a group joined later would go unseen, so children without an agent get every group (difference 3).
import fs from 'node:fs';
import { CHILD_MC_EXACT, CHILD_UP, type ChildRecord } from '../datapath/abi.js';
import type { Datapath } from '../datapath/datapath.js';
import { parseMac, type Mac } from '../mac.js';
import { inNetns } from '../native.js';
import { NETNS_DIR, type LinkTable } from '../net/links.js';
import type { FloodList } from './flood.js';
import { GroupMembers } from './mc-groups.js';
import { kindOf } from './kinds/index.js';
import type { Registry } from './registry.js';

const BROADCAST: Mac = 'ff:ff:ff:ff:ff:ff';
/** Groups every device holds once UP: all-nodes (joined at registration, even with IPv6 off) and
 * all-hosts (joined when it comes up, and left when it goes down). Every filter holds them: a child
 * coming up has joined all-hosts before anyone re-reads its list, and a DOWN child gets no copies. */
const ALWAYS: readonly Mac[] = ['33:33:00:00:00:01', '01:00:5e:00:00:01'];

/** /proc/net/dev_mcast: "ifindex name users global_use address" per (device, group), in this thread's netns. */
export function parseDevMcast(text: string): Map<string, Set<Mac>> {
  const out = new Map<string, Set<Mac>>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || !/^[0-9a-f]{12}$/i.test(f[4]!)) continue;
    const mac = parseMac(f[4]!.match(/../g)!.join(':'));
    let s = out.get(f[1]!);
    if (!s) out.set(f[1]!, (s = new Set()));
    s.add(mac);
  }
  return out;
}

export class McFilter {
  /** What this process last wrote per child (the agent's own view; the map is the truth). */
  private readonly known = new Map<number, Set<Mac>>();
  /** Children (netns\0name) last found ALLMULTI or PROMISC: their link events say when that ends. */
  private readonly all = new Set<string>();
  /** An agent keeps the lists: new children start with an exact filter (see seed). */
  watching = false;
  /** Each group's members by parent, for floods that need not walk (mc-groups.ts). */
  private readonly groups: GroupMembers;

  constructor(
    private readonly dp: Datapath,
    private readonly registry: Registry,
    private readonly flood: FloodList,
    private readonly links: LinkTable,
  ) {
    this.groups = new GroupMembers(dp);
  }

  /**
   * Reads the children's multicast lists (one read per netns) and makes their filters say them; an
   * ALLMULTI or PROMISC child, or one whose device is not found, gets every group. Returns the names
   * of the children whose filter changed.
   */
  sync(children: ChildRecord[]): string[] {
    const byNs = new Map<string, ChildRecord[]>();
    for (const c of children) byNs.set(c.netns, [...(byNs.get(c.netns) ?? []), c]);
    this.ensureLoaded();
    const changed: string[] = [];
    for (const [ns, list] of byNs) {
      let lists: Map<string, Set<Mac>>;
      let flags: Map<string, string[]>;
      try {
        [lists, flags] = inNetns(ns ? `${NETNS_DIR}/${ns}` : undefined, () => [
          parseDevMcast(fs.readFileSync('/proc/self/net/dev_mcast', 'utf8')),
          new Map(this.links.list(ns || undefined).map((l) => [l.ifname, l.flags])),
        ]);
      } catch {
        continue; // the netns is gone: reconcile purges its children
      }
      for (const c of list) {
        const f = flags.get(c.name);
        const all = !f || f.includes('ALLMULTI') || f.includes('PROMISC') || !kindOf(c.kind).groupsVisible;
        if (all) this.all.add(`${c.netns}\0${c.name}`);
        else this.all.delete(`${c.netns}\0${c.name}`);
        if (this.set(c, all ? null : lists.get(c.name) ?? new Set())) changed.push(c.name);
      }
    }
    return changed;
  }

  /**
   * The child's filter: `groups` exactly (broadcast needs no entry), or every group (null). Entries go
   * in before the flag goes on and out after it is off, so a frame never meets a half-made filter.
   */
  set(c: ChildRecord, groups: Set<Mac> | null): boolean {
    this.ensureLoaded();
    const have = this.known.get(c.hostIfindex) ?? new Set<Mac>();
    const exact = (c.flags & CHILD_MC_EXACT) !== 0;
    if (groups === null) {
      if (!exact && have.size === 0) return false;
      if (exact) this.flag(c, false);
      for (const g of have) this.drop(c, g);
      this.known.delete(c.hostIfindex);
      return exact;
    }
    const want = new Set([...groups, ...ALWAYS].filter((g) => g !== BROADCAST));
    let changed = !exact;
    for (const g of want) if (!have.has(g)) { this.add(c, g); changed = true; }
    if (!exact) this.flag(c, true);
    for (const g of have) if (!want.has(g)) { this.drop(c, g); changed = true; }
    this.known.set(c.hostIfindex, want);
    return changed;
  }

  /** Whether a link's flags (ALLMULTI, PROMISC) disagree with what its filter was made for. */
  stale(netns: string, name: string, flags: string[]): boolean {
    return (flags.includes('ALLMULTI') || flags.includes('PROMISC')) !== this.all.has(`${netns}\0${name}`);
  }

  /**
   * A child made while an agent watches starts exact, with the groups every UP device holds: its own
   * IPv6 joins announce themselves (MLD) and are read within the poll interval, and until then the
   * MLD reports, DAD and router solicitations of its thousand new siblings reach nobody (a child made
   * without a filter would get them all, which is what made 10,000 bridge children cost O(N²) copies).
   */
  seed(c: ChildRecord): void {
    if (this.watching && kindOf(c.kind).groupsVisible) this.set(c, new Set(ALWAYS));
  }

  /** The groups a child's filter holds, or null when it gets every group. */
  groupsOf(c: ChildRecord): Mac[] | null {
    if (!(c.flags & CHILD_MC_EXACT)) return null;
    this.ensureLoaded();
    return [...(this.known.get(c.hostIfindex) ?? [])].sort();
  }

  /** The child is gone: its entries go. */
  forget(c: ChildRecord): void {
    if (!(c.flags & CHILD_MC_EXACT) && !this.known.has(c.hostIfindex)) return;
    this.ensureLoaded();
    for (const g of this.known.get(c.hostIfindex) ?? []) this.drop(c, g);
    this.known.delete(c.hostIfindex);
  }

  /** Nobody watches any more (the agent stops): every child gets every group again. */
  clearAll(): void {
    this.watching = false;
    this.all.clear();
    for (const c of this.registry.all()) if (c.flags & CHILD_MC_EXACT) this.set(c, null);
    this.load();
    for (const [h, groups] of this.known) for (const g of groups) this.dp.deleteMcGroup(h, g);
    this.known.clear();
    this.groups.rebuild(this.known, () => undefined);
  }

  /** The map as it is (after a restart, or entries of children deleted meanwhile), and the group
   * lists made to agree with it. */
  private load(): void {
    this.known.clear();
    const parents = new Map(this.registry.all().map((c) => [c.hostIfindex, c.parentIfindex]));
    for (const [h, groups] of this.dp.mcGroups()) {
      if (parents.has(h)) this.known.set(h, groups);
      else for (const g of groups) this.dp.deleteMcGroup(h, g);
    }
    this.groups.rebuild(this.known, (h) => parents.get(h));
    this.loaded = true;
  }

  private loaded = false;
  /** Once per process: the per-child entries and the group lists are read (and made to agree) before
   * either is changed, or the flood counts that let the datapath trust the lists are rewritten. */
  ensureLoaded(): void {
    if (!this.loaded) this.load();
  }

  /** A group into the child's filter: its group list first, then its entry (the walk's). */
  private add(c: ChildRecord, g: Mac): void {
    this.groups.join(c, g);
    this.dp.addMcGroup(c.hostIfindex, g);
  }

  private drop(c: ChildRecord, g: Mac): void {
    this.dp.deleteMcGroup(c.hostIfindex, g);
    this.groups.leave(c, g);
  }

  private flag(c: ChildRecord, on: boolean): void {
    c.flags = on ? c.flags | CHILD_MC_EXACT : c.flags & ~CHILD_MC_EXACT;
    this.registry.put(c);
    if (c.flags & CHILD_UP) this.flood.setMode(c); // rewrites its entry with the flag
  }
}
