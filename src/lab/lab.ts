// `macvlan-bpf lab`: a whole topology in namespaces it creates (an external host, a parent, children in
// every mode, a switch that can hairpin), a few frames of each kind, and a who-received-what table per
// mode, with kernel macvlan built the same way beside it as the referee. Everything is removed on exit,
// on error and on Ctrl-C.
import { randomBytes } from 'node:crypto';
import { Sandbox } from './sandbox.js';
import { EXT_MAC, MIXED_CHILDREN, PARENT_MAC, UNKNOWN_MAC, Topology, type ChildSpec, type TopoSpec } from './topology.js';
import { runCases, modelCells, type Case, type Cells } from './matrix.js';
import type { Mac } from '../mac.js';

const MIXED: ChildSpec[] = [...MIXED_CHILDREN];
const PASSTHRU: ChildSpec[] = [{ name: 't1', mode: 'passthru', mac: PARENT_MAC }];
const MAC = Object.fromEntries(MIXED.map((c) => [c.name, c.mac])) as Record<string, Mac>;

function labCases(spec: TopoSpec): Case[] {
  let id = 1;
  const c = (label: string, inj: Case['inj'], src: Mac, dst: Mac): Case => ({ id, label, inj, frame: { src, dst, id: id++ } });
  if (spec.children[0]?.mode === 'passthru')
    return [
      c('outside → t1 (parent MAC)', { from: 'wire' }, EXT_MAC, PARENT_MAC),
      c('outside → unknown MAC', { from: 'wire' }, EXT_MAC, UNKNOWN_MAC),
      c('t1 → outside', { from: 'child', name: 't1' }, PARENT_MAC, EXT_MAC),
      c('parent stack → unknown', { from: 'stack' }, PARENT_MAC, UNKNOWN_MAC),
      c('outside → broadcast', { from: 'wire' }, EXT_MAC, 'ff:ff:ff:ff:ff:ff'),
      c('parent stack → broadcast', { from: 'stack' }, PARENT_MAC, 'ff:ff:ff:ff:ff:ff'),
    ];
  return [
    c('outside → p1 (private)', { from: 'wire' }, EXT_MAC, MAC.p1!),
    c('outside → v1 (vepa)', { from: 'wire' }, EXT_MAC, MAC.v1!),
    c('outside → b1 (bridge)', { from: 'wire' }, EXT_MAC, MAC.b1!),
    c('outside → parent MAC', { from: 'wire' }, EXT_MAC, PARENT_MAC),
    c('outside → unknown MAC', { from: 'wire' }, EXT_MAC, UNKNOWN_MAC),
    c('hairpinned p2 → p1 (src spoofed)', { from: 'wire' }, MAC.p2!, MAC.p1!),
    c('p1 → p2 (private sibling)', { from: 'child', name: 'p1' }, MAC.p1!, MAC.p2!),
    c('v1 → v2 (vepa sibling)', { from: 'child', name: 'v1' }, MAC.v1!, MAC.v2!),
    c('b1 → b2 (bridge sibling)', { from: 'child', name: 'b1' }, MAC.b1!, MAC.b2!),
    c('b1 → v1 (bridge to vepa)', { from: 'child', name: 'b1' }, MAC.b1!, MAC.v1!),
    c('b1 → parent MAC', { from: 'child', name: 'b1' }, MAC.b1!, PARENT_MAC),
    c('v2 → outside', { from: 'child', name: 'v2' }, MAC.v2!, EXT_MAC),
    c('parent stack → b1', { from: 'stack' }, PARENT_MAC, MAC.b1!),
    c('outside → broadcast', { from: 'wire' }, EXT_MAC, 'ff:ff:ff:ff:ff:ff'),
    c('outside → IPv4 multicast 224.0.0.1', { from: 'wire' }, EXT_MAC, '01:00:5e:00:00:01'),
    c('hairpinned v1 broadcast', { from: 'wire' }, MAC.v1!, 'ff:ff:ff:ff:ff:ff'),
    c('hairpinned b1 broadcast', { from: 'wire' }, MAC.b1!, 'ff:ff:ff:ff:ff:ff'),
    c('hairpinned p1 broadcast (echo)', { from: 'wire' }, MAC.p1!, 'ff:ff:ff:ff:ff:ff'),
    c('b1 broadcast', { from: 'child', name: 'b1' }, MAC.b1!, 'ff:ff:ff:ff:ff:ff'),
    c('v1 broadcast', { from: 'child', name: 'v1' }, MAC.v1!, 'ff:ff:ff:ff:ff:ff'),
  ];
}

function table(title: string, cases: Case[], endpoints: string[], bpf: Cells, kernel: Cells, model: Cells): string[] {
  const w = Math.max(...cases.map((c) => c.label.length), 10);
  const cols = endpoints.map((e) => (e === 'wire' ? 'wire' : e === 'stack' ? 'P.stack' : e));
  const lines = [title, `  ${'frame'.padEnd(w)}  ${cols.map((c) => c.padStart(8)).join('')}   kernel  model`];
  for (const c of cases) {
    const row = endpoints.map((e) => {
      const n = bpf.get(`${c.label} | ${e}`) ?? 0;
      return (n === 0 ? "·" : n === 1 ? "✓" : `✓${n}`).padStart(8);
    });
    const same = (o: Cells) => endpoints.every((e) => (o.get(`${c.label} | ${e}`) ?? 0) === (bpf.get(`${c.label} | ${e}`) ?? 0));
    lines.push(`  ${c.label.padEnd(w)}  ${row.join('')}   ${same(kernel) ? '  same' : 'DIFFER'}  ${same(model) ? ' same' : 'DIFFER'}`);
  }
  return lines;
}

export async function runLab(opts: { keep: boolean; json: boolean }): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error('Error: the lab builds network namespaces and loads BPF programs: run it as root');
    return 2;
  }
  const sb = new Sandbox(`mvblab${randomBytes(2).toString('hex')}`);
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    console.error('\ninterrupted: removing the lab');
    sb.cleanup();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const results: unknown[] = [];
  try {
    const out: string[] = [];
    out.push(`macvlan-bpf lab (namespaces ${sb.prefix}-*): ✓ = received, · = not; "kernel" = kernel macvlan on the same topology`);
    const scenarios: [string, ChildSpec[], 'strict' | 'kernel'][] = [
      ['children in every mode (private p1 p2, vepa v1 v2, bridge b1 b2), isolation strict', MIXED, 'strict'],
      ['the same, isolation kernel', MIXED, 'kernel'],
      ['passthru (t1)', PASSTHRU, 'strict'],
    ];
    let statsShown = '';
    for (const [title, children, isolation] of scenarios) {
      for (const reflector of [false, true]) {
        if (interrupted) break;
        const spec = { children, reflector, isolation };
        const cases = labCases({ ...spec, datapath: 'bpf' });
        const measured: Record<string, { cells: Cells; model: Cells; endpoints: string[] }> = {};
        for (const datapath of ['bpf', 'kernel'] as const) {
          const t = Topology.build(sb, { ...spec, datapath }, datapath[0]!);
          try {
            measured[datapath] = { cells: await runCases(t, cases), model: modelCells(t, cases), endpoints: t.endpoints() };
            // The counters of the first run, as `macvlan-bpf stats` prints them (the agent serves the same on
            // its dashboard and /metrics).
            if (datapath === 'bpf' && !statsShown) {
              statsShown = `\nCounters after the frames of the first table (macvlan-bpf stats):\n${t.cli(['stats']).trimEnd()}`;
            }
          } finally {
            t.close();
          }
        }
        const b = measured.bpf!;
        const heading = `\n${title}; external switch ${reflector ? 'hairpins (reflective relay)' : 'does not hairpin'}`;
        out.push(...table(heading, cases, b.endpoints, b.cells, measured.kernel!.cells, b.model));
        results.push({ title, reflector, isolation, cells: Object.fromEntries(b.cells), kernel: Object.fromEntries(measured.kernel!.cells) });
        if (statsShown && !out.includes(statsShown)) out.push(statsShown);
      }
    }
    out.push('\nDIFFER rows are the deliberate differences: in strict isolation a private child takes no unicast from a');
    out.push('sibling, even through a hairpinning switch; and every eligible child gets every multicast group, joined or not.');
    if (opts.json) console.log(JSON.stringify(results));
    else console.log(out.join('\n'));
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (!opts.keep) sb.cleanup();
    else console.error(`--keep: namespaces ${sb.prefix}-* left in place`);
  }
}
