// Broadcast fan-out benchmark: one parent with N children (vepa, all in one namespace), 64-byte broadcast
// frames from the external host through the path benchmarks' generator (live XDP frames, XDP_TX in
// batches of 64: as fast as one CPU sends, a storm) and counted by their receivers (a counting TC
// program at each child's ingress, one shared object); copies delivered per second, next to the copies
// offered (frames sent × N over the sending time). macvlan-bpf and kernel macvlan are built and measured
// in the same run, alternately, several times; the median is reported with the spread. A second measure
// times the parent program alone through BPF_PROG_TEST_RUN (repeat, COST_COPIES copies in all, on one
// CPU), every copy at once, and divides by N: the datapath's cost per copy.
import { randomBytes } from 'node:crypto';
import { Sandbox } from '../lab/sandbox.js';
import { EXT_MAC, addBpfChildren, addKernelChildren, buildWire, type ChildDef } from '../lab/builder.js';
import { Macvlan } from '../control/macvlan.js';
import { addon, inNetns } from '../native.js';
import { buildFrame } from '../frames.js';
import { SKB_CTX_SIZE, SKB_IFINDEX_OFFSET } from '../datapath/abi.js';
import type { Mac } from '../mac.js';
import { SharedReceiver, liveGenerate, udpFrame } from './traffic.js';
import { fmt, measureUntilStill, median } from './stats.js';

export interface FanoutRow {
  n: number;
  datapath: 'macvlan-bpf' | 'kernel macvlan';
  copiesPerSec: number[]; // delivered, one per repetition
  offeredPerSec: number[]; // frames sent × N over the sending time
  delivered: number[]; // fraction of the copies sent that arrived
  nsPerCopy?: number; // BPF_PROG_TEST_RUN, macvlan-bpf only
}

/** Copies a PROG_TEST_RUN measurement makes (repeat × N): enough runs at 1,024 children to warm the
 * caches the copies touch. */
const COST_COPIES = 200_000;

const mac = (i: number) => `02:00:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}` as Mac;

async function measureOnce(sb: Sandbox, n: number, kind: 'bpf' | 'kernel', frames: number): Promise<{ rate: number; offered: number; delivered: number; nsPerCopy?: number }> {
  const tag = `${kind[0]}${n}`;
  const host = sb.netns(`${tag}h`);
  const kids = sb.netns(`${tag}k`);
  const ext = sb.netns(`${tag}x`);
  const pins = sb.pinRoot(tag);
  try {
    buildWire({ host, ext, gro: true }); // GRO: the parent's veth takes the generator's XDP frames
    let nsPerCopy: number | undefined;
    const defs: ChildDef[] = Array.from({ length: n }, (_, i) => ({ name: `f${i}`, mode: 'vepa', mac: mac(i), netns: kids }));
    if (kind === 'kernel') {
      addKernelChildren(host, defs);
    } else {
      addBpfChildren(host, pins, defs);
      inNetns(`/run/netns/${host}`, () => {
        const m = Macvlan.open(pins);
        try {
          // The program alone: one broadcast through the parent's ingress, N copies, timed by the kernel.
          const ctx = Buffer.alloc(SKB_CTX_SIZE);
          const p0 = addon().ifNameToIndex('p0');
          ctx.writeUInt32LE(p0, SKB_IFINDEX_OFFSET);
          const repeat = Math.max(10, Math.floor(COST_COPIES / n));
          // Every copy at once (a budget above N: in a test run each copy's transmit ends with bottom
          // halves enabled, which delivers it, so the backlog never fills), as the program makes each
          // round of a deferred flood; the continuation each round costs is not in it. On one CPU: a
          // run the scheduler moves starts again with cold caches (at 1,024 children, two devices
          // each, that alone read 460-1,100 ns a copy against 390 kept on one CPU).
          const a = addon();
          const cpus = a.threadAffinity();
          m.dp.setFloodSettings({ budget: n + 1, chunk: Math.min(n, 8) });
          try {
            a.threadAffinity([cpus.at(-1)!]);
            const r = m.dp.programs.parent.testRun({ data: buildFrame({ src: EXT_MAC, dst: 'ff:ff:ff:ff:ff:ff' }), ctx, repeat });
            nsPerCopy = r.duration / n;
          } finally {
            a.threadAffinity(cpus);
            m.dp.setFloodSettings({ budget: 0, chunk: 0 });
          }
        } finally {
          m.close();
        }
      });
    }
    const rx = new SharedReceiver(kids, defs.map((d) => d.name));
    try {
      await new Promise((r) => setTimeout(r, 300));
      const frame = udpFrame({ src: EXT_MAC, dst: 'ff:ff:ff:ff:ff:ff', length: 64, dstIp: '10.77.0.255' });
      let sendSeconds = 0;
      const m = await measureUntilStill(() => rx.packets(), () => {
        const t0 = process.hrtime.bigint();
        liveGenerate(ext, 'e0', frame, frames);
        sendSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      }, 5); // polls every 5 ms: a run of a few hundred thousand copies lasts tens of ms
      return { rate: m.pps, offered: (frames * n) / sendSeconds, delivered: m.delivered / (frames * n), nsPerCopy };
    } finally {
      rx.close();
    }
  } finally {
    sb.dropNetns(host);
    sb.dropNetns(kids);
    sb.dropNetns(ext);
    sb.cleanup();
  }
}

export async function benchFanout(opts: { sizes: number[]; reps: number; copies: number; log: (s: string) => void }): Promise<FanoutRow[]> {
  const rows: FanoutRow[] = [];
  for (const n of opts.sizes) {
    const frames = Math.max(200, Math.floor(opts.copies / n));
    const bpf: FanoutRow = { n, datapath: 'macvlan-bpf', copiesPerSec: [], offeredPerSec: [], delivered: [] };
    const ker: FanoutRow = { n, datapath: 'kernel macvlan', copiesPerSec: [], offeredPerSec: [], delivered: [] };
    const costs: number[] = [];
    for (let r = 0; r < opts.reps; r++) {
      for (const [kind, row] of [['bpf', bpf], ['kernel', ker]] as const) {
        const sb = new Sandbox(`mvbbench${randomBytes(2).toString('hex')}`);
        try {
          const m = await measureOnce(sb, n, kind, frames);
          row.copiesPerSec.push(m.rate);
          row.offeredPerSec.push(m.offered);
          row.delivered.push(m.delivered);
          if (m.nsPerCopy !== undefined) costs.push(m.nsPerCopy);
        } finally {
          sb.cleanup();
        }
      }
      opts.log(`  fan-out N=${n} run ${r + 1}/${opts.reps}: bpf ${fmt(bpf.copiesPerSec.at(-1)!)} copies/s, kernel ${fmt(ker.copiesPerSec.at(-1)!)} copies/s`);
    }
    bpf.nsPerCopy = median(costs);
    rows.push(bpf, ker);
  }
  return rows;
}

export function fanoutTable(rows: FanoutRow[]): string {
  const out = ['| N children | macvlan-bpf copies/s delivered (min–max) | offered | delivered | kernel macvlan copies/s delivered (min–max) | offered | delivered | ratio bpf/kernel | bpf ns per copy (PROG_TEST_RUN) |', '|---:|---:|---:|---:|---:|---:|---:|---:|---:|'];
  for (let i = 0; i < rows.length; i += 2) {
    const b = rows[i]!;
    const k = rows[i + 1]!;
    const range = (r: FanoutRow) => `${fmt(median(r.copiesPerSec))} (${fmt(Math.min(...r.copiesPerSec))}–${fmt(Math.max(...r.copiesPerSec))})`;
    const pct = (r: FanoutRow) => `${(median(r.delivered) * 100).toFixed(1)} %`;
    out.push(`| ${b.n} | ${range(b)} | ${fmt(median(b.offeredPerSec))} | ${pct(b)} | ${range(k)} | ${fmt(median(k.offeredPerSec))} | ${pct(k)} | ${(median(b.copiesPerSec) / median(k.copiesPerSec)).toFixed(2)} | ${b.nsPerCopy?.toFixed(0) ?? '-'} |`);
  }
  return out.join('\n');
}
