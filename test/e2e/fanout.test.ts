// Fan-out: 256 children on one parent; broadcasts from outside reach each exactly once, the parent's
// stack too, and the per-CPU counters say the same.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/sandbox.js';
import { Macvlan } from '../../src/control/macvlan.js';
import { addBpfChildren, buildWire } from '../../src/lab/builder.js';
import { addon, inNetns, type PacketSocket } from '../../src/native.js';
import { buildFrame, ETH_P_TEST, frameId } from '../../src/frames.js';
import { decodeChildStatsPerCpu, sumChildStats } from '../../src/datapath/abi.js';

const N = 256;
const FRAMES = 20;
const sb = new Sandbox('f');
let host = '';
let kids = '';
let ext = '';
let pins = '';
const sockets: PacketSocket[] = [];
const hostIfindex: number[] = [];

const name = (i: number) => `f${i}`;
const mac = (i: number) => `02:00:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;

beforeAll(() => {
  host = sb.netns('host');
  kids = sb.netns('kids');
  ext = sb.netns('ext');
  pins = sb.pinRoot();
  buildWire({ host, ext });
  addBpfChildren(host, pins, Array.from({ length: N }, (_, i) => ({ name: name(i), mode: (['private', 'vepa', 'bridge'] as const)[i % 3]!, mac: mac(i), netns: kids })));
  inNetns(`/run/netns/${host}`, () => {
    const m = Macvlan.open(pins, { reconcile: false });
    try {
      for (let i = 0; i < N; i++) hostIfindex.push(m.findChild(name(i)).hostIfindex);
    } finally {
      m.close();
    }
  });
  for (let i = 0; i < N; i++) sockets.push(new (addon().PacketSocket)({ ifname: name(i), netns: `/run/netns/${kids}` }));
}, 300_000);
afterAll(() => {
  for (const s of sockets) s.close();
  sb.cleanup();
});

describe(`broadcast fan-out to ${N} children`, () => {
  it('every child gets exactly one copy of each frame, and the counters agree', async () => {
    const a = addon();
    const tx = new a.PacketSocket({ ifname: 'e0', netns: `/run/netns/${ext}` });
    const stack = new a.PacketSocket({ ifname: 'p0', netns: `/run/netns/${host}`, protocol: ETH_P_TEST });
    try {
      for (let k = 0; k < FRAMES; k++) tx.send(buildFrame({ src: '02:0e:00:00:00:01', dst: 'ff:ff:ff:ff:ff:ff', id: 1000 + k }));
      await new Promise((r) => setTimeout(r, 500));
      const counts = sockets.map((s) => s.recv().filter((f) => (frameId(f.data) ?? 0) >= 1000).length);
      expect(counts.filter((c) => c !== FRAMES), 'children without exactly one copy of each').toEqual([]);
      expect(stack.recv().filter((f) => (frameId(f.data) ?? 0) >= 1000).length).toBe(FRAMES);
      inNetns(`/run/netns/${host}`, () => {
        const m = Macvlan.open(pins, { reconcile: false });
        try {
          const copies = hostIfindex.map((h) => sumChildStats(decodeChildStatsPerCpu(m.dp.childStatsRaw(h)!)).floodCopies);
          expect(copies.filter((c) => c !== BigInt(FRAMES))).toEqual([]);
        } finally {
          m.close();
        }
      });
    } finally {
      tx.close();
      stack.close();
    }
  });
});
