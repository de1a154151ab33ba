// spoofchk (the spec's deliberate difference 4, README's 7): kernel macvlan never looks at the source MAC a child sends with;
// with spoofchk on, only the child's own may leave it, to the wire or to a sibling, unicast or not, and
// every frame refused is counted as a spoof drop on its parent. Real frames through real devices.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/sandbox.js';
import { Topology, EXT_MAC, UNKNOWN_MAC, type ChildSpec } from '../../src/lab/topology.js';
import { buildFrame } from '../../src/frames.js';

const sb = new Sandbox('sp');
let t: Topology;
const CHILDREN: ChildSpec[] = [
  { name: 'b1', mode: 'bridge', mac: '02:00:00:00:04:01' },
  { name: 'b2', mode: 'bridge', mac: '02:00:00:00:04:02' },
  { name: 'v1', mode: 'vepa', mac: '02:00:00:00:02:01' },
];
const BCAST = 'ff:ff:ff:ff:ff:ff';

beforeAll(() => {
  t = Topology.build(sb, { datapath: 'bpf', children: CHILDREN, reflector: false }, 'sp');
});
afterAll(() => {
  t?.close();
  sb.cleanup();
});

const spoofDrops = () => (JSON.parse(t.cli(['-j', 'stats'])) as { parents: { name: string; counters: { drops: Record<string, string | number> } }[] }).parents
  .map((p) => Number(p.counters.drops.spoof ?? 0)).reduce((a, b) => a + b, 0);

/** Sends [from, src, dst] frames with ids 0.., then returns id -> the endpoints that got it. */
async function sendAll(frames: [string, string, string][]): Promise<Map<number, string[]>> {
  await t.drain(50);
  frames.forEach(([from, src, dst], id) => t.send({ from: 'child', name: from }, buildFrame({ src: src as never, dst: dst as never, id })));
  const got = await t.collect();
  return new Map(frames.map((f, id) => [id, [...(got.get(id)?.keys() ?? [])].filter((ep) => ep !== f[0]).sort()]));
}

describe('spoofchk on a child', () => {
  it('is off by default, as in the kernel: a forged source leaves like any other', async () => {
    expect(JSON.parse(t.cli(['-j', 'link', 'show', 'b1']))[0].spoofchk).toBe(false);
    const got = await sendAll([['b1', UNKNOWN_MAC, EXT_MAC], ['b1', EXT_MAC, '02:00:00:00:04:02']]);
    expect(got.get(0)).toEqual(['wire']);
    expect(got.get(1)).toEqual(['b2']);
  });

  it('on: only the child\'s own source MAC leaves it; the rest is dropped and counted as spoof', async () => {
    t.cli(['link', 'set', 'b1', 'spoofchk', 'on']);
    expect(JSON.parse(t.cli(['-j', 'link', 'show', 'b1']))[0].spoofchk).toBe(true);
    expect(t.cli(['link', 'show', 'b1'])).toMatch(/spoofchk on/);
    const before = spoofDrops();
    const got = await sendAll([
      ['b1', '02:00:00:00:04:01', EXT_MAC], // own → wire
      ['b1', '02:00:00:00:04:01', '02:00:00:00:04:02'], // own → bridge sibling
      ['b1', '02:00:00:00:04:01', BCAST], // own broadcast → sibling (bridge) and wire
      ['b1', UNKNOWN_MAC, EXT_MAC], // forged → wire
      ['b1', '02:00:00:00:02:01', '02:00:00:00:04:02'], // a sibling's MAC → bridge sibling
      ['b1', EXT_MAC, BCAST], // forged broadcast
      ['b1', UNKNOWN_MAC, '01:00:5e:01:02:03'], // forged multicast
      ['v1', UNKNOWN_MAC, EXT_MAC], // another child, spoofchk off: as the kernel
    ]);
    expect(Object.fromEntries(got)).toEqual({
      0: ['wire'], 1: ['b2'], 2: ['b2', 'wire'],
      3: [], 4: [], 5: [], 6: [],
      7: ['wire'],
    });
    expect(spoofDrops() - before).toBe(4);
  });

  it('follows the child\'s address when it changes', async () => {
    t.cli(['link', 'set', 'b1', 'address', '02:00:00:00:04:09']);
    const got = await sendAll([['b1', '02:00:00:00:04:09', EXT_MAC], ['b1', '02:00:00:00:04:01', EXT_MAC]]);
    expect(got.get(0)).toEqual(['wire']);
    expect(got.get(1)).toEqual([]);
  });

  it('off again: forged sources leave', async () => {
    t.cli(['link', 'set', 'b1', 'spoofchk', 'off']);
    const got = await sendAll([['b1', UNKNOWN_MAC, EXT_MAC]]);
    expect(got.get(0)).toEqual(['wire']);
  });
});
