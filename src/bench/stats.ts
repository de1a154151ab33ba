// Small statistics and formatting shared by the benchmarks.

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Each repetition's ratio a / b of two series measured side by side, when every value is tagged by its
 * repetition and both series cover the same repetitions (each once); null when they are not paired. A
 * repetition whose b is 0 gives 0.
 */
export function pairedRatios(a: { value: number; rep?: number }[], b: { value: number; rep?: number }[]): number[] | null {
  const byRep = (xs: typeof a) => (xs.every((x) => x.rep !== undefined) ? new Map(xs.map((x) => [x.rep!, x.value])) : null);
  const ra = byRep(a);
  const rb = byRep(b);
  if (!ra || !rb || ra.size !== a.length || rb.size !== b.length || ra.size !== rb.size || ![...ra.keys()].every((k) => rb.has(k))) return null;
  return [...ra].map(([k, v]) => (rb.get(k)! > 0 ? v / rb.get(k)! : 0));
}

/**
 * The ratio a / b of two series measured side by side: the median of each repetition's ratio
 * (pairedRatios: a slow spell that touched both in one repetition cancels out); otherwise the ratio of
 * the medians. 0 when either side has nothing.
 */
export function pairedRatio(a: { value: number; rep?: number }[], b: { value: number; rep?: number }[]): number {
  if (a.length === 0 || b.length === 0) return 0;
  const paired = pairedRatios(a, b);
  if (paired) return median(paired);
  const mb = median(b.map((x) => x.value));
  return mb > 0 ? median(a.map((x) => x.value)) / mb : 0;
}

/** P(X ≤ k) for X ~ Binomial(n, ½): the chance that at most k of n samples fall below the median. */
function binomialHalfCdf(n: number, k: number): number {
  let term = 1; // C(n, 0)
  let sum = 0;
  for (let i = 0; i <= k; i++) {
    sum += term;
    term = (term * (n - i)) / (i + 1);
  }
  return sum / 2 ** n;
}

/**
 * A distribution-free confidence interval for the median of xs: the order statistics x(k) and
 * x(n + 1 − k), with the largest k whose coverage, 1 − 2·P(Binomial(n, ½) ≤ k − 1), is still at least
 * `level`. No assumption about the shape of the noise (TCP runs here are skewed and sometimes bimodal).
 * Null when even min–max covers less than `level` (fewer than 6 samples for 95 %).
 */
export function medianInterval(xs: number[], level = 0.95): { lo: number; hi: number; coverage: number } | null {
  const n = xs.length;
  const coverage = (k: number) => 1 - 2 * binomialHalfCdf(n, k - 1);
  if (n === 0 || coverage(1) < level) return null;
  let k = 1;
  while (k + 1 <= n / 2 && coverage(k + 1) >= level) k++;
  const s = [...xs].sort((x, y) => x - y);
  return { lo: s[k - 1]!, hi: s[n - k]!, coverage: coverage(k) };
}

/**
 * pairedRatio as a table cell: the median of the paired ratios, the 95 % interval of that median where
 * there are samples enough (medianInterval) and their min–max ("1.02 [0.97–1.06] (0.91–1.13)"), so a
 * reader sees both what the median can claim and how far one repetition's ratio strays; only the ratio
 * when there is one repetition or the series are not paired (then the ratio of the medians).
 */
export function pairedRatioText(a: { value: number; rep?: number }[], b: { value: number; rep?: number }[]): string {
  const paired = pairedRatios(a, b);
  const r = (x: number) => x.toFixed(2);
  if (!paired || paired.length < 2) return r(pairedRatio(a, b));
  const ci = medianInterval(paired);
  return `${r(median(paired))}${ci ? ` [${r(ci.lo)}–${r(ci.hi)}]` : ''} (${r(Math.min(...paired))}–${r(Math.max(...paired))})`;
}

/**
 * What the paired ratios a / b let one say of a against b at 95 %: "faster" when the median's interval
 * lies above 1, "slower" when below, otherwise "level"; null without pairs enough for an interval.
 */
export function pairedVerdict(a: { value: number; rep?: number }[], b: { value: number; rep?: number }[]): 'faster' | 'slower' | 'level' | null {
  const paired = pairedRatios(a, b);
  const ci = paired && medianInterval(paired);
  if (!ci) return null;
  return ci.lo > 1 ? 'faster' : ci.hi < 1 ? 'slower' : 'level';
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
