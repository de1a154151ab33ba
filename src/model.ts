// The forwarding rules as a pure model (spec §2-§4, §6 and the deliberate differences). It predicts,
// for one parent, which endpoints receive a frame; the tests hold both datapaths against it.
import { isMulticastMac, type Mac } from './mac.js';
import type { Mode } from './datapath/abi.js';
import { ETH_P_PAUSE } from './frames.js';

export interface ModelChild {
  name: string;
  mode: Mode;
  mac: Mac;
  up: boolean;
  /** Multicast groups the child joined (broadcast and the auto-joined groups always pass). */
  groups?: Mac[];
  /** Its MTU (default 1500): a flood copy longer than it allows is dropped on the way in (see below). */
  mtu?: number;
  /** macvlan-bpf's spoofchk (README's deliberate difference 7): it may only send with its own MAC. */
  spoofchk?: boolean;
  /** Source mode: the remote source MACs it lists (macaddr); it gets a copy of every frame from them. */
  sources?: Mac[];
  /** nodst: a frame from a source it lists goes to the source children only (even while it is DOWN). */
  nodst?: boolean;
  /** It gets every group, joined or not (a macvlan-bpf macvtap child: its reader's joins are unseen). */
  allmulti?: boolean;
  /** macvlan-bpf: its flood copies from the wire enter by a peer redirect, unchecked as the kernel's are
   * (a veth child in a netns of its own); without it they pass its veth (deliberate difference 4). */
  peerCopies?: boolean;
}

export interface ModelPort {
  parentMac: Mac;
  /** In creation order. */
  children: ModelChild[];
  isolation: 'strict' | 'kernel';
  /** Deliberate difference 3: every eligible child gets every group, joined or not (macvlan-bpf without
   * an agent keeping the exact multicast filter). */
  allmulti?: boolean;
  /** The parent itself is ALLMULTI (macvlan-bpf, while it has an UP child); default: as allmulti. */
  parentAllmulti?: boolean;
  /**
   * The parent is a Linux bridge: a frame it transmits to its own MAC meets its own local fdb entry in
   * br_dev_xmit and is dropped, so it never reaches the wire (with either datapath).
   */
  bridgeParent?: boolean;
  /**
   * The parent is a NIC that filters in the device (virtio-net): unicast from the wire to a MAC that is
   * neither its own nor in its unicast filter (an UP child's) never reaches the host, nor a group
   * outside its multicast filter, nor an 802.1Q-tagged frame of a VLAN nobody registered; unless it
   * is promiscuous (an UP passthru child).
   */
  filteringNic?: boolean;
  /**
   * Deliberate difference 4 (macvlan-bpf): flood copies from the wire pass the child's veth (but where
   * the child has peerCopies), which drops one longer than the child's MTU plus an Ethernet header and a
   * VLAN tag (is_skb_forwardable); so do source-mode copies, for every child.
   */
  vethCopies?: boolean;
}

export interface ModelFrame {
  src: Mac;
  dst: Mac;
  ethertype: number;
  /** The outer tag's TPID of a tagged frame. */
  vlanTpid?: number;
  /** Its length with the Ethernet header, without FCS (default: short enough for every child). */
  length?: number;
}

/** Whether a forwarded copy fits the child (the kernel's is_skb_forwardable: MTU + header + one tag). */
const fits = (c: ModelChild, f: ModelFrame) => (f.length ?? 0) <= (c.mtu ?? 1500) + 14 + 4;

/** What a filtering NIC parent lets in (see ModelPort.filteringNic). */
function nicAccepts(p: ModelPort, f: ModelFrame): boolean {
  if (!p.filteringNic || p.children.some((c) => c.mode === 'passthru' && c.up)) return true;
  if (f.vlanTpid === 0x8100) return false;
  // Groups: the ones the parent itself joined and the children's (dev_mc_sync); every group where the
  // parent is ALLMULTI (macvlan-bpf, deliberate difference 3).
  if (isMulticastMac(f.dst)) return (p.parentAllmulti ?? p.allmulti) === true || ALWAYS_JOINED.includes(f.dst) || upChildren(p).some((c) => (c.groups ?? []).includes(f.dst));
  return f.dst === p.parentMac || !!byMac(p, f.dst);
}

/** Where a frame enters: from the wire, sent by a child, or sent by the parent's own stack. */
export type Injection = { from: 'wire' } | { from: 'child'; name: string } | { from: 'stack' };

/** 'wire' = left through the parent (seen by the external host); 'stack' = the parent's own stack. */
export type Endpoint = 'wire' | 'stack' | string;

export const ALWAYS_JOINED: readonly Mac[] = ['ff:ff:ff:ff:ff:ff', '33:33:00:00:00:01', '01:00:5e:00:00:01'];

const upChildren = (p: ModelPort) => p.children.filter((c) => c.up);
const byMac = (p: ModelPort, mac: Mac) => upChildren(p).find((c) => c.mac === mac);
const accepts = (p: ModelPort, c: ModelChild, dst: Mac) => p.allmulti === true || c.allmulti === true || ALWAYS_JOINED.includes(dst) || (c.groups ?? []).includes(dst);

/**
 * macvlan_forward_source (l.426-449), first for every frame entering the port: a copy to each UP source
 * child listing the source; `consumed` when any child listing it, UP or DOWN, has nodst.
 */
function forwardSource(p: ModelPort, f: ModelFrame): { copies: Endpoint[]; consumed: boolean } {
  const listing = p.children.filter((c) => c.mode === 'source' && (c.sources ?? []).includes(f.src));
  return {
    copies: listing.filter((c) => c.up && (!p.vethCopies || fits(c, f))).map((c) => c.name),
    consumed: listing.some((c) => c.nodst),
  };
}

/** Parent RX: what macvlan_handle_frame does with a frame from the wire. */
export function parentRx(p: ModelPort, f: ModelFrame): Endpoint[] {
  if (!nicAccepts(p, f)) return [];
  const fs = forwardSource(p, f);
  return fs.consumed ? fs.copies : [...fs.copies, ...parentRxByDst(p, f)];
}

function parentRxByDst(p: ModelPort, f: ModelFrame): Endpoint[] {
  if (isMulticastMac(f.dst)) {
    const s = byMac(p, f.src);
    // A private, passthru or source child's own frame, reflected: back to that child only (l.481-490).
    if (s && (s.mode === 'private' || s.mode === 'passthru' || s.mode === 'source')) return [s.name];
    const out: Endpoint[] = ['stack'];
    if (f.ethertype === ETH_P_PAUSE) return out;
    const mask: Mode[] = !s ? ['private', 'vepa', 'bridge', 'passthru'] : s.mode === 'vepa' ? ['vepa', 'bridge'] : ['vepa'];
    for (const c of upChildren(p))
      if (c !== s && mask.includes(c.mode) && accepts(p, c, f.dst) && (!p.vethCopies || c.peerCopies || fits(c, f))) out.push(c.name);
    return out;
  }
  const pt = p.children.find((c) => c.mode === 'passthru');
  if (pt) return pt.up ? [pt.name] : []; // all unicast; dropped while DOWN
  const d = byMac(p, f.dst);
  if (!d || d.mode === 'source') return ['stack']; // a source child takes nothing by destination (l.510-511)
  if (p.isolation === 'strict' && d.mode === 'private') {
    const s = byMac(p, f.src);
    if (s && s !== d) return []; // deliberate difference 1
  }
  return [d.name];
}

/** Child TX: macvlan_queue_xmit. Returns local deliveries, and 'wire' when the frame leaves. */
export function childTx(p: ModelPort, sender: ModelChild, f: ModelFrame): Endpoint[] {
  if (sender.spoofchk && f.src !== sender.mac) return []; // dropped before any other decision
  if (sender.mode === 'bridge') {
    if (isMulticastMac(f.dst)) {
      const out: Endpoint[] = [];
      if (f.ethertype !== ETH_P_PAUSE)
        // A local copy is forwarded into the sibling (dev_forward_skb), which drops it past the MTU.
        for (const c of upChildren(p)) if (c !== sender && c.mode === 'bridge' && accepts(p, c, f.dst) && fits(c, f)) out.push(c.name);
      return [...out, 'wire'];
    }
    const d = byMac(p, f.dst);
    if (d && d.mode === 'bridge') {
      // dev_forward_skb into the parent's receive path: source-mode copies apply first.
      const fs = forwardSource(p, f);
      return fs.consumed ? fs.copies : [...fs.copies, d.name];
    }
  }
  return ['wire'];
}

/** A reflector (hairpinning switch): true for every frame it sends back; false or absent for none. */
export type Reflector = boolean | ((f: ModelFrame) => boolean);

/**
 * Everything that receives a frame injected at `inj`. With a reflector, a frame that leaves by the wire
 * and is reflected comes back once as parent RX.
 */
export function deliveries(p: ModelPort, inj: Injection, f: ModelFrame, reflector: Reflector): Endpoint[] {
  let first: Endpoint[];
  if (inj.from === 'wire') return parentRx(p, f);
  if (inj.from === 'stack') first = ['wire'];
  else {
    const sender = p.children.find((c) => c.name === inj.name);
    if (!sender) throw new Error(`no child ${inj.name} in the model`);
    if (!sender.up) return [];
    first = childTx(p, sender, f);
  }
  if (p.bridgeParent && f.dst === p.parentMac) first = first.filter((e) => e !== 'wire');
  const reflects = typeof reflector === 'function' ? reflector(f) : reflector;
  if (reflects && first.includes('wire')) return [...first, ...parentRx(p, f)];
  return first;
}
