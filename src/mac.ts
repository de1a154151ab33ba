// MAC addresses: parsing, formatting, classification.
import { randomBytes } from 'node:crypto';

export type Mac = string; // canonical lower-case "aa:bb:cc:dd:ee:ff"

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

export function isMacSyntax(s: string): boolean {
  return MAC_RE.test(s);
}

/** Canonical form of a MAC, or throws naming the problem. */
export function parseMac(s: string): Mac {
  if (!isMacSyntax(s)) throw new Error(`"${s}" is not a MAC address (want six hex pairs like 02:00:00:00:00:01)`);
  return s.toLowerCase();
}

export function macToBytes(mac: Mac): Buffer {
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

export function macFromBytes(b: Buffer | Uint8Array, offset = 0): Mac {
  return Array.from(b.subarray(offset, offset + 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}

export function isMulticastMac(mac: Mac): boolean {
  return (parseInt(mac.slice(0, 2), 16) & 1) === 1;
}

export function isZeroMac(mac: Mac): boolean {
  return mac === '00:00:00:00:00:00';
}

/** A random locally administered unicast MAC, as the kernel's eth_random_addr. */
export function randomMac(): Mac {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return macFromBytes(b);
}
