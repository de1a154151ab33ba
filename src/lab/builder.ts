// The one builder of reference topologies, for the lab, the tests and the benchmarks: a parent p0 in a
// host netns wired by a veth to e0 on an external host, and children on p0 made by any datapath, kernel
// macvlan, Linux bridge or macvlan-bpf, with the same names, MACs and namespaces. Kernel macvlan and
// the bridge are what macvlan-bpf is compared with, so they are made with iproute2 (ip -batch, one
// process per netns); macvlan-bpf children are made in-process or through its agent.
import { execFileSync } from 'node:child_process';
import { Macvlan } from '../control/macvlan.js';
import type { Mode } from '../datapath/abi.js';
import type { Mac } from '../mac.js';
import { inNetns } from '../native.js';
import { run } from './sandbox.js';
import { waitFor } from './wait.js';

export const PARENT_MAC: Mac = '02:0a:00:00:00:01';
export const EXT_MAC: Mac = '02:0e:00:00:00:01';

export interface WireSpec {
  /** The parent's netns and the external host's ('' or equal: e0 stays beside p0). */
  host: string;
  ext: string;
  parentMac?: Mac | null;
  extMac?: Mac | null;
  /** An address on e0 (prefix included) for IP traffic. */
  extIp?: string;
  /** GRO on p0: live XDP frames sent by e0 reach p0 only through veth's NAPI path. */
  gro?: boolean;
  /** A reflective-relay switch: e0 is a hairpin port of a bridge, so frames the host sends come back once. */
  reflector?: boolean;
  /** Leave the links down. */
  down?: boolean;
}

/** p0 (host) ──veth── e0 (ext). */
export function buildWire(w: WireSpec): void {
  const { host } = w;
  const ext = w.ext && w.ext !== host ? w.ext : '';
  const pmac = w.parentMac === undefined ? PARENT_MAC : w.parentMac;
  const emac = w.extMac === undefined ? EXT_MAC : w.extMac;
  run('ip', ['-n', host, 'link', 'add', 'p0', ...(pmac ? ['address', pmac] : []), 'type', 'veth', 'peer', 'name', 'e0', ...(emac ? ['address', emac] : []), ...(ext ? ['netns', ext] : [])]);
  const e = ext || host;
  if (w.gro) run('ip', ['netns', 'exec', host, 'ethtool', '-K', 'p0', 'gro', 'on']);
  if (w.extIp) run('ip', ['-n', e, 'addr', 'add', w.extIp, 'dev', 'e0']);
  if (w.reflector) {
    run('ip', ['-n', e, 'link', 'add', 'rbr', 'type', 'bridge', 'stp_state', '0', 'mcast_snooping', '0']);
    run('ip', ['-n', e, 'link', 'set', 'e0', 'master', 'rbr']);
    run('bridge', ['-n', e, 'link', 'set', 'dev', 'e0', 'hairpin', 'on']);
    run('ip', ['-n', e, 'link', 'set', 'rbr', 'up']);
  }
  if (w.down) return;
  run('ip', ['-n', host, 'link', 'set', 'p0', 'up']);
  run('ip', ['-n', e, 'link', 'set', 'e0', 'up']);
  if (w.reflector) waitFor(() => run('bridge', ['-n', e, '-j', 'link', 'show', 'dev', 'e0']).includes('"forwarding"'), 'the hairpin port to forward');
}

export interface ChildDef {
  name: string;
  mode: Mode;
  mac: Mac;
  /** The named netns it lives in. */
  netns: string;
  mtu?: number;
  /** false: left DOWN. */
  up?: boolean;
}

/** `ip -n NS -batch -` with these lines (one process per netns, however many children). */
function ipBatch(ns: string, lines: string[]): void {
  if (lines.length) execFileSync('ip', ['-n', ns, '-batch', '-'], { input: lines.join('\n') + '\n', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** UP children, set up inside their namespaces as users do. */
function upInNamespaces(children: ChildDef[]): void {
  const byNs = new Map<string, string[]>();
  for (const c of children) if (c.up !== false) byNs.set(c.netns, [...(byNs.get(c.netns) ?? []), `link set ${c.name} up`]);
  for (const [ns, lines] of byNs) ipBatch(ns, lines);
}

/** Kernel macvlan children of p0 (a passthru child takes p0's MAC), moved to their netns. */
export function addKernelChildren(host: string, children: ChildDef[]): void {
  ipBatch(host, children.flatMap((c) => [
    `link add link p0 name ${c.name}${c.mode !== 'passthru' ? ` address ${c.mac}` : ''}${c.mtu ? ` mtu ${c.mtu}` : ''} type macvlan mode ${c.mode}`,
    `link set ${c.name} netns ${c.netns}`,
  ]));
  upInNamespaces(children);
}

/** A Linux bridge br0 with p0 and one veth per child (h<i> ── child), static fdb entries, STP off. */
export function addBridgeChildren(host: string, children: ChildDef[], opts: { netfilter: boolean; extMac?: Mac }): void {
  run('ip', ['-n', host, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'mcast_snooping', '0']);
  run('ip', ['netns', 'exec', host, 'sysctl', '-q', '-w', `net.bridge.bridge-nf-call-iptables=${opts.netfilter ? 1 : 0}`]);
  ipBatch(host, [
    'link set p0 master br0',
    ...children.flatMap((c, i) => [
      `link add h${i} type veth peer name ${c.name} address ${c.mac} netns ${c.netns}`,
      `link set h${i} master br0`,
      `link set h${i} up`,
    ]),
  ]);
  run('bridge', ['-n', host, 'fdb', 'replace', opts.extMac ?? EXT_MAC, 'dev', 'p0', 'master', 'static']);
  children.forEach((c, i) => run('bridge', ['-n', host, 'fdb', 'replace', c.mac, 'dev', `h${i}`, 'master', 'static']));
  upInNamespaces(children);
  run('ip', ['-n', host, 'link', 'set', 'br0', 'up']);
  waitFor(() => !run('bridge', ['-n', host, 'link', 'show']).split('\n').some((l) => l.includes('master br0') && !l.includes('state forwarding')), 'the bridge ports to forward');
}

/** macvlan-bpf children of p0, made in-process by the control plane (no agent), in one batch. */
export function addBpfChildren(host: string, pinRoot: string, children: ChildDef[], opts: { isolation?: 'strict' | 'kernel' } = {}): void {
  inNetns(`/run/netns/${host}`, () => {
    const m = Macvlan.open(pinRoot);
    try {
      if (opts.isolation) m.setIsolation('p0', opts.isolation);
      for (const c of children) m.add({ parent: 'p0', name: c.name, mode: c.mode, address: c.mac, mtu: c.mtu, netns: c.netns });
      for (const c of children) if (c.up !== false) m.setUp(c.name, true, c.netns);
    } finally {
      m.close();
    }
  });
}
