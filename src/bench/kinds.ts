// Child kinds side by side: macvlan-bpf with veth children, with netkit children, and kernel macvlan, on
// the paths benchmark's topology and traffic (paths.ts), 64-byte frames, alternately in one run. netkit
// needs Linux 6.7+ with CONFIG_NETKIT; on a kernel without it (this project's usual host) the part runs
// itself in the 6.12 QEMU guest (src/lab/guest.ts), where software emulation proves function, not speed:
// it distorts the ratios between datapaths, so the host's own numbers are the ones to trust.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { Sandbox } from '../lab/sandbox.js';
import { kernelHasNetkit } from '../lab/probe.js';
import { guestKernelDir, removeGuestOutput, runInGuest } from '../lab/guest.js';
import { BenchTopology, EXT_IP, EXT_MAC, childIp, childMac } from './paths.js';
import { Receiver, liveGenerate, measureRate, packetGenerate, udpFrame } from './traffic.js';
import { fmt, median } from './stats.js';

export const KIND_DATAPATHS = ['macvlan-bpf (veth)', 'macvlan-bpf (netkit)', 'kernel macvlan'] as const;
type KindDatapath = (typeof KIND_DATAPATHS)[number];
const KIND_PATHS = ['external → child', 'child → external', 'bridge child → child'] as const;

interface KindSample {
  datapath: KindDatapath;
  path: (typeof KIND_PATHS)[number];
  pps: number;
  delivered: number;
  sent: number;
}

async function measure(t: BenchTopology, datapath: KindDatapath, frames: number, out: KindSample[]): Promise<void> {
  const cases: [(typeof KIND_PATHS)[number], Receiver, () => void][] = [
    ['external → child', new Receiver(t.childNs(0), 'c0'), () => liveGenerate(t.ext, 'e0', udpFrame({ src: EXT_MAC, dst: childMac(0), length: 64 }), frames)],
    ['child → external', new Receiver(t.ext, 'e0'), () => packetGenerate(t.childNs(0), 'c0', udpFrame({ src: childMac(0), dst: EXT_MAC, length: 64, srcIp: childIp(0), dstIp: EXT_IP }), frames)],
    ['bridge child → child', new Receiver(t.childNs(1), 'c1'), () => packetGenerate(t.childNs(0), 'c0', udpFrame({ src: childMac(0), dst: childMac(1), length: 64, srcIp: childIp(0), dstIp: childIp(1) }), frames)],
  ];
  for (const [path, rx, gen] of cases) {
    try {
      const r = await measureRate([rx], gen);
      out.push({ datapath, path, pps: r.pps, delivered: r.delivered, sent: frames });
    } finally {
      rx.close();
    }
  }
}

/** Measures here; the kernel must have netkit. */
export async function benchKindsHere(opts: { reps: number; frames: number; log: (s: string) => void }): Promise<KindSample[]> {
  const out: KindSample[] = [];
  for (let rep = 0; rep < opts.reps; rep++) {
    const sb = new Sandbox(`mvbk${randomBytes(2).toString('hex')}`);
    try {
      for (const d of KIND_DATAPATHS) {
        const t = new BenchTopology(sb, d === 'macvlan-bpf (veth)' ? 'macvlan-bpf' : d);
        try {
          await measure(t, d, opts.frames, out);
        } finally {
          t.close();
        }
        opts.log(`  run ${rep + 1}/${opts.reps} ${d}: ${out.slice(-3).map((s) => `${s.path.split(' ')[0]} ${(s.pps / 1e6).toFixed(2)}M`).join(', ')}`);
      }
    } finally {
      sb.cleanup();
    }
  }
  return out;
}

export function kindsTable(samples: KindSample[]): string {
  const cell = (d: KindDatapath, p: string) => samples.filter((s) => s.datapath === d && s.path === p);
  const out = [
    `| path, 64 B | ${KIND_DATAPATHS.join(' | ')} | netkit / veth | netkit / kernel macvlan | veth / kernel macvlan |`,
    `|---|${KIND_DATAPATHS.map(() => '---:').join('|')}|---:|---:|---:|`,
  ];
  for (const p of KIND_PATHS) {
    const m = KIND_DATAPATHS.map((d) => median(cell(d, p).map((s) => s.pps)));
    const lost = (d: KindDatapath) => {
      const xs = cell(d, p);
      const f = xs.reduce((s, x) => s + x.delivered, 0) / Math.max(1, xs.reduce((s, x) => s + x.sent, 0));
      return f < 0.995 ? ` [${(f * 100).toFixed(0)} % delivered]` : '';
    };
    const ratio = (a: number, b: number) => (a > 0 && b > 0 ? (a / b).toFixed(2) : '–');
    out.push(`| ${p} | ${KIND_DATAPATHS.map((d, i) => `${fmt(m[i]!)}pps${lost(d)}`).join(' | ')} | ${ratio(m[1]!, m[0]!)} | ${ratio(m[1]!, m[2]!)} | ${ratio(m[0]!, m[2]!)} |`);
  }
  return out.join('\n');
}

/**
 * The part: here where the kernel has netkit, else in the 6.12 guest (its table comes back in its log).
 * Returns the table and where it was measured, or throws naming what is missing.
 */
export async function benchKinds(opts: { smoke: boolean; log: (s: string) => void }): Promise<{ table: string; where: string; failures: string[] }> {
  const here = kernelHasNetkit(`mvbk${randomBytes(2).toString('hex')}`);
  // A smoke run (the test suite's) does not boot a guest: the kernel matrix's 6.12 guest runs this
  // part's smoke itself (test/vm/kernels.test.ts).
  if (!here && opts.smoke)
    return { table: `(this kernel, ${os.release()}, has no netkit: \`bench --only=kinds\` measures in the 6.12 guest, and the kernel matrix runs this part's smoke there)`, where: 'not measured', failures: [] };
  const reps = opts.smoke ? 1 : 3;
  const frames = opts.smoke ? 2000 : 300_000;
  if (here) {
    const s = await benchKindsHere({ reps, frames, log: opts.log });
    return { table: kindsTable(s), where: `kernel ${os.release()}, ${os.cpus().length} vCPUs, this machine`, failures: s.filter((x) => x.delivered === 0).map((x) => `kinds ${x.datapath}, ${x.path}: nothing delivered`) };
  }
  guestKernelDir('backports'); // throws naming the set-up step when the guest kernel is not prepared
  opts.log(`kinds: this kernel (${os.release()}) has no netkit: measuring in the 6.12 guest (software emulation; about ${opts.smoke ? 1 : 4} min)`);
  const r = await runInGuest('backports', `node dist/cli/main.js bench --only=kinds${opts.smoke ? ' --smoke' : ''}`, { prefix: `mvbk${randomBytes(2).toString('hex')}`, timeoutMs: 15 * 60_000 });
  try {
    const table = r.log.split('\n').filter((l) => l.startsWith('|')).join('\n');
    if (r.rc !== 0 || !table) throw new Error(`the 6.12 guest's kinds benchmark failed (exit ${r.rc}); its output:\n${r.log.slice(-2000)}\n${r.console.slice(-1500)}`);
    const kernel = /kernel (\S+), \d+ vCPUs/.exec(r.log)?.[1] ?? '6.12';
    return { table, where: `kernel ${kernel} in a QEMU guest under software emulation (2 vCPUs): function, not speed`, failures: /nothing delivered/.test(r.log) ? ['kinds (in the guest): a case delivered nothing'] : [] };
  } finally {
    removeGuestOutput(r);
  }
}
