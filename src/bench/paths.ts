// The datapath benchmark: the same topology built with each datapath, the same traffic through each,
// measured alternately in one run. See docs/benchmarks.md for the method.
//
//   ext netns: e0 ──veth── p0 (host netns: the parent) ── datapath ── c0 (netns k0), c1 (k1), c2..c7 (kn)
//
// Datapaths: macvlan-bpf (TC, bridge-mode children), kernel macvlan (bridge mode), Linux bridge (p0 and
// one veth per child enslaved, static fdb entries, STP off) with bridge netfilter off and on. Limits:
// XDP_DROP on the parent's driver hook, before any skb exists, and on each path each hook's bare
// redirect (with and without one MAC-table lookup) where the datapath would send the frame: tcx's and
// XDP's on macvlan-bpf's own devices (limitOnDatapath), cls_bpf's on devices of its own.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Sandbox, run } from '../lab/sandbox.js';
import { addon, inNetns } from '../native.js';
import { EXT_MAC, addBpfChildren, addBridgeChildren, addKernelChildren, buildWire, type ChildDef } from '../lab/builder.js';
import type { Mac } from '../mac.js';
import os from 'node:os';
import { BareRedirect, Receiver, liveGenerate, loadBench, measureRate, packetGenerate, udpFrame, type RedirectHook, type RedirectSpec } from './traffic.js';
import { kernelHasTcx } from '../datapath/hooks.js';
import { Macvlan } from '../control/macvlan.js';
import { Rtnl } from '../net/rtnetlink.js';
import { ifnameOf, netnsPath } from '../net/links.js';

export const DATAPATHS = ['macvlan-bpf', 'macvlan-bpf (xdp)', 'kernel macvlan', 'bridge (nf off)', 'bridge (nf on)'] as const;
/** Each hook's limit: a bare redirect where the datapath sends the frame, on each path (see BareRedirect). */
export const HOOK_LIMITS = { 'cls_bpf redirect limit': 'cls_bpf', 'tcx redirect limit': 'tcx', 'XDP redirect limit': 'xdp' } as const;
/** The same limits with one MAC-table lookup before the redirect (the lookup no datapath with a table can skip). */
export const LOOKUP_LIMITS = { 'tcx lookup limit': 'tcx', 'XDP lookup limit': 'xdp' } as const;
export type LimitName = keyof typeof HOOK_LIMITS | keyof typeof LOOKUP_LIMITS | 'XDP_DROP limit';
export type DatapathName = (typeof DATAPATHS)[number];
export const PATHS = ['external → child', 'child → external', 'bridge child → child', 'broadcast fan-out (8 children)'] as const;
export type PathName = (typeof PATHS)[number];
export const SIZES = [64, 1500] as const;
export const TCP_PATHS = ['external → child', 'child → external', 'bridge child → child'] as const;
export type TcpPath = (typeof TCP_PATHS)[number];
/** The paths each hook's limit is measured on: every one a datapath decides per frame at one hook (a
 * flood's copies have no bare equivalent). */
export const LIMIT_PATHS = ['external → child', 'child → external', 'bridge child → child'] as const;
export type LimitPath = (typeof LIMIT_PATHS)[number];
/** Whether a hook's limit bounds a path: XDP decides only external → child (in either mode the
 * children's frames are decided in TC). */
export const limitBounds = (hook: RedirectHook, path: string): boolean => (LIMIT_PATHS as readonly string[]).includes(path) && (hook !== 'xdp' || path === 'external → child');
/** Where a hook's limit runs (limitSubjects): tcx ahead of TC mode's program and XDP in place of the
 * fast path, each on that mode's own devices; cls_bpf on devices of its own. */
export const limitWhere = (hook: RedirectHook): string =>
  hook === 'tcx' ? 'ahead of ours, on TC mode\'s devices' : hook === 'xdp' ? 'in place of ours, on XDP mode\'s devices' : 'devices of its own';

export const FANOUT = 8;
export { EXT_MAC };
const PARENT_MAC: Mac = '02:0a:00:00:00:01';
export const childMac = (i: number): Mac => `02:00:00:00:0c:${i.toString(16).padStart(2, '0')}` as Mac;
export const childIp = (i: number) => `10.77.0.${10 + i}`;
export const EXT_IP = '10.77.0.1';

export interface Sample {
  datapath: DatapathName | LimitName | 'macvlan-bpf (netkit)';
  path: PathName;
  size: number;
  pps: number;
  delivered: number;
  sent: number;
  /** The repetition it was measured in (the paths part measures every datapath and limit in each). */
  rep?: number;
}
/** TCP's limit at TC mode's hook (tcpLimit): a bare tcx redirect each way, ahead of TC mode's programs. */
export const TCP_LIMIT = 'tcx redirect limit' as const;
export interface TcpSample {
  datapath: DatapathName | typeof TCP_LIMIT;
  path: TcpPath;
  gbps: number;
  /** The round it was measured in: every datapath runs each path once per round, back to back. */
  round?: number;
}

export interface PathsOptions {
  reps: number;
  /** Frames per measurement, by size. */
  frames: Record<number, number>;
  tcpSeconds: number;
  /** TCP runs of each path per repetition (the table's median is over reps × tcpRuns). */
  tcpRuns: number;
  log: (s: string) => void;
}

export class BenchTopology {
  readonly ext: string;
  readonly host: string;
  readonly kns: string[]; // netns of c0, c1, and of c2..c7
  readonly pins: string;

  constructor(private readonly sb: Sandbox, readonly kind: DatapathName | 'macvlan-bpf (netkit)') {
    const tag = { 'macvlan-bpf': 'b', 'macvlan-bpf (xdp)': 'x', 'macvlan-bpf (netkit)': 'm', 'kernel macvlan': 'k', 'bridge (nf off)': 'r', 'bridge (nf on)': 'n' }[kind];
    this.ext = sb.netns(`${tag}x`);
    this.host = sb.netns(`${tag}h`);
    this.kns = [sb.netns(`${tag}0`), sb.netns(`${tag}1`), sb.netns(`${tag}n`)];
    this.pins = sb.pinRoot(tag);
    this.build();
  }

  childNs(i: number): string {
    return this.kns[Math.min(i, 2)]!;
  }

  /** The parent, p0, in the host netns. */
  parent(): Dev {
    return { ifindex: addon().ifNameToIndex('p0', `/run/netns/${this.host}`), name: 'p0' };
  }

  /** Child i's device on the host side (a veth's host end, a bridge port), by the child's link. */
  hostEnd(i: number): Dev {
    const ifindex = Rtnl.once(netnsPath(this.childNs(i)), (r) => r.link(`c${i}`))?.link_index ?? 0;
    const name = ifindex ? inNetns(netnsPath(this.host), () => ifnameOf(ifindex)) : '';
    if (!name) throw new Error(`c${i} has no device on the host side in ${this.host}`);
    return { ifindex, name };
  }

  private build(): void {
    const { host } = this;
    buildWire({ host, ext: this.ext, gro: true, extIp: `${EXT_IP}/24` });
    const kids: ChildDef[] = Array.from({ length: FANOUT }, (_, i) => ({ name: `c${i}`, mode: 'bridge', mac: childMac(i), netns: this.childNs(i) }));
    if (this.kind === 'macvlan-bpf') addBpfChildren(host, this.pins, kids);
    else if (this.kind === 'macvlan-bpf (netkit)') addBpfChildren(host, this.pins, kids, { childKind: 'netkit' });
    else if (this.kind === 'macvlan-bpf (xdp)') {
      addBpfChildren(host, this.pins, kids, { fastpath: 'xdp' });
      // A frame sent through a veth carries a partial checksum, which an XDP redirect cannot keep: the
      // far end of the test wire computes checksums itself, as a real NIC's receive delivers them.
      run('nsenter', [`--net=/run/netns/${this.ext}`, 'ethtool', '-K', 'e0', 'tx', 'off']);
    }
    else if (this.kind === 'kernel macvlan') addKernelChildren(host, kids);
    else addBridgeChildren(host, kids, { netfilter: this.kind === 'bridge (nf on)' });
    for (let i = 0; i < 2; i++) run('ip', ['-n', this.childNs(i), 'addr', 'add', `${childIp(i)}/24`, 'dev', `c${i}`]);
  }

  close(): void {
    for (const ns of [this.ext, this.host, ...this.kns]) this.sb.dropNetns(ns);
  }
}

function iperf3(ns: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('nsenter', [`--net=/run/netns/${ns}`, 'iperf3', ...args], { encoding: 'utf8', maxBuffer: 16 << 20 }, (e, out, err) => (e ? reject(new Error(`iperf3 ${args.join(' ')}: ${err || out || e.message}`)) : resolve(out))));
}

/** Where TCP's two ends run: the client (and the softirq work its transmit brings on, up to the
 * server's socket) on the first CPU, the server on the last, in every run of every datapath. Left to
 * the scheduler, where each end ran changed from run to run, and so did the throughput. */
export const TCP_CPUS = { client: 0, server: Math.max(0, os.cpus().length - 1) } as const;

/** TCP bulk throughput with default offloads: iperf3, one stream, each end pinned (TCP_CPUS). */
async function tcp(t: BenchTopology, path: TcpPath, seconds: number): Promise<number> {
  const [serverNs, clientNs, serverIp] =
    path === 'external → child' ? [t.childNs(0), t.ext, childIp(0)]
      : path === 'child → external' ? [t.ext, t.childNs(0), EXT_IP]
        : [t.childNs(0), t.childNs(1), childIp(0)];
  const server = iperf3(serverNs, ['-s', '-1', '-B', serverIp, '-p', '5201', '-A', String(TCP_CPUS.server)]);
  await new Promise((r) => setTimeout(r, 150));
  try {
    const out = await iperf3(clientNs, ['-c', serverIp, '-p', '5201', '-t', String(seconds), '-A', String(TCP_CPUS.client), '-J']);
    const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
    return j.end.sum_received.bits_per_second / 1e9;
  } finally {
    await server.catch(() => undefined);
  }
}

/**
 * TCP through TC mode's hook with nothing decided: on TC mode's own devices, the bare tcx redirect of
 * each way (limitRedirect; the data one way, the ACKs and ARP the other) goes ahead of TC mode's programs
 * for the run and is detached after it: external ↔ child is the limits' external → child and child →
 * external together, child ↔ child their bridge child → child from c0 and its mirror from c1. What one
 * TCP stream through this hook can reach at most, on the same topology as the datapaths' runs.
 */
async function tcpLimit(t: BenchTopology, path: TcpPath, seconds: number): Promise<number> {
  const p0 = t.parent();
  const h0 = t.hostEnd(0);
  const bare = (p: LimitPath, d: { p0: Dev; h0: Dev; h1?: () => Dev }) => limitRedirect(p, 'tcx', false, true, d);
  let ways: ReturnType<typeof bare>[];
  if (path === 'bridge child → child') {
    const h1 = t.hostEnd(1);
    ways = [bare(path, { p0, h0, h1: () => h1 }), bare(path, { p0, h0: h1, h1: () => h0 })];
  } else ways = [bare('external → child', { p0, h0 }), bare('child → external', { p0, h0 })];
  const progs: BareRedirect[] = [];
  try {
    for (const w of ways) progs.push(new BareRedirect(t.host, w.on, w.spec));
    return await tcp(t, path, seconds);
  } finally {
    for (const p of progs) p.close();
  }
}

/**
 * What a run measures in turn: a datapath's topology, or one of the limits. Each takes only the cases it
 * has (a limit: external → child) and returns null for the others.
 */
interface Subject {
  readonly name: Sample['datapath'];
  measure(path: PathName, size: number): Promise<Sample | null>;
  close(): void;
}

/** Frames counted at the receivers while `generate` runs: one sample. */
async function sample(name: Sample['datapath'], path: PathName, size: number, receivers: Receiver[], generate: () => void, sent: number): Promise<Sample> {
  try {
    const r = await measureRate(receivers, generate);
    return { datapath: name, path, size, pps: r.pps, delivered: r.delivered, sent };
  } finally {
    for (const x of receivers) x.close();
  }
}

/** Where a topology's frames start and end: the external host's netns and each child's. */
interface Ends {
  ext: string;
  childNs(i: number): string;
}

/** A unicast path's receiver and generator on a topology (the datapaths' or a limit's own): external
 * → child live frames from e0 counted at c0, the children's paths AF_PACKET frames from c0 counted at
 * e0 or c1. */
function unicastTraffic(e: Ends, path: LimitPath, size: number, n: number): [Receiver, () => void] {
  switch (path) {
    case 'external → child':
      return [new Receiver(e.childNs(0), 'c0'), () => liveGenerate(e.ext, 'e0', udpFrame({ src: EXT_MAC, dst: childMac(0), length: size }), n)];
    case 'child → external':
      return [new Receiver(e.ext, 'e0'), () => packetGenerate(e.childNs(0), 'c0', udpFrame({ src: childMac(0), dst: EXT_MAC, length: size, srcIp: childIp(0), dstIp: EXT_IP }), n)];
    case 'bridge child → child':
      return [new Receiver(e.childNs(1), 'c1'), () => packetGenerate(e.childNs(0), 'c0', udpFrame({ src: childMac(0), dst: childMac(1), length: size, srcIp: childIp(0), dstIp: childIp(1) }), n)];
  }
}

/** A host-side device: a child's host end, or the parent. */
interface Dev {
  ifindex: number;
  name: string;
}

/**
 * A limit's redirect on one path, where the datapath sends the frame: on the parent into c0's peer
 * (external → child), on c0's host end out through the parent (child → external) or into c1's peer
 * (bridge child → child). With `lookup`, first one lookup in a table holding the destination child's
 * MAC; on child → external it holds c0's own, as the datapath's does, so the lookup misses.
 */
function limitRedirect(path: LimitPath, hook: RedirectHook, lookup: boolean, first: boolean, d: { p0: Dev; h0: Dev; h1?: () => Dev }): { on: string; spec: RedirectSpec } {
  if (path === 'external → child')
    return { on: d.p0.name, spec: { hook, to: d.h0.ifindex, peer: true, first, table: lookup ? { mac: childMac(0), host: d.h0.ifindex } : undefined } };
  if (path === 'child → external')
    return { on: d.h0.name, spec: { hook, to: d.p0.ifindex, peer: false, first, table: lookup ? { mac: childMac(0), host: d.h0.ifindex } : undefined } };
  const h1 = d.h1!();
  return { on: d.h0.name, spec: { hook, to: h1.ifindex, peer: true, first, table: lookup ? { mac: childMac(1), host: h1.ifindex } : undefined } };
}

/** A datapath on the paths' topology: every path. */
function datapathSubject(t: BenchTopology, opts: PathsOptions): Subject {
  return {
    name: t.kind as DatapathName,
    measure(path, size) {
      const n = opts.frames[size]!;
      if (path === 'broadcast fan-out (8 children)') {
        const floods = Math.ceil(n / FANOUT);
        const rs = Array.from({ length: FANOUT }, (_, i) => new Receiver(t.childNs(i), `c${i}`));
        return sample(t.kind as DatapathName, path, size, rs, () => liveGenerate(t.ext, 'e0', udpFrame({ src: EXT_MAC, dst: 'ff:ff:ff:ff:ff:ff', length: size, dstIp: '10.77.0.255' }), floods), floods * FANOUT);
      }
      const [rx, generate] = unicastTraffic(t, path, size, n);
      return sample(t.kind as DatapathName, path, size, [rx], generate, n);
    },
    close: () => t.close(),
  };
}

/** The wire's limit: the generator's frames counted and dropped by XDP in the parent's driver hook. */
function xdpDropSubject(sb: Sandbox, opts: PathsOptions): Subject {
  const ext = sb.netns('lx');
  const host = sb.netns('lh');
  buildWire({ host, ext, parentMac: null, extMac: null });
  const r = new Receiver(host, 'p0', 'xdp');
  return {
    name: 'XDP_DROP limit',
    async measure(path, size) {
      if (path !== 'external → child') return null;
      const n = opts.frames[size]!;
      const m = await measureRate([r], () => liveGenerate(ext, 'e0', udpFrame({ src: EXT_MAC, dst: PARENT_MAC, length: size }), n));
      return { datapath: 'XDP_DROP limit', path, size, pps: m.pps, delivered: m.delivered, sent: n };
    },
    close() {
      r.close();
      sb.dropNetns(ext);
      sb.dropNetns(host);
    },
  };
}

/**
 * A hook's limit on one path: the same devices as the datapaths' topology has on that path (the wire,
 * veth children in their own netns), and a program that only redirects every frame where the datapath
 * would send it (RedirectSpec): on the parent into c0's veth (external → child; GRO on at the child
 * end, which XDP redirects need), on c0's host end out through the parent (child → external) or into
 * c1's veth (bridge child → child). With `lookup`, the frame's destination is looked up first in a hash
 * map of the MAC table's shape. Each limit has its own topology (tag), so all are measured in turn with
 * the datapaths.
 */
function hookLimitSubject(sb: Sandbox, opts: PathsOptions, name: LimitName, hook: RedirectHook, lookup: boolean, path: LimitPath, tag: string): Subject {
  const host = sb.netns(`${tag}h`);
  const namespaces = [host];
  const ns = (t: string) => {
    const n = sb.netns(`${tag}${t}`);
    namespaces.push(n);
    return n;
  };
  const child = (i: number, netns: string) => {
    run('ip', ['-n', host, 'link', 'add', `h${i}`, 'type', 'veth', 'peer', 'name', `c${i}`, 'address', childMac(i), 'netns', netns]);
    run('ip', ['-n', host, 'link', 'set', `h${i}`, 'up']);
    run('ip', ['-n', netns, 'link', 'set', `c${i}`, 'up']);
    return addon().ifNameToIndex(`h${i}`, `/run/netns/${host}`);
  };
  const k0 = ns('0');
  const ext = path === 'bridge child → child' ? '' : ns('x');
  if (ext) buildWire({ host, ext, gro: true });
  const h0 = { ifindex: child(0, k0), name: 'h0' };
  let k1 = '';
  if (path === 'external → child') run('nsenter', [`--net=/run/netns/${k0}`, 'ethtool', '-K', 'c0', 'gro', 'on']);
  const r = limitRedirect(path, hook, lookup, false, {
    p0: { ifindex: addon().ifNameToIndex('p0', `/run/netns/${host}`), name: 'p0' },
    h0,
    h1: () => {
      k1 = ns('1'); // bridge child → child only: the sibling and its netns
      return { ifindex: child(1, k1), name: 'h1' };
    },
  });
  const prog = new BareRedirect(host, r.on, r.spec);
  const ends: Ends = { ext, childNs: (i) => (i ? k1 : k0) };
  return {
    name,
    measure(p, size) {
      if (p !== path) return Promise.resolve(null);
      const n = opts.frames[size]!;
      const [rx, generate] = unicastTraffic(ends, path, size, n);
      return sample(name, path, size, [rx], generate, n);
    },
    close() {
      prog.close();
      for (const x of namespaces) sb.dropNetns(x);
    },
  };
}

/**
 * A hook's limit on macvlan-bpf's own devices: the topology the datapath is measured on, with its eight
 * children, its TCP history and its programs in place, so the ratio is our program against none at all
 * and not one topology against another (a fresh topology with one child reads faster on this host).
 * tcx: the bare program goes ahead of ours on the same hook (BPF_F_BEFORE) for the measurement, on the
 * parent (external → child, TC mode's topology) or on c0's host end (the children's paths), and is
 * detached after it. XDP: one program per device, so the XDP topology's parent goes to TC for the
 * measurement (GRO back on at c0, which the redirect needs), takes the bare program, and goes back to
 * its fast path after it.
 */
function limitOnDatapath(t: BenchTopology, opts: PathsOptions, name: LimitName, hook: 'tcx' | 'xdp', lookup: boolean, path: LimitPath): Subject {
  const fastpath = (f: 'tc' | 'xdp') => inNetns(`/run/netns/${t.host}`, () => {
    const m = Macvlan.open(t.pins);
    try {
      m.setFastpath('p0', f);
    } finally {
      m.close();
    }
  });
  const attach = (): BareRedirect => {
    if (hook === 'xdp') {
      fastpath('tc');
      run('nsenter', [`--net=/run/netns/${t.childNs(0)}`, 'ethtool', '-K', 'c0', 'gro', 'on']);
    }
    const r = limitRedirect(path, hook, lookup, hook === 'tcx', { p0: t.parent(), h0: t.hostEnd(0), h1: () => t.hostEnd(1) });
    return new BareRedirect(t.host, r.on, r.spec);
  };
  return {
    name,
    async measure(p, size) {
      if (p !== path) return null;
      const n = opts.frames[size]!;
      let prog: BareRedirect | null = null;
      try {
        prog = attach();
        const [rx, generate] = unicastTraffic(t, path, size, n);
        return await sample(name, path, size, [rx], generate, n);
      } finally {
        prog?.close();
        if (hook === 'xdp') fastpath('xdp'); // back to its fast path, also when the limit failed to attach
      }
    },
    close: () => undefined, // the topology is the datapath's, closed with it
  };
}

/** Whether this kernel has tcx (6.6 on), asked the way the datapath asks it (hooks.ts). */
function tcxHere(): boolean {
  const obj = loadBench();
  try {
    return kernelHasTcx(obj.programFd('mvb_bench_tc_redirect'));
  } finally {
    obj.close();
  }
}

/** Every limit this kernel has (without tcx, its rows say so), on every path it bounds (limitBounds):
 * tcx's on TC mode's topology and XDP's on the XDP mode's (limitOnDatapath), cls_bpf's on its own (a
 * cls_bpf filter cannot go ahead of a tcx link). */
function limitSubjects(sb: Sandbox, opts: PathsOptions, topologies: BenchTopology[], tcx: boolean): Subject[] {
  const on = (kind: DatapathName) => topologies.find((t) => t.kind === kind)!;
  const limits = [
    ...Object.entries(HOOK_LIMITS).map(([name, hook]) => [name, hook, false] as const),
    ...Object.entries(LOOKUP_LIMITS).map(([name, hook]) => [name, hook, true] as const),
  ] as [LimitName, RedirectHook, boolean][];
  const out: Subject[] = [xdpDropSubject(sb, opts)];
  limits.forEach(([name, hook, lookup], i) => {
    if (hook === 'tcx' && !tcx) return;
    LIMIT_PATHS.forEach((path, j) => {
      if (!limitBounds(hook, path)) return;
      if (hook === 'cls_bpf') out.push(hookLimitSubject(sb, opts, name, hook, lookup, path, `h${i}${j}`));
      else out.push(limitOnDatapath(on(hook === 'xdp' ? 'macvlan-bpf (xdp)' : 'macvlan-bpf'), opts, name, hook, lookup, path));
    });
  });
  return out;
}

/** xs starting at its k-th element (mod its length), the ones before it moved to the end. */
export function rotated<T>(xs: readonly T[], k: number): T[] {
  const n = xs.length ? ((k % xs.length) + xs.length) % xs.length : 0;
  return [...xs.slice(n), ...xs.slice(0, n)];
}

/**
 * Each repetition builds every datapath's topology and every limit's side by side, then measures them
 * in turn, case by case: the datapaths' (and the limits') samples of one case are taken seconds apart,
 * so a slow spell of this shared host touches them alike rather than one datapath's whole turn. Each
 * case and TCP round starts with the next subject (rotated): over a run each goes first alike.
 */
export async function benchPaths(opts: PathsOptions): Promise<{ samples: Sample[]; tcp: TcpSample[] }> {
  const samples: Sample[] = [];
  const tcpSamples: TcpSample[] = [];
  const tcx = tcxHere();
  for (let rep = 0; rep < opts.reps; rep++) {
    const sb = new Sandbox(`mvbp${randomBytes(2).toString('hex')}`);
    const onSig = () => sb.cleanup();
    process.once('SIGINT', onSig);
    const subjects: Subject[] = [];
    try {
      const topologies = DATAPATHS.map((kind) => new BenchTopology(sb, kind));
      subjects.push(...topologies.map((t) => datapathSubject(t, opts)));
      subjects.push(...limitSubjects(sb, opts, topologies, tcx));
      // TCP first: the counting receivers end every frame at the child. Each round runs every datapath,
      // and tcx's limit on TC mode's devices where the kernel has tcx, back to back.
      const tcMode = topologies.find((t) => t.kind === 'macvlan-bpf')!;
      const tcpSubjects: { name: TcpSample['datapath']; run: (path: TcpPath) => Promise<number> }[] = [
        ...topologies.map((t) => ({ name: t.kind as DatapathName, run: (path: TcpPath) => tcp(t, path, opts.tcpSeconds) })),
        ...(tcx ? [{ name: TCP_LIMIT, run: (path: TcpPath) => tcpLimit(tcMode, path, opts.tcpSeconds) }] : []),
      ];
      // Each round and each case starts with another subject (rotated): in a fixed order the first
      // after a change of path was always TC mode, and whatever that slot costs fell on it alone.
      let turn = rep;
      for (let i = 0; i < opts.tcpRuns; i++)
        for (const path of TCP_PATHS) {
          const round = rep * opts.tcpRuns + i;
          for (const s of rotated(tcpSubjects, turn++)) tcpSamples.push({ datapath: s.name, path, gbps: await s.run(path), round });
        }
      for (const size of SIZES)
        for (const path of PATHS)
          for (const sub of rotated(subjects, turn++)) {
            const x = await sub.measure(path, size);
            if (x) samples.push({ ...x, rep });
          }
      for (const kind of DATAPATHS) {
        const last = samples.filter((s) => s.datapath === kind).slice(-8);
        opts.log(`  run ${rep + 1}/${opts.reps} ${kind}: ${last.map((s) => `${s.path.split(' ')[0]}/${s.size} ${(s.pps / 1e6).toFixed(2)}M`).join(', ')}; TCP ${tcpSamples.filter((s) => s.datapath === kind && Math.floor((s.round ?? 0) / opts.tcpRuns) === rep).map((s) => s.gbps.toFixed(1)).join('/')} Gbit/s`);
      }
    } finally {
      for (const sub of subjects) {
        try {
          sub.close();
        } catch { /* the sandbox removes what is left */ }
      }
      process.removeListener('SIGINT', onSig);
      sb.cleanup();
    }
  }
  return { samples, tcp: tcpSamples };
}
