// Source mode and nodst against kernel macvlan (issue 16 item 1; the spec's matrix F): the same topology
// built both ways, the same raw frames from outside (the sources the children list, others, and each
// child's MAC), from every UP child and from the parent's stack, with and without a hairpinning switch.
// Every unicast and group cell must match the kernel (and the model), with the one deliberate
// difference the multicast differential already allows (every eligible child gets every group).
import { afterAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/sandbox.js';
import { scaled } from '../helpers/scale.js';
import { differential } from '../helpers/differential.js';
import { EXT_MAC } from '../../src/lab/builder.js';
import type { ChildSpec } from '../../src/lab/topology.js';
import type { Mac } from '../../src/mac.js';

const sb = new Sandbox('src');
afterAll(() => sb.cleanup());

const EXT2: Mac = '02:0e:00:00:00:02';
const EXT3: Mac = '02:0e:00:00:00:03';
const B1: Mac = '02:00:00:00:04:01';
// s1 lists the external host and a bridge sibling (whose unicast to b2 re-enters the port); s2 has nodst
// and lists a second outside source; s3 is DOWN with nodst (its nodst still applies); s4 lists EXT2 too,
// without nodst (two source children of one address: both get copies, and s2's nodst holds the frame).
const CHILDREN: ChildSpec[] = [
  { name: 's1', mode: 'source', mac: '02:00:00:00:10:01', sources: [EXT_MAC, B1] },
  { name: 's2', mode: 'source', mac: '02:00:00:00:10:02', sources: [EXT2], nodst: true },
  { name: 's3', mode: 'source', mac: '02:00:00:00:10:03', sources: [EXT3], nodst: true, up: false },
  { name: 's4', mode: 'source', mac: '02:00:00:00:10:04', sources: [EXT2] },
  { name: 'p1', mode: 'private', mac: '02:00:00:00:01:01' },
  { name: 'v1', mode: 'vepa', mac: '02:00:00:00:02:01' },
  { name: 'b1', mode: 'bridge', mac: B1 },
  { name: 'b2', mode: 'bridge', mac: '02:00:00:00:04:02' },
];

describe('source mode and nodst: macvlan-bpf (isolation kernel) delivers what kernel macvlan delivers', () => {
  for (const reflector of scaled([false, true], [true])) { // in the guests: with the switch, which covers both paths
    it(`unicast, broadcast and multicast, reflector ${reflector ? 'ON' : 'OFF'}`, async () => {
      const r = await differential(sb, { children: CHILDREN, reflector, isolation: 'kernel' });
      expect(r.unicast).toBeGreaterThan(500);
      expect(r.multicast.cells).toBeGreaterThan(500);
    });
  }
});
