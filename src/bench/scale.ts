// Scale benchmark (issue 17, finding 10): N children made in one request, their rate over time, and
// where the CPU went, for macvlan-bpf (through the agent: `apply -f`, one request) and kernel macvlan
// (`ip -batch`, the same children), in the same run.
//
// Method: one parent (p0, a veth to an external netns) and N children in one netns, vepa (the default)
// and bridge, with IPv6 on in the children's netns as a real one has it (every new child then sends
// MLD reports, a DAD neighbour solicitation and router solicitations to IPv6 groups); then the same
// vepa children spread over 100 namespaces, and bridge children with IPv6 off. The bench polls
// the number of children made every 250 ms (the instance's registry; the kernel's links) and reads
// /proc/stat: the rate of each 1,000 children, and the share of CPU time in softirq (frame delivery),
// system and user. A case that has not finished after its deadline is stopped and reported as such.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Sandbox } from '../lab/sandbox.js';
import { buildWire } from '../lab/builder.js';
import { waitFor } from '../lab/wait.js';
import { addon, projectRoot } from '../native.js';
import { Rtnl } from '../net/rtnetlink.js';
import { socketPathFor } from '../agent/control-socket.js';
import { scaleMac } from './scale-floor.js';

export interface ScaleCase {
  /** 'veth pairs': the kernel's floor, the devices of veth children and nothing else (scale-floor.ts). */
  datapath: 'macvlan-bpf' | 'kernel macvlan' | 'veth pairs';
  mode: 'vepa' | 'bridge';
  ipv6: boolean;
  children: number;
  /** How many netns the children are spread over (macvlan-bpf only; kernel macvlan: 1). */
  namespaces: number;
  deadlineSeconds: number;
}
export interface ScaleRow extends ScaleCase {
  made: number;
  seconds: number;
  finished: boolean;
  /** Children per second of each slice of `slice` children, in order. */
  sliceRates: number[];
  slice: number;
  cpu: { softirq: number; system: number; user: number };
}

const mac = (i: number) => scaleMac(5, i);
const cpuTimes = () => fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);

function exited(p: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (p.exitCode !== null || p.signalCode !== null ? resolve(p.exitCode) : p.once('exit', (code) => resolve(code))));
}

export async function runCase(sb: Sandbox, c: ScaleCase, tag: string, log: (s: string) => void): Promise<ScaleRow> {
  const host = sb.netns(`${tag}h`);
  const kidsList = Array.from({ length: c.namespaces }, (_, i) => sb.netns(`${tag}k${i}`));
  const kids = kidsList[0]!;
  const ext = sb.netns(`${tag}x`);
  const pins = sb.pinRoot(tag);
  const procs: ChildProcess[] = [];
  const files: string[] = [];
  try {
    buildWire({ host, ext });
    run(['-n', host, 'link', 'set', 'p0', 'up']);
    run(['-n', ext, 'link', 'set', 'e0', 'up']);
    if (c.ipv6) for (const kids of kidsList) execFileSync('ip', ['netns', 'exec', kids, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.default.disable_ipv6=0']);
    const names = Array.from({ length: c.children }, (_, i) => `k${i}`);
    let count: () => number;
    let work: ChildProcess[];
    if (c.datapath === 'macvlan-bpf') {
      const env = { ...process.env, MACVLAN_BPF_PIN_ROOT: pins };
      const agent = spawn('nsenter', [`--net=/run/netns/${host}`, process.execPath, path.join(projectRoot, 'dist', 'cli', 'main.js'), 'agent', '--listen', 'off'], { env, stdio: 'ignore' });
      procs.push(agent);
      const sock = socketPathFor(pins);
      waitFor(() => fs.existsSync(sock) || agent.exitCode !== null, 'the agent to listen');
      const cfg = path.join(os.tmpdir(), `${sb.prefix}-${tag}.yaml`);
      files.push(cfg);
      fs.writeFileSync(cfg, 'children:\n' + names.map((n, i) => `  - { name: ${n}, parent: p0, mode: ${c.mode}, address: "${mac(i)}", netns: ${kidsList[i % kidsList.length]} }`).join('\n') + '\n');
      const registry = () => {
        try {
          const m = new (addon().BpfMap)({ pin: path.join(pins, 'mvb_children') });
          try {
            return m.keys().length;
          } finally {
            m.close();
          }
        } catch {
          return 0;
        }
      };
      count = registry;
      work = [spawn('nsenter', [`--net=/run/netns/${host}`, path.join(projectRoot, 'bin', 'macvlan-bpf'), 'apply', '-f', cfg], { env, stdio: 'ignore' })];
    } else if (c.datapath === 'veth pairs') {
      let floorMade = 0;
      const p = spawn('nsenter', [`--net=/run/netns/${host}`, process.execPath, path.join(projectRoot, 'dist', 'bench', 'scale-floor.js'), `/run/netns/${kids}`, String(c.children)], { stdio: ['ignore', 'pipe', 'ignore'] });
      let tail = '';
      p.stdout!.on('data', (b: Buffer) => {
        const lines = (tail + b.toString()).split('\n');
        tail = lines.pop()!;
        const last = lines.at(-1);
        if (last?.startsWith('made ')) floorMade = Number(last.slice(5));
      });
      count = () => floorMade;
      work = [p];
    } else {
      const add = path.join(os.tmpdir(), `${sb.prefix}-${tag}-add.batch`);
      const up = path.join(os.tmpdir(), `${sb.prefix}-${tag}-up.batch`);
      files.push(add, up);
      fs.writeFileSync(add, names.map((n, i) => `link add link p0 name ${n} address ${mac(i)} netns ${kids} type macvlan mode ${c.mode}\n`).join(''));
      fs.writeFileSync(up, names.map((n) => `link set ${n} up\n`).join(''));
      const rt = Rtnl.open(`/run/netns/${kids}`);
      count = () => rt.links().filter((l) => l.flags.includes('UP') && l.ifname !== 'lo').length;
      const p = spawn('sh', ['-c', `ip -n ${host} -batch ${add} && ip -n ${kids} -batch ${up}`], { stdio: 'ignore' });
      p.once('exit', () => undefined);
      work = [p];
      procs.push({ kill: () => rt.close() } as unknown as ChildProcess);
    }
    procs.push(...work);
    const slice = Math.max(1, Math.min(1000, Math.floor(c.children / 10)));
    const t0 = performance.now();
    const cpu0 = cpuTimes();
    const crossings: number[] = [];
    let made = 0;
    let finished = false;
    const deadline = t0 + c.deadlineSeconds * 1000;
    let [lastT, lastMade] = [t0, 0];
    while (true) {
      await new Promise((r) => setTimeout(r, 250));
      const now = performance.now();
      made = count();
      // Each slice boundary passed since the last poll, at its time interpolated between the two polls.
      while (crossings.length < Math.floor(made / slice)) {
        const b = (crossings.length + 1) * slice;
        crossings.push(lastT + ((b - lastMade) / Math.max(1, made - lastMade)) * (now - lastT));
      }
      [lastT, lastMade] = [now, made];
      if (made >= c.children) {
        finished = true;
        break;
      }
      if (work.every((p) => p.exitCode !== null || p.signalCode !== null) || performance.now() > deadline) break;
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = cpuTimes();
    const d = cpu1.map((v, i) => v - cpu0[i]!);
    const total = d.reduce((a, b) => a + b, 0) || 1;
    const sliceRates = crossings.map((t, i) => slice / ((t - (i ? crossings[i - 1]! : t0)) / 1000));
    log(`  ${c.datapath}${c.datapath === 'veth pairs' ? '' : `, ${c.mode}`}, ${c.namespaces} netns, IPv6 ${c.ipv6 ? 'on' : 'off'}: ${made} of ${c.children} children in ${seconds.toFixed(1)} s${finished ? '' : ' (stopped)'}`);
    return { ...c, made, seconds, finished, sliceRates, slice, cpu: { softirq: d[5]! / total + d[6]! / total, system: d[2]! / total, user: (d[0]! + d[1]!) / total } };
  } finally {
    for (const p of procs.reverse()) {
      try {
        p.kill('SIGTERM');
      } catch { /* gone */ }
      if (typeof p.pid === 'number') await Promise.race([exited(p), new Promise((r) => setTimeout(r, 10_000))]);
    }
    for (const f of files) fs.rmSync(f, { force: true });
    // Thousands of devices go with their netns; the kernel frees them in the background: wait, so the
    // next case does not pay for this one's teardown.
    for (const kids of kidsList) sb.dropNetns(kids);
    await waitUntil(() => Rtnl.once(`/run/netns/${host}`, (r) => r.links().length) <= 3, 120_000);
    sb.dropNetns(host);
    sb.dropNetns(ext);
  }
}

function run(args: string[]): void {
  execFileSync('ip', args, { stdio: 'ignore' });
}

async function waitUntil(ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!ok() && Date.now() < end) await new Promise((r) => setTimeout(r, 250));
}

export async function benchScale(opts: { children: number; deadlineSeconds: number; log: (s: string) => void }): Promise<ScaleRow[]> {
  const sb = new Sandbox(`mvbs${process.pid.toString(16)}`);
  const cleanup = () => sb.cleanup();
  process.once('SIGINT', cleanup);
  const rows: ScaleRow[] = [];
  try {
    const base = { ipv6: true, children: opts.children, namespaces: 1, deadlineSeconds: opts.deadlineSeconds };
    const cases: ScaleCase[] = [];
    for (const mode of ['vepa', 'bridge'] as const)
      for (const datapath of ['macvlan-bpf', 'kernel macvlan'] as const) cases.push({ ...base, datapath, mode });
    // The kernel's floor in the same netns: the children's devices alone, made the same way.
    cases.push({ ...base, datapath: 'veth pairs', mode: 'vepa' });
    // The same children over 100 namespaces (as containers have them): no netns holds thousands of IPv6
    // devices; and bridge children without IPv6: no multicast at birth.
    cases.push({ ...base, datapath: 'macvlan-bpf', mode: 'vepa', namespaces: Math.max(1, Math.min(100, Math.floor(opts.children / 10))) });
    cases.push({ ...base, datapath: 'macvlan-bpf', mode: 'bridge', ipv6: false });
    let i = 0;
    for (const c of cases) rows.push(await runCase(sb, c, `s${i++}`, opts.log));
    return rows;
  } finally {
    process.removeListener('SIGINT', cleanup);
    cleanup();
  }
}

export function scaleTable(rows: ScaleRow[]): string {
  const pct = (x: number) => `${Math.round(x * 100)} %`;
  const rate = (r: ScaleRow) => {
    const s = r.sliceRates;
    if (s.length === 0) return '–';
    return `${Math.round(s[0]!)} → ${Math.round(s[s.length - 1]!)}`;
  };
  return [
    '| datapath | mode | children\'s netns | IPv6 there | children made | time | children/s, first → last slice | softirq / system / user CPU |',
    '|---|---|---:|---|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.datapath === 'veth pairs' ? 'veth pairs alone (the kernel\'s floor)' : r.datapath} | ${r.datapath === 'veth pairs' ? '–' : r.mode} | ${r.namespaces} | ${r.ipv6 ? 'on' : 'off'} | ${r.made.toLocaleString('en')}${r.finished ? '' : ` of ${r.children.toLocaleString('en')} (stopped)`} | ${r.seconds.toFixed(1)} s | ${rate(r)} (slices of ${r.slice.toLocaleString('en')}) | ${pct(r.cpu.softirq)} / ${pct(r.cpu.system)} / ${pct(r.cpu.user)} |`),
  ].join('\n');
}

/**
 * macvlan-bpf's own time per child, slice by slice: its time per child minus the floor's (the same
 * children's devices made alone, in the same run and the same kind of netns). Where the kernel's work per
 * device grows as one IPv6 netns fills, both rates fall; this is what is left, ours.
 */
export function overFloorTable(rows: ScaleRow[]): string {
  const floor = rows.find((r) => r.datapath === 'veth pairs' && r.finished);
  const ours = rows.filter((r) => r.datapath === 'macvlan-bpf' && r.namespaces === (floor?.namespaces ?? 1) && r.ipv6 === floor?.ipv6);
  if (!floor || ours.length === 0) return '';
  const ms = (r: ScaleRow) => r.sliceRates.map((x) => 1000 / x);
  const f = ms(floor);
  const line = (name: string, v: number[]) => `| ${name} | ${v.map((x) => x.toFixed(1)).join(' | ')} |`;
  const n = f.length;
  return [
    `| ms per child, slice of ${floor.slice.toLocaleString('en')} | ${Array.from({ length: n }, (_, i) => ((i + 1) * floor.slice).toLocaleString('en')).join(' | ')} |`,
    `|---|${'---:|'.repeat(n)}`,
    line('veth pairs alone (the kernel\'s floor)', f),
    ...ours.flatMap((r) => {
      const o = ms(r);
      return [line(`macvlan-bpf, ${r.mode}`, o), line(`… over the floor`, o.slice(0, n).map((x, i) => x - f[i]!))];
    }),
  ].join('\n');
}
