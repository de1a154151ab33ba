// The two-VM lab (issue 14): the Vagrantfile's mvb node, whose eth1 is a real (virtual) NIC on a link to
// the peer VM. Children of every mode on eth1, each in its own namespace with an address on the link,
// talk to the peer (ping, and TCP both ways with iperf3 against the peer's server), and to each other;
// the same children as kernel macvlan give the referee's answers on the same NIC. Across a link whose
// other end does not hairpin, a private or vepa child reaches no sibling, bridge children reach each
// other, and every mode reaches the peer. Run by scripts/vagrant-provision.sh (MVB_PEER, MVB_PEER_LINK).
import { afterAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { Sandbox, run } from '../helpers/sandbox.js';

const PEER = process.env.MVB_PEER ?? '';
const LINK = process.env.MVB_PEER_LINK ?? 'eth1';
const CLI = ['dist/cli/main.js'];
const sb = new Sandbox('vm');
const pins = sb.pinRoot();
afterAll(() => sb.cleanup());

interface Child { name: string; mode: string; mac: string; addr: string }
const MIXED: Child[] = [
  { name: 'p1', mode: 'private', mac: '02:77:00:00:00:11', addr: '10.77.0.11' },
  { name: 'v1', mode: 'vepa', mac: '02:77:00:00:00:12', addr: '10.77.0.12' },
  { name: 'b1', mode: 'bridge', mac: '02:77:00:00:00:13', addr: '10.77.0.13' },
  { name: 'b2', mode: 'bridge', mac: '02:77:00:00:00:14', addr: '10.77.0.14' },
];
const PASSTHRU: Child[] = [{ name: 't1', mode: 'passthru', mac: '', addr: '10.77.0.21' }];

function cli(args: string[]): string {
  return execFileSync('node', [...CLI, ...args], { encoding: 'utf8', env: { ...process.env, MACVLAN_BPF_PIN_ROOT: pins }, stdio: ['ignore', 'pipe', 'pipe'] });
}
/** A command in the namespace, asynchronously (a probe takes seconds under emulation: the test runner
 * must keep talking to its worker meanwhile). */
const inNs = (ns: string, cmd: string[], timeout = 30_000) =>
  new Promise<{ ok: boolean; stdout: string }>((resolve) =>
    execFile('nsenter', [`--net=/run/netns/${ns}`, ...cmd], { encoding: 'utf8', timeout }, (e, stdout) => resolve({ ok: !e, stdout })));
const pings = async (ns: string, dst: string) => (await inNs(ns, ['ping', '-c', '2', '-W', '2', '-i', '0.3', dst])).ok;

/** Bytes iperf3 moved in a second between the child and the peer (reverse: peer → child). */
async function tcpBytes(ns: string, reverse: boolean): Promise<number> {
  const r = await inNs(ns, ['iperf3', '-c', PEER, '-t', '1', '-J', ...(reverse ? ['-R'] : [])], 60_000);
  try {
    return (JSON.parse(r.stdout) as { end: { sum_received: { bytes: number } } }).end.sum_received.bytes;
  } catch {
    return 0;
  }
}

function build(datapath: 'bpf' | 'kernel', children: Child[]): Map<string, string> {
  const nsOf = new Map<string, string>();
  for (const c of children) nsOf.set(c.name, sb.netns(`${datapath[0]}${c.name}`));
  for (const c of children) {
    const ns = nsOf.get(c.name)!;
    const addr = c.mode === 'passthru' ? [] : ['address', c.mac];
    if (datapath === 'bpf') {
      cli(['link', 'add', 'link', LINK, 'name', c.name, ...addr, 'netns', ns, 'type', 'macvlan', 'mode', c.mode]);
      cli(['-n', ns, 'link', 'set', c.name, 'up']);
    } else {
      run('ip', ['link', 'add', 'link', LINK, 'name', `k${c.name}`, ...addr, 'type', 'macvlan', 'mode', c.mode]);
      run('ip', ['link', 'set', `k${c.name}`, 'netns', ns, 'name', c.name]);
      run('ip', ['-n', ns, 'link', 'set', c.name, 'up']);
    }
    run('ip', ['-n', ns, 'addr', 'add', `${c.addr}/24`, 'dev', c.name]);
  }
  return nsOf;
}

function teardown(datapath: 'bpf' | 'kernel', nsOf: Map<string, string>): void {
  if (datapath === 'bpf') for (const [name, ns] of nsOf) cli(['-n', ns, 'link', 'del', name]);
  for (const ns of nsOf.values()) sb.dropNetns(ns);
}

/** Who reaches whom: every child to the peer (ping, TCP both ways), every ordered pair of children. */
async function reachability(children: Child[], nsOf: Map<string, string>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const c of children) {
    const ns = nsOf.get(c.name)!;
    out[`${c.name} → peer ping`] = (await pings(ns, PEER)) ? 'yes' : 'no';
    out[`${c.name} → peer tcp`] = (await tcpBytes(ns, false)) > 0 ? 'yes' : 'no';
    out[`peer → ${c.name} tcp`] = (await tcpBytes(ns, true)) > 0 ? 'yes' : 'no';
    for (const o of children) if (o !== c) out[`${c.name} → ${o.name}`] = (await pings(ns, o.addr)) ? 'yes' : 'no';
  }
  return out;
}

describe(`two VMs: children on ${LINK} and the peer at ${PEER}`, () => {
  it('the link to the peer is there', () => {
    expect(PEER, 'MVB_PEER: the peer VM\'s address (set by scripts/vagrant-provision.sh)').not.toBe('');
    expect(run('cat', [`/sys/class/net/${LINK}/operstate`]).trim()).toBe('up');
    expect(run('readlink', ['-f', `/sys/class/net/${LINK}/device/driver`])).toMatch(/virtio_net|e1000/);
  });

  for (const [title, children] of [['every mode (private p1, vepa v1, bridge b1 b2)', MIXED], ['passthru (t1)', PASSTHRU]] as const) {
    it(`${title}: the same reachability as kernel macvlan, and every child reaches the peer`, async () => {
      const seen: Record<string, Record<string, string>> = {};
      for (const datapath of ['bpf', 'kernel'] as const) {
        const nsOf = build(datapath, children);
        try {
          seen[datapath] = await reachability(children, nsOf);
        } finally {
          teardown(datapath, nsOf);
        }
      }
      console.log(`${title}:\n${Object.entries(seen.bpf!).map(([k, v]) => `  ${k.padEnd(18)} bpf ${v.padEnd(3)} kernel ${seen.kernel![k]}`).join('\n')}`);
      expect(seen.bpf).toEqual(seen.kernel);
      for (const c of children) {
        expect(seen.bpf![`${c.name} → peer tcp`], `${c.name} (${c.mode}) → peer over TCP`).toBe('yes');
        expect(seen.bpf![`peer → ${c.name} tcp`], `peer → ${c.name} (${c.mode}) over TCP`).toBe('yes');
      }
      if (children === MIXED) {
        expect(seen.bpf!['b1 → b2']).toBe('yes');
        expect(seen.bpf!['p1 → b1']).toBe('no');
        expect(seen.bpf!['v1 → b1']).toBe('no');
      }
    }, 600_000);
  }
});
