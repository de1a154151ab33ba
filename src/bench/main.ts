// `macvlan-bpf bench` / `npm run bench`: every benchmark in one run, printed as Markdown tables with
// ratios. The method is in docs/benchmarks.md. `--smoke` runs every case once with tiny counts
// (CI-sized) and checks only that every case delivered; it asserts nothing about speed.
import os from 'node:os';
import { benchFanout, fanoutTable } from './fanout.js';
import { fmt, median, pairedRatio, pairedRatioText, pairedVerdict } from './stats.js';
import { agentTable, benchAgent } from './agent.js';
import { benchCounters, countersTable } from './counters.js';
import { benchScale, overFloorTable, scaleTable } from './scale.js';
import { benchPaths, DATAPATHS, HOOK_LIMITS, LIMIT_PATHS, limitBounds, limitWhere, LOOKUP_LIMITS, PATHS, TCP_CPUS, SIZES, TCP_LIMIT, TCP_PATHS, type Sample, type TcpSample } from './paths.js';
import { benchCost, type CostRow } from './cost.js';
import { benchKinds } from './kinds.js';
import { benchTaps, tapsTable } from './taps.js';
import { benchCni, cniTable } from './cni.js';
import type { RedirectHook } from './traffic.js';
import { BENCH_USAGE, benchArgs, type BenchArgs, type Part } from './args.js';

/**
 * TCP runs of each path per repetition: 3 × 4 = 12 paired ratios, enough for a 95 % interval of their
 * median between the 3rd and 10th (medianInterval); with 6 it was min–max, ±0.15 on this kind of host.
 */
const TCP_RUNS_PER_REP = 4;


const spread = (xs: number[], unit: (x: number) => string) =>
  xs.length > 1 ? `${unit(median(xs))} (${unit(Math.min(...xs))}–${unit(Math.max(...xs))})` : unit(xs[0] ?? 0);

export function ppsTable(samples: Sample[]): string {
  const pick = (d: string, p: string, s: number) => samples.filter((x) => x.datapath === d && x.path === p && x.size === s);
  const pps = (xs: Sample[]) => xs.map((x) => x.pps);
  const lost = (xs: Sample[]) => {
    const d = xs.reduce((s, x) => s + x.delivered, 0) / Math.max(1, xs.reduce((s, x) => s + x.sent, 0));
    return d < 0.995 ? ` [${(d * 100).toFixed(0)} % delivered]` : '';
  };
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const limitRow = (what: string, size: number, xs: Sample[]) =>
    row([what, `${size} B`, xs.length ? spread(pps(xs), (x) => `${fmt(x)}pps`) : 'n/a (this kernel has no such hook)', ...Array<string>(DATAPATHS.length - 1 + 5).fill('')]);
  const where = (hook: RedirectHook) => ` (${limitWhere(hook)})`;
  const out = [
    `| path | frame | ${DATAPATHS.join(' | ')} | tc / kernel macvlan | xdp / kernel macvlan | tc / bridge (nf off) | tc, xdp / own hook's limit | tc, xdp / own hook's lookup limit |`,
    `|---|---:|${DATAPATHS.map(() => '---:').join('|')}|---:|---:|---:|---:|---:|`,
  ];
  for (const size of SIZES) {
    out.push(limitRow('XDP_DROP on the parent (the wire\'s limit)', size, pick('XDP_DROP limit', 'external → child', size)));
    for (const path of PATHS) {
      const limitPath = (LIMIT_PATHS as readonly string[]).includes(path);
      for (const [name, hook] of Object.entries(HOOK_LIMITS))
        if (limitBounds(hook, path)) out.push(limitRow(`${name}: ${path}, a bare redirect${where(hook)}`, size, pick(name, path, size)));
      for (const [name, hook] of Object.entries(LOOKUP_LIMITS))
        if (limitBounds(hook, path)) out.push(limitRow(`${name}: ${path}, one MAC-table lookup and the redirect${where(hook)}`, size, pick(name, path, size)));
      const cells = DATAPATHS.map((d) => pick(d, path, size));
      // Each repetition's ratio, then their median: the paths part measures every datapath and limit in
      // turn in each repetition, so what slowed one repetition touched both sides (stats.ts).
      const ratio = (a: Sample[], b: Sample[]) => {
        const r = pairedRatio(a.map((x) => ({ value: x.pps, rep: x.rep })), b.map((x) => ({ value: x.pps, rep: x.rep })));
        return r > 0 ? r.toFixed(2) : '–';
      };
      // Each mode against its own hook's limit on this path. TC mode's hook is tcx where the kernel has
      // it (cls_bpf before 6.6); XDP mode decides only external → child in XDP, the rest in TC.
      const limit = (name: string) => pick(name, path, size);
      const tcLimit = limit('tcx redirect limit').length ? limit('tcx redirect limit') : limit('cls_bpf redirect limit');
      const xdpLimit = path === 'external → child' ? limit('XDP redirect limit') : tcLimit;
      const own = limitPath ? `${ratio(cells[0]!, tcLimit)}, ${ratio(cells[1]!, xdpLimit)}` : '';
      // The same against the limit with the MAC table's lookup (tcx only: cls_bpf has no lookup row).
      const xdpLookup = path === 'external → child' ? limit('XDP lookup limit') : limit('tcx lookup limit');
      const withLookup = limitPath ? `${ratio(cells[0]!, limit('tcx lookup limit'))}, ${ratio(cells[1]!, xdpLookup)}` : '';
      out.push(`| ${path} | ${size} B | ${cells.map((c) => spread(pps(c), (x) => `${fmt(x)}pps`) + lost(c)).join(' | ')} | ${ratio(cells[0]!, cells[2]!)} | ${ratio(cells[1]!, cells[2]!)} | ${ratio(cells[0]!, cells[3]!)} | ${own} | ${withLookup} |`);
    }
  }
  return out.join('\n');
}

/** A TCP ratio, a / b, by round (pairedRatioText): each round runs every datapath back to back. */
const tcpRatio = (a: TcpSample[], b: TcpSample[]) => pairedRatioText(a.map((x) => ({ value: x.gbps, rep: x.round })), b.map((x) => ({ value: x.gbps, rep: x.round })));

export function tcpTable(samples: TcpSample[]): string {
  const limit = samples.some((x) => x.datapath === TCP_LIMIT);
  const names: TcpSample['datapath'][] = [...DATAPATHS, ...(limit ? [TCP_LIMIT] : [])];
  const head = [...DATAPATHS, ...(limit ? [`${TCP_LIMIT} (bare, both ways, TC mode's devices)`] : []), 'tc / kernel macvlan', 'xdp / kernel macvlan', 'tc / bridge (nf off)', ...(limit ? ['tc / tcx limit', 'tcx limit / kernel macvlan'] : [])];
  const out = [`| TCP, one stream, default offloads | ${head.join(' | ')} |`, `|---|${head.map(() => '---:').join('|')}|`];
  for (const path of TCP_PATHS) {
    const cells = names.map((d) => samples.filter((x) => x.datapath === d && x.path === path));
    const ratios = [tcpRatio(cells[0]!, cells[2]!), tcpRatio(cells[1]!, cells[2]!), tcpRatio(cells[0]!, cells[3]!), ...(limit ? [tcpRatio(cells[0]!, cells[DATAPATHS.length]!), tcpRatio(cells[DATAPATHS.length]!, cells[2]!)] : [])];
    out.push(`| ${path} | ${cells.map((c) => spread(c.map((x) => x.gbps), (x) => `${x.toFixed(1)} Gbit/s`)).join(' | ')} | ${ratios.join(' | ')} |`);
  }
  return out.join('\n');
}

/**
 * The lines under the TCP table: what the default mode (TC) can claim against kernel macvlan on each path
 * at 95 % (pairedVerdict), the claim the speed issue asks for, and, where tcx's limit ran, what the bare
 * hook itself can claim, which bounds the first; empty without runs enough for it.
 */
export function tcpVerdict(samples: TcpSample[]): string {
  const asPairs = (xs: TcpSample[]) => xs.map((x) => ({ value: x.gbps, rep: x.round }));
  const of = (d: TcpSample['datapath'], path: string) => asPairs(samples.filter((x) => x.datapath === d && x.path === path));
  const claim = (d: TcpSample['datapath']) => TCP_PATHS.map((path) => ({ path, v: pairedVerdict(of(d, path), of('kernel macvlan', path)) }));
  const text = (parts: ReturnType<typeof claim>) => parts.map((p) => `${p.v} ${p.path}`).join(', ');
  const tc = claim('macvlan-bpf');
  if (tc.some((p) => p.v === null)) return '';
  const lines = [`TC mode against kernel macvlan, at 95 %: ${text(tc)}.`];
  const bare = claim(TCP_LIMIT);
  if (bare.every((p) => p.v !== null)) lines.push(`tcx's bare redirect (the most TC mode's hook allows) against kernel macvlan, at 95 %: ${text(bare)}.`);
  return lines.join('\n');
}

export function costTable(rows: CostRow[]): string {
  const tc = rows.find((r) => r.what.includes('TC_ACT_OK'))!.ns;
  const xdp = rows.find((r) => r.what.includes('XDP_PASS'))?.ns ?? tc;
  // Each program over the empty program of its own type.
  const over = (r: CostRow) => (r.what.startsWith('floor') ? '' : `+${r.ns - (r.what.includes('XDP') ? xdp : tc)}`);
  return ['| program, 64-byte frame | ns per frame | over its type\'s floor |', '|---|---:|---:|', ...rows.map((r) => `| ${r.what} | ${r.ns} | ${over(r)} |`)].join('\n');
}

export async function runBench(args: string[]): Promise<number> {
  let opts: BenchArgs;
  try {
    opts = benchArgs(args);
  } catch (e) {
    console.error(`Error: ${(e as Error).message}\n\n${BENCH_USAGE}`);
    return 1;
  }
  if (opts.help) {
    console.log(BENCH_USAGE);
    return 0;
  }
  if (process.getuid?.() !== 0) {
    console.error('Error: the benchmarks build network namespaces and load BPF programs: run them as root');
    return 2;
  }
  const { smoke, only } = opts;
  const want = (p: Part) => !only || only === p;
  const log = (s: string) => console.error(s);
  const started = Date.now();
  const machine = `${os.cpus().length} vCPUs (${os.cpus()[0]?.model.trim() ?? '?'}), kernel ${os.release()}`;
  const when = `${new Date().toISOString().slice(0, 10)}, ${machine}`;
  log(`macvlan-bpf bench${smoke ? ' (smoke)' : ''}: ${machine}`);
  const failures: string[] = [];

  if (want('paths')) {
    log('paths: pps at 64 and 1500 bytes and TCP, each datapath alternately');
    const reps = smoke ? 1 : 3;
    const r = await benchPaths({ reps, frames: smoke ? { 64: 2000, 1500: 1000 } : { 64: 2_000_000, 1500: 500_000 }, tcpSeconds: smoke ? 1 : 3, tcpRuns: smoke ? 1 : TCP_RUNS_PER_REP, log });
    console.log(`\nPackets per second delivered, median of ${reps} (min–max); ratios: the median of each repetition's (${when})\n`);
    console.log(ppsTable(r.samples));
    console.log(`\nTCP throughput, median of ${reps * (smoke ? 1 : TCP_RUNS_PER_REP)} runs (min–max); ratios: the median of the runs' paired ratios [its 95 % interval, distribution-free] (min–max), each run every datapath back to back; client on CPU ${TCP_CPUS.client}, server on CPU ${TCP_CPUS.server} (${when})\n`);
    console.log(tcpTable(r.tcp));
    const verdict = tcpVerdict(r.tcp);
    if (verdict) console.log(`\n${verdict}`);
    for (const s of r.samples) if (s.delivered === 0) failures.push(`${s.datapath}, ${s.path}, ${s.size} B: nothing delivered`);
    for (const s of r.tcp) if (!(s.gbps > 0)) failures.push(`${s.datapath}, TCP ${s.path}: no throughput`);
  }
  if (want('kinds')) {
    log('kinds: macvlan-bpf with veth and with netkit children, and kernel macvlan, 64 B');
    const k = await benchKinds({ smoke, log });
    console.log(`\nChild kinds, packets per second delivered, median of ${smoke ? 1 : 3} (${k.where}; ${new Date().toISOString().slice(0, 10)})\n`);
    console.log(k.table);
    failures.push(...k.failures);
  }
  if (want('taps')) {
    log('taps: frames into a macvtap reader and from its writer, kernel macvtap vs macvlan-bpf (tc, xdp)');
    const reps = smoke ? 1 : 3;
    const s = await benchTaps({ reps, frames: smoke ? { 64: 2000, 1500: 1000 } : { 64: 1_000_000, 1500: 300_000 }, log });
    console.log(`\nmacvtap children, frames per second through a tap queue, median of ${reps} (${when})\n`);
    console.log(tapsTable(s));
    for (const x of s) if (x.delivered === 0) failures.push(`taps ${x.datapath}, ${x.path}, ${x.size} B: nothing delivered`);
  }
  if (want('cni')) {
    const pods = smoke ? 5 : 100;
    log(`cni: ${pods} pods' ADD and DEL, the reference macvlan plugin and macvlan-bpf's (through the agent, and without one)`);
    const rows = await benchCni({ pods, log });
    console.log(`\nCNI: pod ADD and DEL latency, host-local IPAM (${when})\n`);
    console.log(cniTable(rows, pods));
    for (const r of rows) if (r.failures) failures.push(`cni ${r.side} ${r.verb}: ${r.failures} of ${pods} failed`);
  }
  if (want('cost')) {
    log('cost: each program through BPF_PROG_TEST_RUN');
    console.log(`\nPer-packet cost, BPF_PROG_TEST_RUN, kernel's mean over ${smoke ? 1000 : 1_000_000} runs (${when})\n`);
    console.log(costTable(benchCost({ repeat: smoke ? 1000 : 1_000_000 })));
  }
  if (want('fanout')) {
    const rows = await benchFanout({ sizes: smoke ? [1, 8] : [1, 8, 64, 256, 1024], reps: smoke ? 1 : 3, copies: smoke ? 2000 : 1_000_000, log });
    console.log(`\nBroadcast fan-out, external host → N vepa children (${when})\n`);
    console.log(fanoutTable(rows));
    for (const r of rows) if (r.delivered.some((d) => d === 0)) failures.push(`fan-out ${r.datapath} N=${r.n}: no copies`);
  }
  if (want('agent')) {
    log('agent: event-to-map latency, children made, memory');
    const ag = await benchAgent({ toggles: smoke ? 20 : 1000, children: smoke ? 20 : 1000, log });
    console.log(`\nAgent, control plane (${when})\n`);
    console.log(agentTable(ag));
  }
  if (want('counters')) {
    log('counters: reading every counter of 1,000 children');
    const cr = await benchCounters({ children: 1000, reps: smoke ? 3 : 200, log });
    console.log(`\nCounters, read for /metrics, the dashboard and stats (${when})\n`);
    console.log(countersTable(cr));
  }
  if (want('scale')) {
    const n = smoke ? 200 : 10_000;
    log(`scale: ${n} children in one request, vepa and bridge, IPv6 on in their netns; macvlan-bpf and kernel macvlan`);
    const rows = await benchScale({ children: n, deadlineSeconds: smoke ? 30 : 120, log });
    console.log(`\nScale: ${n.toLocaleString('en')} children made in one request (\`apply -f\` through the agent; kernel macvlan: \`ip -batch\`) (${when})\n`);
    console.log(scaleTable(rows));
    const over = overFloorTable(rows);
    if (over) console.log(`\nTime per child as one IPv6 netns fills: the kernel's floor (the devices alone, made the same way) and macvlan-bpf\n\n${over}`);
    for (const r of rows) if (r.made === 0) failures.push(`scale ${r.datapath} ${r.mode}: no child made`);
  }
  log(`bench: done in ${((Date.now() - started) / 60_000).toFixed(1)} min`);
  if (failures.length) {
    console.error(`Error: ${failures.length} case(s) delivered nothing:\n  ${failures.join('\n  ')}`);
    return 1;
  }
  return 0;
}
