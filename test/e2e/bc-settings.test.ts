// bcqueuelen and bc_cutoff (#16 item 4): kernel macvlan's broadcast queue settings, which macvlan-bpf
// accepts and reports but has no queue for (flooding is synchronous: deliberate difference 2). The same
// commands go to kernel macvlan (ip) and to macvlan-bpf; what ip -d -j reports, we report, and bad
// values get iproute2's words, exit 1, and change nothing.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/sandbox.js';
import { SideBySide } from '../helpers/side-by-side.js';

const sb = new Sandbox('bq');
let sides: SideBySide;
const ours = (args: string[]) => sides.ours(args);
const kernel = (args: string[]) => sides.kernel(args);
let pins = '';
interface Shown { ifname: string; linkinfo: { info_data: { bcqueuelen: number; usedbcqueuelen: number; bc_cutoff?: number } } }
const kernelShow = (): Record<string, [number, number]> => Object.fromEntries(
  (JSON.parse(kernel(['-d', '-j', 'link', 'show', 'type', 'macvlan']).out) as Shown[]).map((l) => [l.ifname.replace(/^k/, ''), [l.linkinfo.info_data.bcqueuelen, l.linkinfo.info_data.usedbcqueuelen]]));
const oursShow = (): Record<string, [number, number]> => Object.fromEntries(
  (JSON.parse(ours(['-j', 'link', 'show']).out) as Shown[]).map((l) => [l.ifname.replace(/^o/, ''), [l.linkinfo.info_data.bcqueuelen, l.linkinfo.info_data.usedbcqueuelen]]));

beforeAll(() => {
  sides = new SideBySide(sb);
  ({ pins } = sides);
});
afterAll(() => sb.cleanup());

describe('bcqueuelen and bc_cutoff, side by side with kernel macvlan', () => {
  it('the same adds and sets report the same bcqueuelen and usedbcqueuelen (the largest request)', () => {
    const steps: string[][] = [
      ['link', 'add', 'link', 'P0', 'X1', 'type', 'macvlan', 'mode', 'bridge'],
      ['link', 'add', 'link', 'P0', 'X2', 'type', 'macvlan', 'mode', 'vepa', 'bcqueuelen', '50'],
      ['link', 'add', 'link', 'P0', 'X3', 'type', 'macvlan', 'mode', 'bridge', 'bcqueuelen', '4000'],
      ['link', 'set', 'X3', 'type', 'macvlan', 'bcqueuelen', '7'],
      ['link', 'set', 'X1', 'type', 'macvlan', 'bcqueuelen', '0'],
      ['link', 'del', 'X2'],
    ];
    for (const s of steps) {
      const k = kernel(s.map((w) => w.replace(/^P0$/, 'kp0').replace(/^X/, 'kx')));
      const o = ours(s.map((w) => w.replace(/^P0$/, 'op0').replace(/^X/, 'ox')));
      expect([k.code, o.code], `${s.join(' ')}: ${k.err} ${o.err}`).toEqual([0, 0]);
      expect(oursShow(), `after ${s.join(' ')}`).toEqual(kernelShow());
    }
    expect(oursShow(), 'used: the largest request left (X2, deleted, asked for 50)').toEqual({ x1: [0, 7], x3: [7, 7] });
  });

  it('bc_cutoff is the port\'s, set through any child, reported on every child (default 1)', () => {
    const cutoffs = () => (JSON.parse(ours(['-j', 'link', 'show']).out) as Shown[]).map((l) => l.linkinfo.info_data.bc_cutoff);
    expect(cutoffs()).toEqual([1, 1]);
    expect(ours(['link', 'set', 'ox1', 'type', 'macvlan', 'bc_cutoff', '-1']).code).toBe(0);
    expect(cutoffs()).toEqual([-1, -1]);
    expect(ours(['-d', 'link', 'show', 'ox3']).out).toMatch(/bcqueuelen 7 usedbcqueuelen 7 bc_cutoff -1 \(no broadcast queue: flooding is synchronous/);
  });

  it('a bad value: iproute2\'s words, exit 1, nothing changed', () => {
    const before = ours(['-j', 'link', 'show']).out;
    for (const v of ['-1', '4294967296', 'abc']) {
      const k = kernel(['link', 'add', 'link', 'kp0', 'kbad', 'type', 'macvlan', 'bcqueuelen', v]);
      const o = ours(['link', 'add', 'link', 'op0', 'obad', 'type', 'macvlan', 'bcqueuelen', v]);
      expect(k.code).not.toBe(0);
      expect(o.code).toBe(1);
      const words = `argument of "bcqueuelen" must be a positive integer [0-4294967295], not "${v}"`;
      expect(k.err).toContain(words);
      expect(o.err).toContain(words);
    }
    expect(ours(['link', 'set', 'ox1', 'bc_cutoff', '2147483648']).err).toContain('argument of "bc_cutoff" must be an integer [-2147483648-2147483647], not "2147483648"');
    expect(ours(['-j', 'link', 'show']).out).toBe(before);
  });

  it('the configuration file: children[].bcqueuelen and parents[].bc_cutoff, applied and kept', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${path.basename(pins)}-`));
    try {
      const file = path.join(dir, 'c.yaml');
      fs.writeFileSync(file, 'parents:\n  - { name: op0, bc_cutoff: 3 }\nchildren:\n  - { name: ox1, parent: op0, mode: bridge, bcqueuelen: 20 }\n  - { name: ox3, parent: op0, mode: bridge }\n');
      const r = ours(['apply', '-f', file]);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/ox1: bcqueuelen 20/);
      expect(r.out).toMatch(/port op0: bc_cutoff 3/);
      expect(oursShow()).toEqual({ x1: [20, 20], x3: [7, 20] });
      expect(ours(['apply', '-f', file]).out.trim()).toBe('no changes');
      fs.writeFileSync(file, 'parents:\n  - { name: op0, bc_cutoff: 3 }\n');
      const bad = ours(['apply', '-f', file]);
      expect(bad.code).toBe(2);
      expect(bad.err).toMatch(/c\.yaml:2: parents\[0\]\.bc_cutoff: bc_cutoff belongs to the port, which exists only with children/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('deleting the last child forgets the port\'s bc_cutoff, as the kernel\'s port goes', () => {
    expect(ours(['link', 'del', 'ox1']).code).toBe(0);
    expect(ours(['link', 'del', 'ox3']).code).toBe(0);
    expect(ours(['link', 'add', 'link', 'op0', 'ox4', 'type', 'macvlan']).code).toBe(0);
    expect((JSON.parse(ours(['-j', 'link', 'show']).out) as Shown[])[0]!.linkinfo.info_data).toMatchObject({ bcqueuelen: 1000, usedbcqueuelen: 1000, bc_cutoff: 1 });
  });
});
