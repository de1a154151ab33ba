// The one place a name, mode, MAC, MTU, isolation, fast path or netns name is checked: the CLI, the control
// plane and the configuration file all ask here, so they refuse the same things with the same words.
// Each check throws a ConfigError whose message is the problem and the fix; the config file prefixes
// it with file:line: field.
import fs from 'node:fs';
import { MODE_NAMES, type Mode } from '../datapath/abi.js';
import { isMacSyntax, isMulticastMac, isZeroMac, parseMac, type Mac } from '../mac.js';
import { ConfigError } from './errors.js';

/** The kernel's minimum MTU for an Ethernet device (ETH_MIN_MTU). */
export const MIN_MTU = 68;

export type Isolation = 'strict' | 'kernel';
export const ISOLATIONS: readonly Isolation[] = ['strict', 'kernel'];

/** Where a parent's unicast to children is decided: XDP first (the fast path), or TC only. */
export type Fastpath = 'tc' | 'xdp';
export const FASTPATHS: readonly Fastpath[] = ['tc', 'xdp'];

/** What a child's device is: a veth pair, a netkit pair, or netkit where the kernel has it (auto). */
export type KindChoice = 'veth' | 'netkit' | 'auto';
export const KIND_CHOICES: readonly KindChoice[] = ['veth', 'netkit', 'auto'];

export function parseKindChoice(k: string): KindChoice {
  if ((KIND_CHOICES as readonly string[]).includes(k)) return k as KindChoice;
  throw new ConfigError('EINVAL', `"${k}" is not a child kind: use veth, netkit (Linux 6.7+) or auto (netkit where the kernel has it, veth elsewhere)`);
}

/** An interface name as the kernel's dev_valid_name() accepts it. */
export function checkIfname(name: string): string {
  if (name.length > 0 && Buffer.byteLength(name) < 16 && !/[\s/:]/.test(name) && name !== '.' && name !== '..') return name;
  throw new ConfigError('EINVAL', `"${name}" is not a valid interface name (1 to 15 characters, no spaces, '/' or ':')`);
}

export function parseMode(m: string): Mode {
  if ((MODE_NAMES as readonly string[]).includes(m)) return m as Mode;
  throw new ConfigError('EINVAL', `"${m}" is not a mode: use one of ${MODE_NAMES.join(', ')}`);
}

/** A child's MAC: six hex pairs, unicast, not zero (the kernel's is_valid_ether_addr). */
export function parseChildMac(s: string): Mac {
  if (!isMacSyntax(s)) throw new ConfigError('EINVAL', `"${s}" is not a MAC address: give six hex pairs like 02:00:00:00:00:01`);
  const mac = parseMac(s);
  if (isZeroMac(mac)) throw new ConfigError('EADDRNOTAVAIL', `Cannot assign requested address ${mac}: it is not a unicast, non-zero MAC, which a child needs (give a real address, e.g. 02:00:00:00:00:01)`);
  if (isMulticastMac(mac)) throw new ConfigError('EADDRNOTAVAIL', `Cannot assign requested address ${mac}: it is not a unicast, non-zero MAC, which a child needs (clear the group bit, 01 in the first octet)`);
  return mac;
}

/** The MTU's own range; whether it fits under the parent's is the control plane's to check. */
export function checkMtu(mtu: number): number {
  if (!Number.isInteger(mtu)) throw new ConfigError('EINVAL', `mtu ${mtu} is not a whole number`);
  if (mtu < MIN_MTU) throw new ConfigError('EINVAL', `mtu ${mtu} is less than device minimum ${MIN_MTU}`);
  if (mtu > 0xffff_ffff) throw new ConfigError('EINVAL', `mtu ${mtu} is greater than device maximum`);
  return mtu;
}

/** bcqueuelen: the kernel's u32 (IFLA_MACVLAN_BC_QUEUE_LEN); iproute2's words for a bad one. */
export function checkBcQueueLen(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw new ConfigError('EINVAL', `argument of "bcqueuelen" must be a positive integer [0-4294967295], not "${n}"`);
  return n;
}

/** bc_cutoff: the kernel's s32 (IFLA_MACVLAN_BC_CUTOFF); negative turns the queue off there. */
export function checkBcCutoff(n: number): number {
  if (!Number.isInteger(n) || n < -0x8000_0000 || n > 0x7fff_ffff) throw new ConfigError('EINVAL', `argument of "bc_cutoff" must be an integer [-2147483648-2147483647], not "${n}"`);
  return n;
}

export function parseIsolation(s: string): Isolation {
  if ((ISOLATIONS as readonly string[]).includes(s)) return s as Isolation;
  throw new ConfigError('EINVAL', `"${s}" is not an isolation: use strict or kernel`);
}

export function parseFastpath(s: string): Fastpath {
  if ((FASTPATHS as readonly string[]).includes(s)) return s as Fastpath;
  throw new ConfigError('EINVAL', `"${s}" is not a fast path: use tc or xdp`);
}

/** A name under /run/netns: one path component, as `ip netns add` makes them. */
export function checkNetnsName(s: string): string {
  if (/^[^\s/]{1,47}$/.test(s) && s !== '.' && s !== '..') return s;
  throw new ConfigError('EINVAL', `"${s}" is not a network namespace name (a name under /run/netns, as ip netns add made it)`);
}

/** What kernel device a child stands in for: a macvlan (a veth or netkit pair) or a macvtap (a tap). */
export type LinkType = 'macvlan' | 'macvtap';

/** The kernel's limit of queues per tap (MAX_TAP_QUEUES, the same for macvtap and tun). */
export const MAX_TAP_QUEUES = 256;

export function checkQueues(n: number): number {
  if (Number.isInteger(n) && n >= 1 && n <= MAX_TAP_QUEUES) return n;
  throw new ConfigError('EINVAL', `queues ${n} is not a queue count: give 1 to ${MAX_TAP_QUEUES} (the kernel's limit per tap)`);
}

/**
 * A user or group for a tap's owner: a number, or a name this host's /etc/passwd or /etc/group lists
 * (read directly: no spawn, no NSS). `file` is for the tests.
 */
export function resolveId(what: 'user' | 'group', s: string | number, file = what === 'user' ? '/etc/passwd' : '/etc/group'): number {
  if (typeof s === 'number' || /^\d+$/.test(s)) {
    const n = Number(s);
    if (Number.isInteger(n) && n >= 0 && n < 0xffff_ffff) return n;
    throw new ConfigError('EINVAL', `${s} is not a ${what} id: give a name or a number below 4294967295`);
  }
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch { /* no file: no names */ }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === s && f[2] !== undefined && /^\d+$/.test(f[2])) return Number(f[2]);
  }
  throw new ConfigError('EINVAL', `no ${what} "${s}" on this host (${file}): give an existing ${what} name or a numeric id`);
}
