// Ethernet frames for tests, the lab and benchmarks.
import { macToBytes, type Mac } from './mac.js';

export const ETH_P_TEST = 0x88b5; // IEEE 802 local experimental ethertype
export const ETH_P_PAUSE = 0x8808;
export const ETH_P_8021Q = 0x8100;
export const ETH_P_8021AD = 0x88a8;
export const MAGIC = Buffer.from('MVBT');

export interface FrameSpec {
  dst: Mac;
  src: Mac;
  ethertype?: number;
  /** VLAN tags outermost first: [{tpid, vid}] */
  vlans?: { tpid: number; vid: number }[];
  /** Case id carried in the payload, so a receiver can tell frames apart. */
  id?: number;
  /** Total frame length without FCS; padded with zeros (or cut: a runt) to this size. */
  length?: number;
}

export function buildFrame(f: FrameSpec): Buffer {
  const parts: Buffer[] = [macToBytes(f.dst), macToBytes(f.src)];
  for (const v of f.vlans ?? []) {
    const t = Buffer.alloc(4);
    t.writeUInt16BE(v.tpid, 0);
    t.writeUInt16BE(v.vid & 0xfff, 2);
    parts.push(t);
  }
  const et = Buffer.alloc(2);
  et.writeUInt16BE(f.ethertype ?? ETH_P_TEST);
  parts.push(et);
  const id = Buffer.alloc(4);
  id.writeUInt32BE((f.id ?? 0) >>> 0);
  parts.push(MAGIC, id);
  let b = Buffer.concat(parts);
  const len = f.length ?? 60;
  if (b.length < len) b = Buffer.concat([b, Buffer.alloc(len - b.length)]);
  else if (b.length > len) b = b.subarray(0, len);
  return b;
}

/** The case id of a test frame (tags skipped), or undefined for any other frame. */
export function frameId(b: Buffer): number | undefined {
  let off = 12;
  while (off + 2 <= b.length && [ETH_P_8021Q, ETH_P_8021AD].includes(b.readUInt16BE(off))) off += 4;
  if (off + 2 + 8 > b.length) return undefined;
  const et = b.readUInt16BE(off);
  if (et !== ETH_P_TEST && et !== ETH_P_PAUSE) return undefined;
  if (!b.subarray(off + 2, off + 6).equals(MAGIC)) return undefined;
  return b.readUInt32BE(off + 6);
}
