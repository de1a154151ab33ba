// Real protocols over the flooding datapath: ARP and IPv6 neighbour discovery resolved by the kernel's
// own tools (ping, ip neigh), child ↔ external host and bridge child ↔ bridge child.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox, run } from '../helpers/sandbox.js';
import { Topology, EXT_MAC, type ChildSpec } from '../../src/lab/topology.js';

const sb = new Sandbox('n');
let t: Topology;
const CHILDREN: ChildSpec[] = [
  { name: 'b1', mode: 'bridge', mac: '02:00:00:00:04:01' },
  { name: 'b2', mode: 'bridge', mac: '02:00:00:00:04:02' },
];
const V4: Record<string, string> = { ext: '10.78.0.1', b1: '10.78.0.11', b2: '10.78.0.12' };
const V6: Record<string, string> = { ext: 'fd78::1', b1: 'fd78::11', b2: 'fd78::12' };
const MAC: Record<string, string> = { ext: EXT_MAC, b1: '02:00:00:00:04:01', b2: '02:00:00:00:04:02' };
const nsOf = (who: string) => (who === 'ext' ? t.ext : t.childNs.get(who)!);
const dev = (who: string) => (who === 'ext' ? 'e0' : who);

beforeAll(() => {
  t = Topology.build(sb, { datapath: 'bpf', children: CHILDREN, reflector: false }, 'n');
  for (const who of Object.keys(V4)) {
    const ns = nsOf(who);
    run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=0', `net.ipv6.conf.${dev(who)}.disable_ipv6=0`]);
    run('ip', ['-n', ns, 'addr', 'add', `${V4[who]}/24`, 'dev', dev(who)]);
    run('ip', ['-n', ns, '-6', 'addr', 'add', `${V6[who]}/64`, 'dev', dev(who), 'nodad']);
  }
});
afterAll(() => {
  t?.close();
  sb.cleanup();
});

function neighbour(from: string, addr: string): { lladdr?: string; state?: string[] } | undefined {
  const j = JSON.parse(run('ip', ['-n', nsOf(from), '-j', 'neigh', 'show', 'to', addr])) as { lladdr?: string; state?: string[] }[];
  return j[0];
}

describe('neighbour resolution through macvlan-bpf', () => {
  it.each([
    ['b1', 'ext'],
    ['ext', 'b2'],
    ['b1', 'b2'],
    ['b2', 'b1'],
  ])('ARP: %s resolves %s and pings it', (from, to) => {
    run('ip', ['-n', nsOf(from), 'neigh', 'flush', 'dev', dev(from)]);
    run('ip', ['netns', 'exec', nsOf(from), 'ping', '-c', '2', '-W', '2', '-i', '0.2', V4[to]!]);
    const n = neighbour(from, V4[to]!);
    expect(n?.lladdr).toBe(MAC[to]);
    expect(n?.state).not.toContain('PERMANENT');
  });

  it.each([
    ['b1', 'ext'],
    ['ext', 'b1'],
    ['b1', 'b2'],
  ])('IPv6 ND: %s resolves %s and pings it', (from, to) => {
    run('ip', ['-n', nsOf(from), '-6', 'neigh', 'flush', 'dev', dev(from)]);
    run('ip', ['netns', 'exec', nsOf(from), 'ping', '-6', '-c', '2', '-W', '2', '-i', '0.2', V6[to]!]);
    expect(neighbour(from, V6[to]!)?.lladdr).toBe(MAC[to]);
  });
});
