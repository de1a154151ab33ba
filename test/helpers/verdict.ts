// Runs a datapath program through BPF_PROG_TEST_RUN inside a netns (so ctx.ifindex names a real
// device there) and reads the verdict the program recorded in skb->cb.
import { inNetns, type BpfProgram } from '../../src/native.js';
import { CB, SKB_CB_OFFSET, SKB_CTX_SIZE, SKB_IFINDEX_OFFSET, actionName } from '../../src/datapath/abi.js';

export const TC_ACT_OK = 0;
/** TC_ACT_UNSPEC: tcx's TCX_NEXT, cls_bpf's next filter; the stack when nothing follows. */
export const TC_ACT_UNSPEC = -1;
export const TC_ACT_SHOT = 2;
export const TC_ACT_REDIRECT = 7;

export interface Verdict {
  retval: number;
  action: string;
  target: number;
  reason: number;
  flags: number;
  copies: number;
}

export function testRunTc(prog: BpfProgram, netnsPath: string, ifindex: number, frame: Buffer): Verdict {
  return inNetns(netnsPath, () => runTcHere(prog, ifindex, frame));
}

/** The same in the calling thread's netns (a caller running many frames enters it once). */
export function runTcHere(prog: BpfProgram, ifindex: number, frame: Buffer): Verdict {
  const ctx = Buffer.alloc(SKB_CTX_SIZE);
  ctx.writeUInt32LE(ifindex, SKB_IFINDEX_OFFSET);
  const r = prog.testRun({ data: frame, ctx });
  const cb = (i: number) => r.ctx!.readUInt32LE(SKB_CB_OFFSET + 4 * i);
  return { retval: r.retval | 0, action: actionName(cb(CB.action)), target: cb(CB.target), reason: cb(CB.reason), flags: cb(CB.flags), copies: cb(CB.copies) };
}

export const XDP_DROP = 1;
export const XDP_PASS = 2;
export const XDP_REDIRECT = 4;

/** Runs the XDP fast path's program on a frame arriving at `ifindex` (struct xdp_md as the context). */
export function testRunXdp(prog: BpfProgram, netnsPath: string, ifindex: number, frame: Buffer): number {
  return inNetns(netnsPath, () => runXdpHere(prog, ifindex, frame));
}

export function runXdpHere(prog: BpfProgram, ifindex: number, frame: Buffer): number {
  const ctx = Buffer.alloc(24); // data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex
  ctx.writeUInt32LE(frame.length, 4);
  ctx.writeUInt32LE(ifindex, 12);
  return prog.testRun({ data: frame, ctx }).retval;
}
