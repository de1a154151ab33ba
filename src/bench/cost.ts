// Per-packet cost: each datapath program through BPF_PROG_TEST_RUN with repeat, the kernel's mean ns
// per run, next to empty programs of the same types (TC_ACT_OK, XDP_PASS): the harness floor. The
// difference is what our decision costs. Redirects are decided but not carried out in a test run; a
// flood's clones are really made and sent to the children's host ends, so its row includes them.
import { randomBytes } from 'node:crypto';
import { Sandbox } from '../lab/sandbox.js';
import { addon, inNetns } from '../native.js';
import { Datapath } from '../datapath/datapath.js';
import { SKB_CTX_SIZE, SKB_IFINDEX_OFFSET } from '../datapath/abi.js';
import { BenchTopology, EXT_MAC, FANOUT, childMac } from './paths.js';
import { loadBench, udpFrame } from './traffic.js';

export interface CostRow {
  what: string;
  ns: number;
}

export function benchCost(opts: { repeat: number }): CostRow[] {
  const sb = new Sandbox(`mvbk${randomBytes(2).toString('hex')}`);
  try {
    const t = new BenchTopology(sb, 'macvlan-bpf');
    const a = addon();
    const ns = `/run/netns/${t.host}`;
    return inNetns(ns, () => {
      const dp = Datapath.open(t.pins);
      const bench = loadBench();
      try {
        const p0 = a.ifNameToIndex('p0');
        // Every flood copied at once: a test run delivers each copy as it is made, which the backlog
        // accounting cannot see (it would defer floods after a few hundred copies).
        dp.setFloodSettings({ budget: 0xffffffff });
        const host0 = dp.listChildren().find((c) => c.name === 'c0')!.hostIfindex;
        const ctxFor = (ifindex: number) => {
          const ctx = Buffer.alloc(SKB_CTX_SIZE);
          ctx.writeUInt32LE(ifindex, SKB_IFINDEX_OFFSET);
          return ctx;
        };
        const run = (prog: { testRun: typeof dp.programs.parent.testRun }, ifindex: number, frame: Buffer) =>
          prog.testRun({ data: frame, ctx: ctxFor(ifindex), repeat: opts.repeat }).duration;
        const f = (dst: string, src = EXT_MAC) => udpFrame({ src: src as never, dst: dst as never, length: 64 });
        const tcOk = new a.BpfProgram({ fd: bench.programFd('mvb_bench_tc_ok') });
        const xdpPass = new a.BpfProgram({ fd: bench.programFd('mvb_bench_xdp_pass') });
        try {
          const xdpCtx = Buffer.alloc(24);
          xdpCtx.writeUInt32LE(64, 4);
          xdpCtx.writeUInt32LE(p0, 12);
          return [
            { what: 'floor: empty TC program (TC_ACT_OK)', ns: run(tcOk, p0, f(childMac(0))) },
            { what: 'floor: empty XDP program (XDP_PASS)', ns: xdpPass.testRun({ data: f(childMac(0)), ctx: xdpCtx, repeat: opts.repeat }).duration },
            { what: 'parent ingress: external → child (unicast, redirect_peer)', ns: run(dp.programs.parent, p0, f(childMac(0))) },
            { what: 'parent XDP (fast path): external → child (unicast, redirect)', ns: dp.programs.xdp.testRun({ data: f(childMac(0)), ctx: xdpCtx, repeat: opts.repeat }).duration },
            { what: 'parent ingress: external → unknown MAC (to the stack)', ns: run(dp.programs.parent, p0, f('02:99:00:00:00:99')) },
            { what: `parent ingress: broadcast, ${FANOUT} copies made and sent`, ns: run(dp.programs.parent, p0, f('ff:ff:ff:ff:ff:ff')) },
            { what: 'child host end: bridge child → child', ns: run(dp.programs.child, host0, f(childMac(1), childMac(0))) },
            { what: 'child host end: child → external (to the wire)', ns: run(dp.programs.child, host0, f(EXT_MAC, childMac(0))) },
          ];
        } finally {
          tcOk.close();
          xdpPass.close();
        }
      } finally {
        bench.close();
        dp.close();
        t.close();
      }
    });
  } finally {
    sb.cleanup();
  }
}
