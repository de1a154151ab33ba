import { describe, expect, it } from 'vitest';
import { ArgReader, matchKeyword, UsageError } from '../../src/cli/args.js';

describe('cli args', () => {
  it.each([
    ['li', 'link'],
    ['link', 'link'],
    ['a', 'add'],
    ['sh', 'show'],
    ['del', 'delete'],
  ])('%s abbreviates %s', (w, want) => expect(matchKeyword(w, ['link', 'port', 'add', 'set', 'delete', 'show'])).toBe(want));
  it('unknown words do not match', () => expect(matchKeyword('frob', ['link', 'port'])).toBeUndefined());
  it('numbers are checked', () => {
    expect(new ArgReader(['1400']).nextInt('mtu')).toBe(1400);
    expect(() => new ArgReader(['big']).nextInt('mtu')).toThrow(UsageError);
    expect(() => new ArgReader([]).next('device')).toThrow(/missing device/);
  });
});
