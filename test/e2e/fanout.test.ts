// Fan-out: 1,024 children on one parent. A broadcast from outside is copied to every child through
// this CPU's backlog (each copy crosses the host end's veth), which holds net.core.netdev_max_backlog
// (1,000) frames until it is drained: in one softirq, copies past the 1,000th were refused (issue 18).
// Now a flood larger than the budget (512 copies per CPU) is deferred: a tagged clone goes into a
// child's host end behind what is queued, and the program there makes 8 list entries' copies per round,
// queueing itself again behind them (flood.h). So every copy arrives, in order. In a storm, floods past
// the 64 a CPU holds deferred are shed and counted as copy-refused. A bridge child's broadcast reaches its 340 bridge
// siblings once each. The per-CPU counters say exactly what each child received.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/sandbox.js';
import { Macvlan } from '../../src/control/macvlan.js';
import { addBpfChildren, buildWire } from '../../src/lab/builder.js';
import { addon, inNetns, type PacketSocket } from '../../src/native.js';
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

/** Sets the flood settings (0: the defaults). */
function setFlood(budget: number, chunk: number): void {
  inNetns(`/run/netns/${host}`, () => {
    const m = Macvlan.open(pins, { reconcile: false });
    try {
      m.dp.setFloodSettings({ budget, chunk });
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
  it('no child is made with GRO on or its host end\'s TSO off (the NAPI path of earlier builds)', () => {
    const a = addon();
    const gro = (i: number) => inNetns(`/run/netns/${kids}`, () => a.ethtoolGet(name(i), 'gro'));
    const tso = (i: number) => inNetns(`/run/netns/${host}`, () => a.ethtoolGet(ifnameOf(hostIfindex[i]!), 'tso'));
    for (const i of [0, 600, N - 1]) expect([gro(i), tso(i)], `f${i}: GRO, host TSO`).toEqual([false, true]);
  });

  /** Sends FRAMES broadcasts from the external host, `gapMs` apart, and checks what arrived against the
   * counters; returns how many copies were delivered and how many counted as refused. */
  async function fromOutside(base: number, gapMs: number): Promise<{ delivered: number; refused: number }> {
    const a = addon();
    const tx = new a.PacketSocket({ ifname: 'e0', netns: `/run/netns/${ext}` });
    const stack = new a.PacketSocket({ ifname: 'p0', netns: `/run/netns/${host}`, protocol: ETH_P_TEST });
    try {
      const before = counters();
      for (const s of sockets) s.recv();
      // One source's frames arrive on one CPU, as a NIC's receive queue for one flow puts them; the order
      // kept is each CPU's (README, deliberate difference 2). The sending thread, free to move, put a
      // storm's frames on both CPUs' backlogs and a later frame's copies overtook an earlier one's.
      const cpus = a.threadAffinity();
      a.threadAffinity([cpus[0]!]);
      try {
        for (let k = 0; k < FRAMES; k++) {
          tx.send(buildFrame({ src: '02:0e:00:00:00:01', dst: 'ff:ff:ff:ff:ff:ff', id: base + k }));
          if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
        }
      } finally {
        a.threadAffinity(cpus);
      }
      await new Promise((r) => setTimeout(r, 500));
      const ids = sockets.map((s) => s.recv().map((f) => frameId(f.data) ?? 0).filter((id) => id >= base && id < base + FRAMES));
      const got = ids.map((l) => l.length);
      const after = counters();
      expect(stack.recv().filter((f) => (frameId(f.data) ?? 0) >= base).length, 'the parent\'s stack got each frame').toBe(FRAMES);
      expect(got.map((g, i) => g - Number(after.copies[i]! - before.copies[i]!)).filter((d) => d !== 0), 'each child\'s counter = what it received').toEqual([]);
      const delivered = got.reduce((x, y) => x + y, 0);
      const refused = Number(after.drops['copy-refused'] - before.drops['copy-refused']);
      const failed = Number(after.drops['redirect-fail'] - before.drops['redirect-fail']);
      expect(failed, 'redirect-fail').toBe(0);
      expect(delivered + refused, 'delivered + counted = sent').toBe(N * FRAMES);
      expect(ids.map((l, i) => [i, l] as const).filter(([, l]) => l.some((id, k) => k > 0 && id <= l[k - 1]!)), 'children that got broadcasts out of order').toEqual([]);
      expect(Number(after.drops['mode-filter'] - before.drops['mode-filter']), 'nothing withheld by the mode').toBe(0);
      return { delivered, refused };
    } finally {
      tx.close();
      stack.close();
    }
  }

  for (const [budget, chunk] of [[0, 0], [300, 100]] as const) it(`from outside, ${budget ? `a budget of ${budget} and rounds of ${chunk}` : 'the default budget and rounds'}: every copy delivered, past the backlog's 1,000, in order; the counters agree`, async () => {
    const backlog = Number(fs.readFileSync('/proc/sys/net/core/netdev_max_backlog', 'utf8'));
    expect(N, 'more children than the backlog holds').toBeGreaterThan(backlog);
    setFlood(budget, chunk);
    try {
      const r = await fromOutside(1000 + budget * 10, 20);
      expect(r.refused, 'copies refused').toBe(0);
    } finally {
      setFlood(0, 0);
    }
  });

  it('a storm from outside (back to back): floods past the budget are shed and counted as copy-refused, the rest delivered in order', async () => {
    const r = await fromOutside(9000, 0);
    expect(r.delivered, 'copies delivered').toBeGreaterThanOrEqual(N);
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
    expect(Number(after.drops['mode-filter'] - before.drops['mode-filter']), 'the 683 other children withheld by the mode, in every chunk').toBe((N - 341) * FRAMES);
    expect(after.copies.map((c, i) => Number(c - before.copies[i]!) - got[i]!).filter((d) => d !== 0)).toEqual([]);
  });
});
