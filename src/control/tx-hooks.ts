// Children's transmit hooks and their mode. Making a tcx link costs some kernels a synchronize_rcu()
// under rtnl (12-17 ms, one at a time), a cls_bpf filter 0.1 ms; so where the last tcx link took more
// than CHEAP_TCX_MS, children made in bulk start with a working cls_bpf hook and are promoted to tcx
// links afterwards, each an atomic takeover (the link first, then the filter goes). Where a link is
// cheap (0.7 ms on 6.18), a bulk-made child gets its link at once: no clsact qdisc to make and remove
// (each made or removed looks itself up in a kernel-wide list of bound blocks, O(N) for N host ends),
// no promotion. A new build, or a change of mode, is put on every hook here too.
import type { ChildRecord } from '../datapath/abi.js';
import type { Datapath } from '../datapath/datapath.js';
import { kindOf, type KindContext } from './kinds/index.js';
import type { Registry } from './registry.js';

/** A tcx link made within this many ms is cheap enough to make at once for every bulk-made child. */
export const CHEAP_TCX_MS = 3;
/** Where links looked slow, every this many bulk-made children one gets its link at once all the same:
 * its time is a new sample, so a kernel that was slow for a moment (a grace period behind other work)
 * is not taken as slow for the rest of a 10,000-child batch. Free where links are slow: that child's
 * link is one the promotion would have made. */
export const TCX_PROBE_EVERY = 50;

export class TxHooks {
  /** Children (by host ifindex) whose cls_bpf hook waits for its tcx link. */
  private readonly waiting = new Set<number>();

  constructor(private readonly dp: Datapath, private readonly registry: Registry, private readonly ctx: KindContext) {}

  /** Bulk-made children given cls_bpf since the last tcx link was made. */
  private sinceProbe = 0;

  /** The context a bulk-made child's kind attaches with: cls_bpf first where tcx is the aim and tcx
   * links are not known to be cheap (the first one, made at once, tells; then the quickest of the last
   * few, with a probe every TCX_PROBE_EVERY children; a kind whose hook is not a TC one ignores the mode). */
  bulkContext(): KindContext {
    if (this.dp.hooks.mode !== 'tcx') return this.ctx;
    const ms = this.dp.hooks.tcxAttachMs;
    if (ms === null || ms <= CHEAP_TCX_MS || ++this.sinceProbe >= TCX_PROBE_EVERY) {
      this.sinceProbe = 0;
      return this.ctx;
    }
    return { ...this.ctx, txHookMode: 'cls_bpf' };
  }

  /** A child made with `ctx` from bulkContext(): where that was cls_bpf, its tcx link comes later. */
  madeInBulk(c: ChildRecord, ctx: KindContext): void {
    if (this.dp.hooks.mode === 'tcx' && ctx.txHookMode === 'cls_bpf' && kindOf(c.kind).tcHook) this.waiting.add(c.hostIfindex);
  }

  get pending(): number {
    return this.waiting.size;
  }

  /** A new build or mode: every child's hook gets it now (a cls_bpf hook keeps its mode until promoted). */
  reattach(c: ChildRecord): void {
    const kind = kindOf(c.kind);
    if (!kind.tcHook) { // a hook of the kind's own (netkit's peer slot): the new build, in place
      if (kind.txProgramId(this.ctx, c)) kind.attachTx(this.ctx, c);
      return;
    }
    const now = this.dp.hooks.attachedAs(kind.txHook(c));
    if (!now) return;
    if (now === 'cls_bpf' && this.dp.hooks.mode === 'tcx') {
      kind.attachTx({ ...this.ctx, txHookMode: 'cls_bpf' }, c); // the new build in place, now
      this.waiting.add(c.hostIfindex); // the tcx link later
    } else kind.attachTx(this.ctx, c);
  }

  /** Promotes waiting hooks until the deadline (performance.now() ms; at least one); returns how many wait. */
  promote(deadline = Infinity): number {
    for (const host of this.waiting) {
      this.waiting.delete(host);
      const c = this.registry.get(host);
      if (c && kindOf(c.kind).tcHook && this.dp.hooks.mode === 'tcx' && this.dp.hooks.attachedAs(kindOf(c.kind).txHook(c)) === 'cls_bpf') kindOf(c.kind).attachTx(this.ctx, c);
      if (performance.now() >= deadline) break;
    }
    return this.waiting.size;
  }

  /** Finds children whose hook is not a tcx link yet where it should be (after a crash mid-promotion). */
  findWaiting(children: ChildRecord[]): void {
    if (this.dp.hooks.mode !== 'tcx') return;
    for (const c of children) if (kindOf(c.kind).tcHook && !this.dp.hooks.hasTcxPin(kindOf(c.kind).txHook(c))) this.waiting.add(c.hostIfindex);
  }
}
