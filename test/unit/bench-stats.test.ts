// The benchmark's ratio of two datapaths measured side by side (src/bench/stats.ts).
import { describe, expect, it } from 'vitest';
import { medianInterval, pairedRatio, pairedRatioText, pairedRatios, pairedVerdict } from '../../src/bench/stats.js';

const tagged = (xs: number[]) => xs.map((value, rep) => ({ value, rep }));

describe('pairedRatio', () => {
  it('takes the median of each repetition\'s ratio when both sides cover the same repetitions', () => {
    // The first repetition slow for both sides, the third for one: per repetition 1.0, 0.9 and 0.75,
    // median 0.9, where the ratio of the medians would be 0.75 (3 / 4).
    expect(pairedRatio(tagged([2, 4.5, 3]), tagged([2, 5, 4]))).toBeCloseTo(0.9, 6);
  });
  it('falls back to the ratio of the medians when the repetitions are not paired', () => {
    expect(pairedRatio([{ value: 2 }, { value: 4 }, { value: 6 }], [{ value: 8 }, { value: 8 }, { value: 8 }])).toBe(0.5);
    expect(pairedRatio(tagged([2, 4, 6]), tagged([8, 8]))).toBe(0.5); // a repetition missing on one side
    expect(pairedRatio([{ value: 3, rep: 0 }, { value: 3, rep: 0 }], [{ value: 6, rep: 0 }, { value: 6, rep: 1 }])).toBe(0.5); // a repetition twice
  });
  it('is 0 when a side has nothing, and a repetition with nothing on the other side counts as 0', () => {
    expect(pairedRatio([], tagged([1]))).toBe(0);
    expect(pairedRatio(tagged([1]), [])).toBe(0);
    expect(pairedRatio(tagged([1, 1, 1]), tagged([0, 1, 1]))).toBe(1);
  });
});

describe('pairedRatios and pairedRatioText', () => {
  it('gives each repetition\'s ratio, in order, and null when the series are not paired', () => {
    expect(pairedRatios(tagged([2, 4.5, 3]), tagged([2, 5, 4]))).toEqual([1, 0.9, 0.75]);
    expect(pairedRatios([{ value: 1 }], [{ value: 1 }])).toBeNull();
    expect(pairedRatios(tagged([1, 2]), tagged([1]))).toBeNull();
    expect(pairedRatios(tagged([1, 2]), [{ value: 1, rep: 0 }, { value: 2, rep: 5 }])).toBeNull();
  });
  it('writes the median of the paired ratios with their min–max, so a spread is visible', () => {
    // TCP rounds: ours 12, 9, 14 Gbit/s against 12, 10, 10 — per round 1.00, 0.90, 1.40.
    expect(pairedRatioText(tagged([12, 9, 14]), tagged([12, 10, 10]))).toBe('1.00 (0.90–1.40)');
  });
  it('adds the 95 % interval of the median once there are pairs enough for one', () => {
    // Twelve rounds against a steady 10: ratios 0.80 … 1.35 in steps of 0.05; the interval is the 3rd
    // and the 10th, 0.90 and 1.25; the median between the 6th and 7th, 1.075.
    const ours = Array.from({ length: 12 }, (_, i) => 8 + i * 0.5);
    expect(pairedRatioText(tagged(ours), tagged(ours.map(() => 10)))).toBe('1.08 [0.90–1.25] (0.80–1.35)');
    // Six rounds: the interval is min–max itself.
    expect(pairedRatioText(tagged([9, 10, 11, 12, 13, 14]), tagged([10, 10, 10, 10, 10, 10]))).toBe('1.15 [0.90–1.40] (0.90–1.40)');
  });
  it('writes only the ratio for one repetition or unpaired series', () => {
    expect(pairedRatioText(tagged([3]), tagged([4]))).toBe('0.75');
    expect(pairedRatioText([{ value: 2 }, { value: 4 }], [{ value: 4 }, { value: 4 }])).toBe('0.75');
  });
});

describe('medianInterval', () => {
  it('picks the order statistics whose binomial coverage is at least the level', () => {
    const xs = (n: number) => Array.from({ length: n }, (_, i) => n - i); // unsorted on purpose
    expect(medianInterval(xs(5))).toBeNull(); // min–max covers 1 − 2/32 = 93.75 %
    expect(medianInterval(xs(6))).toEqual({ lo: 1, hi: 6, coverage: 1 - 2 / 64 });
    expect(medianInterval(xs(8))).toMatchObject({ lo: 1, hi: 8 }); // the 2nd and 7th cover only 93 %
    expect(medianInterval(xs(9))).toMatchObject({ lo: 2, hi: 8 }); // 1 − 2·10/512
    const twelve = medianInterval(xs(12))!;
    expect([twelve.lo, twelve.hi]).toEqual([3, 10]);
    expect(twelve.coverage).toBeCloseTo(1 - (2 * (1 + 12 + 66)) / 4096, 12);
    expect(medianInterval(xs(12), 0.8)).toMatchObject({ lo: 4, hi: 9 }); // 85 %; the 5th and 8th only 61 %
    expect(medianInterval([])).toBeNull();
  });
});

describe('pairedVerdict', () => {
  const steady = tagged(Array.from({ length: 12 }, () => 10));
  it('says faster or slower only when the interval of the median lies wholly on one side of 1', () => {
    expect(pairedVerdict(tagged([10.2, 10.4, 10.6, 10.8, 11, 11.2, 9, 11.4, 11.6, 11.8, 12, 12.2]), steady)).toBe('faster');
    expect(pairedVerdict(tagged([9.8, 9.6, 9.4, 9.2, 9, 8.8, 11, 8.6, 8.4, 8.2, 8, 7.8]), steady)).toBe('slower');
    expect(pairedVerdict(tagged([8, 8.5, 9, 9.5, 10, 10.5, 11, 11.5, 12, 12.5, 13, 13.5]), steady)).toBe('level');
  });
  it('says nothing without pairs enough for a 95 % interval', () => {
    expect(pairedVerdict(tagged([12, 12, 12]), tagged([10, 10, 10]))).toBeNull();
  });
});
