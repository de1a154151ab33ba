// The netkit kind (Linux 6.7+, CONFIG_NETKIT): an L2 netkit pair whose peer carries the user's name,
// MAC, MTU and netns, and whose primary (mvb<hash>) stays beside the parent. The child's transmit is
// decided in netkit's peer slot, inside the child's own transmit (no backlog round, unlike a veth's host
// end ingress); frames for the child enter it with bpf_redirect_peer as for a veth. The peer's policy
// with no program is blackhole: a child whose program is gone sends nothing anywhere. XDP cannot
// redirect into netkit (it has no ndo_xdp_xmit), so the XDP fast path hands its frames to TC.
import { CHILD_SAME_NETNS, type ChildRecord } from '../../datapath/abi.js';
import { isSystemError } from '../../native.js';
import type { LinkInfo } from '../../net/links.js';
import { NETKIT_DROP } from '../../net/rtnetlink.js';
import { ConfigError } from '../errors.js';
import { followParent, ifStillThere, makePair, removePair, startPair } from './pair.js';
import type { ChildKind, KindContext, MakeRequest } from './types.js';

/** The refusal on a kernel without netkit, naming the way out. */
export function noNetkit(): ConfigError {
  return new ConfigError('EOPNOTSUPP', 'this kernel has no netkit devices (they came in Linux 6.7, CONFIG_NETKIT): use kind veth, or kind auto for netkit where the kernel has it and veth elsewhere');
}

export const netkit: ChildKind = {
  name: 'netkit',

  make(ctx: KindContext, req: MakeRequest, undo: (() => void)[]): number {
    return makePair(req, undo, ctx, {
      create: (spec) => ctx.links.rtnl.createNetkit({ ...spec, peerPolicy: NETKIT_DROP }),
      refused: (e) => {
        if (isSystemError(e) && (e.code === 'EOPNOTSUPP' || e.code === 'ENOTSUP')) throw noNetkit();
      },
      attach: (host) => ctx.dp.netkit.attach(host, ctx.dp.programs.netkit.fd),
      forget: (host) => ctx.dp.netkit.forget(host),
    });
  },

  start: startPair,

  remove(ctx: KindContext, c: ChildRecord): void {
    removePair(ctx, c);
    ctx.dp.netkit.forget(c.hostIfindex);
  },

  txHook(c: ChildRecord): number {
    return c.hostIfindex;
  },

  tcHook: false,
  txProgram: 'netkit',

  attachTx(ctx: KindContext, c: ChildRecord): void {
    ifStillThere(() => ctx.dp.netkit.attach(c.hostIfindex, ctx.dp.programs.netkit.fd));
  },

  txProgramId(ctx: KindContext, c: ChildRecord): number {
    return ctx.dp.netkit.programId(c.hostIfindex);
  },

  forgetTx(ctx: KindContext, c: ChildRecord): void {
    ctx.dp.netkit.forget(c.hostIfindex);
  },

  deliveryFlags(netns: string): number {
    return netns ? 0 : CHILD_SAME_NETNS;
  },

  /** Its hook is in its own transmit, not a TC ingress of the primary: copies go through the primary. */
  floodByPeer(): boolean {
    return false;
  },

  /** Nothing to set up: the XDP program passes a netkit child's frames to TC (MVB_DELIVER_TC_ONLY). */
  acceptXdp(): boolean {
    return false;
  },

  groForLife(): boolean {
    return false;
  },

  armXdp(): void {},

  hostIsChild: false,
  linkKind: 'macvlan',
  groupsVisible: true,

  followParent(ctx: KindContext, _c: ChildRecord, host: LinkInfo, parent: LinkInfo): void {
    followParent(ctx, host, parent);
  },
};
