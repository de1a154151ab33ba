// Ports: one per parent with children (the kernel's macvlan_port). A port is made with its first child
// (map entry, counters, the parent program on the parent's ingress) and released with its last; a port
// with non-default configuration keeps its entry so the configuration is not lost.
import { NO_FLOOD, PARENT_SLOTS, PORT_ALLMULTI_SET, PORT_FASTPATH_XDP, PORT_SETTINGS, PORT_UC_PROMISC, type PortRecord } from '../datapath/abi.js';
import { DEFAULT_BC_CUTOFF, type Datapath } from '../datapath/datapath.js';
import type { Mac } from '../mac.js';
import { isSystemError } from '../native.js';
import type { LinkInfo, LinkTable } from '../net/links.js';
import { ConfigError, kernelError } from './errors.js';
import type { FloodList } from './flood.js';

/**
 * Parents whose `fdb add … self` means their own forwarding database, not the unicast filter (their
 * ndo_fdb_add is not the default one). Kernel macvlan's dev_uc_add turns such a parent promiscuous
 * (it has no IFF_UNICAST_FLT), and so do we: a bridge that took children's MACs as local fdb entries
 * would drop what the children send to each other over the wire and hide unknown unicast from its stack.
 */
const OWN_FDB_KINDS = ['bridge', 'vxlan'];

export function newPort(parent: LinkInfo): PortRecord {
  const flags = OWN_FDB_KINDS.includes(parent.linkinfo?.info_kind ?? '') ? PORT_UC_PROMISC : 0;
  return { flags, passthruHost: 0, mac: parent.address as Mac, promiscSet: false, clsactCreated: false, nchildren: 0, ...NO_FLOOD };
}

export class Ports {
  constructor(private readonly dp: Datapath, private readonly links: LinkTable, private readonly flood: FloodList) {}

  /**
   * The parent's port with its program attached, made if needed; `port` is the record the caller read
   * (null: none yet). Undo steps for what was made are pushed. The record returned is the one to
   * change and put back.
   */
  ensure(parent: LinkInfo, port: PortRecord | null, undo: (() => void)[]): PortRecord {
    const p = port ?? newPort(parent);
    if (!port) {
      this.giveSlot(parent.ifindex, p);
      this.dp.putPort(parent.ifindex, p);
      undo.push(() => this.dp.deletePort(parent.ifindex));
    } else if (!p.slot) {
      this.giveSlot(parent.ifindex, p); // written by a build without counter slots
      this.dp.putPort(parent.ifindex, p);
    }
    if (!this.dp.attachedProgramId(parent.ifindex)) {
      const { qdiscCreated } = this.dp.attach('parent', parent.ifindex, { ownsClsact: p.clsactCreated });
      p.clsactCreated ||= qdiscCreated;
      this.dp.putPort(parent.ifindex, p);
      undo.push(() => {
        const now = this.dp.getPort(parent.ifindex);
        if (!now || now.nchildren === 0) this.dp.detach(parent.ifindex, qdiscCreated);
      });
    }
    // The XDP fast path goes on after TC, which takes whatever XDP passes on.
    if (p.flags & PORT_FASTPATH_XDP && !this.dp.xdp.programId(parent.ifindex)) {
      this.dp.attachXdp(parent.ifindex, parent.ifname);
      undo.push(() => {
        const now = this.dp.getPort(parent.ifindex);
        if (!now || now.nchildren === 0) this.dp.detachXdp(parent.ifindex);
      });
    }
    return p;
  }

  /**
   * Gives a port about to be written its counter slot, if it has none: the lowest no other port holds,
   * zeroed (its last port may have counted after it was read for the last time). A port keeps its slot
   * while its entry lives; the slot is free again when the entry is deleted.
   */
  giveSlot(parentIfindex: number, p: PortRecord): void {
    if (p.slot) return;
    const held = new Set(this.dp.listPorts().filter((x) => x.parentIfindex !== parentIfindex).map((x) => x.port.slot));
    let s = 1;
    while (held.has(s)) s++;
    if (s >= PARENT_SLOTS) throw new ConfigError('ENOSPC', `no parent counter slot is free: ${PARENT_SLOTS - 1} parents have children or settings, the most one instance holds; delete the children of some first`);
    this.dp.resetParentStats(s);
    p.slot = s;
  }

  /** The parent's program, on a new build or hook mode (atomically replaced; a clsact we made in the
   * cls_bpf mode goes once a tcx link took over, and one made for the cls_bpf mode is remembered). */
  reattach(parentIfindex: number, port: PortRecord): void {
    if (!this.dp.attachedProgramId(parentIfindex)) return;
    try {
      if (this.dp.xdp.programId(parentIfindex)) this.dp.attachXdp(parentIfindex, `ifindex ${parentIfindex}`);
      const r = this.dp.attach('parent', parentIfindex, { ownsClsact: port.clsactCreated });
      const clsactCreated = (port.clsactCreated || r.qdiscCreated) && !r.qdiscRemoved;
      if (clsactCreated !== port.clsactCreated) this.dp.putPort(parentIfindex, { ...port, clsactCreated });
    } catch (e) {
      if (!isSystemError(e) || e.code !== 'ENODEV') throw e;
    }
  }

  /** The last child is gone: the program leaves the parent (the kernel destroys its port). */
  release(parentIfindex: number, port: PortRecord, parentExists: boolean): void {
    this.dp.setBcCutoff(parentIfindex, DEFAULT_BC_CUTOFF); // the kernel's goes with its port
    if (parentExists) {
      this.dp.detachXdp(parentIfindex); // first: nothing may be redirected past the TC program's going
      this.dp.detach(parentIfindex, port.clsactCreated);
      if (port.promiscSet) this.setPromisc(parentIfindex, false);
      if (port.flags & PORT_ALLMULTI_SET) this.setAllmulti(parentIfindex, false);
    }
    this.flood.drop(parentIfindex);
    // A port's settings (isolation, fast path, child kind) outlive its children, as the user set them.
    if (port.flags & PORT_SETTINGS && parentExists) {
      this.dp.putPort(parentIfindex, { ...port, clsactCreated: false, promiscSet: false, nchildren: 0, ...NO_FLOOD, flags: port.flags & (PORT_SETTINGS | PORT_UC_PROMISC), passthruHost: 0 });
    } else {
      this.forget(parentIfindex);
    }
  }

  /** The parent itself is gone: its entry and counters go (its counter slot is free again). */
  forget(parentIfindex: number): void {
    this.dp.deletePort(parentIfindex);
    this.dp.setBcCutoff(parentIfindex, DEFAULT_BC_CUTOFF);
    this.flood.drop(parentIfindex);
    this.dp.hooks.forget(parentIfindex);
    this.dp.xdp.forget(parentIfindex);
  }

  /**
   * The parent's allmulticast while a child is UP. Kernel macvlan copies each child's groups into the
   * parent's multicast filter (dev_mc_sync); we have no per-child groups yet (deliberate difference 3:
   * every eligible child gets every group), so a parent that filters multicast in hardware passes all.
   */
  setAllmulti(parentIfindex: number, on: boolean): void {
    this.links.forgetParents();
    try {
      this.links.rtnl.setAllmulti(parentIfindex, on);
    } catch (e) {
      if (!on && isSystemError(e) && e.code === 'ENODEV') return;
      throw kernelError(e, `turning allmulticast ${on ? 'on' : 'off'} on the parent`);
    }
  }

  /** passthru: the parent's promiscuity, which we turn on and off only for ourselves (IFF_PROMISC). */
  setPromisc(parentIfindex: number, on: boolean): void {
    this.links.forgetParents();
    try {
      this.links.rtnl.setPromisc(parentIfindex, on);
    } catch (e) {
      if (!on && isSystemError(e) && e.code === 'ENODEV') return;
      throw kernelError(e, `turning promiscuous mode ${on ? 'on' : 'off'} on the parent`);
    }
  }
}
