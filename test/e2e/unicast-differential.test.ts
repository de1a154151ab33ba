// Differential test: the same topology built with kernel macvlan and with macvlan-bpf (isolation
// kernel), the same raw frames injected from outside, from every child and from the parent's stack,
// with and without a hairpinning switch. Unicast deliveries must match cell for cell; both must also
// match the pure model. Then strict isolation on its own: it differs exactly where the spec says.
import { afterAll, describe, expect, it } from 'vitest';
import { IN_GUEST, scaled } from '../helpers/scale.js';
import { Sandbox } from '../helpers/sandbox.js';
import { unicastDifferential } from '../helpers/differential.js';
import { diffCells, measure, unicastCases } from '../../src/lab/matrix.js';
import { MIXED_CHILDREN, type TopoSpec, type ChildSpec } from '../../src/lab/topology.js';

const sb = new Sandbox('u');
afterAll(() => sb.cleanup());

const SCENARIOS: Record<string, ChildSpec[]> = {
  private: [
    { name: 'p1', mode: 'private', mac: '02:00:00:00:01:01' },
    { name: 'p2', mode: 'private', mac: '02:00:00:00:01:02' },
    { name: 'p3', mode: 'private', mac: '02:00:00:00:01:03', up: false },
  ],
  vepa: [
    { name: 'v1', mode: 'vepa', mac: '02:00:00:00:02:01' },
    { name: 'v2', mode: 'vepa', mac: '02:00:00:00:02:02' },
    { name: 'v3', mode: 'vepa', mac: '02:00:00:00:02:03', up: false },
  ],
  bridge: [
    { name: 'b1', mode: 'bridge', mac: '02:00:00:00:04:01' },
    { name: 'b2', mode: 'bridge', mac: '02:00:00:00:04:02' },
    { name: 'b3', mode: 'bridge', mac: '02:00:00:00:04:03', up: false },
  ],
  mixed: [...MIXED_CHILDREN, { name: 'b3', mode: 'bridge', mac: '02:00:00:00:04:03', up: false }],
  passthru: [{ name: 't1', mode: 'passthru', mac: '02:00:00:00:08:01' }],
  'passthru-down': [{ name: 't1', mode: 'passthru', mac: '02:00:00:00:08:01', up: false }],
};

let totalCells = 0;

describe('unicast: macvlan-bpf (isolation kernel) delivers exactly what kernel macvlan delivers', () => {
  for (const [name, children] of Object.entries(SCENARIOS).filter(([n]) => scaled(true, ['mixed', 'passthru'].includes(n)))) {
    for (const reflector of [false, true]) {
      it(`${name}, reflector ${reflector ? 'ON' : 'OFF'}`, async () => {
        totalCells += await unicastDifferential(sb, { children, reflector, isolation: 'kernel' });
      });
    }
  }

  it('compared at least 200 (frame, endpoint) unicast cells', () => {
    console.log(`unicast differential: ${totalCells} (frame, endpoint) cells compared with kernel macvlan`);
    expect(totalCells).toBeGreaterThanOrEqual(200);
  });
});

// Our own rule (no kernel to compare with): its verdict rows run in the guests, the frames on the host.
if (!IN_GUEST) describe('strict private isolation (deliberate difference 1)', () => {
  it('drops a sibling\'s unicast to a private child through a hairpin, and nothing else changes', async () => {
    const children = SCENARIOS.mixed!;
    const k = await measure(sb, { children, reflector: true, datapath: 'kernel' }, 'k', unicastCases);
    const s = await measure(sb, { children, reflector: true, datapath: 'bpf', isolation: 'strict' }, 's', unicastCases);
    expect(diffCells(s.cells, s.model, 'bpf-strict', 'model-strict')).toEqual([]);
    const diffs = diffCells(k.cells, s.cells, 'kernel', 'strict');
    // Every difference is a private child not receiving a frame whose source is another UP child.
    const expected = [
      'wire src=p2 U:p1 | p1: kernel=1 strict=0',
      'wire src=v1 U:p1 | p1: kernel=1 strict=0',
      'tx:p2 U:p1 | p1: kernel=1 strict=0',
    ];
    for (const e of expected) expect(diffs).toContain(e);
    for (const d of diffs) expect(d).toMatch(/U:p[12] \| p[12]: kernel=1 strict=0$/);
    // The sender's own reflected frame is still delivered.
    expect(s.cells.get('tx:p1 U:p1 | p1')).toBe(1);
  });
});
