// The two differential checks, one place for every test that runs them (the unicast and multicast
// differential tests, the parents of every kind): build the topology with kernel macvlan and with
// macvlan-bpf (isolation kernel), inject the same frames, and compare every cell with each other and
// with the model. Returns the cells compared (and for multicast, the deliberate differences).
import { expect } from 'vitest';
import { diffCells, groupCases, measure, unicastCases } from '../../src/lab/matrix.js';
import type { TopoSpec } from '../../src/lab/topology.js';
import type { Sandbox } from '../../src/lab/sandbox.js';
import { kernelAtLeast } from './kernel.js';

type Base = Omit<TopoSpec, 'datapath'>;

/** Unicast deliveries must match cell for cell, and both the model. */
export async function unicastDifferential(sb: Sandbox, base: Base): Promise<number> {
  const k = await measure(sb, { ...base, datapath: 'kernel' }, 'k', unicastCases);
  const b = await measure(sb, { ...base, datapath: 'bpf' }, 'b', unicastCases);
  expect(diffCells(k.cells, k.model, 'kernel', 'model'), 'the model predicts the kernel').toEqual([]);
  expect(diffCells(k.cells, b.cells, 'kernel', 'bpf'), 'macvlan-bpf matches the kernel').toEqual([]);
  // Every scenario must see real deliveries, or the comparison proves nothing.
  expect([...b.cells.values()].filter((v) => v > 0).length).toBeGreaterThan(0);
  return k.cells.size;
}

/**
 * Broadcast and multicast: the only allowed differences are deliberate difference 3 (every eligible
 * child gets every group), each asserted through the model with and without it; kernel mc_hash
 * collisions and an old kernel's PAUSE flood are accepted cell by cell, as exactly that.
 */
export async function multicastDifferential(sb: Sandbox, base: Base): Promise<{ cells: number; deliberate: number }> {
  const k = await measure(sb, { ...base, datapath: 'kernel' }, 'k', groupCases);
  const b = await measure(sb, { ...base, datapath: 'bpf' }, 'b', groupCases);
  // Kernel macvlan filters groups by a 256-bit hash salted with the device's kernel address
  // (mc_hash): an unjoined group can collide with one the child did join, and that child then gets
  // it from every source. The model cannot predict that; it is accepted per (group, child) only
  // when it is exactly that: every eligible cell of the group to the child delivered.
  const groupOf = (key: string) => key.split(' | ')[0]!.split(' ').pop()!;
  const epOf = (key: string) => key.split(' | ')[1]!;
  const collisions = new Set<string>();
  for (const [key, v] of k.cells)
    if (/^M[Jx]$/.test(groupOf(key)) && v === 1 && k.model.get(key) === 0) collisions.add(`${groupOf(key)} | ${epOf(key)}`);
  // Kernels before 6.12 (Debian 12's 6.1, seen in the kernel matrix) flood a PAUSE frame that a
  // bridge child sends to its UP bridge siblings; 6.12 and 6.18 do not, and neither does
  // macvlan-bpf. There, exactly those cells are accepted as the old kernel's.
  const bridgeUp = base.children.filter((c) => c.mode === 'bridge' && c.up !== false).map((c) => c.name);
  const oldPause = kernelAtLeast(6, 12) ? new Set<string>()
    : new Set(bridgeUp.flatMap((s) => bridgeUp.filter((r) => r !== s).map((r) => `tx:${s} PAUSE | ${r}`)));
  for (const key of oldPause) expect(k.cells.get(key), `${key}: the old kernel floods a bridge child's PAUSE`).toBe(1);
  const collided = (key: string) => collisions.has(`${groupOf(key)} | ${epOf(key)}`) || oldPause.has(key);
  for (const key of [...k.cells.keys()].filter((key) => collisions.has(`${groupOf(key)} | ${epOf(key)}`)))
    expect(k.cells.get(key), `hash collision ${groupOf(key)} at ${epOf(key)}: every eligible source delivers`).toBe(b.model.get(key));
  if (collisions.size) console.log(`kernel mc_hash collisions accepted: ${[...collisions].join(', ')}`);
  const clean = (m: Map<string, number>) => new Map([...m].filter(([key]) => !collided(key)));
  expect(diffCells(clean(k.cells), clean(k.model), 'kernel', 'model'), 'the model predicts the kernel').toEqual([]);
  expect(diffCells(b.cells, b.model, 'bpf', 'model+allmulti'), 'macvlan-bpf does what the model with difference 3 says').toEqual([]);
  // Every kernel-vs-bpf difference is a child getting a group it did not join (difference 3).
  const diffs = diffCells(clean(k.cells), clean(b.cells), 'kernel', 'bpf');
  // (At the parent's stack too, where the parent filters groups in its NIC: ours is ALLMULTI.)
  for (const d of diffs) expect(d, 'only unjoined groups may differ').toMatch(/ (MJ|Mx) \| ([a-z]\d|stack): kernel=0 bpf=1$/);
  expect(diffs, 'the model predicts exactly these differences').toEqual(diffCells(clean(k.model), clean(b.model), 'kernel', 'bpf'));
  expect([...b.cells.values()].filter((v) => v > 0).length).toBeGreaterThan(0);
  return { cells: k.cells.size, deliberate: diffs.length };
}
