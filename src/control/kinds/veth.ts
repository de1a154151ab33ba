// The veth kind: the child end carries the user's name, MAC, MTU and netns; the host end (mvb<hash>)
// stays beside the parent, and the child program on its ingress decides everything the child sends.
// Frames for the child enter it with bpf_redirect_peer (straight into the child's netns), or a plain
// redirect when both ends share a netns (the peer shortcut refuses that).
import { CHILD_SAME_NETNS, type ChildRecord } from '../../datapath/abi.js';
import { addon, inNetns, isSystemError } from '../../native.js';
import { isUp, netnsPath, setNetSysctl, type LinkInfo } from '../../net/links.js';
import { ConfigError, kernelError } from '../errors.js';
import type { ChildKind, KindContext, MakeRequest } from './types.js';

/** Runs a change to a link that may vanish meanwhile (its netns is being deleted): gone is fine. */
function ifStillThere(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (!isSystemError(e) || (e.code !== 'ENODEV' && e.code !== 'ENOENT')) throw e;
  }
}

export const veth: ChildKind = {
  name: 'veth',

  make(ctx: KindContext, req: MakeRequest, undo: (() => void)[]): number {
    const rt = ctx.links.rtnl;
    let hostIfindex: number;
    try {
      hostIfindex = rt.createVeth({
        name: req.hostName,
        index: req.hostIfindex,
        mtu: req.parent.mtu,
        peer: { name: req.name, address: req.address, mtu: req.mtu, netnsPath: req.netns ? netnsPath(req.netns) : undefined },
      });
    } catch (e) {
      if (isSystemError(e) && e.code === 'EEXIST')
        throw new ConfigError('EEXIST', `File exists: an interface named "${req.name}" already exists in ${req.netns ? `netns "${req.netns}"` : 'this netns'}; choose another name`);
      throw kernelError(e, `creating child ${req.name}`);
    }
    undo.push(() => ifStillThere(() => rt.deleteLink(hostIfindex)));
    // The host end is plumbing, not a host: no IPv6 link-local, no DAD, no router solicitations.
    setNetSysctl(`ipv6.conf.${req.hostName}.disable_ipv6`, '1');
    ctx.dp.attach('child', hostIfindex, { mode: ctx.txHookMode });
    undo.push(() => ctx.dp.hooks.forget(hostIfindex));
    try {
      rt.setUp(hostIfindex, true);
    } catch (e) {
      throw kernelError(e, `bringing up ${req.name}'s host end`);
    }
    return hostIfindex;
  },

  remove(ctx: KindContext, c: ChildRecord): void {
    // Deleting either end takes the pair; the host end is the one in reach, unless it is gone already.
    const host = ctx.links.get(c.hostIfindex);
    if (host) ifStillThere(() => ctx.links.rtnl.deleteLink(c.hostIfindex));
    else ifStillThere(() => ctx.links.in(c.netns || undefined, (r) => r.deleteLink(c.name)));
    ctx.dp.hooks.forget(c.hostIfindex);
  },

  txHook(c: ChildRecord): number {
    return c.hostIfindex;
  },

  attachTx(ctx: KindContext, c: ChildRecord): void {
    ifStillThere(() => void ctx.dp.attach('child', c.hostIfindex, { mode: ctx.txHookMode }));
  },

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

  followCarrier(ctx: KindContext, _c: ChildRecord, host: LinkInfo, carrier: boolean): void {
    if (isUp(host) !== carrier) ifStillThere(() => ctx.links.rtnl.setUp(host.ifindex, carrier));
  },
};
