// The running kernel's version, for the few places where kernels differ in what a test can do or in
// what kernel macvlan (the oracle) does; the kernel matrix runs the same tests on 6.1, 6.12 and 6.18.
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { kernelHasNetkit as probeNetkit } from '../../src/lab/probe.js';

const [major, minor] = os.release().split('.').map((x) => parseInt(x, 10)) as [number, number];

export const KERNEL = os.release();

export function kernelAtLeast(maj: number, min: number): boolean {
  return major > maj || (major === maj && minor >= min);
}

/**
 * Whether this kernel makes netkit devices (the 6.12 guest, not this host's 6.18 nor Debian's 6.1).
 * Tests branch on it (netkit children where the kernel has them, the refusal elsewhere); nothing skips.
 */
export function kernelHasNetkit(): boolean {
  if (process.env.MVB_NETKIT) return process.env.MVB_NETKIT === '1'; // asked once per run (global-setup.ts)
  return probeNetkit(`${process.env.MVB_TEST_RUN ?? 'mvbt'}nkp${randomBytes(1).toString('hex')}`);
}
