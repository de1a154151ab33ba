// The benchmark's ratio of two datapaths measured side by side (src/bench/stats.ts).
import { describe, expect, it } from 'vitest';
import { pairedRatio, pairedRatioText, pairedRatios } from '../../src/bench/stats.js';

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
  it('writes only the ratio for one repetition or unpaired series', () => {
    expect(pairedRatioText(tagged([3]), tagged([4]))).toBe('0.75');
    expect(pairedRatioText([{ value: 2 }, { value: 4 }], [{ value: 4 }, { value: 4 }])).toBe('0.75');
  });
});
