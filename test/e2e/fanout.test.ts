// Fan-out: 1,024 children on one parent. A broadcast from outside is copied to every child in one
// softirq. Through this CPU's backlog (net.core.netdev_max_backlog, 1,000 frames) copies past the
// 1,000th were refused (issue 18); the children past the parent's first 500 (half the backlog) now
// take theirs through their veth's NAPI ring (GRO on at the child end, TSO off at the host end:
// kinds/veth.ts), so every copy arrives. A
// refused copy would still be counted as copy-refused, spread over the children (the walk starts at a
// random child). A bridge child's broadcast reaches its 340 bridge siblings once each. The per-CPU
// counters say exactly what each child received.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/sandbox.js';
import { Macvlan } from '../../src/control/macvlan.js';
import { addBpfChildren, buildWire } from '../../src/lab/builder.js';
import { addon, inNetns, type PacketSocket } from '../../src/native.js';
import { napiFloodFrom } from '../../src/control/kinds/veth.js';
import { ifnameOf } from '../../src/net/links.js';
import { buildFrame, ETH_P_TEST, frameId } from '../../src/frames.js';
import { decodeChildStatsPerCpu, decodeParentStatsPerCpu, sumChildStats, sumParentStats } from '../../src/datapath/abi.js';

const N = 1024;
const FRAMES = 20;
const MODES = ['private', 'vepa', 'bridge'] as const;
const sb = new Sandbox('f');
let host = '';
let kids = '';
let ext = '';
let pins = '';
const sockets: PacketSocket[] = [];
const hostIfindex: number[] = [];

const name = (i: number) => `f${i}`;
const mac = (i: number) => `02:00:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
const modeOf = (i: number) => MODES[i % 3]!;

beforeAll(() => {
  host = sb.netns('host');
  kids = sb.netns('kids');
  ext = sb.netns('ext');
  pins = sb.pinRoot();
  buildWire({ host, ext });
  addBpfChildren(host, pins, Array.from({ length: N }, (_, i) => ({ name: name(i), mode: modeOf(i), mac: mac(i), netns: kids })));
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

/** Every child's flood-copy counter, and the parent's drops. */
function counters() {
  return inNetns(`/run/netns/${host}`, () => {
    const m = Macvlan.open(pins, { reconcile: false });
    try {
      const p0 = m.dp.listPorts()[0]!.parentIfindex;
      return {
        copies: hostIfindex.map((h) => sumChildStats(decodeChildStatsPerCpu(m.dp.childStatsRaw(h)!)).floodCopies),
        drops: sumParentStats(decodeParentStatsPerCpu(m.dp.parentStatsRaw(p0)!)).drops,
      };
    } finally {
      m.close();
    }
  });
}

/** Sends FRAMES broadcasts from `send` (20 ms apart: the backlog drains between them, as between the
 * frames of any real storm) and returns how many copies each child received with ids from `base`. */
async function broadcast(send: PacketSocket, src: string, base: number): Promise<number[]> {
  for (const s of sockets) s.recv();
  for (let k = 0; k < FRAMES; k++) {
    send.send(buildFrame({ src: src as never, dst: 'ff:ff:ff:ff:ff:ff', id: base + k }));
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 500));
  return sockets.map((s) => s.recv().filter((f) => (frameId(f.data) ?? 0) >= base && (frameId(f.data) ?? 0) < base + FRAMES).length);
}

describe(`broadcast fan-out to ${N} children`, () => {
  it('the children past half the backlog take their copies through NAPI (GRO on, the host end\'s TSO off); the first ones do not', () => {
    const from = napiFloodFrom();
    expect(from).toBe(Math.floor(Number(fs.readFileSync('/proc/sys/net/core/netdev_max_backlog', 'utf8')) / 2));
    const a = addon();
    const gro = (i: number) => inNetns(`/run/netns/${kids}`, () => a.ethtoolGet(name(i), 'gro'));
    const tso = (i: number) => inNetns(`/run/netns/${host}`, () => a.ethtoolGet(ifnameOf(hostIfindex[i]!), 'tso'));
    for (const i of [0, from - 1]) expect([gro(i), tso(i)], `f${i}: GRO, host TSO`).toEqual([false, true]);
    for (const i of [from, N - 1]) expect([gro(i), tso(i)], `f${i}: GRO, host TSO`).toEqual([true, false]);
  });

  it('from outside: every copy delivered, past the backlog\'s 1,000 (each child\'s NAPI ring); the counters agree', async () => {
    const a = addon();
    const tx = new a.PacketSocket({ ifname: 'e0', netns: `/run/netns/${ext}` });
    const stack = new a.PacketSocket({ ifname: 'p0', netns: `/run/netns/${host}`, protocol: ETH_P_TEST });
    try {
      const before = counters();
      const got = await broadcast(tx, '02:0e:00:00:00:01', 1000);
      const after = counters();
      expect(stack.recv().filter((f) => (frameId(f.data) ?? 0) >= 1000).length, 'the parent\'s stack got each frame').toBe(FRAMES);
      expect(got.map((g, i) => g - Number(after.copies[i]! - before.copies[i]!)).filter((d) => d !== 0), 'each child\'s counter = what it received').toEqual([]);
      const delivered = got.reduce((x, y) => x + y, 0);
      const full = Number(after.drops['copy-refused'] - before.drops['copy-refused']);
      const failed = Number(after.drops['redirect-fail'] - before.drops['redirect-fail']);
      expect(delivered + full + failed, 'delivered + counted = sent').toBe(N * FRAMES);
      const backlog = Number(fs.readFileSync('/proc/sys/net/core/netdev_max_backlog', 'utf8'));
      expect(N, 'more children than the backlog holds').toBeGreaterThan(backlog);
      expect(full + failed, 'copies refused (copy-refused, redirect-fail)').toBe(0);
      expect(got.filter((g) => g !== FRAMES), 'children without every broadcast').toEqual([]);
    } finally {
      tx.close();
      stack.close();
    }
  });

  it('from a bridge child to its 340 bridge siblings (under the backlog\'s size): exactly one copy each', async () => {
    const from = 2; // f2, bridge
    const before = counters();
    const got = await broadcast(sockets[from]!, mac(from), 5000);
    const after = counters();
    const bridges = got.map((g, i) => [g, i] as const).filter(([, i]) => modeOf(i) === 'bridge' && i !== from);
    expect(bridges.length).toBe(340);
    expect(bridges.filter(([g]) => g !== FRAMES), 'bridge siblings without exactly one copy of each').toEqual([]);
    expect(got.filter((g, i) => modeOf(i) !== 'bridge' && g !== 0), 'other modes get no sibling copy').toEqual([]);
    expect(Number(after.drops['copy-refused'] - before.drops['copy-refused'])).toBe(0);
    expect(after.copies.map((c, i) => Number(c - before.copies[i]!) - got[i]!).filter((d) => d !== 0)).toEqual([]);
  });
});
