// Keeping the maps true to the kernel: a full reconcile against a dump of every link (on start, after
// an overrun, before a command without an agent), and the agent's per-event path, which sorts each
// rtnetlink link event into what it means for a child or a parent and applies just that.
import fs from 'node:fs';
import { CHILD_MAC_BUSY, CHILD_UP, PORT_FASTPATH_XDP, type ChildRecord } from '../datapath/abi.js';
import type { Datapath } from '../datapath/datapath.js';
import type { Mac } from '../mac.js';
import { NETNS_DIR, ifnameOf, isUp, type LinkInfo, type LinkTable } from '../net/links.js';
import { HOST_END_SHAPE, hostEndName, tapAlias } from './names.js';
import type { ChildState } from './child-state.js';
import type { FloodList } from './flood.js';
import { kindOf, type KindContext } from './kinds/index.js';
import type { Ports } from './ports.js';
import type { Registry } from './registry.js';

export interface ReconcileReport {
  purged: string[];
  stateSynced: string[];
  readdressed: string[];
  portsReleased: number[];
  conflicts: string[];
  /** Hooks found without our program (detached, or another program at our place), attached again. */
  hooksRepaired: string[];
  /** Host ends of ours that no registry entry names (a command killed between making and recording), removed. */
  orphansRemoved: string[];
  /** Children found in another netns than the registry said (moved while no agent watched), followed. */
  moved: string[];
}

export function emptyReport(): ReconcileReport {
  return { purged: [], stateSynced: [], readdressed: [], portsReleased: [], conflicts: [], hooksRepaired: [], orphansRemoved: [], moved: [] };
}

/** What a link event was about: the nsid it came from (-1: ours), deleted or new/changed, the link. */
export interface LinkEvent {
  nsid: number;
  deleted: boolean;
  link: LinkInfo;
}

export class Reconciler {
  private readonly ctx: KindContext;

  constructor(
    private readonly dp: Datapath,
    private readonly registry: Registry,
    private readonly state: ChildState,
    private readonly flood: FloodList,
    private readonly ports: Ports,
    private readonly links: LinkTable,
  ) {
    this.ctx = { dp, links };
  }

  /**
   * Makes the maps tell the kernel's truth: children whose links or parent vanished are purged (a
   * deleted parent takes its children with it), UP/DOWN and MAC changes made with plain `ip` are
   * applied, ports without children are released, link pins of devices no longer ours removed.
   * Idempotent.
   */
  reconcile(): ReconcileReport {
    const report = emptyReport();
    this.registry.refresh();
    // Before the flood counts are made right below: they let the datapath trust the group lists.
    this.state.loadMulticast();
    const here = new Map(this.links.list().map((l) => [l.ifindex, l]));
    const nsLinks = new Map<string, Map<string, LinkInfo> | null>();
    const linksIn = (ns: string) => {
      if (!nsLinks.has(ns)) {
        try {
          nsLinks.set(ns, new Map(this.links.list(ns || undefined).map((l) => [l.ifname, l])));
        } catch {
          nsLinks.set(ns, null); // the namespace is gone
        }
      }
      return nsLinks.get(ns)!;
    };
    const netnsOf = this.netnsNames();
    for (const c of this.registry.all()) {
      const parent = here.get(c.parentIfindex);
      const host = here.get(c.hostIfindex);
      let child = linksIn(c.netns)?.get(c.name);
      let netns = c.netns;
      if (parent && host && !child && !kindOf(c.kind).hostIsChild && host.link_index) {
        // Not where the registry says: moved (ip link set ... netns) while no agent watched? Its pair
        // lives on, so the host end's peer is the child, wherever it went.
        const ns = netnsOf(host.link_netnsid);
        const peer = ns === undefined ? undefined : ns ? [...(linksIn(ns)?.values() ?? [])].find((l) => l.ifindex === host.link_index) : here.get(host.link_index);
        if (peer && ns !== undefined) {
          report.moved.push(`${c.name} from netns ${c.netns || '(parent)'} to ${ns || '(parent)'}`);
          child = peer;
          netns = ns;
        }
      }
      if (!parent || !host || !child) {
        // Parent deleted: delete the child too (the kernel's NETDEV_UNREGISTER). Child or netns
        // deleted: the veth pair died with it; clear its state.
        this.state.purge(c, !!host);
        report.purged.push(c.name);
        continue;
      }
      kindOf(c.kind).followParent(this.ctx, c, host, parent);
      this.syncChild(c, child, report, netns);
    }
    this.removeOrphans(here, report);
    const children = this.registry.all();
    for (const { parentIfindex, port } of this.dp.listPorts()) {
      const mine = children.filter((c) => c.parentIfindex === parentIfindex);
      const exists = here.has(parentIfindex);
      if (!exists || (mine.length === 0 && (port.nchildren !== 0 || this.dp.attachedProgramId(parentIfindex)))) {
        if (!exists) this.ports.forget(parentIfindex);
        else this.ports.release(parentIfindex, { ...port, nchildren: 0 }, true);
        report.portsReleased.push(parentIfindex);
      } else {
        if (port.nchildren !== mine.length) this.dp.putPort(parentIfindex, { ...port, nchildren: mine.length });
        this.flood.rebuild(parentIfindex, mine.filter((c) => c.flags & CHILD_UP));
      }
    }
    // Source-list entries naming a child that is gone (a command died between steps) or no longer in
    // source mode: the datapath skips them, but they would hold a place among the 16 per address.
    const sourceChild = new Set(children.filter((c) => c.mode === 'source').map((c) => c.hostIfindex));
    this.state.sources.prune((h) => sourceChild.has(h));
    this.dp.recountSources(); // a count left high by a command that died between its two writes
    this.repairHooks(report);
    const ours = new Set([...children.map((c) => c.hostIfindex), ...this.dp.listPorts().map((p) => p.parentIfindex)]);
    for (const ifindex of this.dp.hooks.pinned()) if (!ours.has(ifindex)) this.dp.hooks.forget(ifindex);
    for (const ifindex of this.dp.xdp.pinned()) if (!ours.has(ifindex)) this.dp.xdp.forget(ifindex);
    for (const ifindex of this.dp.netkit.pinned()) if (!ours.has(ifindex)) this.dp.netkit.forget(ifindex);
    return report;
  }

  /**
   * A lookup of a peer's netns by the nsid a link names it with (IFLA_LINK_NETNSID): '' for this netns
   * (no nsid), the name under /run/netns, or undefined for one without a name. The names are read on
   * the first question that needs them.
   */
  private netnsNames(): (nsid: number | undefined) => string | undefined {
    let byNsid: Map<number, string> | undefined;
    return (nsid) => {
      if (nsid === undefined) return '';
      if (!byNsid) {
        byNsid = new Map();
        for (const ns of fs.existsSync(NETNS_DIR) ? fs.readdirSync(NETNS_DIR) : []) {
          try {
            const id = this.links.rtnl.nsid(`${NETNS_DIR}/${ns}`);
            if (id >= 0) byNsid.set(id, ns);
          } catch { /* gone meanwhile */ }
        }
      }
      return byNsid.get(nsid);
    };
  }

  /**
   * A host end is ours when its name is the one we derive for its peer (this instance, the peer's netns
   * and name): one with no registry entry was left by a command that died between making the pair and
   * recording it. It is removed (with its child end), as the command never finished.
   */
  private removeOrphans(here: Map<number, LinkInfo>, report: ReconcileReport): void {
    // A tap of ours says so in its alias (names.ts tapAlias).
    for (const l of here.values()) {
      if (l.linkinfo?.info_kind !== 'tun' || l.ifalias !== tapAlias(this.dp.pinRoot, l.ifname) || this.registry.get(l.ifindex)) continue;
      whileExists(() => this.links.rtnl.deleteLink(l.ifindex));
      this.dp.hooks.forget(l.ifindex);
      report.orphansRemoved.push(`${l.ifname} (a macvtap child's tap, in no registry)`);
    }
    const candidates = [...here.values()].filter((l) => HOST_END_SHAPE.test(l.ifname) && (l.linkinfo?.info_kind === 'veth' || l.linkinfo?.info_kind === 'netkit') && !this.registry.get(l.ifindex));
    if (candidates.length === 0) return;
    const netnsOf = this.netnsNames();
    for (const l of candidates) {
      const ns = netnsOf(l.link_netnsid);
      if (ns === undefined || !l.link_index) continue;
      let peer: LinkInfo | undefined;
      try {
        peer = ns ? this.links.list(ns).find((x) => x.ifindex === l.link_index) : here.get(l.link_index);
      } catch {
        continue;
      }
      if (!peer || hostEndName(this.dp.pinRoot, ns, peer.ifname) !== l.ifname) continue; // another instance's, or not a host end
      whileExists(() => this.links.rtnl.deleteLink(l.ifname));
      this.dp.hooks.forget(l.ifindex);
      this.dp.netkit.forget(l.ifindex);
      report.orphansRemoved.push(`${l.ifname} (child ${peer.ifname}${ns ? ` in netns ${ns}` : ''}, in no registry)`);
    }
  }

  /**
   * Every hook that should carry our program does: a parent with children (its TC ingress, and its
   * XDP with the fast path on) and every child's transmit hook. One found empty (a `tc filter del`, a
   * `bpftool link detach`) or holding another program at our place (a `tc filter replace`) gets ours
   * again; each is reported (the agent logs and counts it). Programs others add beside ours are theirs.
   */
  repairHooks(report: ReconcileReport = emptyReport()): ReconcileReport {
    const [parentId, xdpId] = [this.dp.programId('parent'), this.dp.programId('xdp')];
    const what = (id: number) => (id ? `another program (id ${id}) in our place` : 'no program of ours');
    const children = this.registry.all();
    for (const { parentIfindex, port } of this.dp.listPorts()) {
      if (!children.some((c) => c.parentIfindex === parentIfindex)) continue;
      const name = ifnameOf(parentIfindex);
      if (!name) continue; // gone: reconcile forgets it
      const tc = this.dp.attachedProgramId(parentIfindex);
      if (tc !== parentId) {
        const r = this.dp.attach('parent', parentIfindex, { ownsClsact: port.clsactCreated });
        if (r.qdiscCreated && !port.clsactCreated) this.dp.putPort(parentIfindex, { ...port, clsactCreated: true });
        report.hooksRepaired.push(`parent ${name}: ${what(tc)} on its TC ingress; ours attached again`);
      }
      if (port.flags & PORT_FASTPATH_XDP) {
        const x = this.dp.xdp.programId(parentIfindex);
        if (x !== xdpId) {
          this.dp.attachXdp(parentIfindex, name);
          report.hooksRepaired.push(`parent ${name}: ${what(x)} on its XDP hook; ours attached again`);
        }
      }
    }
    for (const c of children) {
      const kind = kindOf(c.kind);
      const hook = kind.txHook(c);
      if (!ifnameOf(hook)) continue;
      const id = kind.txProgramId(this.ctx, c);
      if (id === this.dp.programId(kind.txProgram)) continue;
      kind.attachTx(this.ctx, c);
      report.hooksRepaired.push(`child ${c.name}: ${what(id)} on its transmit hook; ours attached again`);
    }
    this.hooksRepaired += report.hooksRepaired.length;
    return report;
  }

  /**
   * Applies what the kernel says about one child's link (its state after an event, or a dump): name,
   * netns, MTU, MAC and UP/DOWN. The map changes first; the filter and promiscuity follow.
   */
  syncChild(c: ChildRecord, child: LinkInfo, report: ReconcileReport = emptyReport(), netns = c.netns): ReconcileReport {
    let changed = false;
    let moved = false;
    if (child.ifname && child.ifname !== c.name) {
      c.name = child.ifname; // renamed with ip link set ... name: follow it
      changed = true;
    }
    if (netns !== c.netns) {
      const kind = kindOf(c.kind);
      c.flags = (c.flags & ~kind.deliveryFlags(c.netns)) | kind.deliveryFlags(netns);
      c.netns = netns;
      changed = true;
      moved = true;
    }
    if (child.mtu && child.mtu !== c.mtu) {
      c.mtu = child.mtu;
      changed = true;
    }
    if (changed) this.registry.put(c);
    // Its flood entry says how its copies reach it, which depends on the netns (a move takes the device
    // down, but an agent may see the move and the UP again in one dump).
    if (moved && c.flags & CHILD_UP) this.flood.setMode(c);
    const kernelUp = isUp(child);
    // An address set with plain ip that kernel macvlan would have refused (EADDRINUSE, spec §7): the
    // earlier holder keeps it; this child stays out of the table, marked, until the address is free.
    const busy = (mac: Mac) => (kernelUp ? this.state.macHolder(c, mac) : null);
    if (child.address && child.address !== c.mac) {
      const holder = busy(child.address as Mac);
      if (holder) this.conflict(c, child.address as Mac, holder, report);
      else {
        const wasBusy = (c.flags & CHILD_MAC_BUSY) !== 0;
        this.state.rekey(c, child.address as Mac, c.mode !== 'passthru');
        if (wasBusy) c.flags &= ~CHILD_MAC_BUSY; // its new address is free: it enters below
        report.readdressed.push(c.name);
      }
    }
    const mapUp = (c.flags & CHILD_UP) !== 0 && this.dp.getMac(c.parentIfindex, c.mac)?.hostIfindex === c.hostIfindex;
    if (kernelUp && !mapUp) {
      const holder = busy(c.mac);
      if (holder) this.conflict(c, c.mac, holder, report);
      else {
        this.state.insertUp(c);
        report.stateSynced.push(c.name);
      }
    } else if (!kernelUp && (c.flags & (CHILD_UP | CHILD_MAC_BUSY)) !== 0) {
      this.state.removeUp(c);
      report.stateSynced.push(c.name);
    }
    return report;
  }

  /** Conflicts found (each counted once, when it starts): the agent's counter. */
  macConflicts = 0;
  /** Hooks found missing or foreign and attached again. */
  hooksRepaired = 0;

  private conflict(c: ChildRecord, mac: Mac, holder: string, report: ReconcileReport): void {
    if (!this.state.markBusy(c, mac)) return;
    this.macConflicts++;
    report.conflicts.push(`${c.name} is UP with ${mac}, which ${holder} holds (kernel macvlan refuses this with EADDRINUSE): ${c.name} stays out of the forwarding table until the address is free; give it another (ip link set ${c.name} address <mac>)`);
  }

  /** A child's host end is gone (its veth pair or its netns was deleted): clear its state. */
  hostEndGone(hostIfindex: number): string | null {
    const c = this.registry.get(hostIfindex);
    if (!c) return null;
    this.state.purge(c, false);
    return c.name;
  }

  /** The parent was deleted: its children go with it, as the kernel's do (NETDEV_UNREGISTER). */
  parentGone(parentIfindex: number): string[] {
    this.registry.refresh();
    const gone = this.registry.ofParent(parentIfindex);
    for (const c of gone) this.state.purge(c, true);
    this.ports.forget(parentIfindex);
    return gone.map((c) => c.name);
  }

  /**
   * The parent changed (NETDEV_UP/DOWN/CHANGE, CHANGEMTU, CHANGEADDR): children follow its carrier,
   * no child keeps an MTU above the parent's, a passthru child keeps the parent's MAC.
   */
  parentChanged(parent: LinkInfo): void {
    const port = this.dp.getPort(parent.ifindex);
    if (!port) return;
    if (parent.address && parent.address !== port.mac) this.dp.putPort(parent.ifindex, { ...port, mac: parent.address as Mac });
    this.registry.refresh();
    for (const c of this.registry.ofParent(parent.ifindex)) {
      const host = this.links.get(c.hostIfindex);
      if (!host) continue;
      kindOf(c.kind).followParent(this.ctx, c, host, parent);
      if (c.mtu > parent.mtu) whileExists(() => this.links.in(c.netns || undefined, (r) => r.setMtu(c.name, parent.mtu)));
      if (c.mode === 'passthru' && parent.address && c.mac !== parent.address)
        whileExists(() => this.links.in(c.netns || undefined, (r) => r.setAddress(c.name, parent.address)));
    }
  }

  /**
   * A host end changed (someone set it down, or its carrier moved): it stays as its parent says. A
   * device that is the child itself (a tap) changed as a child does: its state is the user's.
   */
  hostEndChanged(c: ChildRecord, host: LinkInfo): string | null {
    const kind = kindOf(c.kind);
    if (kind.hostIsChild) return this.syncChild(c, host).conflicts.join('; ') || null;
    const parent = this.links.get(c.parentIfindex);
    if (parent) kind.followParent(this.ctx, c, host, parent);
    return null;
  }

  /** Whether `link`, in this netns, is the child's end now: its host end's peer, asked of the kernel
   * (not any device stacked on the host end, which names it as its link too). */
  private peerHere(c: ChildRecord, link: LinkInfo): boolean {
    const host = this.links.get(c.hostIfindex);
    return !!host && host.link_netnsid === undefined && host.link_index === link.ifindex;
  }

  /**
   * One rtnetlink link event, sorted into what it means for us, and applied. Returns a line for the
   * log when something notable happened. nsName resolves the event's nsid to the netns's name.
   */
  onLinkEvent(ev: LinkEvent, nsName: (nsid: number) => string | undefined): string | null {
    const { nsid, deleted, link } = ev;
    if (nsid < 0) {
      // Our own netns: parents, host ends, and children that live beside their parent.
      const hostOf = this.registry.get(link.ifindex);
      if (hostOf) {
        if (deleted) {
          const name = this.hostEndGone(link.ifindex);
          return name ? `child ${name} is gone (its link or netns was deleted)` : null;
        }
        return this.hostEndChanged(hostOf, link);
      }
      if (this.dp.getPort(link.ifindex)) {
        if (deleted) {
          const gone = this.parentGone(link.ifindex);
          return `parent ${link.ifname} deleted: removed ${gone.join(', ') || 'its port'}`;
        }
        this.parentChanged(link);
        return null;
      }
      if (link.link_netnsid === undefined && link.link_index && link.link_index !== link.ifindex && !deleted) {
        const c = this.registry.get(link.link_index);
        if (c && c.netns === '') return this.syncChild(c, link).conflicts.join('; ') || null;
        if (c && this.peerHere(c, link)) {
          // Moved here, beside its parent, from a netns of its own (ip link set ... netns <the parent's>).
          const note = `child ${c.name} moved from netns ${c.netns} to (parent)`;
          return [note, ...this.syncChild(c, link, undefined, '').conflicts].join('; ');
        }
      }
      return null;
    }
    // Another netns: a child is the device whose peer (IFLA_LINK) is one of our host ends.
    if (deleted || !link.link_index) return null; // a deleted child takes its host end with it: seen above
    const c = this.registry.get(link.link_index);
    if (!c) return null;
    const ns = nsName(nsid);
    if (ns === undefined) return null;
    let note: string | null = null;
    if (ns !== c.netns) {
      // Moved to another netns? Only if our host end's peer really is there now.
      const host = this.links.get(c.hostIfindex);
      if (!host || host.link_netnsid !== nsid) return null;
      note = `child ${c.name} moved from netns ${c.netns || '(parent)'} to ${ns}`;
    }
    const conflicts = this.syncChild(c, link, undefined, ns).conflicts;
    return [note, ...conflicts].filter(Boolean).join('; ') || null;
  }
}

/** Runs a change to a link that may vanish meanwhile (its netns is being deleted): gone is fine. */
function whileExists(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code !== 'ENODEV' && code !== 'ENOENT') throw e;
  }
}
