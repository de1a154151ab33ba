// The control plane of one instance: children and ports, with the kernel's configuration rules
// (spec §5, §7, §11). Every operation validates first, then changes the kernel and the maps in an order
// that keeps forwarding correct at each step, and rolls back what it made if a later step fails.
import { createHash } from 'node:crypto';
import { Datapath, pinRootFromEnv } from '../datapath/datapath.js';
import {
  CHILD_SAME_NETNS, CHILD_UP, MODE_NAMES, PORT_ISOLATION_KERNEL, PORT_PASSTHRU,
  type ChildRecord, type Mode, type PortRecord,
} from '../datapath/abi.js';
import { isMulticastMac, isZeroMac, parseMac, isMacSyntax, type Mac } from '../mac.js';
import { ConfigError } from './errors.js';
import { addon } from '../native.js';
import {
  IpCommandError, LinkTable, ip, ipOrConfigError, isUp, netnsExists, netnsPath, setNetSysctl, type LinkInfo,
} from '../net/iproute.js';
import { Rtnl } from '../net/rtnetlink.js';

export const MIN_MTU = 68;

export interface AddChildRequest {
  parent: string;
  name: string;
  mode?: Mode;
  address?: string;
  mtu?: number;
  netns?: string;
  /** The host end's ifindex (ip link add ... index N): tests use it to re-create a deleted child's slot. */
  hostIfindex?: number;
}

export type Isolation = 'strict' | 'kernel';

export interface ChildView {
  name: string;
  netns: string;
  parent: string;
  parentIfindex: number;
  hostEnd: string;
  hostIfindex: number;
  ifindex: number;
  mode: Mode;
  address: Mac;
  mtu: number;
  up: boolean;
  operstate: string;
}

export interface ReconcileReport {
  purged: string[];
  stateSynced: string[];
  readdressed: string[];
  portsReleased: number[];
  conflicts: string[];
}

export function emptyReport(): ReconcileReport {
  return { purged: [], stateSynced: [], readdressed: [], portsReleased: [], conflicts: [] };
}

/** The derived name of a child's host end: stable for (instance, netns, name), so a crashed half-made
 * child is found again and finished or removed. */
export function hostEndName(pinRoot: string, netns: string, name: string): string {
  const h = createHash('sha256').update(`${pinRoot}\0${netns}\0${name}`).digest('hex');
  return `mvb${h.slice(0, 10)}`;
}

function validIfname(name: string): boolean {
  return name.length > 0 && name.length < 16 && !/[\s/:]/.test(name) && name !== '.' && name !== '..';
}

function modeOrThrow(m: string): Mode {
  if ((MODE_NAMES as readonly string[]).includes(m)) return m as Mode;
  throw new ConfigError('EINVAL', `unknown mode "${m}": use one of ${MODE_NAMES.join(', ')}`);
}

export class Macvlan {
  private readonly links = new LinkTable();
  private readonly floodIndex = new Map<number, Map<number, number>>();

  private constructor(readonly dp: Datapath) {}

  /** Opens (creating if needed) the instance and reconciles it with the kernel. */
  static open(pinRoot = pinRootFromEnv(), opts: { reconcile?: boolean } = {}): Macvlan {
    const m = new Macvlan(Datapath.open(pinRoot));
    if (m.dp.upgraded) m.reattachAll();
    if (opts.reconcile !== false) m.reconcile();
    return m;
  }

  close(): void {
    this.dp.close();
    this.links.close();
  }

  /** A new build of the programs was pinned: put it on every hook, each swap atomic (tc replace). */
  reattachAll(): void {
    for (const { parentIfindex } of this.dp.listPorts())
      if (this.dp.attachedProgramId(parentIfindex)) whileExists(() => void this.dp.attach('parent', parentIfindex));
    for (const c of this.dp.listChildren())
      if (this.dp.attachedProgramId(c.hostIfindex)) whileExists(() => void this.dp.attach('child', c.hostIfindex));
  }

  // --- lookups -------------------------------------------------------------------------------------
  /** Finds a child by name (and netns when names repeat across namespaces). */
  findChild(name: string, netns?: string): ChildRecord {
    const all = this.dp.listChildren().filter((c) => c.name === name && (netns === undefined || c.netns === netns));
    if (all.length === 0)
      throw new ConfigError('ENODEV', `Cannot find device "${name}"${netns !== undefined ? ` in netns "${netns}"` : ''}: no macvlan-bpf child has that name (see 'macvlan-bpf link show')`);
    if (all.length > 1)
      throw new ConfigError('EINVAL', `"${name}" names children in several namespaces (${all.map((c) => c.netns || '<parent netns>').join(', ')}): say which with -n <netns>`);
    return all[0]!;
  }

  private parentLinkOrThrow(name: string): LinkInfo {
    const l = this.links.get(name);
    if (!l) throw new ConfigError('ENODEV', `Cannot find device "${name}": the parent must be an existing interface in this network namespace`);
    return l;
  }

  // --- add -----------------------------------------------------------------------------------------
  add(req: AddChildRequest): ChildRecord {
    const mode = modeOrThrow(req.mode ?? 'vepa'); // the kernel's default (l.1511)
    if (!validIfname(req.name)) throw new ConfigError('EINVAL', `"${req.name}" is not a valid interface name (1 to 15 characters, no spaces, '/' or ':')`);
    if (req.address !== undefined && !isMacSyntax(req.address))
      throw new ConfigError('EINVAL', `"${req.address}" is not a MAC address: give six hex pairs like 02:00:00:00:00:01`);
    let address = req.address !== undefined ? parseMac(req.address) : undefined;
    if (address && (isMulticastMac(address) || isZeroMac(address)))
      throw new ConfigError('EADDRNOTAVAIL', `Cannot assign requested address ${address}: a child needs a unicast, non-zero MAC (clear the group bit, 01 in the first octet)`);
    if (req.netns !== undefined && !netnsExists(req.netns))
      throw new ConfigError('ENOENT', `network namespace "${req.netns}" does not exist: create it first (ip netns add ${req.netns})`);

    const parent = this.parentLinkOrThrow(req.parent);
    this.checkParentUsable(parent, !this.dp.getPort(parent.ifindex)?.nchildren);
    if (req.mtu !== undefined) this.checkMtu(req.mtu, parent);
    const netns = req.netns ?? '';

    // Running it twice converges: an identical child is success, a different one is EEXIST.
    const existing = this.dp.listChildren().find((c) => c.name === req.name && c.netns === netns);
    if (existing) {
      const same = existing.parentIfindex === parent.ifindex && existing.mode === mode &&
        (address === undefined || existing.mac === address || mode === 'passthru') &&
        (req.mtu === undefined || existing.mtu === req.mtu);
      if (same) return existing;
      throw new ConfigError('EEXIST', `File exists: child "${req.name}"${netns ? ` in netns "${netns}"` : ''} already exists with other settings (parent ${this.ifname(existing.parentIfindex)}, mode ${existing.mode}); delete it first or use 'link set'`);
    }
    if (this.links.get(req.name, req.netns))
      throw new ConfigError('EEXIST', `File exists: an interface named "${req.name}" already exists in ${netns ? `netns "${netns}"` : 'this netns'}; choose another name`);

    const port = this.dp.getPort(parent.ifindex);
    const siblings = this.dp.listChildren().filter((c) => c.parentIfindex === parent.ifindex);
    if (port && port.flags & PORT_PASSTHRU && siblings.length > 0)
      throw new ConfigError('EINVAL', `Invalid argument: ${parent.ifname} has a passthru child (${siblings[0]!.name}); a passthru port takes exactly one child`);
    if (mode === 'passthru' && siblings.length > 0)
      throw new ConfigError('EINVAL', `Invalid argument: passthru needs a parent without children, and ${parent.ifname} has ${siblings.length} (${siblings.map((c) => c.name).join(', ')})`);
    if (mode === 'passthru') address = parent.address as Mac; // eth_hw_addr_inherit: the request is ignored

    const host = hostEndName(this.dp.pinRoot, netns, req.name);
    const leftover = this.links.get(host);
    if (leftover) ip(['link', 'del', host]); // a crash halfway left it; its registry entry never existed

    const undo: (() => void)[] = [];
    try {
      this.ensurePortAttached(parent, undo);
      const peer = ['name', req.name];
      if (address) peer.push('address', address);
      peer.push('mtu', String(req.mtu ?? parent.mtu));
      if (req.netns) peer.push('netns', req.netns);
      const index = req.hostIfindex ? ['index', String(req.hostIfindex)] : [];
      ipOrConfigError(['link', 'add', host, ...index, 'mtu', String(parent.mtu), 'type', 'veth', 'peer', ...peer], undefined, `creating child ${req.name}`);
      undo.push(() => tryIp(['link', 'del', host]));
      // The host end is plumbing, not a host: no IPv6 link-local, no DAD, no router solicitations.
      setNetSysctl(`ipv6.conf.${host}.disable_ipv6`, '1');
      ip(['link', 'set', host, 'up']);
      const hostLink = this.links.get(host)!;
      const childLink = this.links.get(req.name, req.netns);
      if (!childLink) throw new ConfigError('EIO', `child ${req.name} vanished while it was being made`);
      const rec: ChildRecord = {
        parentIfindex: parent.ifindex,
        hostIfindex: hostLink.ifindex,
        mtu: childLink.mtu,
        mac: childLink.address as Mac,
        mode,
        flags: req.netns ? 0 : CHILD_SAME_NETNS,
        createdNs: process.hrtime.bigint(),
        name: req.name,
        netns,
      };
      this.dp.resetChildStats(rec.hostIfindex);
      undo.push(() => this.dp.deleteChildStats(rec.hostIfindex));
      this.dp.putChild(rec);
      undo.push(() => this.dp.deleteChild(rec.hostIfindex));
      this.dp.attach('child', rec.hostIfindex);
      const p = this.dp.getPort(parent.ifindex)!;
      p.nchildren += 1;
      if (mode === 'passthru') {
        p.flags |= PORT_PASSTHRU;
        p.passthruHost = rec.hostIfindex;
      }
      this.dp.putPort(parent.ifindex, p);
      return rec;
    } catch (e) {
      for (const u of undo.reverse()) {
        try { u(); } catch { /* best effort: the first error is the one to report */ }
      }
      throw e;
    }
  }

  /** The kernel's macvlan_port_create() checks, made once per port (when it gets its first child). */
  private checkParentUsable(parent: LinkInfo, newPort: boolean): void {
    if (parent.link_type !== 'ether' || parent.flags.includes('LOOPBACK'))
      throw new ConfigError('EINVAL', `Invalid argument: ${parent.ifname} is ${parent.flags.includes('LOOPBACK') ? 'a loopback device' : `not an Ethernet device (link/${parent.link_type})`}; a parent must be an Ethernet interface`);
    if (this.dp.getChild(parent.ifindex))
      throw new ConfigError('EINVAL', `Invalid argument: ${parent.ifname} is the host end of a macvlan-bpf child; give the real parent`);
    if (parent.master)
      throw new ConfigError('EBUSY', `Device or resource busy: ${parent.ifname} is enslaved to ${parent.master} (a bridge port or bond slave cannot also be a macvlan parent); release it first: ip link set ${parent.ifname} nomaster`);
    if (!newPort) return;
    const kernelChild = this.links.list().find((l) => l.link_index === parent.ifindex && l.link_netnsid === undefined && ['macvlan', 'macvtap', 'ipvlan', 'ipvtap'].includes(l.linkinfo?.info_kind ?? ''));
    if (kernelChild)
      throw new ConfigError('EBUSY', `Device or resource busy: ${parent.ifname} already carries kernel ${kernelChild.linkinfo?.info_kind} child ${kernelChild.ifname}; delete it, or use another parent`);
  }

  private checkMtu(mtu: number, parent: LinkInfo): void {
    if (!Number.isInteger(mtu) || mtu < MIN_MTU)
      throw new ConfigError('EINVAL', `mtu ${mtu} is less than device minimum ${MIN_MTU}`);
    if (mtu > parent.mtu)
      throw new ConfigError('EINVAL', `Invalid argument: mtu ${mtu} is above the parent ${parent.ifname}'s mtu ${parent.mtu}; a child's MTU must not exceed its parent's (raise the parent's first)`);
  }

  /** Makes the port (map entry, counters, program on the parent) if it is not there yet. */
  private ensurePortAttached(parent: LinkInfo, undo: (() => void)[]): void {
    let port = this.dp.getPort(parent.ifindex);
    const fresh = !port;
    if (!port) {
      port = { flags: 0, passthruHost: 0, mac: parent.address as Mac, promiscSet: false, clsactCreated: false, nchildren: 0, nflood: 0 };
      this.dp.ensureParentStats(parent.ifindex);
      this.dp.putPort(parent.ifindex, port);
      undo.push(() => {
        this.dp.deletePort(parent.ifindex);
        this.dp.deleteParentStats(parent.ifindex);
      });
    }
    if (!this.dp.attachedProgramId(parent.ifindex)) {
      const { qdiscCreated } = this.dp.attach('parent', parent.ifindex);
      port.clsactCreated = port.clsactCreated || qdiscCreated;
      this.dp.putPort(parent.ifindex, port);
      undo.push(() => {
        const p = this.dp.getPort(parent.ifindex);
        if (p && p.nchildren === 0) this.dp.detach(parent.ifindex, qdiscCreated);
      });
    } else if (fresh) {
      this.dp.putPort(parent.ifindex, port);
    }
  }

  // --- up / down -----------------------------------------------------------------------------------
  setUp(name: string, up: boolean, netns?: string): void {
    const c = this.findChild(name, netns);
    const parentName = this.ifname(c.parentIfindex);
    if (up) {
      this.checkMacFree(c, c.mac);
      ipOrConfigError(['link', 'set', 'dev', c.name, 'up'], c.netns || undefined, `bringing ${c.name} up`);
      this.insertUp(c, parentName);
    } else {
      this.removeUp(c, parentName); // out of the table first: nothing is redirected into a closing device
      ipOrConfigError(['link', 'set', 'dev', c.name, 'down'], c.netns || undefined, `bringing ${c.name} down`);
    }
  }

  /** The kernel's macvlan_addr_busy(): the parent's MAC (except passthru) or an UP sibling's MAC. */
  private checkMacFree(c: ChildRecord, mac: Mac): void {
    if (c.mode !== 'passthru') {
      const parent = this.links.get(this.ifname(c.parentIfindex));
      if (parent && parent.address === mac)
        throw new ConfigError('EADDRINUSE', `Address already in use: ${mac} is the parent ${parent.ifname}'s own MAC; give ${c.name} another address (link set ${c.name} address <mac>)`);
    }
    const owner = this.dp.getMac(c.parentIfindex, mac);
    if (owner && owner.hostIfindex !== c.hostIfindex) {
      const other = this.dp.getChild(owner.hostIfindex);
      throw new ConfigError('EADDRINUSE', `Address already in use: ${mac} belongs to UP child ${other?.name ?? owner.hostIfindex} of the same parent; bring that one down or choose another MAC`);
    }
  }

  private insertUp(c: ChildRecord, parentName: string): void {
    this.dp.putMac(c.parentIfindex, c.mac, { hostIfindex: c.hostIfindex, mode: c.mode, flags: (c.flags | CHILD_UP) & 0xff });
    c.flags |= CHILD_UP;
    this.dp.putChild(c);
    this.floodAdd(c);
    const port = this.dp.getPort(c.parentIfindex);
    if (c.mode === 'passthru') {
      // passthru: the parent goes promiscuous (dev_set_promiscuity +1); we only undo what we did.
      const parent = this.links.get(parentName);
      if (port && parent && !parent.flags.includes('PROMISC')) {
        ip(['link', 'set', parentName, 'promisc', 'on']);
        port.promiscSet = true;
        this.dp.putPort(c.parentIfindex, port);
      }
    } else {
      this.fdb('add', c.mac, c.parentIfindex);
    }
  }

  private removeUp(c: ChildRecord, parentName: string): void {
    const owner = this.dp.getMac(c.parentIfindex, c.mac);
    if (owner && owner.hostIfindex === c.hostIfindex) this.dp.deleteMac(c.parentIfindex, c.mac);
    const wasUp = (c.flags & CHILD_UP) !== 0;
    c.flags &= ~CHILD_UP;
    this.dp.putChild(c);
    this.floodRemove(c);
    if (!wasUp) return;
    const port = this.dp.getPort(c.parentIfindex);
    if (c.mode === 'passthru') {
      if (port?.promiscSet) {
        tryIp(['link', 'set', parentName, 'promisc', 'off']);
        port.promiscSet = false;
        this.dp.putPort(c.parentIfindex, port);
      }
    } else if (parentName) {
      this.fdb('del', c.mac, c.parentIfindex);
    }
  }

  // --- set -----------------------------------------------------------------------------------------
  setMode(name: string, modeName: string, netns?: string): void {
    const c = this.findChild(name, netns);
    const mode = modeOrThrow(modeName);
    if (mode === c.mode) return;
    if (mode === 'passthru' || c.mode === 'passthru')
      throw new ConfigError('EINVAL', `Invalid argument: the mode cannot change to or from passthru (${c.name} is ${c.mode}); delete and re-create the child instead`);
    c.mode = mode;
    this.dp.putChild(c);
    if (c.flags & CHILD_UP) {
      this.dp.putMac(c.parentIfindex, c.mac, { hostIfindex: c.hostIfindex, mode, flags: c.flags });
      const port = this.dp.getPort(c.parentIfindex);
      const at = port ? this.floodPos(c.parentIfindex, c.hostIfindex, port.nflood) : -1;
      if (at >= 0) this.dp.putFlood(c.parentIfindex, at, { hostIfindex: c.hostIfindex, mode });
    }
  }

  // --- the flood list: a dense array of UP children per parent -------------------------------------
  /**
   * Where a child sits in its parent's flood list, or -1. Positions are cached (a long-lived instance,
   * the agent, would otherwise scan the list on every up/down) and checked against the map before use.
   */
  private floodPos(parentIfindex: number, hostIfindex: number, nflood: number): number {
    const known = this.floodIndex.get(parentIfindex);
    const cached = known?.get(hostIfindex);
    if (known && cached === undefined && known.size === nflood) return -1; // this instance keeps it current
    if (cached !== undefined && cached < nflood && this.dp.getFlood(parentIfindex, cached)?.hostIfindex === hostIfindex) return cached;
    const index = new Map<number, number>();
    for (const [i, e] of this.dp.floodEntries(parentIfindex)) if (i < nflood) index.set(e.hostIfindex, i);
    this.floodIndex.set(parentIfindex, index);
    return index.get(hostIfindex) ?? -1;
  }

  /** Appends the child: entry first, then the count, so the datapath never reads a missing entry. */
  private floodAdd(c: ChildRecord): void {
    const port = this.dp.getPort(c.parentIfindex);
    if (!port) return;
    if (this.floodPos(c.parentIfindex, c.hostIfindex, port.nflood) >= 0) return;
    this.dp.putFlood(c.parentIfindex, port.nflood, { hostIfindex: c.hostIfindex, mode: c.mode });
    this.dp.putPort(c.parentIfindex, { ...port, nflood: port.nflood + 1 });
    this.floodIndex.get(c.parentIfindex)?.set(c.hostIfindex, port.nflood);
  }

  /** Removes the child by moving the last entry into its place: the count shrinks first, so a frame in
   * flight may miss the moved child once but never gets a second copy. */
  private floodRemove(c: ChildRecord): void {
    const port = this.dp.getPort(c.parentIfindex);
    if (!port) return;
    const at = this.floodPos(c.parentIfindex, c.hostIfindex, port.nflood);
    if (at < 0) return;
    const last = port.nflood - 1;
    const moved = this.dp.getFlood(c.parentIfindex, last);
    this.dp.putPort(c.parentIfindex, { ...port, nflood: last });
    if (at !== last && moved) this.dp.putFlood(c.parentIfindex, at, moved);
    this.dp.deleteFlood(c.parentIfindex, last);
    const index = this.floodIndex.get(c.parentIfindex);
    index?.delete(c.hostIfindex);
    if (at !== last && moved) index?.set(moved.hostIfindex, at);
  }

  /** Rewrites a parent's flood list from the registry when it disagrees (reconcile). */
  private floodRebuild(parentIfindex: number): void {
    this.floodIndex.delete(parentIfindex);
    const port = this.dp.getPort(parentIfindex);
    if (!port) return;
    const up = this.dp.listChildren().filter((c) => c.parentIfindex === parentIfindex && c.flags & CHILD_UP);
    const have = this.dp.floodEntries(parentIfindex);
    const want = up.map((c) => c.hostIfindex);
    const current = [...Array(port.nflood).keys()].map((i) => have.get(i)?.hostIfindex ?? -1);
    const strays = [...have.keys()].filter((i) => i >= port.nflood);
    if (strays.length === 0 && current.length === want.length && [...current].sort().join() === [...want].sort().join()) return;
    this.dp.putPort(parentIfindex, { ...port, nflood: 0 });
    up.forEach((c, i) => this.dp.putFlood(parentIfindex, i, { hostIfindex: c.hostIfindex, mode: c.mode }));
    for (const i of have.keys()) if (i >= up.length) this.dp.deleteFlood(parentIfindex, i);
    this.dp.putPort(parentIfindex, { ...port, nflood: up.length });
  }

  setAddress(name: string, addr: string, netns?: string): void {
    const c = this.findChild(name, netns);
    if (!isMacSyntax(addr)) throw new ConfigError('EINVAL', `"${addr}" is not a MAC address: give six hex pairs like 02:00:00:00:00:01`);
    const mac = parseMac(addr);
    if (isMulticastMac(mac) || isZeroMac(mac))
      throw new ConfigError('EADDRNOTAVAIL', `Cannot assign requested address ${mac}: a child needs a unicast, non-zero MAC`);
    if (mac === c.mac) return;
    const parentName = this.ifname(c.parentIfindex);
    if (c.mode === 'passthru') {
      // The passthru child's MAC is the parent's: setting one sets both (l.772-775).
      ipOrConfigError(['link', 'set', 'dev', parentName, 'address', mac], undefined, `setting ${parentName}'s address`);
      ipOrConfigError(['link', 'set', 'dev', c.name, 'address', mac], c.netns || undefined, `setting ${c.name}'s address`);
      this.rekey(c, mac, false);
      const port = this.dp.getPort(c.parentIfindex);
      if (port) this.dp.putPort(c.parentIfindex, { ...port, mac });
      return;
    }
    this.checkMacFree(c, mac);
    ipOrConfigError(['link', 'set', 'dev', c.name, 'address', mac], c.netns || undefined, `setting ${c.name}'s address`);
    this.rekey(c, mac, true);
  }

  private rekey(c: ChildRecord, mac: Mac, filter: boolean): void {
    const old = c.mac;
    if (c.flags & CHILD_UP) {
      this.dp.putMac(c.parentIfindex, mac, { hostIfindex: c.hostIfindex, mode: c.mode, flags: c.flags });
      if (filter) this.fdb('add', mac, c.parentIfindex);
      const owner = this.dp.getMac(c.parentIfindex, old);
      if (owner && owner.hostIfindex === c.hostIfindex) this.dp.deleteMac(c.parentIfindex, old);
      if (filter) this.fdb('del', old, c.parentIfindex);
    }
    c.mac = mac;
    this.dp.putChild(c);
  }

  setMtu(name: string, mtu: number, netns?: string): void {
    const c = this.findChild(name, netns);
    const parent = this.parentLinkOrThrow(this.ifname(c.parentIfindex));
    this.checkMtu(mtu, parent);
    ipOrConfigError(['link', 'set', 'dev', c.name, 'mtu', String(mtu)], c.netns || undefined, `setting ${c.name}'s mtu`);
    c.mtu = mtu;
    this.dp.putChild(c);
  }

  setIsolation(parentName: string, isolation: Isolation): void {
    if (isolation !== 'strict' && isolation !== 'kernel')
      throw new ConfigError('EINVAL', `unknown isolation "${isolation}": use strict or kernel`);
    const parent = this.parentLinkOrThrow(parentName);
    if (parent.link_type !== 'ether' || parent.flags.includes('LOOPBACK'))
      throw new ConfigError('EINVAL', `Invalid argument: ${parent.ifname} is not an Ethernet device and cannot be a parent`);
    const port: PortRecord = this.dp.getPort(parent.ifindex) ??
      { flags: 0, passthruHost: 0, mac: parent.address as Mac, promiscSet: false, clsactCreated: false, nchildren: 0, nflood: 0 };
    port.flags = isolation === 'kernel' ? port.flags | PORT_ISOLATION_KERNEL : port.flags & ~PORT_ISOLATION_KERNEL;
    this.dp.ensureParentStats(parent.ifindex);
    this.dp.putPort(parent.ifindex, port);
  }

  // --- delete --------------------------------------------------------------------------------------
  del(name: string, netns?: string): void {
    this.purge(this.findChild(name, netns), true);
  }

  /** Removes a child: table, filter, its links (when asked and still there), registry, counters, and the
   * port when it was the last child. */
  private purge(c: ChildRecord, deleteLinks: boolean): void {
    const parentName = this.ifname(c.parentIfindex);
    this.removeUp(c, parentName);
    if (deleteLinks) {
      const host = this.ifname(c.hostIfindex);
      if (host) tryIp(['link', 'del', host]);
      else tryIp(['link', 'del', c.name], c.netns || undefined);
    }
    this.dp.deleteChild(c.hostIfindex);
    this.dp.deleteChildStats(c.hostIfindex);
    const port = this.dp.getPort(c.parentIfindex);
    if (port) {
      port.nchildren = Math.max(0, port.nchildren - 1);
      if (port.passthruHost === c.hostIfindex) {
        port.flags &= ~PORT_PASSTHRU;
        port.passthruHost = 0;
      }
      this.dp.putPort(c.parentIfindex, port);
      if (port.nchildren === 0) this.releasePort(c.parentIfindex, port, parentName !== '');
    }
  }

  /** The last child is gone: take the program off the parent (the kernel destroys its port). A port
   * with non-default configuration keeps its entry so the configuration is not lost. */
  private releasePort(parentIfindex: number, port: PortRecord, parentExists: boolean): void {
    if (parentExists) {
      this.dp.detach(parentIfindex, port.clsactCreated);
      if (port.promiscSet) tryIp(['link', 'set', this.ifname(parentIfindex), 'promisc', 'off']);
    }
    for (const i of this.dp.floodEntries(parentIfindex).keys()) this.dp.deleteFlood(parentIfindex, i);
    this.floodIndex.delete(parentIfindex);
    if (port.flags & PORT_ISOLATION_KERNEL && parentExists) {
      this.dp.putPort(parentIfindex, { ...port, clsactCreated: false, promiscSet: false, nchildren: 0, nflood: 0, flags: port.flags & PORT_ISOLATION_KERNEL, passthruHost: 0 });
    } else {
      this.dp.deletePort(parentIfindex);
      this.dp.deleteParentStats(parentIfindex);
    }
  }

  // --- show ----------------------------------------------------------------------------------------
  show(name?: string, netns?: string): ChildView[] {
    const children = name ? [this.findChild(name, netns)] : this.dp.listChildren();
    const byNs = new Map<string, Map<string, LinkInfo>>();
    const linksIn = (ns: string) => {
      let m = byNs.get(ns);
      if (!m) {
        m = new Map(this.links.list(ns || undefined).map((l) => [l.ifname, l]));
        byNs.set(ns, m);
      }
      return m;
    };
    const here = new Map(this.links.list().map((l) => [l.ifindex, l]));
    return children.map((c) => {
      const l = linksIn(c.netns).get(c.name);
      return {
        name: c.name,
        netns: c.netns,
        parent: here.get(c.parentIfindex)?.ifname ?? `if${c.parentIfindex}`,
        parentIfindex: c.parentIfindex,
        hostEnd: here.get(c.hostIfindex)?.ifname ?? '',
        hostIfindex: c.hostIfindex,
        ifindex: l?.ifindex ?? 0,
        mode: c.mode,
        address: c.mac,
        mtu: l?.mtu ?? c.mtu,
        up: (c.flags & CHILD_UP) !== 0,
        operstate: l?.operstate ?? 'UNKNOWN',
      };
    });
  }

  isolation(parentName: string): Isolation {
    const l = this.parentLinkOrThrow(parentName);
    const p = this.dp.getPort(l.ifindex);
    return p && p.flags & PORT_ISOLATION_KERNEL ? 'kernel' : 'strict';
  }

  // --- reconcile -----------------------------------------------------------------------------------
  /**
   * Makes the maps tell the kernel's truth: children whose links or parent vanished are purged (a
   * deleted parent takes its children with it), UP/DOWN and MAC changes made with plain `ip` are
   * applied, ports without children are released. Idempotent; the agent runs it on every event burst.
   */
  reconcile(): ReconcileReport {
    const report = emptyReport();
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
    for (const c of this.dp.listChildren()) {
      const parent = here.get(c.parentIfindex);
      const host = here.get(c.hostIfindex);
      const child = linksIn(c.netns)?.get(c.name);
      if (!parent || !host || !child) {
        // Parent deleted: delete the child too (the kernel's NETDEV_UNREGISTER). Child or netns
        // deleted: the veth pair died with it; clear its state.
        this.purge(c, !!host);
        report.purged.push(c.name);
        continue;
      }
      this.followParentCarrier(c, parent, host);
      this.syncChild(c, child, report);
    }
    const counts = new Map<number, number>();
    for (const c of this.dp.listChildren()) counts.set(c.parentIfindex, (counts.get(c.parentIfindex) ?? 0) + 1);
    for (const { parentIfindex, port } of this.dp.listPorts()) {
      const n = counts.get(parentIfindex) ?? 0;
      const exists = here.has(parentIfindex);
      if (!exists || (n === 0 && (port.nchildren !== 0 || this.dp.attachedProgramId(parentIfindex)))) {
        if (!exists) {
          this.dp.deletePort(parentIfindex);
          this.dp.deleteParentStats(parentIfindex);
        } else this.releasePort(parentIfindex, { ...port, nchildren: 0 }, true);
        report.portsReleased.push(parentIfindex);
      } else {
        if (port.nchildren !== n) this.dp.putPort(parentIfindex, { ...port, nchildren: n });
        this.floodRebuild(parentIfindex);
      }
    }
    return report;
  }

  /**
   * Applies what the kernel says about one child's link (its state after an event, or a dump): name,
   * netns, MTU, MAC and UP/DOWN. The map changes first; the filter and promiscuity follow.
   */
  syncChild(c: ChildRecord, child: LinkInfo, report: ReconcileReport = emptyReport(), netns = c.netns): ReconcileReport {
    let changed = false;
    if (child.ifname && child.ifname !== c.name) {
      c.name = child.ifname; // renamed with ip link set ... name: follow it
      changed = true;
    }
    if (netns !== c.netns) {
      c.netns = netns;
      c.flags = netns ? c.flags & ~CHILD_SAME_NETNS : c.flags | CHILD_SAME_NETNS;
      changed = true;
    }
    if (child.mtu && child.mtu !== c.mtu) {
      c.mtu = child.mtu;
      changed = true;
    }
    if (changed) this.dp.putChild(c);
    if (child.address && child.address !== c.mac) {
      if (c.mode === 'passthru' || !this.macTakenByOther(c, child.address as Mac)) {
        this.rekey(c, child.address as Mac, c.mode !== 'passthru');
        report.readdressed.push(c.name);
      } else {
        report.conflicts.push(`${c.name}: address ${child.address} is in use by a sibling`);
      }
    }
    const kernelUp = isUp(child);
    const mapUp = (c.flags & CHILD_UP) !== 0 && !!this.dp.getMac(c.parentIfindex, c.mac);
    if (kernelUp && !mapUp) {
      if (this.macTakenByOther(c, c.mac)) report.conflicts.push(`${c.name}: up, but ${c.mac} is in use by a sibling`);
      else {
        this.insertUp(c, this.ifname(c.parentIfindex));
        report.stateSynced.push(c.name);
      }
    } else if (!kernelUp && (c.flags & CHILD_UP) !== 0) {
      this.removeUp(c, this.ifname(c.parentIfindex));
      report.stateSynced.push(c.name);
    }
    return report;
  }

  /** A child's host end is gone (its veth pair or its netns was deleted): clear its state. */
  hostEndGone(hostIfindex: number): string | null {
    const c = this.dp.getChild(hostIfindex);
    if (!c) return null;
    this.purge(c, false);
    return c.name;
  }

  /** The parent was deleted: its children go with it, as the kernel's do (NETDEV_UNREGISTER). */
  parentGone(parentIfindex: number): string[] {
    const gone = this.childrenOf(parentIfindex);
    for (const c of gone) this.purge(c, true);
    if (this.dp.getPort(parentIfindex)) {
      this.dp.deletePort(parentIfindex);
      this.dp.deleteParentStats(parentIfindex);
    }
    for (const i of this.dp.floodEntries(parentIfindex).keys()) this.dp.deleteFlood(parentIfindex, i);
    this.floodIndex.delete(parentIfindex);
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
    for (const c of this.childrenOf(parent.ifindex)) {
      const host = this.links.get(c.hostIfindex);
      if (!host) continue;
      this.followParentCarrier(c, parent, host);
      if (host.mtu !== parent.mtu) whileExists(() => this.links.rtnl.setMtu(host.ifindex, parent.mtu));
      const inChild = (fn: (r: Rtnl, ifindex: number) => void) => {
        const run = (r: Rtnl) => {
          const l = r.link(c.name);
          if (l) fn(r, l.ifindex);
        };
        whileExists(() => (c.netns ? Rtnl.once(netnsPath(c.netns), run) : run(this.links.rtnl)));
      };
      if (c.mtu > parent.mtu) inChild((r, i) => r.setMtu(i, parent.mtu));
      if (c.mode === 'passthru' && parent.address && c.mac !== parent.address) inChild((r, i) => r.setAddress(i, parent.address));
    }
  }

  /** A host end changed (someone set it down, or its carrier moved): it stays as its parent says. */
  hostEndChanged(c: ChildRecord, host: LinkInfo): void {
    const parent = this.links.get(c.parentIfindex);
    if (parent) this.followParentCarrier(c, parent, host);
  }

  /** A child's host end is up exactly when its parent has carrier: children see the parent's carrier. */
  private followParentCarrier(c: ChildRecord, parent: LinkInfo, host: LinkInfo): void {
    const carrier = isUp(parent) && parent.flags.includes('LOWER_UP');
    if (isUp(host) !== carrier) whileExists(() => this.links.rtnl.setUp(host.ifindex, carrier));
  }

  hasLink(name: string): boolean {
    return this.links.get(name) !== null;
  }

  childrenOf(parentIfindex: number): ChildRecord[] {
    return this.dp.listChildren().filter((c) => c.parentIfindex === parentIfindex);
  }

  private macTakenByOther(c: ChildRecord, mac: Mac): boolean {
    const owner = this.dp.getMac(c.parentIfindex, mac);
    return !!owner && owner.hostIfindex !== c.hostIfindex;
  }

  /** The parent's unicast filter: dev_uc_add/del through the default fdb handler (a device without
   * IFF_UNICAST_FLT, like veth, turns promiscuous, exactly as it does for kernel macvlan). */
  private fdb(op: 'add' | 'del', mac: Mac, parentIfindex: number): void {
    if (!this.ifname(parentIfindex)) return;
    try {
      this.links.rtnl.fdb(op, parentIfindex, mac);
    } catch (e) {
      if (op === 'del') return; // already gone with its device
      throw new ConfigError('EIO', `adding ${mac} to ${this.ifname(parentIfindex)}'s unicast filter failed: ${(e as Error).message}`);
    }
  }

  /** The name of an interface in the parents' netns, or '' when it is gone. */
  ifname(ifindex: number): string {
    return addon().ifIndexToName(ifindex);
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

function tryIp(args: string[], netns?: string): void {
  try {
    ip(args, netns);
  } catch (e) {
    if (!(e instanceof IpCommandError)) throw e;
  }
}
