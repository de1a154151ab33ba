// A child kind: what a child's device is. It says how the device is made and removed, where the
// child's transmit decision runs, and how the datapath delivers frames into it. Everything else (the
// MAC table, the flood list, the modes, counters, events) is the same for every kind, so a new kind is a
// new module here, not a branch elsewhere.
import type { Datapath } from '../../datapath/datapath.js';
import type { HookMode } from '../../datapath/hooks.js';
import type { ChildRecord, KindName } from '../../datapath/abi.js';
import type { ProgramRole } from '../../datapath/datapath.js';
import type { Mac } from '../../mac.js';
import type { LinkInfo, LinkTable } from '../../net/links.js';

export interface KindContext {
  dp: Datapath;
  links: LinkTable;
  /** Attach transmit hooks in this mode rather than the instance's (bulk creation: cls_bpf first). */
  txHookMode?: HookMode;
}

export interface MakeRequest {
  parent: LinkInfo;
  /** The child's own name, netns ('' = the parent's), MAC and MTU. */
  name: string;
  netns: string;
  address: Mac;
  mtu: number;
  /** The name of the device that stays beside the parent (derived, see hostEndName). */
  hostName: string;
  /** The host-side device's ifindex, when the caller needs a particular one (tests re-use slots). */
  hostIfindex?: number;
  /** tap children: who may open its queues besides root (TUNSETOWNER, TUNSETGROUP). */
  owner?: number;
  group?: number;
  /** tap children: the queues its readers open (more than one: a multiqueue tap). */
  queues?: number;
  /**
   * The child is to be UP: a kind may make its device UP from the start (no request to bring it up
   * later, and the kernel's IPv6 set-up of the device runs once, when carrier comes with start(),
   * instead of at UP and again at carrier). make() sets bornUp when it did.
   */
  up?: boolean;
  bornUp?: boolean;
  /** Set by a make() that knows what groForLife() would say of the new child (no query needed). */
  groForLife?: boolean;
}

export interface ChildKind {
  readonly name: KindName;
  /**
   * Makes the child's devices and attaches its transmit decision; returns the host-side ifindex (the
   * registry's key and the delivery target). Pushes an undo step for everything it made, so a later
   * failure of the caller leaves nothing behind; on its own failure it has undone its own steps.
   */
  make(ctx: KindContext, req: MakeRequest, undo: (() => void)[]): number;
  /**
   * The last step of making a child, once it is in the registry: what gives the child carrier comes up
   * (a pair's host end), so nothing it sends meets a datapath that does not know it yet.
   */
  start(ctx: KindContext, c: ChildRecord): void;
  /** Removes the child's devices (what is already gone is fine). */
  remove(ctx: KindContext, c: ChildRecord): void;
  /** The device whose hook carries the child's transmit decision. */
  txHook(c: ChildRecord): number;
  /**
   * True when that hook is a TC ingress (tcx or cls_bpf, the instance's mode, bulk-made children
   * promoted from cls_bpf to tcx: tx-hooks.ts); false for a hook of the kind's own (netkit's peer slot).
   */
  readonly tcHook: boolean;
  /** The program the transmit hook must carry. */
  readonly txProgram: ProgramRole;
  /** Puts the transmit program on that hook (a TC hook: in ctx.txHookMode, or the instance's mode). */
  attachTx(ctx: KindContext, c: ChildRecord): void;
  /** The id of the program on the child's transmit hook, or 0. */
  txProgramId(ctx: KindContext, c: ChildRecord): number;
  /** The child's devices went without us: drop what we pinned for its transmit hook. */
  forgetTx(ctx: KindContext, c: ChildRecord): void;
  /**
   * Whether the datapath copies a flood from the wire into this child through its host end's ingress,
   * where the child program passes it on with bpf_redirect_peer (FLOOD_PEER): that needs our program on
   * a TC ingress of the host end and the child end in another netns. Otherwise copies take the host
   * end's transmit.
   */
  floodByPeer(c: ChildRecord): boolean;
  /** The MVB_CHILD_* delivery flags for a child of this kind living in `netns`. */
  deliveryFlags(netns: string): number;
  /**
   * Makes the child able to take frames redirected from XDP on its parent (the XDP fast path), or
   * undoes that (on = false). Returns whether it changed anything (so it is undone only if we did it).
   */
  acceptXdp(ctx: KindContext, c: ChildRecord, on: boolean): boolean;
  /**
   * Whether the child has GRO on at its end for life (a veth child an older build made past its
   * parent's 500th, for flood copies through its NAPI ring; kinds/veth.ts). Such a child accepts XDP
   * redirects once armed, and keeps GRO when XDP goes.
   */
  groForLife(ctx: KindContext, c: ChildRecord): boolean;
  /**
   * Called while the child is UP, before its MAC goes into the table, for a child that accepts XDP
   * redirects but was not UP when it started to: whatever must happen with the device up happens here.
   */
  armXdp(ctx: KindContext, c: ChildRecord): void;
  /**
   * The host side follows the parent (a pair's host end: the parent's carrier and MTU, as the kernel's
   * macvlan children see their lower's carrier); a kind whose device is the child itself leaves it be.
   */
  followParent(ctx: KindContext, c: ChildRecord, host: LinkInfo, parent: LinkInfo): void;
  /** The redirect target is the child's own device (a tap): its events are the child's. */
  readonly hostIsChild: boolean;
  /** What kernel device the child stands in for (ip's info_kind): macvlan, or macvtap. */
  readonly linkKind: 'macvlan' | 'macvtap';
  /**
   * The groups the child's device joins are the ones its user wants (a pair's child end, whose stack
   * joins them); a tap's reader joins groups in its own stack, unseen, so a tap gets every group.
   */
  readonly groupsVisible: boolean;
}
