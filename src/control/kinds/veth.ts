// The veth kind: the child end carries the user's name, MAC, MTU and netns; the host end (mvb<hash>)
// stays beside the parent, and the child program on its ingress decides everything the child sends.
// Frames for the child enter it with bpf_redirect_peer (straight into the child's netns), or a plain
// redirect when both ends share a netns (the peer shortcut refuses that).
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
        req.groForLife = false;
        ctx.dp.attach('child', host, { mode: ctx.txHookMode, fresh: true });
      },
      forget: (host) => ctx.dp.hooks.forget(host),
    });
  },

  start: startPair,

  /** Made by a build before the chunked flood (2026-12-01) past its parent's 500th child: GRO on at
   * the child end for life, its flood copies through NAPI, which needs the host end's TSO off (the
   * device says so, across restarts). This build makes none, and leaves those as they are. */
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

  floodByPeer(c: ChildRecord): boolean {
    return (c.flags & CHILD_SAME_NETNS) === 0;
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
