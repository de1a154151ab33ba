// A child's state in the datapath: its MAC table entry and flood-list place while it is UP (with the
// parent's unicast filter, or promiscuity for passthru), re-keying when its MAC changes, and its
// removal with everything it owned. Every step is ordered so the datapath never redirects into a
// device that is closing or reads a half-written entry.
import { CHILD_GRO_SET, CHILD_MAC_BUSY, CHILD_UP, CHILD_XDP_ARMED, PORT_ALLMULTI_SET, PORT_FASTPATH_XDP, PORT_PASSTHRU, PORT_UC_PROMISC, type ChildRecord, type PortRecord } from '../datapath/abi.js';
import { DEFAULT_BC_QUEUE_LEN, type Datapath } from '../datapath/datapath.js';
import type { Mac } from '../mac.js';
import { ifnameOf, type LinkTable } from '../net/links.js';
import { ConfigError } from './errors.js';
import type { FloodList } from './flood.js';
import { kindOf } from './kinds/index.js';
import type { Ports } from './ports.js';
import type { Registry } from './registry.js';
import type { SourceLists } from './sources.js';
import type { McFilter } from './mc-filter.js';

export class ChildState {
  constructor(
    private readonly dp: Datapath,
    private readonly registry: Registry,
    private readonly flood: FloodList,
    private readonly ports: Ports,
    private readonly links: LinkTable,
    readonly sources: SourceLists,
    private readonly mc: McFilter,
  ) {}

  /** The kernel's macvlan_addr_busy(): the parent's MAC (except passthru) or an UP sibling's MAC. */
  checkMacFree(c: ChildRecord, mac: Mac): void {
    if (c.mode !== 'passthru') {
      const parent = this.links.parent(c.parentIfindex);
      if (parent && parent.address === mac)
        throw new ConfigError('EADDRINUSE', `Address already in use: ${mac} is the parent ${parent.ifname}'s own MAC; give ${c.name} another address (link set ${c.name} address <mac>)`);
    }
    const owner = this.dp.getMac(c.parentIfindex, mac);
    if (owner && owner.hostIfindex !== c.hostIfindex) {
      const other = this.dp.getChild(owner.hostIfindex);
      throw new ConfigError('EADDRINUSE', `Address already in use: ${mac} belongs to UP child ${other?.name ?? owner.hostIfindex} of the same parent; bring that one down or choose another MAC`);
    }
  }

  macTakenByOther(c: ChildRecord, mac: Mac): boolean {
    const owner = this.dp.getMac(c.parentIfindex, mac);
    return !!owner && owner.hostIfindex !== c.hostIfindex;
  }

  /** Who holds mac besides c, as macvlan_addr_busy() sees it: an UP sibling's name, the parent, or null. */
  macHolder(c: ChildRecord, mac: Mac): string | null {
    if (c.mode !== 'passthru') {
      const parent = this.links.parent(c.parentIfindex);
      if (parent && parent.address === mac) return `the parent ${parent.ifname}`;
    }
    const owner = this.dp.getMac(c.parentIfindex, mac);
    if (!owner || owner.hostIfindex === c.hostIfindex) return null;
    return `UP sibling ${this.dp.getChild(owner.hostIfindex)?.name ?? `ifindex ${owner.hostIfindex}`}`;
  }

  /**
   * An UP child (in the kernel) whose MAC is busy: it leaves the table, or never enters it, and is
   * marked. Returns true when the conflict is new (to be logged and counted once).
   */
  markBusy(c: ChildRecord, mac: Mac): boolean {
    if (c.flags & CHILD_UP) this.removeUp(c);
    const fresh = !(c.flags & CHILD_MAC_BUSY) || c.mac !== mac;
    c.mac = mac;
    c.flags |= CHILD_MAC_BUSY;
    this.registry.put(c);
    return fresh;
  }

  /**
   * Siblings kept out for a busy MAC enter the table once the address is free (its holder went down,
   * changed address or was deleted). Returns their names.
   */
  retryBusy(parentIfindex: number): string[] {
    const entered: string[] = [];
    for (const s of this.registry.ofParent(parentIfindex)) {
      if (!(s.flags & CHILD_MAC_BUSY) || this.macHolder(s, s.mac)) continue;
      s.flags &= ~CHILD_MAC_BUSY;
      this.insertUp(s);
      entered.push(s.name);
    }
    return entered;
  }

  /** The group lists agree with the children's filters (read once per process, see McFilter). */
  loadMulticast(): void {
    this.mc.ensureLoaded();
  }

  /** UP: into the MAC table and the flood list; the parent's filter (or promiscuity) follows. */
  insertUp(c: ChildRecord): void {
    // Arming matters to XDP redirects only: a child with GRO for life on a tc port is armed when XDP comes.
    if (c.flags & CHILD_GRO_SET && !(c.flags & CHILD_XDP_ARMED) && (this.dp.getPort(c.parentIfindex)?.flags ?? 0) & PORT_FASTPATH_XDP) {
      kindOf(c.kind).armXdp({ dp: this.dp, links: this.links }, c);
      c.flags |= CHILD_XDP_ARMED;
    }
    this.dp.putMac(c.parentIfindex, c.mac, { hostIfindex: c.hostIfindex, mode: c.mode, kind: c.kind, slot: c.slot, flags: (c.flags | CHILD_UP) & ~CHILD_MAC_BUSY & 0xff });
    c.flags = (c.flags | CHILD_UP) & ~CHILD_MAC_BUSY;
    this.registry.put(c);
    this.flood.add(c);
    const port = this.dp.getPort(c.parentIfindex);
    // The parent's flags matter only while allmulti is not ours yet, or for a promiscuous filter.
    const parent = port && (!(port.flags & PORT_ALLMULTI_SET) || this.promiscFilter(c, port)) ? this.links.parent(c.parentIfindex) : null;
    if (port && parent && !parent.flags.includes('ALLMULTI') && !(port.flags & PORT_ALLMULTI_SET)) {
      this.ports.setAllmulti(c.parentIfindex, true);
      this.dp.putPort(c.parentIfindex, { ...this.dp.getPort(c.parentIfindex)!, flags: port.flags | PORT_ALLMULTI_SET });
    }
    if (c.mode === 'passthru' || (port && port.flags & PORT_UC_PROMISC)) {
      // passthru: the parent goes promiscuous (dev_set_promiscuity +1); so does a parent with its own
      // fdb while it has UP children (dev_uc_add without IFF_UNICAST_FLT). We only undo what we did.
      if (port && parent && !parent.flags.includes('PROMISC')) {
        this.ports.setPromisc(c.parentIfindex, true);
        this.dp.putPort(c.parentIfindex, { ...this.dp.getPort(c.parentIfindex)!, promiscSet: true });
      }
    } else {
      this.fdb('add', c.mac, c.parentIfindex);
    }
  }

  /** Whether the parent's unicast filter is its promiscuity (passthru, or a parent with its own fdb). */
  private promiscFilter(c: ChildRecord, port: PortRecord | null): boolean {
    return c.mode === 'passthru' || (!!port && (port.flags & PORT_UC_PROMISC) !== 0);
  }

  /**
   * DOWN: out of the table first, so nothing is redirected into a closing device. A sibling kept out
   * for this child's MAC enters then.
   */
  removeUp(c: ChildRecord): void {
    const owner = this.dp.getMac(c.parentIfindex, c.mac);
    const held = !!owner && owner.hostIfindex === c.hostIfindex;
    if (held) this.dp.deleteMac(c.parentIfindex, c.mac);
    const wasUp = (c.flags & CHILD_UP) !== 0;
    c.flags &= ~(CHILD_UP | CHILD_MAC_BUSY);
    this.registry.put(c);
    this.flood.remove(c);
    if (!wasUp) return;
    this.removeFilters(c);
    if (held) this.retryBusy(c.parentIfindex);
  }

  /** The parent's allmulti, promiscuity or unicast filter entry that this child's being UP held. */
  private removeFilters(c: ChildRecord): void {
    let port = this.dp.getPort(c.parentIfindex);
    // The flood list counts the UP children but source-mode ones; those are looked for only when it is empty.
    const lastUp = !!port && port.nflood === 0 && !this.registry.ofParent(c.parentIfindex).some((s) => s.flags & CHILD_UP);
    if (port && lastUp && port.flags & PORT_ALLMULTI_SET) {
      this.ports.setAllmulti(c.parentIfindex, false); // the last UP child went
      port = { ...port, flags: port.flags & ~PORT_ALLMULTI_SET };
      this.dp.putPort(c.parentIfindex, port);
    }
    if (this.promiscFilter(c, port)) {
      // Off with the last UP child (the flood list counts them; it has just shrunk).
      if (port?.promiscSet && lastUp) {
        this.ports.setPromisc(c.parentIfindex, false);
        this.dp.putPort(c.parentIfindex, { ...port, promiscSet: false });
      }
    } else {
      this.fdb('del', c.mac, c.parentIfindex);
    }
  }

  /** A new MAC: the new key goes in before the old one leaves, so the child is never unreachable. */
  rekey(c: ChildRecord, mac: Mac, filter: boolean): void {
    const old = c.mac;
    filter &&= !this.promiscFilter(c, this.dp.getPort(c.parentIfindex));
    if (c.flags & CHILD_UP) {
      this.dp.putMac(c.parentIfindex, mac, { hostIfindex: c.hostIfindex, mode: c.mode, kind: c.kind, slot: c.slot, flags: c.flags });
      if (filter) this.fdb('add', mac, c.parentIfindex);
      const owner = this.dp.getMac(c.parentIfindex, old);
      if (owner && owner.hostIfindex === c.hostIfindex) this.dp.deleteMac(c.parentIfindex, old);
      if (filter) this.fdb('del', old, c.parentIfindex);
    }
    c.mac = mac;
    this.registry.put(c);
    if (c.flags & CHILD_UP) this.retryBusy(c.parentIfindex); // the old address is free now
  }

  /** A new mode: the registry, the table entry and the flood entry say it at once. */
  setMode(c: ChildRecord): void {
    if (c.mode !== 'source') this.sources.forget(c); // leaving source mode flushes the list (l.1617-1619)
    this.registry.put(c);
    if (c.flags & CHILD_UP) {
      this.dp.putMac(c.parentIfindex, c.mac, { hostIfindex: c.hostIfindex, mode: c.mode, kind: c.kind, slot: c.slot, flags: c.flags });
      this.flood.setMode(c);
    }
  }

  /** Removes a child: table, filter, its devices (when asked and still there), registry, counters, and
   * the port when it was the last child. */
  purge(c: ChildRecord, deleteDevices: boolean): void {
    const parentExists = ifnameOf(c.parentIfindex) !== '';
    this.removeUp(c);
    this.sources.forget(c);
    this.mc.forget(c);
    const kind = kindOf(c.kind);
    if (deleteDevices) kind.remove({ dp: this.dp, links: this.links }, c);
    else kind.forgetTx({ dp: this.dp, links: this.links }, c);
    this.registry.delete(c.hostIfindex);
    this.dp.setBcQueueLen(c.hostIfindex, DEFAULT_BC_QUEUE_LEN);
    const port = this.dp.getPort(c.parentIfindex);
    if (port) {
      port.nchildren = Math.max(0, port.nchildren - 1);
      if (port.passthruHost === c.hostIfindex) {
        port.flags &= ~PORT_PASSTHRU;
        port.passthruHost = 0;
      }
      this.dp.putPort(c.parentIfindex, port);
      if (port.nchildren === 0) this.ports.release(c.parentIfindex, port, parentExists);
    }
  }

  /** The parent's unicast filter: dev_uc_add/del through the default fdb handler (a device without
   * IFF_UNICAST_FLT, like veth, turns promiscuous, exactly as it does for kernel macvlan). */
  private fdb(op: 'add' | 'del', mac: Mac, parentIfindex: number): void {
    if (!ifnameOf(parentIfindex)) return; // the parent is gone, and its filter with it
    try {
      this.links.rtnl.fdb(op, parentIfindex, mac);
    } catch (e) {
      if (op === 'del') return; // already gone with its device
      throw new ConfigError('EIO', `adding ${mac} to ${ifnameOf(parentIfindex)}'s unicast filter failed: ${(e as Error).message}`);
    }
  }
}
