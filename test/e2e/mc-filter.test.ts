// The exact multicast filter end to end (#16 item 2), run by an agent as users run it: an application in
// a child's netns joins a group (its IGMP report marks the child) and gets the group's frames from the
// wire soon after, its sibling does not; it leaves and stops getting them; a sibling turned ALLMULTI
// with plain ip gets every group, and off again, not; `ip maddr add` is found by the sweep; and when
// the agent stops every child gets every group again (deliberate difference 3).
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox, run } from '../helpers/sandbox.js';
import { Topology } from '../../src/lab/topology.js';
import { EXT_MAC } from '../../src/lab/builder.js';
import { buildFrame } from '../../src/frames.js';
import type { Mac } from '../../src/mac.js';

const sb = new Sandbox('mcf');
let t: Topology;
const G: Mac = '01:00:5e:01:02:03'; // 239.1.2.3
const G2: Mac = '01:00:5e:0a:0b:0c';
let id = 1000;

/** Sends one frame to `group` from the wire and says which children got it. */
async function receivers(group: Mac): Promise<string[]> {
  const frame = { src: EXT_MAC, dst: group, id: id++ };
  t.send({ from: 'wire' }, buildFrame(frame));
  const got = (await t.collect(150)).get(frame.id) ?? new Map();
  return ['v1', 'v2'].filter((c) => (got.get(c) ?? 0) > 0);
}
/** Polls until `want` receive the group; returns how long it took. */
async function until(group: Mac, want: string[], what: string, timeoutMs = 10_000): Promise<number> {
  const t0 = Date.now();
  let last: string[] = [];
  while (Date.now() - t0 < timeoutMs) {
    last = await receivers(group);
    if (last.join() === want.join()) return Date.now() - t0;
  }
  throw new Error(`${what}: after ${timeoutMs} ms ${group} still reaches [${last.join(',')}], not [${want.join(',')}]`);
}

/**
 * Restarts the agent with its sweep every `sweepMs`: the join and ALLMULTI tests run with the sweep out
 * of the way (60 s), so only the report's mark or the link event can find them in time, whatever the
 * poll's pace (a guest's slow re-reads stretch it, and a 1 s sweep then won the race).
 */
function agentWithSweep(sweepMs: number): void {
  t.stopAgent();
  const before = process.env.MACVLAN_BPF_MC_SWEEP_MS;
  process.env.MACVLAN_BPF_MC_SWEEP_MS = String(sweepMs);
  try {
    t.startAgent();
  } finally {
    if (before === undefined) delete process.env.MACVLAN_BPF_MC_SWEEP_MS;
    else process.env.MACVLAN_BPF_MC_SWEEP_MS = before;
  }
}

let joiner: ChildProcess | undefined;
beforeAll(() => {
  t = Topology.build(sb, {
    datapath: 'bpf', reflector: false, isolation: 'kernel',
    children: [{ name: 'v1', mode: 'vepa', mac: '02:00:00:00:02:01' }, { name: 'v2', mode: 'vepa', mac: '02:00:00:00:02:02' }],
  }, 'f');
  run('ip', ['-n', t.childNs.get('v1')!, 'addr', 'add', '10.77.0.2/24', 'dev', 'v1']);
  agentWithSweep(60_000);
}, 60_000);
afterAll(() => {
  if (joiner?.exitCode === null) joiner.kill('SIGKILL');
  t?.close();
  sb.cleanup();
});

describe('the exact multicast filter, run by the agent', () => {
  it('an unjoined group reaches nobody', async () => {
    expect(await receivers(G)).toEqual([]);
  });

  it('an application joins (IGMP report): the child gets the group soon after, its sibling does not', async () => {
    const code = `const s=require('dgram').createSocket({type:'udp4',reuseAddr:true});s.bind(5000,()=>{s.addMembership('239.1.2.3','10.77.0.2');console.log('joined')});setInterval(()=>{},1000)`;
    joiner = spawn('nsenter', [`--net=/run/netns/${t.childNs.get('v1')}`, process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => joiner!.stdout!.once('data', () => resolve()));
    const ms = await until(G, ['v1'], 'the join', 3_000);
    console.log(`multicast filter: a join took effect after ${ms} ms`);
    // Found by the poll after the child's report ("multicast filter: v1"; the sweep, 60 s away, would
    // log "multicast filter (sweep): …"): without the report's mark this fails.
    expect(t.agentLog).toMatch(/multicast filter: v1\b/);
  });

  it('the application leaves: the group stops reaching the child', async () => {
    joiner!.kill('SIGTERM');
    await until(G, [], 'the leave');
  });

  it('a child turned ALLMULTI with plain ip gets every group, and off again, only its own', async () => {
    run('ip', ['-n', t.childNs.get('v2')!, 'link', 'set', 'v2', 'allmulticast', 'on']);
    await until(G, ['v2'], 'ALLMULTI on', 3_000);
    expect(t.agentLog, 'found by the link event, not the sweep').toMatch(/multicast filter: v2\b/);
    const shown = JSON.parse(t.cli(['-j', 'link', 'show', 'v2'])) as { mc_filter: string }[];
    expect(shown[0]!.mc_filter).toBe('all');
    run('ip', ['-n', t.childNs.get('v2')!, 'link', 'set', 'v2', 'allmulticast', 'off']);
    await until(G, [], 'ALLMULTI off', 3_000);
  });

  it('ip maddr add (announces nothing) is found by the sweep', async () => {
    agentWithSweep(1000);
    run('ip', ['-n', t.childNs.get('v2')!, 'maddr', 'add', G2, 'dev', 'v2']);
    await until(G2, ['v2'], 'the sweep');
    run('ip', ['-n', t.childNs.get('v2')!, 'maddr', 'del', G2, 'dev', 'v2']);
    await until(G2, [], 'the sweep after the leave');
  });

  it('withheld copies are counted as mc-unjoined', () => {
    const stats = JSON.parse(t.cli(['stats', '-j'])) as { parents: { counters: { drops: Record<string, number> } }[] };
    expect(stats.parents[0]!.counters.drops['mc-unjoined']).toBeGreaterThan(0);
  });

  it('the agent stops: every child gets every group again (nobody follows the lists)', async () => {
    t.stopAgent();
    expect(await receivers(G)).toEqual(['v1', 'v2']);
    const shown = JSON.parse(t.cli(['-j', 'link', 'show'])) as { mc_filter: string }[];
    expect(shown.map((s) => s.mc_filter)).toEqual(['all', 'all']);
  });
});
