// The transmit hook the veth and tap kinds share: the child program on a TC ingress (tcx, or cls_bpf
// first in bulk) of the device the child's frames come out of (the veth's host end, the tap itself).
import type { ChildRecord } from '../../datapath/abi.js';
import { ifStillThere } from './pair.js';
import type { ChildKind, KindContext } from './types.js';

export const tcTransmit: Pick<ChildKind, 'txHook' | 'tcHook' | 'txProgram' | 'attachTx' | 'txProgramId' | 'forgetTx'> = {
  txHook(c: ChildRecord): number {
    return c.hostIfindex;
  },

  tcHook: true,
  txProgram: 'child',

  attachTx(ctx: KindContext, c: ChildRecord): void {
    ifStillThere(() => void ctx.dp.attach('child', c.hostIfindex, { mode: ctx.txHookMode }));
  },

  txProgramId(ctx: KindContext, c: ChildRecord): number {
    return ctx.dp.attachedProgramId(c.hostIfindex);
  },

  forgetTx(ctx: KindContext, c: ChildRecord): void {
    ctx.dp.hooks.forget(c.hostIfindex);
  },
};
