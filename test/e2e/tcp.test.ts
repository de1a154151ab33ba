// Real TCP through the datapath with default offloads (no ethtool changes inside the children):
// external ↔ child in both directions and bridge child → bridge child. Every byte is checked by hash.
// Both fast paths: tc, and xdp (unicast from the wire redirected in XDP into the child's veth). With
// xdp the external host's end of the test wire sends full checksums, as a real NIC's receive does: a
// frame sent through a veth carries CHECKSUM_PARTIAL, which an XDP redirect cannot keep (the child would
// get a segment with an unfinished checksum and drop it).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox, run } from '../helpers/sandbox.js';
import { scaled } from '../helpers/scale.js';
import { kernelHasNetkit } from '../helpers/kernel.js';
import { Topology, type ChildSpec } from '../../src/lab/topology.js';

const sb = new Sandbox('t');
const PEER = path.resolve(__dirname, '../helpers/tcp-peer.mjs');
// 64 MiB on the host; 16 MiB under emulation (the kernel matrix's guests), still some 11,000 full-size
// segments each way, offloaded as GSO: a lost partial checksum stalls a transfer in its first ones.
const BYTES = scaled(64, 16) * 1024 * 1024;
let t: Topology;

const CHILDREN: ChildSpec[] = [
  { name: 'b1', mode: 'bridge', mac: '02:00:00:00:04:01' },
  { name: 'b2', mode: 'bridge', mac: '02:00:00:00:04:02' },
  { name: 'v1', mode: 'vepa', mac: '02:00:00:00:02:01' },
];
const IP: Record<string, string> = { ext: '10.77.0.1', b1: '10.77.0.11', b2: '10.77.0.12', v1: '10.77.0.21' };

function nsOf(who: string): string {
  return who === 'ext' ? t.ext : t.childNs.get(who)!;
}
function dev(who: string): string {
  return who === 'ext' ? 'e0' : who;
}

// A peer process; `listening` settles once a server has bound its port (a fixed wait lost the race in
// the emulated guests, where starting node alone can take longer than it).
function peer(ns: string, args: string[]): { done: Promise<{ bytes: number; sha256: string }>; listening: Promise<void> } {
  let onListening!: () => void;
  const listening = new Promise<void>((r) => (onListening = r));
  const done = new Promise<{ bytes: number; sha256: string }>((resolve, reject) => {
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, PEER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => {
      out += d;
      if (out.includes('listening')) onListening();
    });
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code === 0 && line) resolve(JSON.parse(line));
      else reject(new Error(`tcp peer ${args[0]} in ${ns} exited ${code}: ${err.trim()}`));
    });
  });
  return { done, listening };
}

async function transfer(from: string, to: string, port: number) {
  const server = peer(nsOf(to), ['server', String(port)]);
  server.done.catch(() => {}); // awaited below; a failing client must not leave it unhandled
  await Promise.race([server.listening, server.done]);
  const client = await peer(nsOf(from), ['client', IP[to]!, String(port), String(BYTES), `${from}-${to}`]).done;
  const got = await server.done;
  return { client, got };
}

afterAll(() => sb.cleanup());

// The XDP half on the host (the kernel matrix's guests run the fast path in fastpath.test.ts).
// netkit children too where the kernel has them (the 6.12 guest).
const CASES: ['tc' | 'xdp', 'veth' | 'netkit'][] = [...scaled([['tc', 'veth'], ['xdp', 'veth']] as const, [['tc', 'veth']] as const), ...(kernelHasNetkit() ? [['tc', 'netkit'] as const] : [])];
describe.each(CASES)('TCP bulk transfer through macvlan-bpf with default offloads, fast path %s, %s children', (fastpath, childKind) => {
  beforeAll(() => {
    t = Topology.build(sb, { datapath: 'bpf', children: CHILDREN, reflector: false, fastpath, childKind }, `t${fastpath[0]}${childKind[0]}`);
    for (const who of Object.keys(IP)) {
      run('ip', ['-n', nsOf(who), 'addr', 'add', `${IP[who]}/24`, 'dev', dev(who)]);
    }
    if (fastpath === 'xdp') run('ip', ['netns', 'exec', t.ext, 'ethtool', '-K', 'e0', 'tx', 'off']);
  });
  afterAll(() => t?.close());

  it('children keep the default offloads', () => {
    const k = run('ip', ['netns', 'exec', nsOf('b1'), 'ethtool', '-k', 'b1']);
    expect(k).toMatch(/^tx-checksumming: on/m);
    expect(k).toMatch(/^tcp-segmentation-offload: on/m);
  });

  it.each([
    ['ext', 'b1'],
    ['b1', 'ext'],
    ['v1', 'ext'],
    ['ext', 'v1'],
    ['b1', 'b2'],
    ['b2', 'b1'],
  ])(`%s → %s: ${BYTES >> 20} MiB arrive intact`, async (from, to) => {
    const port = 5000 + Math.floor(Math.random() * 1000);
    const { client, got } = await transfer(from, to, port);
    expect(got.bytes).toBe(BYTES);
    expect(got.sha256).toBe(client.sha256);
  });
});
