// `macvlan-bpf bench` / `npm run bench`: the benchmarks that exist so far, printed as one table.
// `--smoke` runs every case once with tiny counts (CI-sized); it asserts nothing about speed.
import os from 'node:os';
import { benchFanout, fanoutTable } from './fanout.js';
import { agentTable, benchAgent } from './agent.js';
import { benchCounters, countersTable } from './counters.js';

export async function runBench(args: string[]): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error('Error: the benchmarks build network namespaces and load BPF programs: run them as root');
    return 2;
  }
  const smoke = args.includes('--smoke');
  const sizes = smoke ? [1, 8] : [1, 8, 64, 256, 1024];
  const log = (s: string) => console.error(s);
  log(`macvlan-bpf bench${smoke ? ' (smoke)' : ''}: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), kernel ${os.release()}`);
  // --only=fanout|agent|counters runs one part.
  const only = args.find((a) => a.startsWith('--only='))?.slice(7);
  const when = `${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} vCPUs, kernel ${os.release()}`;
  let rows: Awaited<ReturnType<typeof benchFanout>> = [];
  if (!only || only === 'fanout') {
    rows = await benchFanout({ sizes, reps: smoke ? 1 : 3, copies: smoke ? 2000 : 400_000, log });
    console.log(`\nBroadcast fan-out, external host → N vepa children (${when})\n`);
    console.log(fanoutTable(rows));
  }
  if (!only || only === 'agent') {
    log('agent: event-to-map latency, children made, memory');
    const ag = await benchAgent({ toggles: smoke ? 20 : 1000, children: smoke ? 20 : 1000, log });
    console.log(`\nAgent, control plane (${when})\n`);
    console.log(agentTable(ag));
  }
  if (!only || only === 'counters') {
    log('counters: reading every counter of 1,000 children');
    const cr = await benchCounters({ children: 1000, reps: smoke ? 3 : 200, log });
    console.log(`\nCounters, read for /metrics, the dashboard and stats (${when})\n`);
    console.log(countersTable(cr));
  }
  if (smoke && rows.some((r) => r.delivered.some((d) => d === 0))) {
    console.error('Error: a datapath delivered no copies');
    return 1;
  }
  return 0;
}
