// Control-plane benchmark: how fast the agent reflects a child's `ip link set up/down` in the MAC table
// (event-to-map latency), how long making N children through it takes, and its memory.
//
// Method: a topology with one parent and N children, the agent in the host netns (a separate process,
// as in production). The benchmark toggles one child with an rtnetlink request from inside the child's
// netns; the clock starts when the kernel has acknowledged the change (the event is queued by then) and
// stops when a busy-polling lookup of the pinned MAC map sees the entry appear or vanish.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { quantile } from './stats.js';
import { Sandbox } from '../lab/sandbox.js';
import { Topology, waitFor, type ChildSpec } from '../lab/topology.js';
import { addon } from '../native.js';
import { Rtnl } from '../net/rtnetlink.js';
import { encodeMacKey } from '../datapath/abi.js';

export interface AgentBenchResult {
  toggles: number;
  p50us: number;
  p99us: number;
  maxUs: number;
  children: number;
  createSeconds: number;
  /** From the end of the apply until every transmit hook is a tcx link (null: no tcx on this kernel). */
  promoteSeconds: number | null;
  agentRssMiB: number;
}

/** The same measurement before the control plane moved to rtnetlink (README, 2026-11-24): two `ip`
 * processes per child. Printed beside today's figure. */
export const CREATE_BEFORE = { date: '2026-11-24', seconds: 30.1, children: 1000 };


export async function benchAgent(opts: { toggles: number; children: number; log: (s: string) => void }): Promise<AgentBenchResult> {
  const sb = new Sandbox(`mvbb${process.pid.toString(16)}`);
  const cleanup = () => sb.cleanup();
  process.once('SIGINT', cleanup);
  try {
    const probe: ChildSpec = { name: 'b1', mode: 'bridge', mac: '02:00:00:00:04:01' };
    const t = Topology.build(sb, { datapath: 'bpf', children: [probe], reflector: false }, 'a');
    try {
      // N more children, made through the agent from a config file (one request).
      const kids = sb.netns('ak');
      const cfg = path.join(os.tmpdir(), `${sb.prefix}-children.yaml`);
      const mac = (i: number) => `02:01:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
      fs.writeFileSync(cfg, 'children:\n' + [...Array(opts.children).keys()].map((i) => `  - { name: k${i}, parent: p0, mode: bridge, address: "${mac(i)}", netns: ${kids} }`).join('\n') + '\n');
      const t0 = process.hrtime.bigint();
      t.cli(['apply', '-f', cfg]);
      const createSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      fs.rmSync(cfg, { force: true });
      opts.log(`  ${opts.children} children made through the agent in ${createSeconds.toFixed(1)} s`);
      // Where a tcx link is slow to make, their transmit hooks start as cls_bpf and become tcx links in the
      // background: wait for that before measuring latency (such an attach holds rtnl for ~12 ms, and the
      // agent's loop).
      let promoteSeconds: number | null = null;
      const linksDir = path.join(t.pinRoot, 'links');
      if (fs.existsSync(linksDir)) {
        const want = opts.children + 2; // every child, the probe child and the parent
        waitFor(() => fs.readdirSync(linksDir).length >= want, `${want} tcx links`, 120_000);
        promoteSeconds = Number(process.hrtime.bigint() - t0) / 1e9 - createSeconds;
        opts.log(`  their transmit hooks were all tcx links ${promoteSeconds.toFixed(1)} s later`);
      }

      const a = addon();
      const macs = new a.BpfMap({ pin: path.join(t.pinRoot, 'mvb_macs') });
      const parentIfindex = a.ifNameToIndex('p0', `/run/netns/${t.host}`);
      const key = encodeMacKey(parentIfindex, probe.mac);
      const rt = Rtnl.open(`/run/netns/${t.childNs.get('b1')}`);
      const lat: number[] = [];
      try {
        const ifindex = rt.link('b1')!.ifindex;
        waitFor(() => macs.lookup(key) !== null, 'b1 in the map');
        for (let i = 0; i < opts.toggles; i++) {
          const up = i % 2 === 1;
          rt.setUp(ifindex, up);
          const start = process.hrtime.bigint();
          const deadline = start + 5_000_000_000n;
          while ((macs.lookup(key) !== null) !== up) {
            if (process.hrtime.bigint() > deadline) throw new Error(`the agent did not ${up ? 'insert' : 'remove'} b1 within 5 s`);
          }
          lat.push(Number(process.hrtime.bigint() - start) / 1000);
        }
        if (opts.toggles % 2 === 1) rt.setUp(ifindex, true);
      } finally {
        rt.close();
        macs.close();
      }
      const pid = t.agentPid;
      const rss = pid ? Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024 : 0;
      return { toggles: opts.toggles, p50us: quantile(lat, 0.5), p99us: quantile(lat, 0.99), maxUs: Math.max(...lat), children: opts.children, createSeconds, promoteSeconds, agentRssMiB: rss };
    } finally {
      t.close();
    }
  } finally {
    process.removeListener('SIGINT', cleanup);
    cleanup();
  }
}

export function agentTable(r: AgentBenchResult): string {
  return [
    '| control plane | result |',
    '|---|---|',
    `| event-to-map latency, \`ip link set down/up\` in the child's netns (${r.toggles} toggles) | p50 ${r.p50us.toFixed(0)} µs, p99 ${r.p99us.toFixed(0)} µs, max ${r.maxUs.toFixed(0)} µs |`,
    `| ${r.children} children made through the agent (\`apply -f\`, one request) | ${r.createSeconds.toFixed(1)} s (${((r.createSeconds * 1000) / Math.max(1, r.children)).toFixed(1)} ms each); before, ${CREATE_BEFORE.date}: ${CREATE_BEFORE.seconds} s for ${CREATE_BEFORE.children} |`,
    ...(r.promoteSeconds === null ? [] : [`| then every transmit hook a tcx link (made at once where a link is cheap, else promoted from cls_bpf in the background) | ${r.promoteSeconds.toFixed(1)} s more (${((r.promoteSeconds * 1000) / Math.max(1, r.children)).toFixed(1)} ms each) |`]),
    `| agent memory (RSS) with ${r.children + 1} children | ${r.agentRssMiB.toFixed(0)} MiB |`,
  ].join('\n');
}
