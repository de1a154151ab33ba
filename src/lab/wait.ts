// Waiting, synchronously, for something the kernel or another process does (topology set-up is
// synchronous, so it polls rather than awaits).

/** Polls until ok(), or throws naming what never came. */
export function waitFor(ok: () => boolean, what: string, timeoutMs = 10_000): void {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
}
