// Addresses and routes over rtnetlink (ip addr add, ip route add, and their dumps), for the CNI plugin's
// configuration of a container's interface: what the reference plugins' ipam.ConfigureIface does.
import net from 'node:net';
import { NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, attr, message, parseAttrs, u32Attr, type Rtnl } from './rtnetlink.js';

const RTM_NEWADDR = 20, RTM_GETADDR = 22, RTM_NEWROUTE = 24, RTM_GETROUTE = 26;
const IFA_ADDRESS = 1, IFA_LOCAL = 2, IFA_BROADCAST = 4;
const RTA_DST = 1, RTA_OIF = 4, RTA_GATEWAY = 5, RTA_TABLE = 15;
const AF_INET = 2, AF_INET6 = 10;
const RT_TABLE_MAIN = 254, RTPROT_BOOT = 3, RT_SCOPE_UNIVERSE = 0, RT_SCOPE_LINK = 253, RTN_UNICAST = 1;

/** An address with its prefix, like 10.1.0.2/24 or fd00::2/64. */
export interface Cidr {
  ip: string;
  prefix: number;
}

export function parseCidr(s: string): Cidr {
  const [ip, p] = s.split('/');
  const prefix = Number(p);
  const family = net.isIP(ip ?? '');
  if (!family || !/^\d+$/.test(p ?? '') || prefix > (family === 4 ? 32 : 128)) throw new Error(`"${s}" is not an address with a prefix length (like 10.1.0.2/24)`);
  return { ip: ip!, prefix };
}

function familyOf(ip: string): number {
  return net.isIP(ip) === 6 ? AF_INET6 : AF_INET;
}

function ipBytes(ip: string): Buffer {
  if (net.isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand "::" into the zero groups it stands for.
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const hs = head ? head.split(':') : [];
  const ts = tail ? tail.split(':') : [];
  const groups = [...hs, ...Array<string>(8 - hs.length - ts.length).fill('0'), ...ts];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return b;
}

function ipString(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  const groups = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2).toString(16));
  return new net.SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}

/** ip addr add IP/PREFIX [brd +] dev IFINDEX (IPv4 gets its broadcast, as the CNI plugins' netlink does). */
export function addAddress(r: Rtnl, ifindex: number, a: Cidr): void {
  const family = familyOf(a.ip);
  const ifa = Buffer.alloc(8);
  ifa.writeUInt8(family, 0);
  ifa.writeUInt8(a.prefix, 1);
  ifa.writeUInt32LE(ifindex, 4);
  const bytes = ipBytes(a.ip);
  const attrs = [attr(IFA_LOCAL, bytes), attr(IFA_ADDRESS, bytes)];
  if (family === AF_INET && a.prefix < 31) {
    const mask = a.prefix === 0 ? 0 : (~0 << (32 - a.prefix)) >>> 0;
    const brd = Buffer.alloc(4);
    brd.writeUInt32BE(((bytes.readUInt32BE(0) & mask) | (~mask >>> 0)) >>> 0);
    attrs.push(attr(IFA_BROADCAST, brd));
  }
  r.request(message(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, ifa, attrs));
}

/** The addresses of one interface (dump). */
export function addresses(r: Rtnl, ifindex: number): Cidr[] {
  const out: Cidr[] = [];
  for (const m of r.request(message(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, Buffer.alloc(8)))) {
    if (m.type !== RTM_NEWADDR || m.payload.readUInt32LE(4) !== ifindex) continue;
    const a = parseAttrs(m.payload.subarray(8));
    const ip = a.get(IFA_LOCAL) ?? a.get(IFA_ADDRESS);
    if (ip) out.push({ ip: ipString(ip), prefix: m.payload.readUInt8(1) });
  }
  return out;
}

export interface Route {
  dst: Cidr;
  gw?: string;
  ifindex: number;
}

/** ip route add DST [via GW] dev IFINDEX (proto boot, as the CNI plugins' routes are). */
export function addRoute(r: Rtnl, route: Route): void {
  const family = familyOf(route.dst.ip);
  const rtm = Buffer.alloc(12);
  rtm.writeUInt8(family, 0);
  rtm.writeUInt8(route.dst.prefix, 1);
  rtm.writeUInt8(RT_TABLE_MAIN, 4);
  rtm.writeUInt8(RTPROT_BOOT, 5);
  rtm.writeUInt8(route.gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK, 6);
  rtm.writeUInt8(RTN_UNICAST, 7);
  const attrs = [u32Attr(RTA_OIF, route.ifindex)];
  if (route.dst.prefix > 0) attrs.push(attr(RTA_DST, ipBytes(route.dst.ip)));
  if (route.gw) attrs.push(attr(RTA_GATEWAY, ipBytes(route.gw)));
  r.request(message(RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, rtm, attrs));
}

/** The main table's routes (dump), both families. */
export function routes(r: Rtnl): Route[] {
  const out: Route[] = [];
  for (const m of r.request(message(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, Buffer.alloc(12)))) {
    if (m.type !== RTM_NEWROUTE) continue;
    const a = parseAttrs(m.payload.subarray(12));
    const table = a.get(RTA_TABLE)?.readUInt32LE(0) ?? m.payload.readUInt8(4);
    if (table !== RT_TABLE_MAIN) continue;
    const family = m.payload.readUInt8(0);
    const dst = a.get(RTA_DST);
    const gw = a.get(RTA_GATEWAY);
    out.push({
      dst: { ip: dst ? ipString(dst) : family === AF_INET6 ? '::' : '0.0.0.0', prefix: m.payload.readUInt8(1) },
      ...(gw ? { gw: ipString(gw) } : {}),
      ifindex: a.get(RTA_OIF)?.readUInt32LE(0) ?? 0,
    });
  }
  return out;
}
