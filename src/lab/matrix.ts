// Builds the frame cases of a differential run and compares delivery sets cell by cell.
import { buildFrame, ETH_P_PAUSE, ETH_P_TEST, type FrameSpec } from '../frames.js';
import { deliveries, type Endpoint, type Injection, type ModelPort } from '../model.js';
import type { Mac } from '../mac.js';
import { EXT_MAC, PARENT_MAC, UNKNOWN_MAC, Topology, type TopoSpec } from './topology.js';
import type { Sandbox } from './sandbox.js';

export interface Case {
  id: number;
  label: string;
  inj: Injection;
  frame: FrameSpec;
}

/** Remote sources that source-mode children list, besides the external host's and the children's MACs. */
function listedSources(spec: TopoSpec): [string, Mac][] {
  const known = new Set<Mac>([EXT_MAC, ...spec.children.map((c) => c.mac)]);
  return [...new Set(spec.children.flatMap((c) => c.sources ?? []))].filter((m) => !known.has(m)).map((m) => [m, m]);
}

/** Unicast cases: from the wire with every source (external, or spoofed as each child: a hairpinned
 * frame), from each UP child, and from the parent's stack; to every child, the parent, an unknown MAC. */
export function unicastCases(spec: TopoSpec): Case[] {
  const macOf = (c: TopoSpec['children'][number]) => (c.mode === 'passthru' ? PARENT_MAC : c.mac);
  const dsts: [string, Mac][] = [...spec.children.map((c) => [c.name, macOf(c)] as [string, Mac]), ['parent', PARENT_MAC], ['unknown', UNKNOWN_MAC]];
  const cases: Case[] = [];
  let id = 1;
  const add = (label: string, inj: Injection, frame: FrameSpec) => cases.push({ id, label, inj, frame: { ...frame, id: id++ } });
  const srcs: [string, Mac][] = [['ext', EXT_MAC], ...spec.children.filter((c) => c.mode !== 'passthru').map((c) => [c.name, c.mac] as [string, Mac]), ...listedSources(spec)];
  for (const [sname, src] of srcs)
    for (const [dname, dst] of dsts) add(`wire src=${sname} U:${dname}`, { from: 'wire' }, { src, dst });
  // Odd frames from the wire: runts, VLAN and QinQ tags are dispatched on their MACs alike.
  for (const [dname, dst] of dsts) {
    add(`wire runt U:${dname}`, { from: 'wire' }, { src: EXT_MAC, dst, length: 24 });
    add(`wire vlan U:${dname}`, { from: 'wire' }, { src: EXT_MAC, dst, vlans: [{ tpid: 0x8100, vid: 7 }] });
    add(`wire qinq U:${dname}`, { from: 'wire' }, { src: EXT_MAC, dst, vlans: [{ tpid: 0x88a8, vid: 3 }, { tpid: 0x8100, vid: 7 }] });
  }
  for (const c of spec.children.filter((c) => c.up !== false))
    for (const [dname, dst] of [...dsts, ['ext', EXT_MAC] as [string, Mac]])
      add(`tx:${c.name} U:${dname}`, { from: 'child', name: c.name }, { src: macOf(c), dst });
  for (const [dname, dst] of dsts) add(`stack U:${dname}`, { from: 'stack' }, { src: PARENT_MAC, dst });
  return cases;
}

export const GROUP_DSTS: [string, Mac, number][] = [
  ['B', 'ff:ff:ff:ff:ff:ff', ETH_P_TEST],
  ['M4', '01:00:5e:00:00:01', ETH_P_TEST],
  ['M6', '33:33:00:00:00:01', ETH_P_TEST],
  ['MJ', '01:00:5e:01:02:03', ETH_P_TEST], // joined by some children
  ['Mx', '01:00:5e:11:22:33', ETH_P_TEST], // joined by nobody
  ['PAUSE', 'ff:ff:ff:ff:ff:ff', ETH_P_PAUSE],
];
export const JOINED_GROUP: Mac = '01:00:5e:01:02:03';

/** Broadcast and multicast cases, from the same injection points as the unicast ones. */
export function groupCases(spec: TopoSpec): Case[] {
  const macOf = (c: TopoSpec['children'][number]) => (c.mode === 'passthru' ? PARENT_MAC : c.mac);
  const cases: Case[] = [];
  let id = 1;
  const add = (label: string, inj: Injection, frame: FrameSpec) => cases.push({ id, label, inj, frame: { ...frame, id: id++ } });
  const srcs: [string, Mac][] = [['ext', EXT_MAC], ...spec.children.map((c) => [c.name, macOf(c)] as [string, Mac]), ...listedSources(spec)];
  for (const [sname, src] of srcs)
    for (const [g, dst, ethertype] of GROUP_DSTS) add(`wire src=${sname} ${g}`, { from: 'wire' }, { src, dst, ethertype });
  for (const c of spec.children.filter((c) => c.up !== false))
    for (const [g, dst, ethertype] of GROUP_DSTS) add(`tx:${c.name} ${g}`, { from: 'child', name: c.name }, { src: macOf(c), dst, ethertype });
  for (const [g, dst, ethertype] of GROUP_DSTS) add(`stack ${g}`, { from: 'stack' }, { src: PARENT_MAC, dst, ethertype });
  return cases;
}

export type Cells = Map<string, number>; // "caseLabel | endpoint" -> copies

export async function runCases(t: Topology, cases: Case[]): Promise<Cells> {
  for (const c of cases) t.send(c.inj, buildFrame(c.frame));
  const got = await t.collect();
  const cells: Cells = new Map();
  for (const c of cases) for (const ep of t.endpoints()) cells.set(`${c.label} | ${ep}`, got.get(c.id)?.get(ep) ?? 0);
  return cells;
}

/** The model's cells for a topology; `adjust` changes the model first (e.g. a child joins a group). */
export function modelCells(t: Topology, cases: Case[], adjust: (m: ModelPort) => ModelPort = (m) => m, endpoints = t.endpoints()): Cells {
  const cells: Cells = new Map();
  const m = adjust(t.model());
  for (const c of cases) {
    // The switch keeps frames addressed to itself (the external host's MAC): it reflects the rest.
    const reflector = t.spec.reflector ? (f: { dst: Mac }) => f.dst !== EXT_MAC : false;
    const d: Endpoint[] = deliveries(m, c.inj, { src: c.frame.src, dst: c.frame.dst, ethertype: c.frame.ethertype ?? ETH_P_TEST, vlanTpid: c.frame.vlans?.[0]?.tpid }, reflector);
    for (const ep of endpoints) cells.set(`${c.label} | ${ep}`, d.filter((x) => x === ep).length);
  }
  return cells;
}

/** Lines "cell: a=X b=Y" for every cell where the two differ. */
export function diffCells(a: Cells, b: Cells, an: string, bn: string): string[] {
  const out: string[] = [];
  for (const [k, v] of a) if ((b.get(k) ?? 0) !== v) out.push(`${k}: ${an}=${v} ${bn}=${b.get(k) ?? 0}`);
  return out;
}

export async function measure(sb: Sandbox, spec: TopoSpec, tag: string, cases: (s: TopoSpec) => Case[]) {
  const t = Topology.build(sb, spec, tag);
  try {
    const cs = cases(spec);
    const cells = await runCases(t, cs);
    // The model with changes, for the differences it cannot predict (the kernel's hash collisions).
    const endpoints = t.endpoints(); // the topology is closed by the time this is asked
    const modelWith = (adjust: (m: ModelPort) => ModelPort) => modelCells(t, cs, adjust, endpoints);
    return { cells, model: modelCells(t, cs), modelWith };
  } finally {
    t.close();
  }
}
