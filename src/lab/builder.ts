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

/**
 * What the parent is: the veth p0 itself, or a device on top of it (the seed's Figure 2 and the
 * parents users have): a Linux bridge br0 with p0 as its port, a VLAN p0.10 (the external host talks
 * through e0.10), a bond0 with p0 as its slave. The parent carries PARENT_MAC, the external endpoint
 * EXT_MAC, whatever the kind.
 */
export type ParentKind = 'veth' | 'bridge' | 'vlan' | 'bond' | 'nic';
/** The parent device, and the external host's endpoint device, of each kind. */
export const PARENT_DEV: Record<ParentKind, string> = { veth: 'p0', bridge: 'br0', vlan: 'p0.10', bond: 'bond0', nic: 'p0' };
export const WIRE_DEV: Record<ParentKind, string> = { veth: 'e0', bridge: 'e0', vlan: 'e0.10', bond: 'e0', nic: 'e0' };
/**
 * Kind 'nic': two real NICs wired back to back, which the kernel matrix's guests have (virtio-net on
 * one QEMU hub): the one with NIC_PARENT as its permanent address becomes p0, the other e0.
 */
export const NIC_PARENT: Mac = '52:54:00:00:0a:01';
export const NIC_EXT: Mac = '52:54:00:00:0a:02';
/** The MACs p0 and e0 take when a device on top of them carries PARENT_MAC and EXT_MAC. */
const LOWER_P0: Mac = '02:0a:00:00:00:0f';
const LOWER_E0: Mac = '02:0e:00:00:00:0f';

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
  /** The parent's kind (default veth: p0 itself). */
  parent?: ParentKind;
}

/** p0 (host) ──veth── e0 (ext), and the parent device of its kind on top of p0 (and e0.10 for a VLAN). */
export function buildWire(w: WireSpec): void {
  const { host } = w;
  const kind = w.parent ?? 'veth';
  if (kind === 'vlan' && w.reflector) throw new Error('a VLAN parent with a reflecting switch is not built: the switch would bridge e0 under e0.10');
  const ext = w.ext && w.ext !== host ? w.ext : '';
  const pmac = kind !== 'veth' && kind !== 'nic' ? LOWER_P0 : w.parentMac === undefined ? PARENT_MAC : w.parentMac;
  const emac = kind === 'vlan' ? LOWER_E0 : w.extMac === undefined ? EXT_MAC : w.extMac;
  const e = ext || host;
  if (kind === 'nic') {
    claimNic(NIC_PARENT, host, 'p0', pmac);
    claimNic(NIC_EXT, e, 'e0', emac);
    // The external host listens to everything on its side of the wire, as a switch port would.
    run('ip', ['-n', e, 'link', 'set', 'e0', 'promisc', 'on']);
  } else {
    run('ip', ['-n', host, 'link', 'add', 'p0', ...(pmac ? ['address', pmac] : []), 'type', 'veth', 'peer', 'name', 'e0', ...(emac ? ['address', emac] : []), ...(ext ? ['netns', ext] : [])]);
  }
  if (w.gro) run('ip', ['netns', 'exec', host, 'ethtool', '-K', 'p0', 'gro', 'on']);
  if (w.extIp) run('ip', ['-n', e, 'addr', 'add', w.extIp, 'dev', 'e0']);
  if (w.reflector) {
    run('ip', ['-n', e, 'link', 'add', 'rbr', 'type', 'bridge', 'stp_state', '0', 'mcast_snooping', '0']);
    run('ip', ['-n', e, 'link', 'set', 'e0', 'master', 'rbr']);
    run('bridge', ['-n', e, 'link', 'set', 'dev', 'e0', 'hairpin', 'on']);
    run('ip', ['-n', e, 'link', 'set', 'rbr', 'up']);
  }
  if (kind === 'bridge') {
    run('ip', ['-n', host, 'link', 'add', 'br0', 'address', PARENT_MAC, 'type', 'bridge', 'stp_state', '0', 'mcast_snooping', '0']);
    run('ip', ['-n', host, 'link', 'set', 'p0', 'master', 'br0']);
  } else if (kind === 'vlan') {
    run('ip', ['-n', host, 'link', 'add', 'link', 'p0', 'name', 'p0.10', 'address', PARENT_MAC, 'type', 'vlan', 'id', '10']);
    run('ip', ['-n', e, 'link', 'add', 'link', 'e0', 'name', 'e0.10', 'address', EXT_MAC, 'type', 'vlan', 'id', '10']);
  } else if (kind === 'bond') {
    run('ip', ['-n', host, 'link', 'add', 'bond0', 'address', PARENT_MAC, 'type', 'bond', 'mode', 'active-backup', 'miimon', '100']);
    run('ip', ['-n', host, 'link', 'set', 'p0', 'master', 'bond0']);
  }
  if (w.down) return;
  run('ip', ['-n', host, 'link', 'set', 'p0', 'up']);
  run('ip', ['-n', e, 'link', 'set', 'e0', 'up']);
  if (kind !== 'veth') run('ip', ['-n', host, 'link', 'set', PARENT_DEV[kind], 'up']);
  if (kind === 'vlan') run('ip', ['-n', e, 'link', 'set', 'e0.10', 'up']);
  if (kind === 'bridge') waitFor(() => run('bridge', ['-n', host, '-j', 'link', 'show', 'dev', 'p0']).includes('"forwarding"'), 'p0 to forward in br0');
  if (kind === 'bond') waitFor(() => run('ip', ['-n', host, 'link', 'show', 'bond0']).includes('LOWER_UP'), 'bond0 to have carrier');
  if (w.reflector) waitFor(() => run('bridge', ['-n', e, '-j', 'link', 'show', 'dev', 'e0']).includes('"forwarding"'), 'the hairpin port to forward');
}

/**
 * Moves the NIC whose permanent address is `perm` (found in this process's netns, where a deleted
 * netns also returns it) into `ns`, named `name`, with `mac` as its address.
 */
function claimNic(perm: Mac, ns: string, name: string, mac: Mac | null): void {
  const links = JSON.parse(run('ip', ['-j', 'link', 'show'])) as { ifname: string; address: string; permaddr?: string }[];
  const nic = links.find((l) => (l.permaddr ?? l.address) === perm);
  if (!nic) throw new Error(`no NIC with permanent address ${perm} here: the 'nic' parent needs the kernel matrix's guest (two virtio NICs on one hub)`);
  run('ip', ['link', 'set', 'dev', nic.ifname, 'down']);
  run('ip', ['link', 'set', 'dev', nic.ifname, 'netns', ns]);
  run('ip', ['-n', ns, 'link', 'set', 'dev', nic.ifname, 'name', name, ...(mac ? ['address', mac] : [])]);
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
  /** Source mode: the remote source MACs it lists; nodst. */
  sources?: Mac[];
  nodst?: boolean;
  /** A macvtap child: it stays beside the parent (its netns is the parent's), read through a queue fd. */
  tap?: boolean;
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

/**
 * Kernel macvlan children of the parent (a passthru child takes its MAC), moved to their netns; kernel
 * macvtap children (tap) stay beside the parent.
 */
export function addKernelChildren(host: string, children: ChildDef[], parent = 'p0'): void {
  ipBatch(host, children.flatMap((c) => [
    `link add link ${parent} name ${c.name}${c.mode !== 'passthru' ? ` address ${c.mac}` : ''}${c.mtu ? ` mtu ${c.mtu}` : ''} type ${c.tap ? 'macvtap' : 'macvlan'} mode ${c.mode}${c.nodst ? ' nodst' : ''}${c.sources ? ` macaddr set ${c.sources.join(' ')}` : ''}`,
    ...(c.tap ? [] : [`link set ${c.name} netns ${c.netns}`]),
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

/** macvlan-bpf children of the parent, made in-process by the control plane (no agent). */
export function addBpfChildren(host: string, pinRoot: string, children: ChildDef[], opts: { isolation?: 'strict' | 'kernel'; parent?: string; fastpath?: 'tc' | 'xdp'; childKind?: 'veth' | 'netkit' | 'auto' } = {}): void {
  const parent = opts.parent ?? 'p0';
  inNetns(`/run/netns/${host}`, () => {
    const m = Macvlan.open(pinRoot);
    try {
      if (opts.isolation) m.setIsolation(parent, opts.isolation);
      if (opts.fastpath) m.setFastpath(parent, opts.fastpath);
      for (const c of children)
        m.add({ parent, name: c.name, mode: c.mode, address: c.mac, mtu: c.mtu, nodst: c.nodst, ...(c.sources ? { macaddr: { op: 'set', macs: c.sources } } : {}),
          ...(c.tap ? { type: 'macvtap' } : { netns: c.netns, childKind: opts.childKind }) });
      for (const c of children) if (c.up !== false) m.setUp(c.name, true, c.tap ? '' : c.netns);
    } finally {
      m.close();
    }
  });
}
