// rtnetlink in TypeScript: the messages we send and the link messages we read, over the addon's raw
// NetlinkSocket. Used for everything per-link and per-event (dumps, link state, the parent's unicast
// filter, nsids), so that the agent's hot path never spawns a process.
import fs from 'node:fs';
import { addon, type NetlinkSocket } from '../native.js';
import { macFromBytes, macToBytes } from '../mac.js';

// <linux/netlink.h>, <linux/rtnetlink.h>, <linux/if_link.h>, <linux/neighbour.h>, <linux/net_namespace.h>
export const NLMSG_HDRLEN = 16;
export const NLM_F_REQUEST = 0x1, NLM_F_ACK = 0x4, NLM_F_DUMP = 0x300, NLM_F_EXCL = 0x200, NLM_F_CREATE = 0x400;
const NLA_F_NESTED = 0x8000;
export const RTM_NEWLINK = 16, RTM_DELLINK = 17, RTM_GETLINK = 18;
const RTM_NEWNEIGH = 28, RTM_DELNEIGH = 29, RTM_NEWNSID = 88, RTM_GETNSID = 90;
// <linux/rtnetlink.h>, <linux/pkt_sched.h>: a root qdisc (tcmsg, TCA_KIND), replaced in place.
const RTM_NEWQDISC = 36, TCA_KIND = 1, TC_H_ROOT = 0xffffffff, NLM_F_REPLACE = 0x100;
export const RTNLGRP_LINK = 1;
const IFLA_ADDRESS = 1, IFLA_IFNAME = 3, IFLA_MTU = 4, IFLA_LINK = 5, IFLA_MASTER = 10, IFLA_OPERSTATE = 16;
const IFLA_TUN_OWNER = 1, IFLA_TUN_GROUP = 2;
const IFLA_LINKINFO = 18, IFLA_INFO_KIND = 1, IFLA_INFO_DATA = 2, IFLA_PROMISCUITY = 30, IFLA_LINK_NETNSID = 37, IFLA_EXT_MASK = 29;
const IFLA_NET_NS_FD = 28, VETH_INFO_PEER = 1, IFLA_IFALIAS = 20;
// <linux/if_link.h> netkit (6.7): the peer's ifinfomsg and attributes, its mode and default policies.
const IFLA_NETKIT_PEER_INFO = 1, IFLA_NETKIT_POLICY = 3, IFLA_NETKIT_PEER_POLICY = 4, IFLA_NETKIT_MODE = 5;
const NETKIT_L2 = 0; // enum netkit_mode { NETKIT_L2, NETKIT_L3 }; the kernel's default is L3
export const NETKIT_PASS = 0, NETKIT_DROP = 2;
const RTEXT_FILTER_SKIP_STATS = 1 << 3;
const NDA_LLADDR = 2, NTF_SELF = 0x02, NUD_PERMANENT = 0x80, AF_BRIDGE = 7;
const NETNSA_NSID = 1, NETNSA_FD = 3;
export const IFF_UP = 0x1, IFF_LOOPBACK = 0x8, IFF_PROMISC = 0x100, IFF_ALLMULTI = 0x200, IFF_LOWER_UP = 0x10000;
const ARPHRD_ETHER = 1, ARPHRD_LOOPBACK = 772;

const FLAG_NAMES: [number, string][] = [
  [0x1, 'UP'], [0x2, 'BROADCAST'], [0x8, 'LOOPBACK'], [0x10, 'POINTOPOINT'], [0x40, 'RUNNING'], [0x80, 'NOARP'],
  [0x100, 'PROMISC'], [0x200, 'ALLMULTI'], [0x1000, 'MULTICAST'], [0x10000, 'LOWER_UP'], [0x20000, 'DORMANT'],
];
const OPERSTATES = ['UNKNOWN', 'NOTPRESENT', 'DOWN', 'LOWERLAYERDOWN', 'TESTING', 'DORMANT', 'UP'];

/** A link as RTM_NEWLINK describes it; the field names follow `ip -j -d link show`. */
export interface Link {
  ifindex: number;
  ifname: string;
  address: string;
  mtu: number;
  flags: string[];
  ifflags: number;
  operstate: string;
  link_type: string;
  link_index?: number;
  link_netnsid?: number;
  master?: string;
  master_index?: number;
  promiscuity?: number;
  /** The interface's alias (ip link set … alias), when it has one. */
  ifalias?: string;
  linkinfo?: { info_kind?: string };
  /** A tun/tap device's owner and group (TUNSETOWNER, TUNSETGROUP), when set. */
  tun?: { owner?: number; group?: number };
}

export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  payload: Buffer;
}

let seq = Math.floor(Math.random() * 0x7fffffff);

/** Splits a datagram into its messages. */
export function splitMessages(buf: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) break;
    out.push({ type: buf.readUInt16LE(off + 4), flags: buf.readUInt16LE(off + 6), seq: buf.readUInt32LE(off + 8), payload: buf.subarray(off + NLMSG_HDRLEN, off + len) });
    off += align4(len);
  }
  return out;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

export function attr(type: number, data: Buffer): Buffer {
  const b = Buffer.alloc(align4(4 + data.length));
  b.writeUInt16LE(4 + data.length, 0);
  b.writeUInt16LE(type, 2);
  data.copy(b, 4);
  return b;
}
export function u32Attr(type: number, v: number): Buffer {
  const d = Buffer.alloc(4);
  d.writeUInt32LE(v >>> 0);
  return attr(type, d);
}
function s32Attr(type: number, v: number): Buffer {
  const d = Buffer.alloc(4);
  d.writeInt32LE(v);
  return attr(type, d);
}
function strAttr(type: number, s: string): Buffer {
  return attr(type, Buffer.from(s + '\0'));
}
function nested(type: number, parts: Buffer[]): Buffer {
  return attr(type | NLA_F_NESTED, Buffer.concat(parts));
}

export function message(type: number, flags: number, header: Buffer, attrs: Buffer[] = []): Buffer {
  const body = Buffer.concat([header, ...attrs]);
  const h = Buffer.alloc(NLMSG_HDRLEN);
  seq = (seq + 1) >>> 0;
  h.writeUInt32LE(NLMSG_HDRLEN + body.length, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(flags, 6);
  h.writeUInt32LE(seq, 8);
  return Buffer.concat([h, body]);
}

function ifinfomsg(ifindex = 0, flags = 0, change = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32LE(ifindex, 4);
  b.writeUInt32LE(flags >>> 0, 8);
  b.writeUInt32LE(change >>> 0, 12);
  return b;
}

export function parseAttrs(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > buf.length) break;
    out.set(buf.readUInt16LE(off + 2) & 0x3fff, buf.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}
function cstr(b: Buffer): string {
  const z = b.indexOf(0);
  return b.subarray(0, z < 0 ? b.length : z).toString();
}

/** Decodes an RTM_NEWLINK/RTM_DELLINK payload. */
export function parseLink(payload: Buffer): Link {
  const type = payload.readUInt16LE(2);
  const ifflags = payload.readUInt32LE(8);
  const a = parseAttrs(payload.subarray(16));
  const l: Link = {
    ifindex: payload.readInt32LE(4),
    ifname: a.has(IFLA_IFNAME) ? cstr(a.get(IFLA_IFNAME)!) : '',
    address: a.has(IFLA_ADDRESS) ? macFromBytes(a.get(IFLA_ADDRESS)!) : '',
    mtu: a.get(IFLA_MTU)?.readUInt32LE(0) ?? 0,
    flags: FLAG_NAMES.filter(([bit]) => ifflags & bit).map(([, n]) => n),
    ifflags,
    operstate: OPERSTATES[a.get(IFLA_OPERSTATE)?.readUInt8(0) ?? 0] ?? 'UNKNOWN',
    link_type: type === ARPHRD_ETHER ? 'ether' : type === ARPHRD_LOOPBACK ? 'loopback' : `arphrd-${type}`,
  };
  const link = a.get(IFLA_LINK);
  if (link) l.link_index = link.readInt32LE(0);
  const nsid = a.get(IFLA_LINK_NETNSID);
  if (nsid) l.link_netnsid = nsid.readInt32LE(0);
  const master = a.get(IFLA_MASTER);
  if (master) l.master_index = master.readUInt32LE(0);
  const promisc = a.get(IFLA_PROMISCUITY);
  if (promisc) l.promiscuity = promisc.readUInt32LE(0);
  const alias = a.get(IFLA_IFALIAS);
  if (alias && alias.length > 1) l.ifalias = cstr(alias);
  const li = a.get(IFLA_LINKINFO);
  if (li) {
    const kind = parseAttrs(li).get(IFLA_INFO_KIND);
    l.linkinfo = kind ? { info_kind: cstr(kind) } : {};
    const data = parseAttrs(li).get(IFLA_INFO_DATA);
    if (kind && cstr(kind) === 'tun' && data) {
      const t = parseAttrs(data);
      const owner = t.get(IFLA_TUN_OWNER), group = t.get(IFLA_TUN_GROUP);
      l.tun = { ...(owner ? { owner: owner.readUInt32LE(0) } : {}), ...(group ? { group: group.readUInt32LE(0) } : {}) };
    }
  }
  return l;
}

/** A veth pair: the end made here (name, optional ifindex, MTU) and its peer, possibly in another netns. */
export interface VethSpec {
  name: string;
  index?: number;
  mtu: number;
  /** up: the peer is UP from its creation (veth only; carrier comes when this end comes up). */
  peer: { name: string; address?: string; mtu: number; netnsPath?: string; up?: boolean };
}

/** A netkit pair in L2 mode: the primary stays here, the peer goes to its netns. */
export interface NetkitSpec extends VethSpec {
  /** What the peer's transmit does while no program is attached (NETKIT_PASS or NETKIT_DROP). */
  peerPolicy: number;
}

/** The ifinfomsg and attributes naming a device by index, or by name (ifindex 0 + IFLA_IFNAME). */
function byDev(dev: number | string, flags = 0, change = 0): [Buffer, Buffer[]] {
  return typeof dev === 'number' ? [ifinfomsg(dev, flags, change), []] : [ifinfomsg(0, flags, change), [strAttr(IFLA_IFNAME, dev)]];
}

/**
 * A request socket, made inside one network namespace and staying there. It holds a reference on that
 * netns: close it when done, or an `ip netns del` would not destroy the namespace (and its links).
 */
export class Rtnl {
  private constructor(private readonly sock: NetlinkSocket, private readonly netnsPath: string) {}

  /** A socket in the netns at netnsPath (a path like /run/netns/X), or in the caller's with ''. */
  static open(netnsPath = ''): Rtnl {
    return new Rtnl(new (addon().NetlinkSocket)({ netns: netnsPath || undefined }), netnsPath);
  }

  /** Runs fn with a socket in that netns, closed afterwards. */
  static once<T>(netnsPath: string, fn: (r: Rtnl) => T): T {
    const r = Rtnl.open(netnsPath);
    try {
      return fn(r);
    } finally {
      r.close();
    }
  }

  close(): void {
    this.sock.close();
  }

  /** One request (a message made with message()), and every message of the answer. */
  request(msg: Buffer): NetlinkMessage[] {
    return this.sock.request(msg).flatMap(splitMessages);
  }

  /** Every link of the netns; masters resolved to names, as `ip -j link show` prints them. */
  links(): Link[] {
    const msgs = this.request(message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, ifinfomsg(), [u32Attr(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)]));
    const links = msgs.filter((m) => m.type === RTM_NEWLINK).map((m) => parseLink(m.payload));
    const names = new Map(links.map((l) => [l.ifindex, l.ifname]));
    for (const l of links) if (l.master_index) l.master = names.get(l.master_index);
    return links;
  }

  /** One link by name or index, or null when there is none. */
  link(nameOrIndex: string | number): Link | null {
    const req = typeof nameOrIndex === 'number'
      ? message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, ifinfomsg(nameOrIndex), [u32Attr(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)])
      : message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, ifinfomsg(), [strAttr(IFLA_IFNAME, nameOrIndex), u32Attr(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)]);
    try {
      const m = this.request(req).find((x) => x.type === RTM_NEWLINK);
      if (!m) return null;
      const l = parseLink(m.payload);
      if (l.master_index) l.master = this.link(l.master_index)?.ifname;
      return l;
    } catch (e) {
      if ((e as { code?: string }).code === 'ENODEV') return null;
      throw e;
    }
  }

  /** ip link set dev IFINDEX up|down; a name instead of an index is looked up by the kernel. */
  setUp(dev: number | string, up: boolean): void {
    this.request(message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, ...byDev(dev, up ? IFF_UP : 0, IFF_UP)));
  }

  /** ip link set dev IFINDEX promisc on|off (the user-visible IFF_PROMISC: one reference, ours). */
  setPromisc(ifindex: number, on: boolean): void {
    this.request(message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, ifinfomsg(ifindex, on ? IFF_PROMISC : 0, IFF_PROMISC)));
  }

  /** ip link set dev IFINDEX allmulticast on|off (IFF_ALLMULTI, likewise). */
  setAllmulti(ifindex: number, on: boolean): void {
    this.request(message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, ifinfomsg(ifindex, on ? IFF_ALLMULTI : 0, IFF_ALLMULTI)));
  }

  /**
   * ip link add NAME [index N] mtu MTU type veth peer name PEER address MAC mtu MTU netns NETNS, in one
   * request: the peer is born in its netns with its name, so no other interface ever carries it. The
   * new host end's ifindex is returned.
   */
  createVeth(v: VethSpec): number {
    if (v.peer.up && !v.index) return this.createVethPeerUp(v);
    return this.createPair(v, 'veth', (peer) => [nested(VETH_INFO_PEER, peer)]);
  }

  /**
   * The same pair with the peer UP from the start. veth opens a peer it makes before the two are tied
   * (veth_open: ENOTCONN), so the request makes the peer as the main device, in its netns and UP, and
   * this end as its veth peer, here and down. Carrier comes when this end comes up.
   */
  private createVethPeerUp(v: VethSpec): number {
    const fds: number[] = [];
    try {
      const here = fs.openSync(this.netnsPath || '/proc/thread-self/ns/net', 'r');
      fds.push(here);
      const host = [ifinfomsg(), strAttr(IFLA_IFNAME, v.name), u32Attr(IFLA_MTU, v.mtu), u32Attr(IFLA_NET_NS_FD, here)];
      const child = [strAttr(IFLA_IFNAME, v.peer.name), u32Attr(IFLA_MTU, v.peer.mtu)];
      if (v.peer.address) child.push(attr(IFLA_ADDRESS, macToBytes(v.peer.address)));
      if (v.peer.netnsPath) {
        const there = fs.openSync(v.peer.netnsPath, 'r');
        fds.push(there);
        child.push(u32Attr(IFLA_NET_NS_FD, there));
      }
      const linkinfo = nested(IFLA_LINKINFO, [strAttr(IFLA_INFO_KIND, 'veth'), nested(IFLA_INFO_DATA, [nested(VETH_INFO_PEER, host)])]);
      this.request(message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, ifinfomsg(0, IFF_UP, IFF_UP), [...child, linkinfo]));
    } finally {
      for (const fd of fds) fs.closeSync(fd);
    }
    const made = addon().ifNameToIndex(v.name, this.netnsPath || undefined);
    if (!made) throw Object.assign(new Error(`veth ${v.name} vanished right after it was made`), { code: 'ENODEV', errno: -19, syscall: 'netlink' });
    return made;
  }

  /** A pair of devices of `kind` in one request; `data` wraps the peer's part in the kind's attributes. */
  private createPair(v: VethSpec, kind: string, data: (peer: Buffer[]) => Buffer[]): number {
    const peer = [ifinfomsg(), strAttr(IFLA_IFNAME, v.peer.name), u32Attr(IFLA_MTU, v.peer.mtu)];
    if (v.peer.address) peer.push(attr(IFLA_ADDRESS, macToBytes(v.peer.address)));
    let nsFd = -1;
    try {
      if (v.peer.netnsPath) {
        nsFd = fs.openSync(v.peer.netnsPath, 'r');
        peer.push(u32Attr(IFLA_NET_NS_FD, nsFd));
      }
      const linkinfo = nested(IFLA_LINKINFO, [strAttr(IFLA_INFO_KIND, kind), nested(IFLA_INFO_DATA, data(peer))]);
      this.request(message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, ifinfomsg(v.index ?? 0),
        [strAttr(IFLA_IFNAME, v.name), u32Attr(IFLA_MTU, v.mtu), linkinfo]));
    } finally {
      if (nsFd >= 0) fs.closeSync(nsFd);
    }
    // Its ifindex by name: an ioctl, where a link query would wait for the rtnl lock once more.
    const made = v.index || addon().ifNameToIndex(v.name, this.netnsPath || undefined);
    if (!made) throw Object.assign(new Error(`${kind} ${v.name} vanished right after it was made`), { code: 'ENODEV', errno: -19, syscall: 'netlink' });
    return made;
  }

  /**
   * The netkit pair (iproute2 6.1 has no `type netkit`): ip link add NAME [index N] mtu MTU type netkit
   * mode l2 forward peer blackhole name PEER address MAC mtu MTU netns NETNS, in one request. The new
   * primary's ifindex is returned. A kernel without netkit answers EOPNOTSUPP.
   */
  createNetkit(v: NetkitSpec): number {
    return this.createPair(v, 'netkit', (peer) => [
      u32Attr(IFLA_NETKIT_MODE, NETKIT_L2), u32Attr(IFLA_NETKIT_POLICY, NETKIT_PASS), u32Attr(IFLA_NETKIT_PEER_POLICY, v.peerPolicy),
      nested(IFLA_NETKIT_PEER_INFO, peer),
    ]);
  }

  /** ip link del dev IFINDEX|NAME (a veth takes its peer with it). */
  deleteLink(dev: number | string): void {
    this.request(message(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, ...byDev(dev)));
  }

  /** ip link set dev IFINDEX|NAME mtu MTU */
  setMtu(dev: number | string, mtu: number): void {
    const [h, a] = byDev(dev);
    this.request(message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, h, [...a, u32Attr(IFLA_MTU, mtu)]));
  }

  /** ip link set dev IFINDEX|NAME address MAC */
  setAddress(dev: number | string, mac: string): void {
    const [h, a] = byDev(dev);
    this.request(message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, h, [...a, attr(IFLA_ADDRESS, macToBytes(mac))]));
  }

  /**
   * bridge fdb add|del MAC dev IFINDEX self [permanent]: the device's own unicast filter (dev_uc_add).
   * Adding an address that is there already, or deleting one that is gone, is not an error.
   */
  fdb(op: 'add' | 'del', ifindex: number, mac: string): void {
    const ndm = Buffer.alloc(12);
    ndm.writeUInt8(AF_BRIDGE, 0);
    ndm.writeInt32LE(ifindex, 4);
    ndm.writeUInt16LE(NUD_PERMANENT, 8);
    ndm.writeUInt8(NTF_SELF, 10);
    const type = op === 'add' ? RTM_NEWNEIGH : RTM_DELNEIGH;
    const flags = NLM_F_REQUEST | NLM_F_ACK | (op === 'add' ? NLM_F_CREATE : 0);
    try {
      this.request(message(type, flags, ndm, [attr(NDA_LLADDR, macToBytes(mac))]));
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (op === 'del' && (code === 'ENOENT' || code === 'ENODEV')) return;
      throw e;
    }
  }

  /** ip link set dev DEV alias TEXT. */
  setAlias(dev: number | string, alias: string): void {
    const [h, a] = byDev(dev);
    this.request(message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, h, [...a, strAttr(IFLA_IFALIAS, alias)]));
  }

  /**
   * tc qdisc replace dev IFINDEX root KIND (a qdisc without options: noqueue, pfifo_fast, …).
   */
  setRootQdisc(ifindex: number, kind: string): void {
    const tcm = Buffer.alloc(20); // family, pad, ifindex, handle 0, parent, info
    tcm.writeInt32LE(ifindex, 4);
    tcm.writeUInt32LE(TC_H_ROOT, 12);
    this.request(message(RTM_NEWQDISC, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, tcm, [strAttr(TCA_KIND, kind)]));
  }

  /** The nsid the netns at nsPath has in this one, or -1 if it has none; assigns one when asked. */
  nsid(nsPath: string, assign = false): number {
    const fd = fs.openSync(nsPath, 'r');
    try {
      const rtgen = Buffer.alloc(4); // struct rtgenmsg, padded
      if (assign) {
        try {
          this.request(message(RTM_NEWNSID, NLM_F_REQUEST | NLM_F_ACK, rtgen, [u32Attr(NETNSA_FD, fd), s32Attr(NETNSA_NSID, -1)]));
        } catch (e) {
          if ((e as { code?: string }).code !== 'EEXIST') throw e;
        }
      }
      const m = this.request(message(RTM_GETNSID, NLM_F_REQUEST | NLM_F_ACK, rtgen, [u32Attr(NETNSA_FD, fd)])).find((x) => x.type === RTM_NEWNSID);
      const v = m ? parseAttrs(m.payload.subarray(4)).get(NETNSA_NSID) : undefined;
      return v ? v.readInt32LE(0) : -1;
    } finally {
      fs.closeSync(fd);
    }
  }
}

/**
 * A listening socket for link events in this netns and every netns with an nsid here. 32 MiB of buffer
 * holds the events of a few thousand links changing at once; $MACVLAN_BPF_NETLINK_RCVBUF shrinks it
 * (tests use that to force overruns).
 */
export function linkEventSocket(): NetlinkSocket {
  const rcvbuf = Number(process.env.MACVLAN_BPF_NETLINK_RCVBUF) || 32 << 20;
  return new (addon().NetlinkSocket)({ groups: [RTNLGRP_LINK], listenAllNsid: true, rcvbuf });
}
