// The pure model against the spec's condensed matrix (§8, scenario "mixed", tables A-C and E).
import { describe, expect, it } from 'vitest';
import { childTx, deliveries, parentRx, type ModelPort } from '../../src/model.js';
import { ETH_P_PAUSE, ETH_P_TEST } from '../../src/frames.js';

const EXT = '02:0e:00:00:00:01';
const mixed: ModelPort = {
  parentMac: '02:0a:00:00:00:01',
  isolation: 'kernel',
  children: [
    { name: 'p1', mode: 'private', mac: '02:00:00:00:01:01', up: true, groups: ['01:00:5e:01:02:03'] },
    { name: 'p2', mode: 'private', mac: '02:00:00:00:01:02', up: true, groups: ['01:00:5e:01:02:03'] },
    { name: 'v1', mode: 'vepa', mac: '02:00:00:00:02:01', up: true, groups: ['01:00:5e:01:02:03'] },
    { name: 'v2', mode: 'vepa', mac: '02:00:00:00:02:02', up: true, groups: ['01:00:5e:01:02:03'] },
    { name: 'b1', mode: 'bridge', mac: '02:00:00:00:04:01', up: true, groups: ['01:00:5e:01:02:03'] },
    { name: 'b2', mode: 'bridge', mac: '02:00:00:00:04:02', up: true },
  ],
};
const f = (src: string, dst: string, ethertype = ETH_P_TEST) => ({ src, dst, ethertype });
const B = 'ff:ff:ff:ff:ff:ff';
const MJ = '01:00:5e:01:02:03';
const sorted = (x: string[]) => [...x].sort();

describe('model: spec §8 matrix', () => {
  it('A: child TX unicast, reflector OFF and ON', () => {
    expect(deliveries(mixed, { from: 'child', name: 'p1' }, f('02:00:00:00:01:01', '02:00:00:00:01:02'), false)).toEqual(['wire']);
    expect(deliveries(mixed, { from: 'child', name: 'p1' }, f('02:00:00:00:01:01', '02:00:00:00:01:02'), true)).toEqual(['wire', 'p2']);
    expect(deliveries(mixed, { from: 'child', name: 'b2' }, f('02:00:00:00:04:02', '02:00:00:00:04:01'), true)).toEqual(['b1']);
    expect(deliveries(mixed, { from: 'child', name: 'b2' }, f('02:00:00:00:04:02', '02:00:00:00:02:01'), false)).toEqual(['wire']);
    expect(deliveries(mixed, { from: 'child', name: 'v2' }, f('02:00:00:00:02:02', '02:0a:00:00:00:01'), true)).toEqual(['wire', 'stack']);
  });
  it('B: child TX broadcast and joined multicast', () => {
    expect(sorted(deliveries(mixed, { from: 'child', name: 'b1' }, f('02:00:00:00:04:01', B), false))).toEqual(['b2', 'wire']);
    expect(sorted(deliveries(mixed, { from: 'child', name: 'b1' }, f('02:00:00:00:04:01', B), true))).toEqual(sorted(['b2', 'wire', 'stack', 'v1', 'v2']));
    expect(sorted(deliveries(mixed, { from: 'child', name: 'v1' }, f('02:00:00:00:02:01', MJ), true))).toEqual(sorted(['wire', 'stack', 'v2', 'b1']));
    expect(deliveries(mixed, { from: 'child', name: 'p1' }, f('02:00:00:00:01:01', B), true)).toEqual(['wire', 'p1']);
  });
  it('C: parent RX by source', () => {
    expect(sorted(parentRx(mixed, f(EXT, B)))).toEqual(sorted(['stack', 'p1', 'p2', 'v1', 'v2', 'b1', 'b2']));
    expect(sorted(parentRx(mixed, f(EXT, MJ)))).toEqual(sorted(['stack', 'p1', 'p2', 'v1', 'v2', 'b1']));
    expect(parentRx(mixed, f(EXT, '01:00:5e:11:22:33'))).toEqual(['stack']);
    expect(parentRx(mixed, f(EXT, B, ETH_P_PAUSE))).toEqual(['stack']);
    expect(parentRx(mixed, f('02:00:00:00:01:01', B, ETH_P_PAUSE))).toEqual(['p1']);
    expect(sorted(parentRx(mixed, f('02:00:00:00:04:01', B)))).toEqual(sorted(['stack', 'v1', 'v2']));
    expect(parentRx(mixed, f('02:00:00:00:01:01', '02:00:00:00:02:01'))).toEqual(['v1']);
    expect(parentRx(mixed, f(EXT, '02:99:00:00:00:99'))).toEqual(['stack']);
  });
  it('strict isolation drops a sibling\'s unicast to a private child only', () => {
    const strict = { ...mixed, isolation: 'strict' as const };
    expect(parentRx(strict, f('02:00:00:00:01:02', '02:00:00:00:01:01'))).toEqual([]);
    expect(parentRx(strict, f('02:00:00:00:01:01', '02:00:00:00:01:01'))).toEqual(['p1']);
    expect(parentRx(strict, f('02:00:00:00:01:02', '02:00:00:00:02:01'))).toEqual(['v1']);
  });
  it('E: passthru takes all unicast, drops it while DOWN', () => {
    const pt: ModelPort = { parentMac: '02:0a:00:00:00:01', isolation: 'kernel', children: [{ name: 't1', mode: 'passthru', mac: '02:0a:00:00:00:01', up: true }] };
    expect(parentRx(pt, f(EXT, '02:99:00:00:00:99'))).toEqual(['t1']);
    expect(sorted(parentRx(pt, f(EXT, B)))).toEqual(['stack', 't1']);
    expect(parentRx(pt, f('02:0a:00:00:00:01', B))).toEqual(['t1']);
    const down = { ...pt, children: [{ ...pt.children[0]!, up: false }] };
    expect(parentRx(down, f(EXT, '02:0a:00:00:00:01'))).toEqual([]);
    expect(parentRx(down, f(EXT, B))).toEqual(['stack']);
  });
  it('a flood copy past a child\'s MTU (+ header and one tag): dropped from a sibling (both), from the wire only with veth copies (difference 4)', () => {
    const port: ModelPort = {
      parentMac: '02:0a:00:00:00:01', isolation: 'kernel',
      children: [{ name: 'b1', mode: 'bridge', mac: '02:00:00:00:04:01', up: true, mtu: 1000 }, { name: 'b2', mode: 'bridge', mac: '02:00:00:00:04:02', up: true }],
    };
    const big = { src: '02:00:00:00:04:02' as const, dst: B, ethertype: ETH_P_TEST, length: 1019 };
    const edge = { ...big, length: 1018 };
    expect(childTx(port, port.children[1]!, big)).toEqual(['wire']);
    expect(childTx(port, port.children[1]!, edge)).toEqual(['b1', 'wire']);
    const wire = { ...big, src: EXT };
    expect(sorted(parentRx(port, wire))).toEqual(['b1', 'b2', 'stack']);
    expect(sorted(parentRx({ ...port, vethCopies: true }, wire))).toEqual(['b2', 'stack']);
    expect(sorted(parentRx({ ...port, vethCopies: true }, { ...wire, length: 1018 }))).toEqual(['b1', 'b2', 'stack']);
  });
});
