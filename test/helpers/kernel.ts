// The running kernel's version, for the few places where kernels differ in what a test can do or in
// what kernel macvlan (the oracle) does; the kernel matrix runs the same tests on 6.1, 6.12 and 6.18.
import os from 'node:os';

const [major, minor] = os.release().split('.').map((x) => parseInt(x, 10)) as [number, number];

export const KERNEL = os.release();

export function kernelAtLeast(maj: number, min: number): boolean {
  return major > maj || (major === maj && minor >= min);
}
