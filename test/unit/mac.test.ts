import { describe, expect, it } from 'vitest';
import { isMulticastMac, macFromBytes, macToBytes, parseMac, randomMac } from '../../src/mac.js';

describe('mac', () => {
  it.each([
    ['02:00:00:00:00:01', '02:00:00:00:00:01'],
    ['AA:BB:CC:DD:EE:FF', 'aa:bb:cc:dd:ee:ff'],
  ])('parses %s', (s, want) => expect(parseMac(s)).toBe(want));
  it.each(['02:00:00:00:00', '02-00-00-00-00-01', 'zz:00:00:00:00:01', ''])('refuses %j', (s) =>
    expect(() => parseMac(s)).toThrow(/not a MAC address/));
  it('round-trips bytes', () => expect(macFromBytes(macToBytes('02:0a:ff:00:10:01'))).toBe('02:0a:ff:00:10:01'));
  it('knows the group bit', () => {
    expect(isMulticastMac('ff:ff:ff:ff:ff:ff')).toBe(true);
    expect(isMulticastMac('01:00:5e:00:00:01')).toBe(true);
    expect(isMulticastMac('02:00:00:00:00:01')).toBe(false);
  });
  it('random MACs are locally administered unicast', () => {
    for (let i = 0; i < 50; i++) {
      const b = macToBytes(randomMac());
      expect(b[0]! & 1).toBe(0);
      expect(b[0]! & 2).toBe(2);
    }
  });
});
