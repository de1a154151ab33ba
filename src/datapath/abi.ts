// The datapath ABI: mirrors bpf/include/mvb_abi.h byte for byte (checked against the maps' BTF sizes in
// test/bpf/abi.test.ts). Encoders and decoders for every key and value the control plane touches.
import { macFromBytes, macToBytes, type Mac } from '../mac.js';

export const MODES = { private: 1, vepa: 2, bridge: 4, passthru: 8, source: 16 } as const;
export type Mode = keyof typeof MODES;
export const MODE_NAMES: readonly Mode[] = ['private', 'vepa', 'bridge', 'passthru', 'source'];
export function modeFromValue(v: number): Mode {
  const m = MODE_NAMES.find((n) => MODES[n] === v);
  if (!m) throw new Error(`unknown mode value ${v} in the datapath registry`);
  return m;
}

/** What a child's device is (mvb_child.kind). */
export const KINDS = { veth: 0, netkit: 1, tap: 2 } as const;
export type KindName = keyof typeof KINDS;
export function kindFromValue(v: number): KindName {
  const k = (Object.keys(KINDS) as KindName[]).find((n) => KINDS[n] === v);
  if (!k) throw new Error(`unknown child kind value ${v} in the datapath registry (written by a newer macvlan-bpf?)`);
  return k;
}

export const CHILD_UP = 1 << 0;
export const CHILD_SAME_NETNS = 1 << 1;
/** Control plane only: we turned GRO on at the child end for the XDP fast path, and turn it off again. */
export const CHILD_GRO_SET = 1 << 2;
/** Control plane only: the child's host end is known to take XDP redirects (armed while the child was UP). */
export const CHILD_XDP_ARMED = 1 << 3;
/**
 * Control plane only: the child is UP in the kernel but its MAC is busy (an UP sibling's, or the
 * parent's), set with plain `ip` where kernel macvlan would have said EADDRINUSE. It stays out of the
 * MAC table (the earlier holder keeps the address) until the conflict ends.
 */
export const CHILD_MAC_BUSY = 1 << 4;
/** spoofchk on: the child may only send with its own source MAC (the spec's deliberate difference 4). */
export const CHILD_SPOOFCHK = 1 << 5;
/** nodst (kernel macvlan's MACVLAN_FLAG_NODST): a frame from a source this child lists goes to the source children only. */
export const CHILD_NODST = 1 << 6;
/** Control plane only: the agent keeps this child's joined groups in mvb_mc, and its flood entry says so. */
export const CHILD_MC_EXACT = 1 << 7;
/** mvb_flood_val.flags: the exact multicast filter applies to the child (see mvb_abi.h). */
export const FLOOD_MC_EXACT = 1 << 0;
/** mvb_flood_val.flags: copies enter the host end's ingress and go on by a peer redirect (MVB_FLOOD_PEER). */
export const FLOOD_PEER = 1 << 1;
export const PORT_PASSTHRU = 1 << 0;
export const PORT_ISOLATION_KERNEL = 1 << 1;
/** The parent keeps its own fdb (a bridge, vxlan): promiscuity, not `fdb add … self`, is its dev_uc_add. */
export const PORT_UC_PROMISC = 1 << 2;
/** We turned the parent's allmulticast on (while a child is UP: deliberate difference 3 at the parent). */
export const PORT_ALLMULTI_SET = 1 << 3;
/** Control plane only: the parent's fast path is XDP (`port set PARENT fastpath xdp`). */
export const PORT_FASTPATH_XDP = 1 << 4;
/** Control plane only: the kind of the parent's new children (`port set PARENT kind …`; none: the default). */
export const PORT_KIND_NETKIT = 1 << 5;
export const PORT_KIND_AUTO = 1 << 6;
export const PORT_KIND_VETH = 1 << 7;
export const PORT_KINDS = PORT_KIND_NETKIT | PORT_KIND_AUTO | PORT_KIND_VETH;
/** The port's settings a user made, which outlive its children. */
export const PORT_SETTINGS = PORT_ISOLATION_KERNEL | PORT_FASTPATH_XDP | PORT_KINDS;

export const ACTION = { stack: 1, deliver: 2, wire: 3, drop: 4, flood: 5 } as const;
export type Action = keyof typeof ACTION;
export function actionName(v: number): Action | `unknown(${number})` {
  const a = (Object.keys(ACTION) as Action[]).find((k) => ACTION[k] === v);
  return a ?? `unknown(${v})`;
}

/** Drop reasons, indexed as enum mvb_drop_reason. */
export const DROP_REASONS = [
  'none',
  'child-down',
  'private-src',
  'mode-filter',
  'redirect-fail',
  'malformed',
  'pause',
  'unknown-child',
  'no-dest',
  'spoof',
  'copy-refused',
  'nodst',
  'mc-unjoined',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];
export const DROP_MAX = 16;

/** Counter slots in mvb_child_ctrs (MVB_CHILD_SLOTS): one per child (MVB_MAX_CHILDREN), and slot 0. */
export const CHILD_SLOTS = 65536 + 1;
/** Counter slots in mvb_parent_ctrs (MVB_PARENT_SLOTS): one per port (MVB_MAX_PARENTS), and slot 0. */
export const PARENT_SLOTS = 1024 + 1;

export const SIZES = {
  macKey: 12,
  macVal: 12,
  child: 104,
  port: 48,
  groupVal: 4 + 4 * 8,
  floodKey: 8,
  floodVal: 12,
  sourceVal: 4 + 4 * 16,
  childStats: 40,
  parentStats: 32 + 8 * DROP_MAX,
  floodCfg: 8,
} as const;

/** mvb_flood_cfg's defaults (MVB_FLOOD_BUDGET_DEFAULT, MVB_FLOOD_CHUNK_DEFAULT): flood copies one CPU keeps
 * on its backlog at once, and list entries a deferred flood walks per round. */
export const FLOOD_BUDGET_DEFAULT = 512;
export const FLOOD_CHUNK_DEFAULT = 8;

/** skb->cb[] slots carrying the verdict, and cb's offset in struct __sk_buff. */
export const CB = { action: 0, target: 1, reason: 2, flags: 3, copies: 4 } as const;
export const SKB_CTX_SIZE = 192;
export const SKB_CB_OFFSET = 48;
export const SKB_IFINDEX_OFFSET = 40;

export function u32Key(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}

export function encodeMacKey(parentIfindex: number, mac: Mac): Buffer {
  const b = Buffer.alloc(SIZES.macKey);
  b.writeUInt32LE(parentIfindex);
  macToBytes(mac).copy(b, 4);
  return b;
}
export function decodeMacKey(b: Buffer): { parentIfindex: number; mac: Mac } {
  return { parentIfindex: b.readUInt32LE(0), mac: macFromBytes(b, 4) };
}

export interface MacEntry {
  hostIfindex: number;
  mode: Mode;
  flags: number;
  /** The child's kind (veth when not given): XDP delivers only into veth children. */
  kind?: KindName;
  /** The child's counter slot (ChildRecord.slot; 0, unread, when not given). */
  slot?: number;
}
export function encodeMacVal(v: MacEntry): Buffer {
  const b = Buffer.alloc(SIZES.macVal);
  b.writeUInt32LE(v.hostIfindex);
  b.writeUInt8(MODES[v.mode], 4);
  b.writeUInt8(v.flags, 5);
  b.writeUInt8(KINDS[v.kind ?? 'veth'], 6);
  b.writeUInt32LE(v.slot ?? 0, 8);
  return b;
}
export function decodeMacVal(b: Buffer): MacEntry {
  return { hostIfindex: b.readUInt32LE(0), mode: modeFromValue(b.readUInt8(4)), flags: b.readUInt8(5), kind: kindFromValue(b.readUInt8(6)), slot: b.readUInt32LE(8) };
}

export interface ChildRecord {
  parentIfindex: number;
  hostIfindex: number;
  mtu: number;
  mac: Mac;
  mode: Mode;
  flags: number;
  kind: KindName;
  /** tap children: the queues a reader opens unless told (1 if not given); 0 for other kinds. */
  queues?: number;
  createdNs: bigint;
  name: string;
  netns: string; // '' = the parent's netns
  /** Where its counters are: its index in mvb_child_ctrs, given by the registry when it is made (0: none
   * yet; slot 0 is no child's, and what counts there is never read). */
  slot?: number;
  /** Its parent's counter slot (PortRecord.slot), so a frame it sends counts at the parent without a
   * port lookup; 0 (not given): the datapath asks the port. */
  parentSlot?: number;
}
function writeCString(b: Buffer, s: string, off: number, len: number, what: string): void {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length >= len) throw new Error(`${what} "${s}" is longer than ${len - 1} bytes`);
  bytes.copy(b, off);
}
function readCString(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return s.subarray(0, z < 0 ? len : z).toString('utf8');
}
/** mvb_child.copy: a flood copy enters the host end's ingress and goes on by a peer redirect (MVB_COPY_PEER). */
export const COPY_PEER = 1 << 0;
/**
 * A child's registry entry. `copy` (COPY_PEER or 0) is how its flood copies reach it, which its kind
 * decides (the control plane's registry passes it): it is not part of the record, so decodeChild
 * leaves it out.
 */
export function encodeChild(c: ChildRecord, copy = 0): Buffer {
  const b = Buffer.alloc(SIZES.child);
  b.writeUInt32LE(c.parentIfindex, 0);
  b.writeUInt32LE(c.hostIfindex, 4);
  b.writeUInt32LE(c.mtu, 8);
  macToBytes(c.mac).copy(b, 12);
  b.writeUInt8(MODES[c.mode], 18);
  b.writeUInt8(c.flags, 19);
  b.writeUInt8(KINDS[c.kind], 20);
  b.writeUInt8(copy, 21);
  b.writeUInt16LE(c.queues ?? 0, 22);
  b.writeBigUInt64LE(c.createdNs, 24);
  writeCString(b, c.name, 32, 16, 'interface name');
  writeCString(b, c.netns, 48, 48, 'netns name');
  b.writeUInt32LE(c.slot ?? 0, 96);
  b.writeUInt32LE(c.parentSlot ?? 0, 100);
  return b;
}
export function decodeChild(b: Buffer): ChildRecord {
  return {
    parentIfindex: b.readUInt32LE(0),
    hostIfindex: b.readUInt32LE(4),
    mtu: b.readUInt32LE(8),
    mac: macFromBytes(b, 12),
    mode: modeFromValue(b.readUInt8(18)),
    flags: b.readUInt8(19),
    kind: kindFromValue(b.readUInt8(20)),
    ...(b.readUInt16LE(22) ? { queues: b.readUInt16LE(22) } : {}),
    createdNs: b.readBigUInt64LE(24),
    name: readCString(b, 32, 16),
    netns: readCString(b, 48, 48),
    slot: b.readUInt32LE(96),
    parentSlot: b.readUInt32LE(100),
  };
}

export interface PortRecord {
  flags: number;
  passthruHost: number;
  mac: Mac;
  promiscSet: boolean;
  clsactCreated: boolean;
  nchildren: number;
  nflood: number;
  /** Of the nflood entries, how many in each mode: private, vepa, bridge, passthru (FLOOD_MODES). */
  nfloodMode: readonly number[];
  /** Of the nflood entries, how many get every group (no exact filter). */
  nfloodAll: number;
  /** Where its counters are: its index in mvb_parent_ctrs, given when the port is made (0: none yet). */
  slot?: number;
}
/** The modes whose flood entries a port counts, in mvb_port.nflood_mode's order. */
export const FLOOD_MODES: readonly Mode[] = ['private', 'vepa', 'bridge', 'passthru'];
/** A port's flood counts when its list is empty. */
export const NO_FLOOD = { nflood: 0, nfloodMode: [0, 0, 0, 0], nfloodAll: 0 } as const;
export function encodePort(p: PortRecord): Buffer {
  const b = Buffer.alloc(SIZES.port);
  b.writeUInt32LE(p.flags, 0);
  b.writeUInt32LE(p.passthruHost, 4);
  macToBytes(p.mac).copy(b, 8);
  b.writeUInt8(p.promiscSet ? 1 : 0, 14);
  b.writeUInt8(p.clsactCreated ? 1 : 0, 15);
  b.writeUInt32LE(p.nchildren, 16);
  b.writeUInt32LE(p.nflood, 20);
  FLOOD_MODES.forEach((_m, i) => b.writeUInt32LE(p.nfloodMode[i] ?? 0, 24 + 4 * i));
  b.writeUInt32LE(p.nfloodAll, 40);
  b.writeUInt32LE(p.slot ?? 0, 44);
  return b;
}
export function decodePort(b: Buffer): PortRecord {
  return {
    flags: b.readUInt32LE(0),
    passthruHost: b.readUInt32LE(4),
    mac: macFromBytes(b, 8),
    promiscSet: b.readUInt8(14) !== 0,
    clsactCreated: b.readUInt8(15) !== 0,
    nchildren: b.readUInt32LE(16),
    nflood: b.readUInt32LE(20),
    nfloodMode: FLOOD_MODES.map((_m, i) => b.readUInt32LE(24 + 4 * i)),
    nfloodAll: b.readUInt32LE(40),
    slot: b.readUInt32LE(44),
  };
}

/** mvb_groups' value: the members of a group (by host ifindex), listed when at most GROUP_LIST_MAX. */
export const GROUP_LIST_MAX = 8;
export function encodeGroupVal(hosts: readonly number[]): Buffer {
  const b = Buffer.alloc(SIZES.groupVal);
  b.writeUInt32LE(hosts.length, 0);
  if (hosts.length <= GROUP_LIST_MAX) hosts.forEach((h, i) => b.writeUInt32LE(h, 4 + 4 * i));
  return b;
}
/** The listed members, or the count alone (hosts empty) when there are too many to list. */
export function decodeGroupVal(b: Buffer): { n: number; hosts: number[] } {
  const n = b.readUInt32LE(0);
  return { n, hosts: n <= GROUP_LIST_MAX ? [...Array(n).keys()].map((i) => b.readUInt32LE(4 + 4 * i)) : [] };
}

export interface ChildStats {
  rxPackets: bigint;
  rxBytes: bigint;
  txPackets: bigint;
  txBytes: bigint;
  floodCopies: bigint;
}
export interface ParentStats {
  stackPackets: bigint;
  stackBytes: bigint;
  wirePackets: bigint;
  wireBytes: bigint;
  drops: Record<DropReason, bigint>;
}
function slots(raw: Buffer, valueSize: number): Buffer[] {
  const stride = (valueSize + 7) & ~7;
  const out: Buffer[] = [];
  for (let off = 0; off + stride <= raw.length; off += stride) out.push(raw.subarray(off, off + valueSize));
  return out;
}
/** Per-CPU child stats: one entry per possible CPU. */
export function decodeChildStatsPerCpu(raw: Buffer): ChildStats[] {
  return slots(raw, SIZES.childStats).map((s) => ({
    rxPackets: s.readBigUInt64LE(0),
    rxBytes: s.readBigUInt64LE(8),
    txPackets: s.readBigUInt64LE(16),
    txBytes: s.readBigUInt64LE(24),
    floodCopies: s.readBigUInt64LE(32),
  }));
}
export function decodeParentStatsPerCpu(raw: Buffer): ParentStats[] {
  return slots(raw, SIZES.parentStats).map((s) => {
    const drops = {} as Record<DropReason, bigint>;
    DROP_REASONS.forEach((r, i) => (drops[r] = s.readBigUInt64LE(32 + 8 * i)));
    return {
      stackPackets: s.readBigUInt64LE(0),
      stackBytes: s.readBigUInt64LE(8),
      wirePackets: s.readBigUInt64LE(16),
      wireBytes: s.readBigUInt64LE(24),
      drops,
    };
  });
}
export function sumChildStats(per: ChildStats[]): ChildStats {
  const t: ChildStats = { rxPackets: 0n, rxBytes: 0n, txPackets: 0n, txBytes: 0n, floodCopies: 0n };
  for (const s of per) for (const k of Object.keys(t) as (keyof ChildStats)[]) t[k] += s[k];
  return t;
}
export function sumParentStats(per: ParentStats[]): ParentStats {
  const drops = Object.fromEntries(DROP_REASONS.map((r) => [r, 0n])) as Record<DropReason, bigint>;
  const t: ParentStats = { stackPackets: 0n, stackBytes: 0n, wirePackets: 0n, wireBytes: 0n, drops };
  for (const s of per) {
    t.stackPackets += s.stackPackets;
    t.stackBytes += s.stackBytes;
    t.wirePackets += s.wirePackets;
    t.wireBytes += s.wireBytes;
    for (const r of DROP_REASONS) t.drops[r] += s.drops[r];
  }
  return t;
}

export function encodeFloodKey(parentIfindex: number, idx: number): Buffer {
  const b = Buffer.alloc(SIZES.floodKey);
  b.writeUInt32LE(parentIfindex, 0);
  b.writeUInt32LE(idx, 4);
  return b;
}
export interface FloodEntry {
  hostIfindex: number;
  mode: Mode;
  /** The exact multicast filter applies (FLOOD_MC_EXACT). */
  mcExact?: boolean;
  /** Copies go through the host end's ingress and a peer redirect (FLOOD_PEER; see the child's kind). */
  peer?: boolean;
  /** The child's counter slot (ChildRecord.slot). */
  slot?: number;
}
export function encodeFloodVal(e: FloodEntry): Buffer {
  const b = Buffer.alloc(SIZES.floodVal);
  b.writeUInt32LE(e.hostIfindex, 0);
  b.writeUInt8(MODES[e.mode], 4);
  b.writeUInt8((e.mcExact ? FLOOD_MC_EXACT : 0) | (e.peer ? FLOOD_PEER : 0), 5);
  b.writeUInt32LE(e.slot ?? 0, 8);
  return b;
}
export function decodeFloodVal(b: Buffer): FloodEntry {
  const flags = b.readUInt8(5);
  return { hostIfindex: b.readUInt32LE(0), mode: modeFromValue(b.readUInt8(4)), ...(flags & FLOOD_MC_EXACT ? { mcExact: true } : {}), ...(flags & FLOOD_PEER ? { peer: true } : {}), slot: b.readUInt32LE(8) };
}

/** Key of mvb_mc: a group a child joined. */
export function encodeMcKey(hostIfindex: number, group: Mac): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32LE(hostIfindex, 0);
  macToBytes(group).copy(b, 4);
  return b;
}
export function decodeMcKey(b: Buffer): { hostIfindex: number; group: Mac } {
  return { hostIfindex: b.readUInt32LE(0), group: macFromBytes(b, 4) };
}

/** Children per remote source address (MVB_SOURCE_MAX): the kernel chains any number. */
export const SOURCE_MAX = 16;
/** A source-mode list entry's value: the host ends of the children listing the address. */
export function encodeSourceVal(hosts: number[]): Buffer {
  if (hosts.length > SOURCE_MAX) throw new Error(`at most ${SOURCE_MAX} children per source address`);
  const b = Buffer.alloc(SIZES.sourceVal);
  b.writeUInt32LE(hosts.length, 0);
  hosts.forEach((h, i) => b.writeUInt32LE(h, 4 + 4 * i));
  return b;
}
export function decodeSourceVal(b: Buffer): number[] {
  const n = Math.min(b.readUInt32LE(0), SOURCE_MAX);
  return Array.from({ length: n }, (_, i) => b.readUInt32LE(4 + 4 * i));
}
