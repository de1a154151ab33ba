// macvtap children side by side (#13 item 4): frames per second into a tap reader and from a tap writer,
// kernel macvtap against macvlan-bpf's tap child with the fast path in TC and in XDP, 64 and 1500 bytes,
// alternately in one run. The reader is a thread of the addon that reads and counts every frame (as
// QEMU's would, without the guest); the writer writes the same vnet header + frame in a C loop. The
// external host's frames are live XDP frames from e0, as in the paths part.
import { randomBytes } from 'node:crypto';
import { Sandbox, run } from '../lab/sandbox.js';
import { addBpfChildren, addKernelChildren, buildWire } from '../lab/builder.js';
import { TapEndpoint, waitTapActive } from '../lab/tap-endpoint.js';
import type { Mac } from '../mac.js';
import { Receiver, liveGenerate, measureRate, udpFrame } from './traffic.js';
import { EXT_IP, EXT_MAC } from './paths.js';
import { fmt, measureUntilStill, median } from './stats.js';

export const TAP_DATAPATHS = ['kernel macvtap', 'macvlan-bpf (tc)', 'macvlan-bpf (xdp)'] as const;
type TapDatapath = (typeof TAP_DATAPATHS)[number];
export const TAP_PATHS = ['external → tap reader', 'tap writer → external'] as const;
type TapPath = (typeof TAP_PATHS)[number];
const TAP_MAC: Mac = '02:00:00:00:07:01';
const TAP_IP = '10.77.0.70';
const SIZES = [64, 1500] as const;
const QUEUE_LEN = 1 << 18;

interface TapSample {
  datapath: TapDatapath;
  path: TapPath;
  size: number;
  pps: number;
  delivered: number;
  sent: number;
  /** external → tap reader: frames the generator pushed through the datapath into the queue per second
   * (its own time: the datapath's work happens in its softirq), whatever the reader made of them. */
  offered?: number;
}

/** p0 ── e0, and one bridge-mode macvtap child t0 on p0 of the datapath's kind. */
class TapTopology {
  readonly ext: string;
  readonly host: string;
  readonly tap: TapEndpoint;

  constructor(private readonly sb: Sandbox, readonly datapath: TapDatapath) {
    const tag = { 'kernel macvtap': 'k', 'macvlan-bpf (tc)': 't', 'macvlan-bpf (xdp)': 'x' }[datapath];
    this.ext = sb.netns(`${tag}x`);
    this.host = sb.netns(`${tag}h`);
    buildWire({ host: this.host, ext: this.ext, gro: true, extIp: `${EXT_IP}/24` });
    const kid = { name: 't0', mode: 'bridge' as const, mac: TAP_MAC, netns: this.host, tap: true };
    if (datapath === 'kernel macvtap') addKernelChildren(this.host, [kid]);
    else addBpfChildren(this.host, sb.pinRoot(tag), [kid], datapath === 'macvlan-bpf (xdp)' ? { fastpath: 'xdp' } : {});
    // XDP redirects cannot keep a veth sender's partial checksum: e0 computes its own (as in paths.ts).
    if (datapath === 'macvlan-bpf (xdp)') run('nsenter', [`--net=/run/netns/${this.ext}`, 'ethtool', '-K', 'e0', 'tx', 'off']);
    // A reader's queue as long as a run's burst (kernel macvtap and tun both size it by txqueuelen, at
    // open), so what is measured is how fast frames get through to the reader, not which drops first.
    run('ip', ['-n', this.host, 'link', 'set', 't0', 'txqueuelen', String(QUEUE_LEN)]);
    this.tap = datapath === 'kernel macvtap' ? TapEndpoint.kernel(this.host, 't0') : TapEndpoint.ours(this.host, 't0');
    if (datapath !== 'kernel macvtap') waitTapActive(this.host, 't0'); // see waitTapActive
  }

  close(): void {
    this.tap.close();
    this.sb.dropNetns(this.ext);
    this.sb.dropNetns(this.host);
  }
}

async function measure(t: TapTopology, frames: Record<number, number>, out: TapSample[]): Promise<void> {
  const q = t.tap.queue;
  for (const size of SIZES) {
    const n = frames[size]!;
    q.countStart();
    try {
      let ns = 0;
      const r = await measureUntilStill(() => q.counted().packets, () => {
        const t0 = process.hrtime.bigint();
        liveGenerate(t.ext, 'e0', udpFrame({ src: EXT_MAC, dst: TAP_MAC, length: size, dstIp: TAP_IP }), n);
        ns = Number(process.hrtime.bigint() - t0);
      });
      out.push({ datapath: t.datapath, path: 'external → tap reader', size, pps: r.pps, delivered: r.delivered, sent: n, offered: n / (ns / 1e9) });
    } finally {
      q.countStop();
    }
    const rx = new Receiver(t.ext, 'e0');
    try {
      const frame = Buffer.concat([Buffer.alloc(10), udpFrame({ src: TAP_MAC, dst: EXT_MAC, length: size, srcIp: TAP_IP, dstIp: EXT_IP })]);
      const r = await measureRate([rx], () => void q.sendBurst(frame, n));
      out.push({ datapath: t.datapath, path: 'tap writer → external', size, pps: r.pps, delivered: r.delivered, sent: n });
    } finally {
      rx.close();
    }
  }
}

export async function benchTaps(opts: { reps: number; frames: Record<number, number>; log: (s: string) => void }): Promise<TapSample[]> {
  const out: TapSample[] = [];
  for (let rep = 0; rep < opts.reps; rep++) {
    const sb = new Sandbox(`mvbp${randomBytes(2).toString('hex')}`);
    try {
      for (const d of TAP_DATAPATHS) {
        const t = new TapTopology(sb, d);
        try {
          await measure(t, opts.frames, out);
        } finally {
          t.close();
        }
        opts.log(`  run ${rep + 1}/${opts.reps} ${d}: ${out.slice(-4).map((s) => `${s.path.split(' ')[0]} ${s.size} B ${(s.pps / 1e6).toFixed(2)}M`).join(', ')}`);
      }
    } finally {
      sb.cleanup();
    }
  }
  return out;
}

export function tapsTable(samples: TapSample[]): string {
  const cell = (d: TapDatapath, p: TapPath, size: number) => samples.filter((s) => s.datapath === d && s.path === p && s.size === size);
  const out = [
    `| path | frame | ${TAP_DATAPATHS.join(' | ')} | tc / kernel macvtap | xdp / kernel macvtap |`,
    `|---|---:|${TAP_DATAPATHS.map(() => '---:').join('|')}|---:|---:|`,
  ];
  for (const size of SIZES)
    for (const p of TAP_PATHS) {
      const m = TAP_DATAPATHS.map((d) => median(cell(d, p, size).map((s) => s.pps)));
      const lost = (d: TapDatapath) => {
        const xs = cell(d, p, size);
        const f = xs.reduce((s, x) => s + x.delivered, 0) / Math.max(1, xs.reduce((s, x) => s + x.sent, 0));
        return f < 0.995 ? ` [${(f * 100).toFixed(0)} % delivered]` : '';
      };
      const ratio = (a: number, b: number) => (a > 0 && b > 0 ? (a / b).toFixed(2) : '–');
      out.push(`| ${p} | ${size} B | ${TAP_DATAPATHS.map((d, i) => `${fmt(m[i]!)}pps${lost(d)}`).join(' | ')} | ${ratio(m[1]!, m[0]!)} | ${ratio(m[2]!, m[0]!)} |`);
      if (p !== 'external → tap reader') continue;
      // The producer's side alone: how fast the generator's CPU put frames through the datapath into the queue.
      const o = TAP_DATAPATHS.map((d) => median(cell(d, p, size).map((s) => s.offered ?? 0)));
      out.push(`| … into the tap's queue (the generator's CPU) | ${size} B | ${o.map((x) => `${fmt(x)}pps`).join(' | ')} | ${ratio(o[1]!, o[0]!)} | ${ratio(o[2]!, o[0]!)} |`);
    }
  return out.join('\n');
}
