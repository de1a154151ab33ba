import { describe, expect, it } from 'vitest';
import {
  decodeChild, decodeMacKey, decodeMacVal, decodePort, encodeChild, encodeMacKey, encodeMacVal, encodePort, SIZES,
  decodeParentStatsPerCpu, sumParentStats, DROP_REASONS,
} from '../../src/datapath/abi.js';

describe('abi codecs', () => {
  it('child records round-trip', () => {
    const c = { parentIfindex: 7, hostIfindex: 99, mtu: 1400, mac: '02:00:00:00:00:09', mode: 'bridge' as const, flags: 3, kind: 'veth' as const, createdNs: 123456789n, name: 'eth-child0', netns: 'tenant-a', slot: 65536, parentSlot: 1024 };
    const b = encodeChild(c);
    expect(b.length).toBe(SIZES.child);
    expect(decodeChild(b)).toEqual(c);
  });
  it('a tap child keeps its queue count', () => {
    const c = { parentIfindex: 7, hostIfindex: 99, mtu: 1500, mac: '02:00:00:00:00:0a', mode: 'bridge' as const, flags: 2, kind: 'tap' as const, queues: 256, createdNs: 1n, name: 'mvt0', netns: '', slot: 3, parentSlot: 0 };
    expect(decodeChild(encodeChild(c))).toEqual(c);
  });
  it('refuses names that do not fit', () => {
    const c = { parentIfindex: 1, hostIfindex: 2, mtu: 1500, mac: '02:00:00:00:00:09', mode: 'vepa' as const, flags: 0, kind: 'veth' as const, createdNs: 0n, name: 'x'.repeat(16), netns: '' };
    expect(() => encodeChild(c)).toThrow(/longer than 15 bytes/);
  });
  it('mac keys, values and ports round-trip', () => {
    expect(decodeMacKey(encodeMacKey(3, '02:aa:bb:cc:dd:ee'))).toEqual({ parentIfindex: 3, mac: '02:aa:bb:cc:dd:ee' });
    expect(decodeMacVal(encodeMacVal({ hostIfindex: 12, mode: 'private', flags: 1 }))).toEqual({ hostIfindex: 12, mode: 'private', flags: 1, kind: 'veth', slot: 0 });
    expect(decodeMacVal(encodeMacVal({ hostIfindex: 13, mode: 'bridge', flags: 3, kind: 'netkit', slot: 9 }))).toEqual({ hostIfindex: 13, mode: 'bridge', flags: 3, kind: 'netkit', slot: 9 });
    const p = { flags: 2, passthruHost: 0, mac: '02:0a:00:00:00:01', promiscSet: true, clsactCreated: false, nchildren: 4, nflood: 3, nfloodMode: [0, 1, 2, 0], nfloodAll: 1, slot: 12 };
    expect(decodePort(encodePort(p))).toEqual(p);
  });
  it('sums per-CPU parent stats slot by slot', () => {
    const raw = Buffer.alloc(SIZES.parentStats * 2);
    raw.writeBigUInt64LE(5n, 0);
    raw.writeBigUInt64LE(7n, SIZES.parentStats);
    raw.writeBigUInt64LE(2n, SIZES.parentStats + 32 + 8 * DROP_REASONS.indexOf('private-src'));
    const t = sumParentStats(decodeParentStatsPerCpu(raw));
    expect(t.stackPackets).toBe(12n);
    expect(t.drops['private-src']).toBe(2n);
  });
});
