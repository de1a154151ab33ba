// Small statistics and formatting shared by the benchmarks.

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * The ratio a / b of two series measured side by side: with every value tagged by its repetition and
 * both series covering the same repetitions, the median of each repetition's ratio (a slow spell that
 * touched both in one repetition cancels out); otherwise the ratio of the medians. 0 when either side
 * has nothing.
 */
export function pairedRatio(a: { value: number; rep?: number }[], b: { value: number; rep?: number }[]): number {
  if (a.length === 0 || b.length === 0) return 0;
  const byRep = (xs: typeof a) => (xs.every((x) => x.rep !== undefined) ? new Map(xs.map((x) => [x.rep!, x.value])) : null);
  const ra = byRep(a);
  const rb = byRep(b);
  if (ra && rb && ra.size === a.length && rb.size === b.length && ra.size === rb.size && [...ra.keys()].every((k) => rb.has(k)))
    return median([...ra].map(([k, v]) => (rb.get(k)! > 0 ? v / rb.get(k)! : 0)));
  const mb = median(b.map((x) => x.value));
  return mb > 0 ? median(a.map((x) => x.value)) / mb : 0;
}

export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** 1234567 -> "1.23 M", 4321 -> "4 k". */
export function fmt(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(0)} k`;
  return x.toFixed(0);
}

/**
 * Runs a generator and measures what arrived: from the generator's start until a counter of delivered
 * frames stops moving (polled every pollMs, still for five polls). Returns frames delivered and their
 * rate over that time.
 */
export async function measureUntilStill(total: () => number, generate: () => void, pollMs = 20): Promise<{ pps: number; delivered: number }> {
  const base = total();
  const t0 = process.hrtime.bigint();
  generate();
  let last = total();
  let tEnd = process.hrtime.bigint();
  for (let still = 0; still < 5; ) {
    await new Promise((r) => setTimeout(r, pollMs));
    const now = total();
    if (now !== last) {
      last = now;
      tEnd = process.hrtime.bigint();
      still = 0;
    } else still++;
  }
  const delivered = last - base;
  return { pps: delivered / (Number(tEnd - t0) / 1e9), delivered };
}
