// The benchmark in smoke mode (`bench --smoke`): every case once with tiny counts. It checks that every
// path of every datapath delivered frames and TCP moved bytes, never anything about speed.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/sandbox.js';
import { projectRoot } from '../../src/native.js';
import { DATAPATHS, LIMIT_PATHS, PATHS, TCP_PATHS } from '../../src/bench/paths.js';
import { TAP_DATAPATHS, TAP_PATHS } from '../../src/bench/taps.js';
import { CNI_SIDES } from '../../src/bench/cni.js';

const esc = (s: string) => s.replace(/[()]/g, '\\$&');

describe('bench --smoke', () => {
  it('every case of every part runs and delivers', async () => {
    requireRoot();
    const { code, out, err } = await new Promise<{ code: number; out: string; err: string }>((resolve) =>
      execFile(process.execPath, [path.join(projectRoot, 'dist', 'cli', 'main.js'), 'bench', '--smoke'], { encoding: 'utf8', maxBuffer: 16 << 20 },
        (e, so, se) => resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out: so, err: se })));
    expect(code, err).toBe(0);
    for (const p of PATHS) expect(out.match(new RegExp(`^\\| ${esc(p)} \\| (64|1500) B \\|`, 'gm'))?.length, p).toBe(2); // 64 and 1500 bytes
    for (const p of TCP_PATHS) expect(out).toMatch(new RegExp(`^\\| ${p} \\| (\\d+\\.\\d Gbit/s \\| ){${DATAPATHS.length}}`, 'm'));
    for (const t of ['XDP_DROP on the parent', 'cls_bpf redirect limit', 'tcx redirect limit', 'XDP redirect limit', 'tcx lookup limit', 'XDP lookup limit', 'Per-packet cost', 'Broadcast fan-out, external host', 'Agent, control plane', 'reading counters of 1000 children', 'Child kinds'])
      expect(out, t).toContain(t);
    // Each hook's limit on every path it bounds, a rate (cls_bpf's on every kernel).
    for (const p of LIMIT_PATHS)
      for (const kind of ['a bare redirect', 'one MAC-table lookup and the redirect'])
        expect(out, `${p}: ${kind}`).toMatch(new RegExp(`^\\| (cls_bpf|tcx) (redirect|lookup) limit: ${esc(p)}, ${kind} \\([^)|]*\\) \\| 64 B \\| [0-9.]+ [kM]?pps`, 'm'));
    // macvtap children: every path and size, each datapath's cell a rate.
    for (const p of TAP_PATHS) expect(out.match(new RegExp(`^\\| ${p} \\| (64|1500) B \\|( [0-9.]+ [kM]?pps[^|]* \\|){${TAP_DATAPATHS.length}}`, 'gm'))?.length, p).toBe(2);
    // CNI: every side's ADD and DEL ran, none failed (bench exits 1 on a failure too).
    for (const side of CNI_SIDES) expect(out).toMatch(new RegExp(`^\\| ${esc(side)} \\| [0-9.]+ ms \\| [0-9.]+ ms \\| [0-9.]+ ms \\| [0-9.]+ ms \\|`, 'm'));
    expect(out).not.toMatch(/\| 0 ?pps/);
  }, 300_000);
});
