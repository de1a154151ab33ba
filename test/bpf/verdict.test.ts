// Table-driven verdict tests: every datapath program run through BPF_PROG_TEST_RUN against real maps
// made by the control plane. One row: description, input frame, expected verdict and target.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/sandbox.js';
import { CHILDREN, EXT, PARENT_MACS, SRC_A, SRC_B, SRC_C, UNKNOWN, buildFixture, type Fixture } from '../helpers/verdict-fixture.js';
import { testRunTc, testRunXdp, TC_ACT_UNSPEC, TC_ACT_REDIRECT, TC_ACT_SHOT, XDP_DROP, XDP_PASS, XDP_REDIRECT } from '../helpers/verdict.js';
import type { Macvlan } from '../../src/control/macvlan.js';
import path from 'node:path';
import { addon, inNetns } from '../../src/native.js';
import { buildFrame, ETH_P_PAUSE, type FrameSpec } from '../../src/frames.js';
import { FloodList } from '../../src/control/flood.js';
import { CHILD_UP, COPY_PEER, DROP_REASONS, decodeChildStatsPerCpu, decodeParentStatsPerCpu, sumChildStats, sumParentStats } from '../../src/datapath/abi.js';
import type { Mac } from '../../src/mac.js';

const sb = new Sandbox('v');
let fx: Fixture;
let host = '';
let m: Macvlan;
let ifindex = new Map<string, number>(); // parents by name, children by name -> host-end ifindex

const P0 = PARENT_MACS.p0;
const Q0 = PARENT_MACS.q0;
const R0 = PARENT_MACS.r0;
const MAC = Object.fromEntries(CHILDREN.map((c) => [c.name, c.mac])) as Record<string, Mac>;

beforeAll(() => {
  fx = buildFixture(sb);
  ({ host, m, ifindex } = fx);
});
afterAll(() => {
  fx?.close();
  sb.cleanup();
});

// `copies` on a delivery, the stack or a drop: source-mode copies made first (none when absent).
type Expect =
  | { deliver: string; copies?: number } // into this child
  | { wire: string } // out of this parent
  | { stack: true; copies?: number }
  | { flood: 'stack' | 'wire'; copies: number } // copies to children, then the frame itself goes on
  | { drop: (typeof DROP_REASONS)[number]; copies?: number };

interface Row {
  desc: string;
  /** 'parent:<name>' = parent ingress; 'child:<name>' = that child's transmit (host-end ingress). */
  at: `parent:${string}` | `child:${string}`;
  frame: FrameSpec;
  expect: Expect;
}

const ROWS: Row[] = [
  // --- parent RX, unicast (spec §2.3) ---
  { desc: 'wire → private child', at: 'parent:p0', frame: { src: EXT, dst: MAC.p1! }, expect: { deliver: 'p1' } },
  { desc: 'wire → vepa child', at: 'parent:p0', frame: { src: EXT, dst: MAC.v1! }, expect: { deliver: 'v1' } },
  { desc: 'wire → bridge child', at: 'parent:p0', frame: { src: EXT, dst: MAC.b2! }, expect: { deliver: 'b2' } },
  { desc: 'wire → universally administered child MAC', at: 'parent:p0', frame: { src: EXT, dst: MAC.v2! }, expect: { deliver: 'v2' } },
  { desc: 'wire → child in the parent\'s own netns', at: 'parent:p0', frame: { src: EXT, dst: MAC.s1! }, expect: { deliver: 's1' } },
  { desc: 'wire → DOWN child: the parent\'s stack', at: 'parent:p0', frame: { src: EXT, dst: MAC.b3! }, expect: { stack: true } },
  { desc: 'wire → parent MAC: the parent\'s stack', at: 'parent:p0', frame: { src: EXT, dst: P0 }, expect: { stack: true } },
  { desc: 'wire → unknown MAC: the parent\'s stack', at: 'parent:p0', frame: { src: EXT, dst: UNKNOWN }, expect: { stack: true } },
  { desc: 'wire → another parent\'s child: the parent\'s stack', at: 'parent:p0', frame: { src: EXT, dst: MAC.kp1! }, expect: { stack: true } },
  // --- odd frames ---
  { desc: 'runt (header only) → child', at: 'parent:p0', frame: { src: EXT, dst: MAC.v1!, length: 14 }, expect: { deliver: 'v1' } },
  { desc: 'short frame (30 bytes) → child', at: 'parent:p0', frame: { src: EXT, dst: MAC.v1!, length: 30 }, expect: { deliver: 'v1' } },
  { desc: '802.1Q-tagged → child', at: 'parent:p0', frame: { src: EXT, dst: MAC.b2!, vlans: [{ tpid: 0x8100, vid: 10 }] }, expect: { deliver: 'b2' } },
  { desc: 'QinQ-tagged → child', at: 'parent:p0', frame: { src: EXT, dst: MAC.b2!, vlans: [{ tpid: 0x88a8, vid: 5 }, { tpid: 0x8100, vid: 10 }] }, expect: { deliver: 'b2' } },
  { desc: 'larger than the child\'s MTU → delivered (the kernel does not check on RX)', at: 'parent:p0', frame: { src: EXT, dst: MAC.b1!, length: 1400 }, expect: { deliver: 'b1' } },
  { desc: 'group bit in the source → still dispatched on dst', at: 'parent:p0', frame: { src: '03:00:00:00:00:01', dst: MAC.v1! }, expect: { deliver: 'v1' } },
  // --- parent RX, broadcast and multicast (spec §2.2, §6): UP children of p0 are p1 p2 v1 v2 b1 b2 s1 ---
  { desc: 'broadcast from outside → every UP child and the stack', at: 'parent:p0', frame: { src: EXT, dst: 'ff:ff:ff:ff:ff:ff' }, expect: { flood: 'stack', copies: 7 } },
  { desc: 'IPv4 multicast from outside → every UP child and the stack', at: 'parent:p0', frame: { src: EXT, dst: '01:00:5e:00:00:01' }, expect: { flood: 'stack', copies: 7 } },
  { desc: 'IPv6 multicast from outside → every UP child and the stack', at: 'parent:p0', frame: { src: EXT, dst: '33:33:00:00:00:01' }, expect: { flood: 'stack', copies: 7 } },
  { desc: 'broadcast from a DOWN child\'s MAC counts as external', at: 'parent:p0', frame: { src: MAC.b3!, dst: 'ff:ff:ff:ff:ff:ff' }, expect: { flood: 'stack', copies: 7 } },
  { desc: 'broadcast reflected from a vepa child → vepa and bridge, not itself', at: 'parent:p0', frame: { src: MAC.v1!, dst: 'ff:ff:ff:ff:ff:ff' }, expect: { flood: 'stack', copies: 4 } },
  { desc: 'broadcast reflected from a bridge child → vepa only', at: 'parent:p0', frame: { src: MAC.b1!, dst: 'ff:ff:ff:ff:ff:ff' }, expect: { flood: 'stack', copies: 2 } },
  { desc: 'broadcast reflected from a private child → back to it only, not the stack', at: 'parent:p0', frame: { src: MAC.p1!, dst: 'ff:ff:ff:ff:ff:ff' }, expect: { deliver: 'p1' } },
  { desc: 'PAUSE from outside → the stack only', at: 'parent:p0', frame: { src: EXT, dst: '01:80:c2:00:00:01', ethertype: ETH_P_PAUSE }, expect: { stack: true } },
  { desc: 'PAUSE reflected from a private child → back to it (no PAUSE check there)', at: 'parent:p0', frame: { src: MAC.p1!, dst: '01:80:c2:00:00:01', ethertype: ETH_P_PAUSE }, expect: { deliver: 'p1' } },
  { desc: 'tagged broadcast from outside → flooded', at: 'parent:p0', frame: { src: EXT, dst: 'ff:ff:ff:ff:ff:ff', vlans: [{ tpid: 0x8100, vid: 9 }] }, expect: { flood: 'stack', copies: 7 } },
  { desc: 'kernel isolation: broadcast from outside → both private children', at: 'parent:k0', frame: { src: EXT, dst: 'ff:ff:ff:ff:ff:ff' }, expect: { flood: 'stack', copies: 2 } },
  // --- strict isolation (deliberate difference 1) vs kernel isolation ---
  { desc: 'strict: sibling private → private is dropped', at: 'parent:p0', frame: { src: MAC.p2!, dst: MAC.p1! }, expect: { drop: 'private-src' } },
  { desc: 'strict: sibling vepa → private is dropped', at: 'parent:p0', frame: { src: MAC.v1!, dst: MAC.p1! }, expect: { drop: 'private-src' } },
  { desc: 'strict: own frame reflected → private is delivered', at: 'parent:p0', frame: { src: MAC.p1!, dst: MAC.p1! }, expect: { deliver: 'p1' } },
  { desc: 'strict: DOWN sibling\'s MAC counts as external', at: 'parent:p0', frame: { src: MAC.b3!, dst: MAC.p1! }, expect: { deliver: 'p1' } },
  { desc: 'strict: sibling → vepa is not checked', at: 'parent:p0', frame: { src: MAC.p1!, dst: MAC.v1! }, expect: { deliver: 'v1' } },
  { desc: 'kernel isolation: sibling private → private is delivered', at: 'parent:k0', frame: { src: MAC.kp2!, dst: MAC.kp1! }, expect: { deliver: 'kp1' } },
  // --- passthru (spec §5) ---
  { desc: 'passthru: unicast to its MAC', at: 'parent:q0', frame: { src: EXT, dst: Q0 }, expect: { deliver: 't1' } },
  { desc: 'passthru: unicast to any MAC', at: 'parent:q0', frame: { src: EXT, dst: UNKNOWN }, expect: { deliver: 't1' } },
  { desc: 'passthru: tagged unicast', at: 'parent:q0', frame: { src: EXT, dst: UNKNOWN, vlans: [{ tpid: 0x8100, vid: 1 }] }, expect: { deliver: 't1' } },
  { desc: 'passthru DOWN: unicast is dropped, not given to the stack', at: 'parent:r0', frame: { src: EXT, dst: R0 }, expect: { drop: 'child-down' } },
  { desc: 'passthru DOWN: unknown unicast is dropped', at: 'parent:r0', frame: { src: EXT, dst: UNKNOWN }, expect: { drop: 'child-down' } },
  { desc: 'passthru DOWN: broadcast still reaches the stack', at: 'parent:r0', frame: { src: EXT, dst: 'ff:ff:ff:ff:ff:ff' }, expect: { flood: 'stack', copies: 0 } },
  { desc: 'passthru: broadcast → the child and the stack', at: 'parent:q0', frame: { src: EXT, dst: 'ff:ff:ff:ff:ff:ff' }, expect: { flood: 'stack', copies: 1 } },
  { desc: 'passthru: the parent\'s own broadcast reflected → the child only', at: 'parent:q0', frame: { src: Q0, dst: 'ff:ff:ff:ff:ff:ff' }, expect: { deliver: 't1' } },
  // --- child TX (spec §3) ---
  { desc: 'private TX → private sibling: wire', at: 'child:p1', frame: { src: MAC.p1!, dst: MAC.p2! }, expect: { wire: 'p0' } },
  { desc: 'private TX → itself: wire', at: 'child:p1', frame: { src: MAC.p1!, dst: MAC.p1! }, expect: { wire: 'p0' } },
  { desc: 'vepa TX → vepa sibling: wire', at: 'child:v1', frame: { src: MAC.v1!, dst: MAC.v2! }, expect: { wire: 'p0' } },
  { desc: 'vepa TX → bridge child: wire', at: 'child:v1', frame: { src: MAC.v1!, dst: MAC.b1! }, expect: { wire: 'p0' } },
  { desc: 'bridge TX → bridge sibling: direct', at: 'child:b1', frame: { src: MAC.b1!, dst: MAC.b2! }, expect: { deliver: 'b2' } },
  { desc: 'bridge TX → itself: direct', at: 'child:b1', frame: { src: MAC.b1!, dst: MAC.b1! }, expect: { deliver: 'b1' } },
  { desc: 'bridge TX → bridge sibling in the parent\'s netns: direct', at: 'child:b1', frame: { src: MAC.b1!, dst: MAC.s1! }, expect: { deliver: 's1' } },
  { desc: 'bridge TX → DOWN bridge sibling: wire', at: 'child:b1', frame: { src: MAC.b1!, dst: MAC.b3! }, expect: { wire: 'p0' } },
  { desc: 'bridge TX → vepa child: wire', at: 'child:b1', frame: { src: MAC.b1!, dst: MAC.v1! }, expect: { wire: 'p0' } },
  { desc: 'bridge TX → private child: wire', at: 'child:b2', frame: { src: MAC.b2!, dst: MAC.p1! }, expect: { wire: 'p0' } },
  { desc: 'bridge TX → parent MAC: wire, never the parent\'s stack', at: 'child:b1', frame: { src: MAC.b1!, dst: P0 }, expect: { wire: 'p0' } },
  { desc: 'bridge TX → unknown: wire', at: 'child:b1', frame: { src: MAC.b1!, dst: UNKNOWN }, expect: { wire: 'p0' } },
  { desc: 'bridge TX broadcast → every UP bridge sibling, then the wire', at: 'child:b1', frame: { src: MAC.b1!, dst: 'ff:ff:ff:ff:ff:ff' }, expect: { flood: 'wire', copies: 2 } },
  { desc: 'bridge TX multicast → every UP bridge sibling, then the wire', at: 'child:b2', frame: { src: MAC.b2!, dst: '01:00:5e:01:02:03' }, expect: { flood: 'wire', copies: 2 } },
  { desc: 'bridge TX PAUSE → the wire only', at: 'child:b1', frame: { src: MAC.b1!, dst: '01:80:c2:00:00:01', ethertype: ETH_P_PAUSE }, expect: { flood: 'wire', copies: 0 } },
  { desc: 'vepa TX broadcast → the wire only', at: 'child:v1', frame: { src: MAC.v1!, dst: 'ff:ff:ff:ff:ff:ff' }, expect: { wire: 'p0' } },
  { desc: 'private TX broadcast → the wire only', at: 'child:p1', frame: { src: MAC.p1!, dst: 'ff:ff:ff:ff:ff:ff' }, expect: { wire: 'p0' } },
  { desc: 'bridge TX tagged → bridge sibling: direct', at: 'child:b2', frame: { src: MAC.b2!, dst: MAC.b1!, vlans: [{ tpid: 0x8100, vid: 3 }] }, expect: { deliver: 'b1' } },
  { desc: 'bridge TX with a spoofed source: not checked (spoofchk off)', at: 'child:b2', frame: { src: MAC.p1!, dst: MAC.b1! }, expect: { deliver: 'b1' } },
  { desc: 'bridge TX larger than the peer\'s MTU → direct', at: 'child:b2', frame: { src: MAC.b2!, dst: MAC.b1!, length: 1400 }, expect: { deliver: 'b1' } },
  { desc: 'bridge TX runt → direct', at: 'child:b2', frame: { src: MAC.b2!, dst: MAC.b1!, length: 14 }, expect: { deliver: 'b1' } },
  { desc: 'passthru TX → anything: wire', at: 'child:t1', frame: { src: Q0, dst: UNKNOWN }, expect: { wire: 'q0' } },
  { desc: 'private TX (kernel isolation) → sibling: wire', at: 'child:kp1', frame: { src: MAC.kp1!, dst: MAC.kp2! }, expect: { wire: 'k0' } },
  // --- source mode (spec §2 macvlan_forward_source, matrix F): o1 lists A, B and s1; o2 lists B with
  // nodst; o3 (DOWN, nodst) lists C ---
  { desc: 'source: unicast from a listed source → a copy to o1, then by destination', at: 'parent:p0', frame: { src: SRC_A, dst: MAC.v1! }, expect: { deliver: 'v1', copies: 1 } },
  { desc: 'source: unicast from a listed source to the parent → a copy, then the stack', at: 'parent:p0', frame: { src: SRC_A, dst: P0 }, expect: { stack: true, copies: 1 } },
  { desc: 'source: unicast to a source child\'s own MAC → the stack (it takes nothing by destination)', at: 'parent:p0', frame: { src: EXT, dst: MAC.o1! }, expect: { stack: true } },
  { desc: 'source: unicast from its source to its own MAC → the copy, and the stack', at: 'parent:p0', frame: { src: SRC_A, dst: MAC.o1! }, expect: { stack: true, copies: 1 } },
  { desc: 'source: broadcast from a listed source → the copy, the flood and the stack', at: 'parent:p0', frame: { src: SRC_A, dst: 'ff:ff:ff:ff:ff:ff' }, expect: { flood: 'stack', copies: 8 } },
  { desc: 'source: PAUSE from a listed source → the copy (forward_source comes first), then the stack', at: 'parent:p0', frame: { src: SRC_A, dst: '01:80:c2:00:00:01', ethertype: ETH_P_PAUSE }, expect: { stack: true, copies: 1 } },
  { desc: 'source: broadcast with a source child\'s own MAC → back to it only', at: 'parent:p0', frame: { src: MAC.o1!, dst: 'ff:ff:ff:ff:ff:ff' }, expect: { deliver: 'o1' } },
  { desc: 'source: broadcast from outside → floods never reach source children', at: 'parent:p0', frame: { src: EXT, dst: '01:00:5e:00:00:01' }, expect: { flood: 'stack', copies: 7 } },
  { desc: 'nodst: unicast from B → copies to o1 and o2 only', at: 'parent:p0', frame: { src: SRC_B, dst: MAC.v1! }, expect: { drop: 'nodst', copies: 2 } },
  { desc: 'nodst: broadcast from B → copies only, no flood, not the stack', at: 'parent:p0', frame: { src: SRC_B, dst: 'ff:ff:ff:ff:ff:ff' }, expect: { drop: 'nodst', copies: 2 } },
  { desc: 'nodst on a DOWN child: C → no copy, and nowhere else', at: 'parent:p0', frame: { src: SRC_C, dst: MAC.v1! }, expect: { drop: 'nodst', copies: 0 } },
  { desc: 'source: tagged unicast from a listed source → the copy, then by destination', at: 'parent:p0', frame: { src: SRC_A, dst: MAC.b2!, vlans: [{ tpid: 0x8100, vid: 7 }] }, expect: { deliver: 'b2', copies: 1 } },
  { desc: 'source: bridge TX from a listed source → a bridge sibling: the copy and direct', at: 'child:s1', frame: { src: MAC.s1!, dst: MAC.b2! }, expect: { deliver: 'b2', copies: 1 } },
  { desc: 'source: bridge TX broadcast from a listed source → siblings and the wire, no copy', at: 'child:s1', frame: { src: MAC.s1!, dst: 'ff:ff:ff:ff:ff:ff' }, expect: { flood: 'wire', copies: 2 } },
  { desc: 'source: bridge TX from a listed source to the wire → no copy', at: 'child:s1', frame: { src: MAC.s1!, dst: EXT }, expect: { wire: 'p0' } },
  { desc: 'source: bridge TX → a source child: wire', at: 'child:b1', frame: { src: MAC.b1!, dst: MAC.o1! }, expect: { wire: 'p0' } },
  { desc: 'source: a source child\'s TX → wire', at: 'child:o1', frame: { src: MAC.o1!, dst: MAC.b1! }, expect: { wire: 'p0' } },
];

/** Runs a row through its TC program and checks the verdict against the row's expectation. */
function checkRow(row: Row): void {
  const [kind, name] = row.at.split(':') as ['parent' | 'child', string];
  const v = testRunTc(m.dp.programs[kind], `/run/netns/${host}`, ifindex.get(name)!, buildFrame(row.frame));
  const e = row.expect;
  if (!('flood' in e) && !('wire' in e)) expect(v.copies, 'source-mode copies').toBe(e.copies ?? 0);
  if ('deliver' in e) {
    expect(v).toMatchObject({ retval: TC_ACT_REDIRECT, action: 'deliver', target: ifindex.get(e.deliver) });
  } else if ('wire' in e) {
    expect(v).toMatchObject({ retval: TC_ACT_REDIRECT, action: 'wire', target: ifindex.get(e.wire) });
  } else if ('flood' in e) {
    expect(v).toMatchObject({ retval: e.flood === 'stack' ? TC_ACT_UNSPEC : TC_ACT_REDIRECT, action: 'flood', copies: e.copies });
    if (e.flood === 'wire') expect(v.target).toBe(ifindex.get(row.at.split(':')[1] === 't1' ? 'q0' : 'p0'));
  } else if ('stack' in e) {
    expect(v).toMatchObject({ retval: TC_ACT_UNSPEC, action: 'stack' });
  } else {
    expect(v).toMatchObject({ retval: TC_ACT_SHOT, action: 'drop', reason: DROP_REASONS.indexOf(e.drop) });
  }
}

describe('datapath verdicts (BPF_PROG_TEST_RUN)', () => {
  it.each(ROWS.map((r) => [r.desc, r] as const))('%s', (_d, row) => checkRow(row));

  it('a frame on a host end the registry does not know is dropped', () => {
    const v = testRunTc(m.dp.programs.child, `/run/netns/${host}`, ifindex.get('p0')!, buildFrame({ src: EXT, dst: MAC.b1! }));
    expect(v).toMatchObject({ retval: TC_ACT_SHOT, action: 'drop', reason: DROP_REASONS.indexOf('unknown-child') });
  });
});

// spoofchk (the spec's deliberate difference 4): with it on, a child's frame must carry its own source MAC.
describe('spoofchk verdicts (BPF_PROG_TEST_RUN)', () => {
  const on: [string, string][] = [['b2', 'p0'], ['v1', 'p0'], ['t1', 'q0']];
  beforeAll(() => inNetns(`/run/netns/${host}`, () => on.forEach(([c]) => m.setSpoofchk(c, true))));
  afterAll(() => inNetns(`/run/netns/${host}`, () => on.forEach(([c]) => m.setSpoofchk(c, false))));
  const rows: Row[] = [
    { desc: 'bridge TX with its own source → bridge sibling: direct', at: 'child:b2', frame: { src: MAC.b2!, dst: MAC.b1! }, expect: { deliver: 'b1' } },
    { desc: 'bridge TX with a sibling\'s source → dropped', at: 'child:b2', frame: { src: MAC.p1!, dst: MAC.b1! }, expect: { drop: 'spoof' } },
    { desc: 'bridge TX with an unknown source to the wire → dropped', at: 'child:b2', frame: { src: UNKNOWN, dst: EXT }, expect: { drop: 'spoof' } },
    { desc: 'bridge TX broadcast with a foreign source → dropped, no copies', at: 'child:b2', frame: { src: EXT, dst: 'ff:ff:ff:ff:ff:ff' }, expect: { drop: 'spoof' } },
    { desc: 'bridge TX broadcast with its own source → siblings, then the wire', at: 'child:b2', frame: { src: MAC.b2!, dst: 'ff:ff:ff:ff:ff:ff' }, expect: { flood: 'wire', copies: 2 } },
    { desc: 'bridge TX with the parent\'s source → dropped', at: 'child:b2', frame: { src: P0, dst: EXT }, expect: { drop: 'spoof' } },
    { desc: 'vepa TX with its own source → wire', at: 'child:v1', frame: { src: MAC.v1!, dst: EXT }, expect: { wire: 'p0' } },
    { desc: 'vepa TX multicast with a foreign source → dropped', at: 'child:v1', frame: { src: MAC.v2!, dst: '01:00:5e:01:02:03' }, expect: { drop: 'spoof' } },
    { desc: 'passthru TX with the parent\'s (its own) source → wire', at: 'child:t1', frame: { src: Q0, dst: UNKNOWN }, expect: { wire: 'q0' } },
    { desc: 'passthru TX with another source → dropped', at: 'child:t1', frame: { src: EXT, dst: UNKNOWN }, expect: { drop: 'spoof' } },
    { desc: 'a child without spoofchk still sends anything', at: 'child:b1', frame: { src: MAC.p1!, dst: MAC.b2! }, expect: { deliver: 'b2' } },
  ];
  const dropsOf = (p: string) => inNetns(`/run/netns/${host}`, () => sumParentStats(decodeParentStatsPerCpu(m.dp.parentStatsRaw(ifindex.get(p)!)!)).drops);
  const txOf = (c: string) => inNetns(`/run/netns/${host}`, () => sumChildStats(decodeChildStatsPerCpu(m.dp.childStatsRaw(ifindex.get(c)!)!)).txPackets);
  it.each(rows.map((r) => [r.desc, r] as const))('%s', (_d, row) => {
    const name = row.at.split(':')[1]!;
    const parent = on.find(([c]) => c === name)?.[1] ?? 'p0';
    const [drops0, tx0] = [dropsOf(parent).spoof, txOf(name)];
    checkRow(row);
    const dropped = 'drop' in row.expect;
    expect(dropsOf(parent).spoof - drops0, 'counted as spoof on its parent when dropped').toBe(dropped ? 1n : 0n);
    expect(txOf(name) - tx0, 'counted as sent unless dropped').toBe(dropped ? 0n : 1n);
  });
  it('off again: the same spoofed frame goes through', () => {
    inNetns(`/run/netns/${host}`, () => m.setSpoofchk('b2', false));
    try {
      checkRow({ desc: '', at: 'child:b2', frame: { src: MAC.p1!, dst: MAC.b1! }, expect: { deliver: 'b1' } });
    } finally {
      inNetns(`/run/netns/${host}`, () => m.setSpoofchk('b2', true));
    }
  });
});

// The XDP fast path runs the same decision at the parent: what it can finish alone (unicast into a
// child that is not passthru, strict isolation's drop) it does, everything else passes on to TC. The
// redirect target is invisible to a test run, so the child's rx counter names it.
describe('XDP fast path verdicts (BPF_PROG_TEST_RUN, the same rows at the parent)', () => {
  const passthruParents = new Set(['q0', 'r0']);
  const rxOf = (name: string) => inNetns(`/run/netns/${host}`, () => sumChildStats(decodeChildStatsPerCpu(m.dp.childStatsRaw(ifindex.get(name)!)!)).rxPackets);
  const dropsOf = (p: string) => inNetns(`/run/netns/${host}`, () => sumParentStats(decodeParentStatsPerCpu(m.dp.parentStatsRaw(ifindex.get(p)!)!)).drops);
  it.each(ROWS.filter((r) => r.at.startsWith('parent:')).map((r) => [r.desc, r] as const))('%s', (_d, row) => {
    const parent = row.at.split(':')[1]!;
    const e = row.expect;
    const copies = 'copies' in e && !('flood' in e) ? e.copies ?? 0 : 0; // source-mode copies need TC
    const into = 'deliver' in e && !passthruParents.has(parent) && !copies ? e.deliver : null;
    const rx0 = into ? rxOf(into) : 0n;
    const drops0 = dropsOf(parent);
    const retval = testRunXdp(m.dp.programs.xdp, `/run/netns/${host}`, ifindex.get(parent)!, buildFrame(row.frame));
    if (into) {
      expect(retval, 'redirected in XDP').toBe(XDP_REDIRECT);
      expect(rxOf(into) - rx0, `counted as ${into}'s`).toBe(1n);
    } else if ('drop' in e && (e.drop === 'private-src' || e.drop === 'nodst') && !copies) {
      expect(retval, 'dropped in XDP').toBe(XDP_DROP);
      expect(dropsOf(parent)[e.drop] - drops0[e.drop]).toBe(1n);
    } else {
      expect(retval, 'passed on to TC').toBe(XDP_PASS);
      expect(dropsOf(parent), 'nothing counted: TC will').toEqual(drops0);
    }
  });
});

// A netkit child's transmit runs netkit_peer.bpf.c: the same decision as a veth host end's ingress, so
// every child row must give the same verdict (the redirect differs only in kind, invisible here). And a
// netkit child takes no XDP redirect: the fast path passes its frames to TC, which delivers them.
describe('netkit children (BPF_PROG_TEST_RUN)', () => {
  const ns = () => `/run/netns/${host}`;
  it('the netkit peer program decides every child row as the veth host end\'s program does', () => {
    const rows = ROWS.filter((r) => r.at.startsWith('child:'));
    expect(rows.length).toBeGreaterThan(20);
    for (const row of rows) {
      const at = ifindex.get(row.at.split(':')[1]!)!;
      const frame = buildFrame(row.frame);
      expect(testRunTc(m.dp.programs.netkit, ns(), at, frame), row.desc).toEqual(testRunTc(m.dp.programs.child, ns(), at, frame));
    }
  });

  it('unicast from the wire to a netkit child: XDP passes it to TC, which delivers it (TC only)', () => {
    const e = inNetns(ns(), () => m.dp.getMac(ifindex.get('p0')!, MAC.v1!))!;
    const frame = buildFrame({ src: EXT, dst: MAC.v1! });
    expect(testRunXdp(m.dp.programs.xdp, ns(), ifindex.get('p0')!, frame), 'a veth child: redirected in XDP').toBe(XDP_REDIRECT);
    inNetns(ns(), () => m.dp.putMac(ifindex.get('p0')!, MAC.v1!, { ...e, kind: 'netkit' }));
    try {
      expect(testRunXdp(m.dp.programs.xdp, ns(), ifindex.get('p0')!, frame), 'a netkit child: passed on').toBe(XDP_PASS);
      const v = testRunTc(m.dp.programs.parent, ns(), ifindex.get('p0')!, frame);
      expect(v).toMatchObject({ retval: TC_ACT_REDIRECT, action: 'deliver', target: ifindex.get('v1') });
      expect(v.flags & (1 << 6), 'MVB_DELIVER_TC_ONLY').not.toBe(0);
    } finally {
      inNetns(ns(), () => m.dp.putMac(ifindex.get('p0')!, MAC.v1!, e));
    }
  });
});

// The MAC table's per-CPU cache (mvb_abi.h): an entry read on one frame serves the next ones until the
// control plane changes the table. Kept on one CPU, so every run meets the entries the run before left.
describe('the per-CPU caches of the MAC table and the registry (BPF_PROG_TEST_RUN on one CPU)', () => {
  const a = () => addon();
  let was: number[] = [];
  beforeAll(() => {
    was = a().threadAffinity();
    a().threadAffinity([was.at(-1)!]);
  });
  afterAll(() => a().threadAffinity(was));
  const ns = () => `/run/netns/${host}`;

  it.each(['parent', 'xdp'] as const)('%s: a change to the table is seen by the next frame, whatever the frames before it cached', (prog) => {
    const p0 = ifindex.get('p0')!;
    const frame = buildFrame({ src: EXT, dst: MAC.b1! });
    const run = () => prog === 'xdp'
      ? testRunXdp(m.dp.programs.xdp, ns(), p0, frame)
      : testRunTc(m.dp.programs.parent, ns(), p0, frame);
    /** Delivered to `c` (XDP names no target in its return value: the child counter it moves says where). */
    const deliveredTo = (c: string) => {
      if (prog === 'parent') return expect(run()).toMatchObject({ retval: TC_ACT_REDIRECT, action: 'deliver', target: ifindex.get(c) });
      const rx = () => inNetns(ns(), () => sumChildStats(decodeChildStatsPerCpu(m.dp.childStatsRaw(ifindex.get(c)!)!)).rxPackets);
      const before = rx();
      expect(run()).toBe(XDP_REDIRECT);
      expect(rx() - before, `counted at ${c}`).toBe(1n);
    };
    const e = inNetns(ns(), () => m.dp.getMac(p0, MAC.b1!))!;
    for (let i = 0; i < 3; i++) deliveredTo('b1');
    try {
      // Gone from the table: the parent's stack, as the kernel does for a MAC no UP child holds.
      // Its absence is cached as well (MVB_MAC_CACHE_NONE), and serves the frames after the first.
      inNetns(ns(), () => m.dp.deleteMac(p0, MAC.b1!));
      for (let i = 0; i < 3; i++) {
        if (prog === 'xdp') expect(run()).toBe(XDP_PASS);
        else expect(run()).toMatchObject({ retval: TC_ACT_UNSPEC, action: 'stack' });
      }
      // Back, now naming another host end: the next frame goes there.
      inNetns(ns(), () => m.dp.putMac(p0, MAC.b1!, { ...e, hostIfindex: ifindex.get('b2')!, slot: m.dp.getChild(ifindex.get('b2')!)!.slot }));
      deliveredTo('b2');
      deliveredTo('b2');
    } finally {
      inNetns(ns(), () => m.dp.putMac(p0, MAC.b1!, e));
    }
    deliveredTo('b1');
  });

  it('child: a destination the table lacks goes to the wire until it is added, then to its child', () => {
    const p0 = ifindex.get('p0')!;
    const b2 = ifindex.get('b2')!;
    const other = '02:00:00:00:ee:01' as const;
    const frame = buildFrame({ src: MAC.b2!, dst: other });
    const run = () => testRunTc(m.dp.programs.child, ns(), b2, frame);
    // The same MAC's absence, cached by the first frame, serves the next ones.
    for (let i = 0; i < 3; i++) expect(run()).toMatchObject({ retval: TC_ACT_REDIRECT, action: 'wire', target: p0 });
    const e = inNetns(ns(), () => m.dp.getMac(p0, MAC.b1!))!;
    inNetns(ns(), () => m.dp.putMac(p0, other, e));
    try {
      for (let i = 0; i < 2; i++) expect(run()).toMatchObject({ retval: TC_ACT_REDIRECT, action: 'deliver', target: ifindex.get('b1') });
    } finally {
      inNetns(ns(), () => m.dp.deleteMac(p0, other));
    }
    expect(run()).toMatchObject({ retval: TC_ACT_REDIRECT, action: 'wire', target: p0 });
  });

  // The registry's cache (mvb_child_cached): what a child's transmit reads of its record, kept per CPU.
  it.each(['child', 'netkit'] as const)('%s: a change to the sender\'s record (spoofchk on, gone, back) is seen by its next frame', (prog) => {
    const b2 = ifindex.get('b2')!;
    const spoofed = buildFrame({ src: MAC.p1!, dst: MAC.b1! });
    const run = () => testRunTc(m.dp.programs[prog], ns(), b2, spoofed);
    const delivered = () => expect(run()).toMatchObject({ retval: TC_ACT_REDIRECT, action: 'deliver', target: ifindex.get('b1') });
    const dropped = (reason: string) => expect(run()).toMatchObject({ retval: TC_ACT_SHOT, action: 'drop', reason: DROP_REASONS.indexOf(reason) });
    const rec = inNetns(ns(), () => m.dp.getChild(b2))!;
    for (let i = 0; i < 3; i++) delivered();
    try {
      inNetns(ns(), () => m.setSpoofchk('b2', true));
      for (let i = 0; i < 2; i++) dropped('spoof');
      inNetns(ns(), () => m.setSpoofchk('b2', false));
      delivered();
      inNetns(ns(), () => m.dp.deleteChild(b2));
      for (let i = 0; i < 2; i++) dropped('unknown-child');
      inNetns(ns(), () => m.dp.putChild(rec, COPY_PEER));
      for (let i = 0; i < 2; i++) delivered();
    } finally {
      inNetns(ns(), () => {
        if (!m.dp.getChild(b2)) m.dp.putChild(rec, COPY_PEER);
        m.setSpoofchk('b2', false);
      });
    }
  });
});

describe('drop counters', () => {
  it('a PAUSE frame counts as pause, a mode-filtered copy as mode-filter', () => {
    const p0 = ifindex.get('p0')!;
    const read = () => inNetns(`/run/netns/${host}`, () => sumParentStats(decodeParentStatsPerCpu(m.dp.parentStatsRaw(p0)!)).drops);
    const before = read();
    testRunTc(m.dp.programs.parent, `/run/netns/${host}`, p0, buildFrame({ src: EXT, dst: 'ff:ff:ff:ff:ff:ff', ethertype: ETH_P_PAUSE }));
    // From a bridge child: only the two vepa children get a copy; the other 4 UP children are filtered.
    testRunTc(m.dp.programs.parent, `/run/netns/${host}`, p0, buildFrame({ src: MAC.b1!, dst: 'ff:ff:ff:ff:ff:ff' }));
    const after = read();
    expect(after.pause - before.pause).toBe(1n);
    expect(after['mode-filter'] - before['mode-filter']).toBe(4n);
  });
});

// How flood copies reach each child (MVB_FLOOD_PEER): a veth child in a netns of its own by its host
// end's ingress and a peer redirect, unchecked against its MTU as the kernel's copies from the wire are;
// one in the host end's netns (s1), and every copy of a child's own flood, through the host end's
// transmit, which refuses one past the child's MTU as the kernel's dev_forward_skb does.
describe('flood copies: by a peer redirect or the host end\'s transmit (BPF_PROG_TEST_RUN)', () => {
  it('the flood entries say which: every veth child of p0 but s1 (in the host end\'s netns) by a peer redirect', () => {
    const p0 = ifindex.get('p0')!;
    const byHost = new Map([...ifindex].map(([name, i]) => [i, name]));
    const entries = [...inNetns(`/run/netns/${host}`, () => m.dp.floodEntries(p0)).values()];
    expect(Object.fromEntries(entries.map((e) => [byHost.get(e.hostIfindex), !!e.peer]))).toEqual({ p1: true, p2: true, v1: true, v2: true, b1: true, b2: true, s1: false });
  });
  it('a 1,400-byte broadcast from the wire reaches b1 (MTU 1000) as the kernel\'s does; from b2, its sibling b1 refuses it', () => {
    const p0 = ifindex.get('p0')!;
    const refused = () => inNetns(`/run/netns/${host}`, () => sumParentStats(decodeParentStatsPerCpu(m.dp.parentStatsRaw(p0)!)).drops['copy-refused']);
    const before = refused();
    checkRow({ desc: '', at: 'parent:p0', frame: { src: EXT, dst: 'ff:ff:ff:ff:ff:ff', length: 1400 }, expect: { flood: 'stack', copies: 7 } });
    expect(refused() - before, 'nothing refused from the wire').toBe(0n);
    checkRow({ desc: '', at: 'child:b2', frame: { src: MAC.b2!, dst: 'ff:ff:ff:ff:ff:ff', length: 1400 }, expect: { flood: 'wire', copies: 1 } });
    expect(refused() - before, 'b1 refused its sibling\'s copy').toBe(1n);
  });
});

// Shed floods (issue 18): a CPU holding as many deferred floods as it has slots sheds the next one,
// counting its copies as copy-refused, unmade. The CPU's accounting is written to say so (every CPU:
// 64 floods waiting, advanced just now). A shed flood on a port whose every entry gets every group is
// counted from the port's counts by mode, with no walk; the exact filter's (below) walks to tell unjoined
// from refused. Either way the counts are what the walk counts.
const CONT_PER_CPU = 64;
const FLOOD_CPU_SIZE = 48;

function floodCpuMap() {
  return new (addon().BpfMap)({ pin: path.join(m.dp.pinRoot, 'mvb_flood_cpu') });
}

/** Runs a frame with every CPU's deferred slots taken; returns the verdict's copies and the drop counts
 * it added. Retried when the run found the accounting stale (over 20 ms old: a slow guest). */
function shedRun(at: string, frame: Buffer): { copies: number; drops: Record<string, bigint> } {
  const p0 = ifindex.get('p0')!;
  const read = () => inNetns(`/run/netns/${host}`, () => sumParentStats(decodeParentStatsPerCpu(m.dp.parentStatsRaw(p0)!)).drops);
  const map = floodCpuMap();
  const cpus = addon().possibleCpus();
  try {
    expect(map.info().valueSize, 'struct mvb_flood_cpu').toBe(FLOOD_CPU_SIZE);
    for (let attempt = 0; ; attempt++) {
      const v = Buffer.alloc(FLOOD_CPU_SIZE * cpus);
      const now = process.hrtime.bigint(); // CLOCK_MONOTONIC, bpf_ktime_get_ns's clock
      for (let c = 0; c < cpus; c++) {
        v.writeUInt32LE(CONT_PER_CPU, c * FLOOD_CPU_SIZE + 4); // waiting
        v.writeUInt32LE(512, c * FLOOD_CPU_SIZE + 8); // wait_cost
        v.writeBigUInt64LE(now, c * FLOOD_CPU_SIZE + 32); // last_ns
        v.writeBigUInt64LE(now, c * FLOOD_CPU_SIZE + 40); // progress_ns
      }
      const before = read();
      map.update(Buffer.alloc(4), v);
      const r = testRunTc(m.dp.programs[at.split(':')[0] as 'parent' | 'child'], `/run/netns/${host}`, ifindex.get(at.split(':')[1]!)!, frame);
      const after = read();
      if (r.copies > 0 && attempt < 3) continue;
      return { copies: r.copies, drops: Object.fromEntries(Object.keys(after).map((k) => [k, after[k as keyof typeof after] - before[k as keyof typeof before]])) };
    }
  } finally {
    map.update(Buffer.alloc(4), Buffer.alloc(FLOOD_CPU_SIZE * cpus));
    map.close();
  }
}

describe('shed floods (BPF_PROG_TEST_RUN)', () => {
  // p0's flood list: its UP children, mixed modes (the rows above say how many each sender reaches).
  const listed = () => inNetns(`/run/netns/${host}`, () => m.dp.getPort(ifindex.get('p0')!)!.nflood);
  it.each([
    ['broadcast from outside', 'parent:p0', { src: EXT, dst: 'ff:ff:ff:ff:ff:ff' }, 7, 0],
    ['broadcast reflected from a vepa child (itself skipped)', 'parent:p0', { src: MAC.v1!, dst: 'ff:ff:ff:ff:ff:ff' }, 4, 1],
    ['broadcast reflected from a bridge child', 'parent:p0', { src: MAC.b1!, dst: 'ff:ff:ff:ff:ff:ff' }, 2, 1],
    ['a bridge child\'s broadcast to its siblings', 'child:b1', { src: MAC.b1!, dst: 'ff:ff:ff:ff:ff:ff' }, 2, 1],
    ['multicast from outside (no exact filter: every child gets every group)', 'parent:p0', { src: EXT, dst: '01:00:5e:11:22:33' }, 7, 0],
  ] as const)('%s: no copy; each one it would make counted as copy-refused, the rest as mode-filter', (_d, at, frame, reached, skipped) => {
    const r = shedRun(at, buildFrame(frame));
    expect(r.copies, 'copies made').toBe(0);
    expect(r.drops['copy-refused'], 'copy-refused').toBe(BigInt(reached));
    expect(r.drops['mode-filter'], 'mode-filter').toBe(BigInt(listed() - reached - skipped));
    expect(r.drops['mc-unjoined']).toBe(0n);
  });
  it('the same flood with a free slot is copied (the forced state is what shed it)', () => {
    const v = testRunTc(m.dp.programs.parent, `/run/netns/${host}`, ifindex.get('p0')!, buildFrame({ src: EXT, dst: 'ff:ff:ff:ff:ff:ff' }));
    expect(v.copies).toBe(7);
  });
});

// The exact multicast filter (#16 item 2): once the control plane has read the children's multicast
// lists, a child gets a group only if it joined it (or is ALLMULTI); broadcast is never filtered. Here
// the lists are real: the fixture's children are veths whose kernel lists are read from dev_mcast.
describe('exact multicast filter verdicts (BPF_PROG_TEST_RUN)', () => {
  const MJ: Mac = '01:00:5e:01:02:03';
  const ip = (...args: string[]) => void execFileSync('ip', ['-n', host.replace(/host$/, 'kids'), ...args]);
  const unjoined = () => inNetns(`/run/netns/${host}`, () => sumParentStats(decodeParentStatsPerCpu(m.dp.parentStatsRaw(ifindex.get('p0')!)!)).drops['mc-unjoined']);
  beforeAll(() => {
    ip('maddr', 'add', MJ, 'dev', 'v1');
    ip('maddr', 'add', MJ, 'dev', 'b2');
    inNetns(`/run/netns/${host}`, () => m.syncMulticast());
  });
  afterAll(() => {
    inNetns(`/run/netns/${host}`, () => m.multicastOff());
    ip('maddr', 'del', MJ, 'dev', 'v1');
    ip('maddr', 'del', MJ, 'dev', 'b2');
  });

  it('the children\'s groups are read from the kernel (link show reports them)', () => {
    const v = inNetns(`/run/netns/${host}`, () => m.show('v1')[0]!);
    expect(v.mcGroups).toContain(MJ);
    expect(v.mcGroups).toContain('33:33:00:00:00:01'); // joined by every device at registration
    expect(inNetns(`/run/netns/${host}`, () => m.show('p1')[0]!.mcGroups)).not.toContain(MJ);
  });
  const rows: Row[] = [
    { desc: 'a group from outside → only the children that joined it, and the stack', at: 'parent:p0', frame: { src: EXT, dst: MJ }, expect: { flood: 'stack', copies: 2 } },
    { desc: 'the all-hosts group every UP device joins → every UP child', at: 'parent:p0', frame: { src: EXT, dst: '01:00:5e:00:00:01' }, expect: { flood: 'stack', copies: 7 } },
    { desc: 'a group nobody joined → the stack only', at: 'parent:p0', frame: { src: EXT, dst: '01:00:5e:11:22:33' }, expect: { flood: 'stack', copies: 0 } },
    { desc: 'broadcast is never filtered', at: 'parent:p0', frame: { src: EXT, dst: 'ff:ff:ff:ff:ff:ff' }, expect: { flood: 'stack', copies: 7 } },
    { desc: 'a bridge child\'s group → the bridge siblings that joined it, then the wire', at: 'child:b1', frame: { src: MAC.b1!, dst: MJ }, expect: { flood: 'wire', copies: 1 } },
    { desc: 'a vepa child\'s reflected group → vepa and bridge children that joined it', at: 'parent:p0', frame: { src: MAC.v2!, dst: MJ }, expect: { flood: 'stack', copies: 2 } },
  ];
  it.each(rows.map((r) => [r.desc, r] as const))('%s', (_d, row) => {
    const before = unjoined();
    checkRow(row);
    const flood = row.expect as { flood: string; copies: number };
    // Every UP child the sender's mode reaches but the filter withholds is counted as mc-unjoined.
    if (row.frame.dst === '01:00:5e:11:22:33') expect(unjoined() - before).toBe(7n);
    if (row.frame.dst === MJ && row.at === 'parent:p0' && row.frame.src === EXT) expect(unjoined() - before).toBe(BigInt(7 - flood.copies));
    if (row.frame.dst === 'ff:ff:ff:ff:ff:ff') expect(unjoined() - before).toBe(0n);
  });
  // A group few children joined is copied to the members its list names (mvb_groups), with no walk over
  // the flood list; the walk (each entry's mvb_mc lookup) serves a port where some child gets every group.
  it('the group lists name each group\'s members; the port counts its flood entries by mode', () => {
    const p0 = ifindex.get('p0')!;
    const lists = inNetns(`/run/netns/${host}`, () => m.dp.groupEntries()).filter((e) => e.parentIfindex === p0);
    expect(lists.find((e) => e.mac === MJ)?.hosts.sort()).toEqual([ifindex.get('v1')!, ifindex.get('b2')!].sort());
    expect(lists.find((e) => e.mac === '01:00:5e:00:00:01')?.n, 'the all-hosts group: every child of p0').toBeGreaterThanOrEqual(7);
    const port = inNetns(`/run/netns/${host}`, () => m.dp.getPort(p0))!;
    expect(port.nfloodAll, 'every UP child filters exactly').toBe(0);
    expect(port.nfloodMode.reduce((a, b) => a + b, 0)).toBe(port.nflood);
  });
  it('a shed group flood walks its list: the joined children\'s copies are copy-refused, the others mc-unjoined', () => {
    const r = shedRun('parent:p0', buildFrame({ src: EXT, dst: MJ }));
    expect([r.copies, r.drops['copy-refused'], r.drops['mc-unjoined']]).toEqual([0, 2n, 5n]);
  });
  it('a rebuild puts wrong flood counts right (a build that had none) without rewriting the list', () => {
    const p0 = ifindex.get('p0')!;
    inNetns(`/run/netns/${host}`, () => {
      const good = m.dp.getPort(p0)!;
      const list = [...m.dp.floodEntries(p0)];
      m.dp.putPort(p0, { ...good, nfloodMode: [0, 0, 0, 0], nfloodAll: good.nflood });
      // What reconcile does for each port (reconcile.ts), on this fixture's UP children of p0.
      new FloodList(m.dp).rebuild(p0, m.dp.listChildren().filter((c) => c.parentIfindex === p0 && c.flags & CHILD_UP));
      const now = m.dp.getPort(p0)!;
      expect([now.nfloodMode, now.nfloodAll]).toEqual([good.nfloodMode, good.nfloodAll]);
      expect([...m.dp.floodEntries(p0)]).toEqual(list);
    });
  });
  it('a group with a member list is copied to the listed members alone; a child that gets every group makes it walk', () => {
    const p0 = ifindex.get('p0')!;
    const set = (hosts: number[]) => inNetns(`/run/netns/${host}`, () => m.dp.setGroupMembers(p0, MJ, hosts));
    const row = (copies: number) => checkRow({ desc: '', at: 'parent:p0', frame: { src: EXT, dst: MJ }, expect: { flood: 'stack', copies } });
    try {
      // The list alone decides: v1 listed, b2 not (its walk entry, mvb_mc, still says joined).
      set([ifindex.get('v1')!]);
      const before = unjoined();
      row(1);
      expect(unjoined() - before, 'every other UP child the mode reaches: counted as the walk counts').toBe(6n);
      // A listed member that is DOWN (b3) or of another parent (kp1) gets nothing.
      set([ifindex.get('v1')!, ifindex.get('b3')!, ifindex.get('kp1')!]);
      row(1);
      // A child that gets every group (ALLMULTI): the walk, which reads mvb_mc (v1 and b2) and p1's flag.
      ip('link', 'set', 'p1', 'allmulticast', 'on');
      try {
        inNetns(`/run/netns/${host}`, () => m.syncMulticast());
        expect(inNetns(`/run/netns/${host}`, () => m.dp.getPort(p0))!.nfloodAll).toBe(1);
        row(3);
      } finally {
        ip('link', 'set', 'p1', 'allmulticast', 'off');
        inNetns(`/run/netns/${host}`, () => m.syncMulticast());
      }
    } finally {
      set([ifindex.get('v1')!, ifindex.get('b2')!]);
    }
    row(2);
  });
  it('the member path (no flood entry read) takes the same path from the child\'s entry: a 1,400-byte group from the wire reaches member b1 (MTU 1000), as a walk\'s copy does', () => {
    const p0 = ifindex.get('p0')!;
    const byHost = new Map([...ifindex].map(([name, i]) => [i, name]));
    // The registry entry carries what the flood entry says (mvb_child.copy, written by the control plane).
    const copyByte = inNetns(`/run/netns/${host}`, () => {
      const mc = new (addon().BpfMap)({ pin: path.join(m.dp.pinRoot, 'mvb_children') });
      try {
        return new Map(mc.keys().map((k) => [byHost.get(k.readUInt32LE(0)), mc.lookup(k)!.readUInt8(21)]));
      } finally {
        mc.close();
      }
    });
    const entries = [...inNetns(`/run/netns/${host}`, () => m.dp.floodEntries(p0)).values()];
    for (const e of entries) expect(copyByte.get(byHost.get(e.hostIfindex)), byHost.get(e.hostIfindex)).toBe(e.peer ? COPY_PEER : 0);
    const refused = () => inNetns(`/run/netns/${host}`, () => sumParentStats(decodeParentStatsPerCpu(m.dp.parentStatsRaw(p0)!)).drops['copy-refused']);
    const set = (hosts: number[]) => inNetns(`/run/netns/${host}`, () => m.dp.setGroupMembers(p0, MJ, hosts));
    const before = refused();
    try {
      set([ifindex.get('b1')!]);
      checkRow({ desc: '', at: 'parent:p0', frame: { src: EXT, dst: MJ, length: 1400 }, expect: { flood: 'stack', copies: 1 } });
      expect(refused() - before, 'nothing refused: a peer copy is not checked against the MTU').toBe(0n);
    } finally {
      set([ifindex.get('v1')!, ifindex.get('b2')!]);
    }
  });
  it('an ALLMULTI child gets every group again, and without an agent (off) every child does', () => {
    ip('link', 'set', 'p1', 'allmulticast', 'on');
    try {
      inNetns(`/run/netns/${host}`, () => m.syncMulticast());
      checkRow({ desc: '', at: 'parent:p0', frame: { src: EXT, dst: MJ }, expect: { flood: 'stack', copies: 3 } });
    } finally {
      ip('link', 'set', 'p1', 'allmulticast', 'off');
    }
    inNetns(`/run/netns/${host}`, () => m.multicastOff());
    checkRow({ desc: '', at: 'parent:p0', frame: { src: EXT, dst: '01:00:5e:11:22:33' }, expect: { flood: 'stack', copies: 7 } });
    inNetns(`/run/netns/${host}`, () => m.syncMulticast());
    checkRow({ desc: '', at: 'parent:p0', frame: { src: EXT, dst: '01:00:5e:11:22:33' }, expect: { flood: 'stack', copies: 0 } });
  });
});
