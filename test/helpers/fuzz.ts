// The datapath fuzzer's pieces: a seeded generator of frames (random and malformed: lengths from a bare
// Ethernet header to 9,216 bytes, MACs drawn from the fixture's children and parents, unknown, group
// and random ones, 802.1Q and QinQ tags, random ethertypes, PAUSE) and of where they enter (a parent
// from the wire, or an UP child transmitting), and the pure model's answer for each. Reproducible: the
// same seed gives the same frames.
import { buildFrame, ETH_P_8021AD, ETH_P_8021Q, ETH_P_PAUSE, ETH_P_TEST } from '../../src/frames.js';
import { childTx, parentRx, type Endpoint, type ModelPort } from '../../src/model.js';
import type { Mac } from '../../src/mac.js';
import { CHILDREN, EXT, ISOLATION, PARENT_MACS, SRC_A, SRC_B, SRC_C, UNKNOWN, type ParentName } from './verdict-fixture.js';

/** mulberry32: small, fast, good enough to spread cases; seeded, so every run can be replayed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const GROUPS: Mac[] = ['ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', '33:33:00:00:00:01', '01:00:5e:01:02:03', '01:80:c2:00:00:01', '33:33:ff:00:00:01'];
const POOL: Mac[] = [...CHILDREN.map((c) => c.mac), ...Object.values(PARENT_MACS), EXT, UNKNOWN, SRC_A, SRC_B, SRC_C, ...GROUPS];

export interface FuzzCase {
  /** 'parent:<name>' (from the wire) or 'child:<name>' (the child transmits). */
  at: string;
  frame: Buffer;
  /** What the model says receives it. */
  expect: Endpoint[];
  /** An UP source-mode child lists its source: copies are made (in TC; XDP passes such a frame on). */
  sourceCopies: boolean;
}

/** Children the fuzzer turns spoofchk on for (a bridge child, a vepa child, a passthru child). */
export const SPOOFCHK: readonly string[] = ['b2', 'v2', 't1'];

export const MODEL_PORTS: Record<ParentName, ModelPort> = Object.fromEntries(
  (Object.keys(PARENT_MACS) as ParentName[]).map((p) => [p, {
    parentMac: PARENT_MACS[p],
    // Every fixture child is a veth; those in a netns of their own take flood copies by a peer redirect.
    children: CHILDREN.filter((c) => c.parent === p).map(({ name, mode, mac, up, mtu, sources, nodst, sameNetns }) => ({ name, mode, mac, up, mtu, sources, nodst, spoofchk: SPOOFCHK.includes(name), peerCopies: !sameNetns })),
    isolation: ISOLATION[p],
    allmulti: true, // deliberate difference 3: macvlan-bpf floods every group to every eligible child
    vethCopies: true, // deliberate difference 4
  }]),
) as Record<ParentName, ModelPort>;

export function* fuzzCases(seed: number, count: number): Generator<FuzzCase> {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const randomMac = (): Mac => Array.from({ length: 6 }, () => Math.floor(r() * 256).toString(16).padStart(2, '0')).join(':') as Mac;
  const mac = (): Mac => (r() < 0.1 ? randomMac() : pick(POOL));
  const upChildren = CHILDREN.filter((c) => c.up);
  for (let i = 0; i < count; i++) {
    const fromWire = r() < 0.6;
    const parent: ParentName = fromWire ? pick(Object.keys(PARENT_MACS) as ParentName[]) : 'p0';
    const sender = fromWire ? undefined : pick(upChildren);
    const tags = r() < 0.7 ? 0 : r() < 0.66 ? 1 : 2;
    const vlans = Array.from({ length: tags }, () => ({ tpid: pick([ETH_P_8021Q, ETH_P_8021AD]), vid: Math.floor(r() * 4096) }));
    const ethertype = pick([0x0800, 0x86dd, 0x0806, ETH_P_PAUSE, ETH_P_TEST, Math.floor(r() * 65536)]);
    const lr = r();
    let length = lr < 0.5 ? 14 + Math.floor(r() * 50) : lr < 0.85 ? 64 + Math.floor(r() * 1451) : 1515 + Math.floor(r() * (9216 - 1515 + 1));
    // A child cannot send more than its MTU allows (its stack and packet sockets refuse); the wire can.
    if (sender) length = Math.min(length, (sender.mtu ?? 1500) + 14 + 4 * tags);
    const src = sender && r() < 0.8 ? sender.mac : mac();
    const dst = mac();
    const frame = buildFrame({ src, dst, vlans, ethertype, id: i, length });
    // The decision reads the outermost ethertype (a tagged PAUSE is not PAUSE), as the kernel's macvlan does.
    const outer = frame.readUInt16BE(12);
    const mf = { src, dst, ethertype: outer, length: frame.length };
    const port = MODEL_PORTS[sender ? sender.parent : parent];
    const expect = sender ? childTx(port, port.children.find((c) => c.name === sender.name)!, mf) : parentRx(port, mf);
    const sourceCopies = port.children.some((c) => c.up && c.mode === 'source' && (c.sources ?? []).includes(src));
    yield { at: sender ? `child:${sender.name}` : `parent:${parent}`, frame, expect, sourceCopies };
  }
}
