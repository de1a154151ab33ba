// The pure model against the spec's condensed matrix (§8, scenario "mixed", tables A-C, E and F).
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
    // A child whose copies come by a peer redirect gets the big one from the wire, as from the kernel;
    // from a sibling it is still dropped (the copy passes the host end's transmit).
    const peer: ModelPort = { ...port, vethCopies: true, children: port.children.map((c) => ({ ...c, peerCopies: true })) };
    expect(sorted(parentRx(peer, wire))).toEqual(['b1', 'b2', 'stack']);
    expect(childTx(peer, peer.children[1]!, big)).toEqual(['wire']);
  });
  it('F: source mode (s1 lists EXT and b1; s2 has nodst and lists EXT2), every cell of the spec\'s table', () => {
    const S1 = '02:00:00:00:10:01', S2 = '02:00:00:00:10:02', V1 = '02:00:00:00:02:01', B1 = '02:00:00:00:04:01', B2 = '02:00:00:00:04:02';
    const EXT2 = '02:0e:00:00:00:02', P = '02:0a:00:00:00:01', UNK = '02:99:00:00:00:99', MX = '01:00:5e:11:22:33';
    const port: ModelPort = {
      parentMac: P, isolation: 'kernel',
      children: [
        { name: 's1', mode: 'source', mac: S1, up: true, sources: [EXT, B1] },
        { name: 's2', mode: 'source', mac: S2, up: true, sources: [EXT2], nodst: true },
        { name: 'v1', mode: 'vepa', mac: V1, up: true },
        { name: 'b1', mode: 'bridge', mac: B1, up: true },
        { name: 'b2', mode: 'bridge', mac: B2, up: true },
      ],
    };
    const dsts = [S1, V1, B2, P, UNK, B, MX]; // the table's columns: U:s1 U:v1 U:b2 U:parent U:unknown B Mx
    const table: [string, Parameters<typeof deliveries>[1], string, boolean, string[][]][] = [
      ['ext src=EXT', { from: 'wire' }, EXT, false, [['s1', 'stack'], ['s1', 'v1'], ['s1', 'b2'], ['s1', 'stack'], ['s1', 'stack'], ['s1', 'v1', 'b1', 'b2', 'stack'], ['s1', 'stack']]],
      ['ext src=EXT2 (nodst)', { from: 'wire' }, EXT2, false, [['s2'], ['s2'], ['s2'], ['s2'], ['s2'], ['s2'], ['s2']]],
      ['ext src=s1', { from: 'wire' }, S1, false, [['stack'], ['v1'], ['b2'], ['stack'], ['stack'], ['s1'], ['s1']]],
      ['b1 TX, reflector OFF', { from: 'child', name: 'b1' }, B1, false, [['wire'], ['wire'], ['s1', 'b2'], ['wire'], ['wire'], ['wire', 'b2'], ['wire']]],
      ['b1 TX, reflector ON', { from: 'child', name: 'b1' }, B1, true,
        [['wire', 's1', 'stack'], ['wire', 's1', 'v1'], ['s1', 'b2'], ['wire', 's1', 'stack'], ['wire', 's1', 'stack'], ['wire', 's1', 'v1', 'b2', 'stack'], ['wire', 's1', 'stack']]],
    ];
    for (const [row, inj, src, refl, cells] of table)
      dsts.forEach((dst, i) => expect(sorted(deliveries(port, inj, f(src, dst), refl)), `${row} → ${dst}`).toEqual(sorted(cells[i]!)));
    // nodst counts while its child is DOWN: the frame still goes nowhere else, and no copy is made.
    const s2Down = { ...port, children: port.children.map((c) => (c.name === 's2' ? { ...c, up: false } : c)) };
    expect(parentRx(s2Down, f(EXT2, V1))).toEqual([]);
  });
});
