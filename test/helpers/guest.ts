// The QEMU guests of the kernel matrix: src/lab/guest.ts (the benchmarks boot them too).
export * from '../../src/lab/guest.js';
