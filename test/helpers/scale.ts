// How big a test run is. The kernel matrix runs the privileged tests inside QEMU guests under software
// emulation (about five times slower than this host): there, MVB_GUEST=1 asks the costliest tests for
// a representative part (the mixed and passthru differential scenarios, 200 churned children).
export const IN_GUEST = process.env.MVB_GUEST === '1';

/** The full-size value on the host, the guest-size one in a kernel-matrix guest. */
export function scaled<T>(full: T, guest: T): T {
  return IN_GUEST ? guest : full;
}
