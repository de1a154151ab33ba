// What the two pair kinds (veth, netkit) do alike: a pair made in one request with its peer born in the
// child's netns, the host side (mvb<hash>) kept beside the parent as plumbing, removal from whichever
// end is in reach, and the host side following the parent's carrier.
import type { ChildRecord } from '../../datapath/abi.js';
import { isSystemError } from '../../native.js';
import { isUp, netnsPath, setNetSysctl, type LinkInfo } from '../../net/links.js';
import type { VethSpec } from '../../net/rtnetlink.js';
import { ConfigError, kernelError } from '../errors.js';
import type { KindContext, MakeRequest } from './types.js';

/** Runs a change to a link that may vanish meanwhile (its netns is being deleted): gone is fine. */
export function ifStillThere(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (!isSystemError(e) || (e.code !== 'ENODEV' && e.code !== 'ENOENT')) throw e;
  }
}

export interface PairOps {
  /** Makes the pair (the spec as a veth's) and returns the host side's ifindex. */
  create(spec: VethSpec): number;
  /** The kernel's refusal of the pair, other than a name in use, as the kind words it (or rethrown). */
  refused?(e: unknown): void;
  /** The kind's create() makes the peer UP when spec.peer.up asks (veth can, netkit cannot). */
  bornUp?: boolean;
  /** Puts the child's transmit program on, and drops it again. */
  attach(hostIfindex: number): void;
  forget(hostIfindex: number): void;
}

/** Makes a pair child; every step made is pushed on undo (see ChildKind.make). */
export function makePair(req: MakeRequest, undo: (() => void)[], ctx: KindContext, ops: PairOps): number {
  const rt = ctx.links.rtnl;
  let hostIfindex: number;
  try {
    hostIfindex = ops.create({
      name: req.hostName,
      index: req.hostIfindex,
      mtu: req.parent.mtu,
      peer: { name: req.name, address: req.address, mtu: req.mtu, netnsPath: req.netns ? netnsPath(req.netns) : undefined, up: req.up },
    });
    if (req.up && ops.bornUp) req.bornUp = true;
  } catch (e) {
    if (isSystemError(e) && e.code === 'EEXIST')
      throw new ConfigError('EEXIST', `File exists: an interface named "${req.name}" already exists in ${req.netns ? `netns "${req.netns}"` : 'this netns'}; choose another name`);
    ops.refused?.(e);
    throw kernelError(e, `creating child ${req.name}`);
  }
  undo.push(() => ifStillThere(() => rt.deleteLink(hostIfindex)));
  // The host side is plumbing, not a host: no IPv6 link-local, no DAD, no router solicitations.
  setNetSysctl(`ipv6.conf.${req.hostName}.disable_ipv6`, '1');
  ops.attach(hostIfindex);
  undo.push(() => ops.forget(hostIfindex));
  return hostIfindex;
}

/** A pair child's start: its host side comes up, and with it both ends' carrier. */
export function startPair(ctx: KindContext, c: ChildRecord): void {
  try {
    ctx.links.rtnl.setUp(c.hostIfindex, true);
  } catch (e) {
    throw kernelError(e, `bringing up ${c.name}'s host side`);
  }
}

/** Deleting either end takes the pair: the host side is the one in reach, unless it is gone already. */
export function removePair(ctx: KindContext, c: ChildRecord): void {
  const host = ctx.links.get(c.hostIfindex);
  if (host) ifStillThere(() => ctx.links.rtnl.deleteLink(c.hostIfindex));
  else ifStillThere(() => ctx.links.in(c.netns || undefined, (r) => r.deleteLink(c.name)));
}

/**
 * The host side follows the parent: UP exactly when the parent has carrier (the kernel's macvlan
 * children see their lower's carrier), and the parent's MTU (it carries whatever the child may send).
 */
export function followParent(ctx: KindContext, host: LinkInfo, parent: LinkInfo): void {
  const carrier = isUp(parent) && parent.flags.includes('LOWER_UP');
  if (isUp(host) !== carrier) ifStillThere(() => ctx.links.rtnl.setUp(host.ifindex, carrier));
  if (host.mtu !== parent.mtu) ifStillThere(() => ctx.links.rtnl.setMtu(host.ifindex, parent.mtu));
}
