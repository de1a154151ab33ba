// Pod ADD and DEL latency (#15 item 4): N pods one after another, each ADD with host-local IPAM into its
// own named netns, then each DEL; the reference macvlan plugin (Debian's containernetworking-plugins)
// and macvlan-bpf's plugin through its agent, each on its own wire, in the same run; macvlan-bpf without
// an agent (the plugin in its own Node.js process) beside them, to show what the agent saves.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Sandbox } from '../lab/sandbox.js';
import { buildWire } from '../lab/builder.js';
import { waitFor } from '../lab/wait.js';
import { projectRoot } from '../native.js';

const REFERENCE = '/usr/lib/cni/macvlan';
export const CNI_SIDES = ['reference macvlan plugin', 'macvlan-bpf (agent)', 'macvlan-bpf (no agent)'] as const;
type CniSide = (typeof CNI_SIDES)[number];

export interface CniRow {
  side: CniSide;
  verb: 'ADD' | 'DEL';
  ms: number[];
  failures: number;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : 0;
}

export async function benchCni(opts: { pods: number; log: (s: string) => void }): Promise<CniRow[]> {
  if (!fs.existsSync(REFERENCE)) throw new Error(`the reference plugin ${REFERENCE} is missing: install Debian's containernetworking-plugins (npm test's set-up does)`);
  const sb = new Sandbox(`mvbc${randomBytes(2).toString('hex')}`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${sb.prefix}-`));
  const rows: CniRow[] = [];
  try {
    for (const side of CNI_SIDES) {
      const tag = { 'reference macvlan plugin': 'r', 'macvlan-bpf (agent)': 'a', 'macvlan-bpf (no agent)': 'd' }[side];
      const host = sb.netns(`${tag}h`);
      const ext = sb.netns(`${tag}x`);
      buildWire({ host, ext });
      const pins = sb.pinRoot(tag);
      const env = { ...process.env, MACVLAN_BPF_PIN_ROOT: pins, MACVLAN_BPF_CNI_STATE: path.join(tmp, `state-${tag}`) };
      const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'bench', type: 'x', master: 'p0', ipam: { type: 'host-local', subnet: '10.96.0.0/16', dataDir: path.join(tmp, `ipam-${tag}`) } });
      let agent: ReturnType<typeof spawn> | undefined;
      const log = path.join(tmp, `agent-${tag}.log`);
      if (side === 'macvlan-bpf (agent)') {
        agent = spawn('nsenter', [`--net=/run/netns/${host}`, process.execPath, path.join(projectRoot, 'dist', 'cli', 'main.js'), 'agent', '--listen', 'off'], { env, stdio: ['ignore', fs.openSync(log, 'w'), fs.openSync(log, 'a')] });
        waitFor(() => fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('ready (pid'), 'the agent to listen', 30_000);
      }
      try {
        const pods = Array.from({ length: opts.pods }, (_, i) => sb.netns(`${tag}p${i}`));
        const call = (verb: 'ADD' | 'DEL', i: number) => {
          const t0 = process.hrtime.bigint();
          const r = spawnSync('nsenter', [`--net=/run/netns/${host}`, side === 'reference macvlan plugin' ? REFERENCE : path.join(projectRoot, 'bin', 'macvlan-bpf-cni')], {
            input: conf, encoding: 'utf8',
            env: { ...env, CNI_COMMAND: verb, CNI_CONTAINERID: `c${i}`, CNI_NETNS: `/run/netns/${pods[i]}`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' },
          });
          return { ms: Number(process.hrtime.bigint() - t0) / 1e6, ok: r.status === 0 };
        };
        for (const verb of ['ADD', 'DEL'] as const) {
          const row: CniRow = { side, verb, ms: [], failures: 0 };
          for (let i = 0; i < opts.pods; i++) {
            const r = call(verb, i);
            row.ms.push(r.ms);
            if (!r.ok) row.failures++;
          }
          rows.push(row);
        }
        opts.log(`  ${side}: ADD p50 ${pct(rows.at(-2)!.ms, 50).toFixed(1)} ms, DEL p50 ${pct(rows.at(-1)!.ms, 50).toFixed(1)} ms`);
      } finally {
        if (agent) {
          agent.kill('SIGTERM');
          await new Promise((r) => (agent!.exitCode !== null ? r(null) : agent!.once('exit', r)));
        }
      }
    }
  } finally {
    sb.cleanup();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return rows;
}

export function cniTable(rows: CniRow[], pods: number): string {
  const out = [`| ${pods} pods, one after another | ADD p50 | ADD p99 | DEL p50 | DEL p99 | ADD p50 / reference |`, '|---|---:|---:|---:|---:|---:|'];
  const ref = pct(rows.find((r) => r.side === 'reference macvlan plugin' && r.verb === 'ADD')?.ms ?? [], 50);
  for (const side of CNI_SIDES) {
    const add = rows.find((r) => r.side === side && r.verb === 'ADD');
    const del = rows.find((r) => r.side === side && r.verb === 'DEL');
    if (!add || !del) continue;
    const failed = add.failures + del.failures ? ` [${add.failures + del.failures} failed]` : '';
    out.push(`| ${side}${failed} | ${pct(add.ms, 50).toFixed(1)} ms | ${pct(add.ms, 99).toFixed(1)} ms | ${pct(del.ms, 50).toFixed(1)} ms | ${pct(del.ms, 99).toFixed(1)} ms | ${(pct(add.ms, 50) / ref).toFixed(2)} |`);
  }
  return out.join('\n');
}
