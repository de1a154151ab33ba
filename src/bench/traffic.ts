// The benchmarks' traffic: IPv4/UDP frames of a given size, a live-frame generator (XDP_TX through
// BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES), an AF_PACKET generator where live frames can't
// be used, and counting receivers (a TC ingress program per interface, its own map each).
import path from 'node:path';
import { addon, inNetns, projectRoot, type BpfObject, type BpfMap } from '../native.js';
import { macToBytes, type Mac } from '../mac.js';
import { encodeMacKey, encodeMacVal } from '../datapath/abi.js';
import { measureUntilStill } from './stats.js';

export const BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1;
const BENCH_OBJ = path.join(projectRoot, 'bpf', 'bench.bpf.o');
/** struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex. */
const XDP_MD_SIZE = 24;
const TC_HANDLE = 0x4d42;
const TC_PRIO = 0x4d42;

function ipChecksum(h: Buffer): number {
  let s = 0;
  for (let i = 0; i < h.length; i += 2) s += h.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** A valid IPv4/UDP frame of `length` bytes (without FCS), so bridge netfilter really looks at it. */
export function udpFrame(o: { src: Mac; dst: Mac; length: number; srcIp?: string; dstIp?: string }): Buffer {
  const f = Buffer.alloc(o.length);
  macToBytes(o.dst).copy(f, 0);
  macToBytes(o.src).copy(f, 6);
  f.writeUInt16BE(0x0800, 12);
  const ip = f.subarray(14, 34);
  ip.writeUInt8(0x45, 0);
  ip.writeUInt16BE(o.length - 14, 2);
  ip.writeUInt8(64, 8);
  ip.writeUInt8(17, 9);
  Buffer.from((o.srcIp ?? '10.77.0.1').split('.').map(Number)).copy(ip, 12);
  Buffer.from((o.dstIp ?? '10.77.0.10').split('.').map(Number)).copy(ip, 16);
  ip.writeUInt16BE(ipChecksum(ip), 10);
  f.writeUInt16BE(9, 34); // discard
  f.writeUInt16BE(9, 36);
  f.writeUInt16BE(o.length - 34, 38);
  return f;
}

let benchObjects = 0;
export function loadBench(): BpfObject {
  // Nothing in bench.bpf.o is pinned: every load has its own maps.
  return new (addon().BpfObject)(BENCH_OBJ, `/sys/fs/bpf/mvb-bench-unused-${process.pid}-${benchObjects++}`);
}

/** Sends `count` copies of a frame out of `ifname` (in netns) with live XDP frames; blocks until done. */
export function liveGenerate(netns: string, ifname: string, frame: Buffer, count: number): void {
  const a = addon();
  const obj = loadBench();
  try {
    const prog = new a.BpfProgram({ fd: obj.programFd('mvb_bench_xdp_tx') });
    try {
      const ctx = Buffer.alloc(XDP_MD_SIZE);
      ctx.writeUInt32LE(frame.length, 4); // data_end
      inNetns(`/run/netns/${netns}`, () => {
        ctx.writeUInt32LE(a.ifNameToIndex(ifname), 12);
        // repeat is a u32 of runs; one call per 2^20 frames keeps each call short.
        for (let left = count; left > 0; left -= 1 << 20)
          prog.testRun({ data: frame, ctx, repeat: Math.min(left, 1 << 20), flags: BPF_F_TEST_XDP_LIVE_FRAMES, batchSize: 64 });
      });
    } finally {
      prog.close();
    }
  } finally {
    obj.close();
  }
}

/** Sends `count` copies of a frame from `ifname` (in netns) through AF_PACKET (sendmmsg in C). */
export function packetGenerate(netns: string, ifname: string, frame: Buffer, count: number): void {
  const s = new (addon().PacketSocket)({ ifname, netns: `/run/netns/${netns}`, protocol: 0 });
  try {
    s.sendBurst(frame, count);
  } finally {
    s.close();
  }
}

/** The frames a counting program's map holds, summed over CPUs (the per-CPU buffer is sized by the
 * addon: 16 bytes per CPU, packets first). */
function countedPackets(map: BpfMap): number {
  const raw = map.lookup(Buffer.alloc(4))!;
  let n = 0;
  for (let off = 0; off + 16 <= raw.length; off += 16) n += Number(raw.readBigUInt64LE(off));
  return n;
}

/** A counting receiver: TC ingress on one interface, counts and ends every frame there. */
export class Receiver {
  private readonly obj: BpfObject;
  private readonly map: BpfMap;
  private readonly ifindex: number;

  constructor(readonly netns: string, readonly ifname: string, private readonly kind: 'tc' | 'xdp' = 'tc') {
    const a = addon();
    this.obj = loadBench();
    this.map = new a.BpfMap({ fd: this.obj.mapFd('mvb_bench_count') });
    this.ifindex = a.ifNameToIndex(ifname, `/run/netns/${netns}`);
    inNetns(`/run/netns/${netns}`, () => {
      if (kind === 'tc') a.tcAttach(this.ifindex, 'ingress', this.obj.programFd('mvb_bench_tc_count'), TC_HANDLE, TC_PRIO, true);
      else a.xdpAttach(this.ifindex, this.obj.programFd('mvb_bench_xdp_count_drop'), 'native');
    });
  }

  /** Frames counted so far, all CPUs. */
  packets(): number {
    return countedPackets(this.map);
  }

  close(): void {
    const a = addon();
    try {
      inNetns(`/run/netns/${this.netns}`, () => {
        if (this.kind === 'tc') a.tcDetach(this.ifindex, 'ingress', TC_HANDLE, TC_PRIO);
        else a.xdpDetach(this.ifindex, 'native');
      });
    } catch { /* the interface is gone with its netns */ }
    this.map.close();
    this.obj.close();
  }
}

/** The same counting program on many interfaces of one netns (one load, one map): the fan-out's N
 * children, where an object per child would cost N loads. */
export class SharedReceiver {
  private readonly obj: BpfObject;
  private readonly map: BpfMap;
  private readonly ifindexes: number[] = [];

  constructor(readonly netns: string, ifnames: string[]) {
    const a = addon();
    this.obj = loadBench();
    this.map = new a.BpfMap({ fd: this.obj.mapFd('mvb_bench_count') });
    const prog = this.obj.programFd('mvb_bench_tc_count');
    try {
      inNetns(`/run/netns/${netns}`, () => {
        for (const n of ifnames) {
          const ifindex = a.ifNameToIndex(n);
          a.tcAttach(ifindex, 'ingress', prog, TC_HANDLE, TC_PRIO, true);
          this.ifindexes.push(ifindex);
        }
      });
    } catch (e) {
      this.close();
      throw e;
    }
  }

  packets(): number {
    return countedPackets(this.map);
  }

  close(): void {
    const a = addon();
    try {
      inNetns(`/run/netns/${this.netns}`, () => {
        for (const i of this.ifindexes) a.tcDetach(i, 'ingress', TC_HANDLE, TC_PRIO);
      });
    } catch { /* the interfaces are gone with their netns */ }
    this.map.close();
    this.obj.close();
  }
}

/** Delivered frames per second at the receivers for one generator run (see measureUntilStill). */
export function measureRate(receivers: Receiver[], generate: () => void): Promise<{ pps: number; delivered: number }> {
  return measureUntilStill(() => receivers.reduce((s, r) => s + r.packets(), 0), generate);
}

export type RedirectHook = 'cls_bpf' | 'tcx' | 'xdp';

/** Where a bare redirect sends every frame: `to` (an ifindex in the program's netns), into its peer
 * (a veth's host end → the child end) or out through its transmit (the parent). With `table`, the
 * program first looks the frame's destination up in a hash map of the MAC table's shape holding the
 * one entry (the program's own ifindex, table.mac) → table.host: a hit goes into that host end's peer
 * (XDP: bpf_redirect into it), a miss to `to` as without the table (XDP: the stack). */
export interface RedirectSpec {
  hook: RedirectHook;
  to: number;
  peer: boolean;
  table?: { mac: Mac; host: number };
  /** tcx: ahead of every program already on the device (BPF_F_BEFORE with no anchor), so a datapath's
   * own program there never sees the frames while this one is attached. */
  first?: boolean;
}

/** BPF_F_BEFORE (uapi bpf.h): with no relative program or link, the new one goes first. */
const BPF_F_BEFORE = 1 << 3;

/**
 * A hook's limit: a program that only redirects every frame (RedirectSpec), on `ifname`'s ingress in the
 * given hook. Removed by close().
 */
export class BareRedirect {
  private readonly obj: BpfObject;
  private readonly ifindex: number;
  private readonly hook: RedirectHook;
  private link: { detach(): void; close(): void } | null = null;

  constructor(readonly netns: string, ifname: string, spec: RedirectSpec) {
    const a = addon();
    this.hook = spec.hook;
    if (spec.hook === 'xdp' && !spec.peer) throw new Error('an XDP redirect limit sends into a veth (peer: true): XDP has no transmit of its own to go out through');
    if (spec.first && spec.hook !== 'tcx') throw new Error(`a ${spec.hook} limit cannot go ahead of a program already there: only tcx orders its programs`);
    this.obj = loadBench();
    this.ifindex = a.ifNameToIndex(ifname, `/run/netns/${netns}`);
    const target = new a.BpfMap({ fd: this.obj.mapFd('mvb_bench_target') });
    try {
      const v = Buffer.alloc(4);
      v.writeUInt32LE(spec.to);
      target.update(Buffer.alloc(4), v);
    } finally {
      target.close();
    }
    if (spec.table) {
      // The lookup's map has the MAC table's key and value: the datapath's own encoders write them.
      const m = new a.BpfMap({ fd: this.obj.mapFd('mvb_bench_macs') });
      try {
        m.update(encodeMacKey(this.ifindex, spec.table.mac), encodeMacVal({ hostIfindex: spec.table.host, mode: 'bridge', flags: 0 }));
      } finally {
        m.close();
      }
    }
    const prog = spec.hook === 'xdp'
      ? spec.table ? 'mvb_bench_xdp_lookup_redirect' : 'mvb_bench_xdp_redirect'
      : spec.table ? 'mvb_bench_tc_lookup_redirect' : spec.peer ? 'mvb_bench_tc_redirect_peer' : 'mvb_bench_tc_redirect';
    inNetns(`/run/netns/${netns}`, () => {
      if (spec.hook === 'xdp') a.xdpAttach(this.ifindex, this.obj.programFd(prog), 'native');
      else if (spec.hook === 'cls_bpf') a.tcAttach(this.ifindex, 'ingress', this.obj.programFd(prog), TC_HANDLE, TC_PRIO, true);
      else this.link = a.BpfLink.create({ progFd: this.obj.programFd(prog), ifindex: this.ifindex, attachType: 'tcx_ingress', flags: spec.first ? BPF_F_BEFORE : 0 });
    });
  }

  close(): void {
    const a = addon();
    try {
      inNetns(`/run/netns/${this.netns}`, () => {
        if (this.hook === 'xdp') a.xdpDetach(this.ifindex, 'native');
        else if (this.hook === 'cls_bpf') a.tcDetach(this.ifindex, 'ingress', TC_HANDLE, TC_PRIO);
        else this.link?.detach();
      });
    } catch { /* gone with its netns */ }
    this.link?.close();
    this.obj.close();
  }
}
