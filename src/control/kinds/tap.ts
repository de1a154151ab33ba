// The tap kind (macvtap): the child is a persistent tap device (multiqueue for more than one queue) beside its parent, with the
// user's name, MAC and MTU; a user program (QEMU, through `tap exec`) reads and writes its frames
// through queue fds. It is at once the child and the redirect target: frames for the child are
// redirected to its transmit (tun hands them to a reader's queue, vnet header first; XDP redirects go
// in without an skb), and what a reader writes arrives at its TC ingress, where the child program
// decides it as for any child. Unlike kernel macvtap there is no /dev/tapN: queues are opened on
// /dev/net/tun by name, and a tap with no reader drops what it is given (the kernel passes it to the
// macvtap netdev's own stack); see the README's macvtap section.
import { CHILD_SAME_NETNS, type ChildRecord } from '../../datapath/abi.js';
import { addon, isSystemError } from '../../native.js';
import { setNetSysctl } from '../../net/links.js';
import { ConfigError, kernelError } from '../errors.js';
import { tapAlias } from '../names.js';
import { ifStillThere } from './pair.js';
import { tcTransmit } from './tc-transmit.js';
import type { ChildKind, KindContext, MakeRequest } from './types.js';

export const tap: ChildKind = {
  name: 'tap',

  make(ctx: KindContext, req: MakeRequest, undo: (() => void)[]): number {
    if (req.netns)
      throw new ConfigError('EINVAL', `Invalid argument: a macvtap child lives beside its parent (its readers reach it by fd, from any netns); drop "netns ${req.netns}"`);
    const rt = ctx.links.rtnl;
    let ifindex: number;
    try {
      // One queue: a single-queue tap, which QEMU and libvirt open by name (-netdev tap,ifname=…) when they
      // want one; more: multiqueue, as they then ask (tun refuses a mismatch).
      const q = new (addon().TapQueue)({ ifname: req.name, create: true, multiQueue: (req.queues ?? 1) > 1 });
      try {
        if (req.owner !== undefined) q.setOwner(req.owner);
        if (req.group !== undefined) q.setGroup(req.group);
        q.setPersist(true); // it outlives this queue: readers come and go
        ifindex = q.ifindex;
      } catch (e) {
        q.close(); // not persistent yet: closing the only queue removes the device
        throw e;
      }
      q.close();
    } catch (e) {
      if (isSystemError(e) && e.code === 'EBUSY')
        throw new ConfigError('EEXIST', `File exists: an interface named "${req.name}" already exists in this netns; choose another name`);
      if (isSystemError(e) && (e.code === 'ENOENT' || e.code === 'ENODEV') && e.syscall === 'open')
        throw new ConfigError('EOPNOTSUPP', 'this kernel has no tun/tap driver (/dev/net/tun, CONFIG_TUN): macvtap children are tap devices');
      throw kernelError(e, `creating macvtap child ${req.name}`);
    }
    undo.push(() => ifStillThere(() => rt.deleteLink(ifindex)));
    try {
      rt.setAlias(ifindex, tapAlias(ctx.dp.pinRoot, req.name)); // ours, should we die before recording it
      rt.setAddress(ifindex, req.address);
      rt.setMtu(ifindex, req.mtu);
    } catch (e) {
      throw kernelError(e, `setting ${req.name}'s alias, address and mtu`);
    }
    // The tap's own stack would talk to the reader (tun delivers what the host sends on it to the fd):
    // no IPv6 link-local, DAD or router solicitations of ours in the guest's wire.
    setNetSysctl(`ipv6.conf.${req.name}.disable_ipv6`, '1');
    // No qdisc between a redirect and the reader's queue, as kernel macvtap has none (tap_handle_frame
    // puts the frame on the queue): tun drops what a full queue cannot take either way (measured: the
    // default pfifo_fast cost TC redirects into the tap about 8 % at 64 bytes).
    try {
      rt.setRootQdisc(ifindex, 'noqueue');
    } catch (e) {
      throw kernelError(e, `setting ${req.name}'s qdisc to noqueue`);
    }
    ctx.dp.attach('child', ifindex, { mode: ctx.txHookMode });
    undo.push(() => ctx.dp.hooks.forget(ifindex));
    return ifindex;
  },

  /** A tap's carrier is its reader's: nothing to bring up here. */
  start(): void {},

  remove(ctx: KindContext, c: ChildRecord): void {
    ifStillThere(() => ctx.links.rtnl.deleteLink(c.hostIfindex));
    ctx.dp.hooks.forget(c.hostIfindex);
  },

  ...tcTransmit,

  /** A plain redirect to the tap's transmit (it is in the parent's netns: no peer to enter). */
  deliveryFlags(): number {
    return CHILD_SAME_NETNS;
  },

  /** The tap is the child itself: a copy's transmit into it is its reader's frame. */
  floodByPeer(): boolean {
    return false;
  },

  /** Nothing to set up: tun takes XDP redirects as they are (ndo_xdp_xmit into a reader's queue). */
  acceptXdp(): boolean {
    return false;
  },

  groForLife(): boolean {
    return false;
  },

  armXdp(): void {},

  hostIsChild: true,
  linkKind: 'macvtap',
  groupsVisible: false,

  /** Its carrier is its readers' (tun has carrier while a queue is attached) and its MTU the user's. */
  followParent(): void {},
};
