// The running kernel's version, for the few places where kernels differ in what a test can do or in
// what kernel macvlan (the oracle) does; the kernel matrix runs the same tests on 6.1, 6.12 and 6.18.
import os from 'node:os';
import { Sandbox } from './sandbox.js';
import { Rtnl, NETKIT_DROP } from '../../src/net/rtnetlink.js';
import { isSystemError } from '../../src/native.js';

const [major, minor] = os.release().split('.').map((x) => parseInt(x, 10)) as [number, number];

export const KERNEL = os.release();

export function kernelAtLeast(maj: number, min: number): boolean {
  return major > maj || (major === maj && minor >= min);
}

/**
 * Whether this kernel makes netkit devices (6.7+ with CONFIG_NETKIT: the 6.12 guest, not this host's
 * 6.18 nor Debian's 6.1): a netkit pair tried in a throwaway netns. Tests branch on it (netkit children
 * where the kernel has them, the refusal elsewhere); nothing is skipped.
 */
export function kernelHasNetkit(): boolean {
  const sb = new Sandbox('nkp');
  try {
    const ns = sb.netns('p');
    return Rtnl.once(`/run/netns/${ns}`, (r) => {
      try {
        r.createNetkit({ name: 'nkp0', mtu: 1500, peer: { name: 'nkp1', mtu: 1500 }, peerPolicy: NETKIT_DROP });
        return true;
      } catch (e) {
        if (isSystemError(e) && (e.code === 'EOPNOTSUPP' || e.code === 'ENOTSUP')) return false;
        throw e;
      }
    });
  } finally {
    sb.cleanup();
  }
}
