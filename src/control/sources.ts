// Source mode's lists (kernel macvlan's vlan_source_hash, spec §2 "macvlan_forward_source"): the remote
// source MACs a source-mode child listens to. The datapath keeps them by (parent, address) -> the
// children listing it (mvb_sources), so a frame costs one lookup; a child's own list is read back from
// there. `macaddr add|del|set|flush` as the kernel's macvlan_changelink_sources: add is idempotent, del
// of an address not listed is no error, set replaces the list, flush empties it.
import { SOURCE_MAX, type ChildRecord } from '../datapath/abi.js';
import type { Datapath } from '../datapath/datapath.js';
import { ifnameOf } from '../net/links.js';
import type { Mac } from '../mac.js';
import { ConfigError } from './errors.js';

export type MacaddrOp = 'add' | 'del' | 'set' | 'flush';
export const MACADDR_OPS: readonly MacaddrOp[] = ['add', 'del', 'set', 'flush'];

export interface MacaddrChange {
  op: MacaddrOp;
  macs: Mac[];
}

export class SourceLists {
  constructor(private readonly dp: Datapath) {}

  /** The addresses each child lists, by host ifindex, in address order (one read of the map). */
  all(): Map<number, Mac[]> {
    const out = new Map<number, Mac[]>();
    for (const e of this.dp.sourceEntries())
      for (const h of e.hosts) out.set(h, [...(out.get(h) ?? []), e.mac]);
    for (const l of out.values()) l.sort();
    return out;
  }

  of(c: ChildRecord): Mac[] {
    return this.all().get(c.hostIfindex) ?? [];
  }

  /** What the list becomes (no change made): refuses a child that is not in source mode, as the kernel does. */
  plan(c: ChildRecord, change: MacaddrChange): Mac[] {
    if (c.mode !== 'source')
      throw new ConfigError('EINVAL', `Invalid argument: macaddr lists belong to source-mode children, and ${c.name} is ${c.mode} (link set ${c.name} type macvlan mode source first)`);
    const have = this.of(c);
    switch (change.op) {
      case 'add': return [...new Set([...have, ...change.macs])];
      case 'del': return have.filter((m) => !change.macs.includes(m));
      case 'set': return [...new Set(change.macs)];
      case 'flush': return [];
    }
  }

  /** Makes c's list `want`: every refusal comes before the first write, so nothing half-happens. */
  apply(c: ChildRecord, want: Mac[]): void {
    const have = new Set(this.of(c));
    const adds = want.filter((m) => !have.has(m));
    for (const mac of adds) {
      const hosts = this.dp.sourceHosts(c.parentIfindex, mac);
      if (hosts.length >= SOURCE_MAX)
        throw new ConfigError('ENOSPC', `No space left: ${mac} is already listed by ${SOURCE_MAX} source-mode children of ${ifnameOf(c.parentIfindex) || `ifindex ${c.parentIfindex}`}, the most macvlan-bpf keeps per address (the kernel has no limit); remove it from one of them first`);
    }
    for (const mac of adds) this.dp.setSourceHosts(c.parentIfindex, mac, [...this.dp.sourceHosts(c.parentIfindex, mac), c.hostIfindex]);
    for (const mac of have) if (!want.includes(mac)) this.remove(c.parentIfindex, mac, c.hostIfindex);
  }

  /** The child leaves every list (deleted, or no longer in source mode). */
  forget(c: ChildRecord): void {
    for (const e of this.dp.sourceEntries())
      if (e.parentIfindex === c.parentIfindex && e.hosts.includes(c.hostIfindex)) this.remove(e.parentIfindex, e.mac, c.hostIfindex);
  }

  /** Entries naming children that no longer exist (a crash between steps) go; returns how many. */
  prune(live: (hostIfindex: number) => boolean): number {
    let n = 0;
    for (const e of this.dp.sourceEntries()) {
      const keep = e.hosts.filter(live);
      if (keep.length === e.hosts.length) continue;
      n += e.hosts.length - keep.length;
      this.dp.setSourceHosts(e.parentIfindex, e.mac, keep);
    }
    return n;
  }

  private remove(parentIfindex: number, mac: Mac, host: number): void {
    this.dp.setSourceHosts(parentIfindex, mac, this.dp.sourceHosts(parentIfindex, mac).filter((h) => h !== host));
  }
}
