// The veth kind: the child end carries the user's name, MAC, MTU and netns; the host end (mvb<hash>)
// stays beside the parent, and the child program on its ingress decides everything the child sends.
// Frames for the child enter it with bpf_redirect_peer (straight into the child's netns), or a plain
// redirect when both ends share a netns (the peer shortcut refuses that).
import fs from 'node:fs';
import { CHILD_SAME_NETNS, type ChildRecord } from '../../datapath/abi.js';
import { addon, inNetns, isSystemError } from '../../native.js';
import { ifnameOf, netnsPath, type LinkInfo } from '../../net/links.js';
import { kernelError } from '../errors.js';
import { followParent, makePair, removePair, startPair } from './pair.js';
import { tcTransmit } from './tc-transmit.js';
import type { ChildKind, KindContext, MakeRequest } from './types.js';

export const veth: ChildKind = {
  name: 'veth',

  make(ctx: KindContext, req: MakeRequest, undo: (() => void)[]): number {
    return makePair(req, undo, ctx, {
      create: (spec) => ctx.links.rtnl.createVeth(spec),
      bornUp: true,
      attach: (host) => {
        req.groForLife = !!req.netns && req.siblings >= napiFloodFrom();
        if (req.groForLife) floodThroughNapi(req);
        ctx.dp.attach('child', host, { mode: ctx.txHookMode });
      },
      forget: (host) => ctx.dp.hooks.forget(host),
    });
  },

  start: startPair,

  /** Made with floodThroughNapi: its host end has TSO off (the device says so, across restarts). */
  groForLife(_ctx: KindContext, c: ChildRecord): boolean {
    if (!c.netns) return false;
    try {
      return !addon().ethtoolGet(ifnameOf(c.hostIfindex), 'tso');
    } catch {
      return false; // gone meanwhile
    }
  },

  remove(ctx: KindContext, c: ChildRecord): void {
    removePair(ctx, c);
    ctx.dp.hooks.forget(c.hostIfindex);
  },

  ...tcTransmit,

  deliveryFlags(netns: string): number {
    return netns ? 0 : CHILD_SAME_NETNS;
  },

  /**
   * A frame XDP redirects into the host end reaches the child end only if that end runs NAPI: GRO on
   * there (measured faster than an XDP_PASS program on it). What it costs the child: its receive goes
   * through NAPI and GRO, which coalesces TCP segments (fewer, larger skbs up its stack) and adds the
   * GRO pass to every frame; the child's own transmit is unchanged.
   */
  acceptXdp(_ctx: KindContext, c: ChildRecord, on: boolean): boolean {
    const a = addon();
    const run = (fn: () => boolean) => (c.netns ? inNetns(netnsPath(c.netns), fn) : fn());
    try {
      return run(() => {
        if (a.ethtoolGet(c.name, 'gro') === on) return false;
        a.ethtoolSet(c.name, 'gro', on);
        return true;
      });
    } catch (e) {
      if (!on && isSystemError(e) && (e.code === 'ENODEV' || e.code === 'ENOENT')) return false;
      throw kernelError(e, `turning GRO ${on ? 'on' : 'off'} on ${c.name} (the XDP fast path needs it to take redirected frames)`);
    }
  },

  /**
   * The kernel marks the host end as a redirect target (NETDEV_XDP_ACT_NDO_XMIT) when GRO goes on at
   * the child end while that end is UP; GRO turned on while it is down takes effect for the child's
   * own NAPI at open, but the host end stays unmarked and XDP redirects into it fail (seen on 6.18).
   * So for a child that got GRO while down, GRO goes off and on once, UP, before its MAC is in the
   * table; the mark then stays through later downs and ups.
   */
  armXdp(_ctx: KindContext, c: ChildRecord): void {
    const a = addon();
    const run = (fn: () => void) => (c.netns ? inNetns(netnsPath(c.netns), fn) : fn());
    try {
      run(() => {
        a.ethtoolSet(c.name, 'gro', false);
        a.ethtoolSet(c.name, 'gro', true);
      });
    } catch (e) {
      throw kernelError(e, `turning GRO on at ${c.name} while it is up (the XDP fast path needs it to take redirected frames)`);
    }
  },

  hostIsChild: false,
  linkKind: 'macvlan',
  groupsVisible: true,

  followParent(ctx: KindContext, _c: ChildRecord, host: LinkInfo, parent: LinkInfo): void {
    followParent(ctx, host, parent);
  },
};

/**
 * From which child on (counting the parent's children at its birth) flood copies go through the
 * child's NAPI ring: half the per-CPU backlog (net.core.netdev_max_backlog), so the copies of one
 * broadcast that go through the backlog leave room for the rest of the CPU's traffic.
 * MACVLAN_BPF_NAPI_FLOOD_FROM overrides it (0: every child in a netns of its own).
 */
export function napiFloodFrom(): number {
  const env = process.env.MACVLAN_BPF_NAPI_FLOOD_FROM;
  if (env !== undefined && /^\d+$/.test(env)) return Number(env);
  try {
    return Math.floor(Number(fs.readFileSync('/proc/sys/net/core/netdev_max_backlog', 'utf8')) / 2);
  } catch {
    return 500;
  }
}

/**
 * Flood copies into the child through its veth's NAPI ring (256 frames per child) instead of this CPU's
 * backlog, which holds net.core.netdev_max_backlog (1,000) frames until the flood's softirq ends: past
 * it, copies of one broadcast to more children were refused (97.8 % delivered at 1,024; issue 18). veth
 * queues an skb on the receiving end's NAPI when that end has GRO on (NAPI is its GRO) and the sending
 * end has no TSO. So GRO goes on at the child end, as every kernel macvlan child has it (GRO is on by
 * default for every device but veth), and TSO off at the host end, which only flood copies cross:
 * unicast enters the child's netns by bpf_redirect_peer, past the host end's transmit (a child beside
 * its parent gets unicast through it, where TSO off would cut TCP in software: it keeps the backlog).
 * A copy through NAPI costs more than one through the backlog (each child's ring is polled on its
 * own), so only the children past napiFloodFrom() take this path: a flood's backlog share stays
 * below the backlog's size, and a port of a few hundred children floods as fast as before.
 */
function floodThroughNapi(req: MakeRequest): void {
  const a = addon();
  try {
    a.ethtoolSet(req.hostName, 'tso', false);
    inNetns(netnsPath(req.netns), () => a.ethtoolSet(req.name, 'gro', true));
  } catch (e) {
    throw kernelError(e, `setting ${req.name}'s GRO on and its host side's TSO off (flood copies through NAPI)`);
  }
}
