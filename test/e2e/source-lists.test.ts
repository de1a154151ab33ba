// Source mode's lists and nodst through the CLI and the configuration file (#16 item 1), side by side with
// kernel macvlan: the same `link add|set … macaddr add|del|set|flush` and `nodst` to ip and to
// macvlan-bpf, and after every step what `ip -d -j link show` reports (mode, nodst, macaddr_count, the
// addresses as a set: the kernel lists them in hash order) is what we report. Refusals: the kernel's
// where it has one (macaddr on a non-source child), exit 2 and nothing changed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/sandbox.js';
import { SideBySide } from '../helpers/side-by-side.js';
import { IN_GUEST } from '../helpers/scale.js';
import { Datapath } from '../../src/datapath/datapath.js';
import { addon, inNetns } from '../../src/native.js';

const sb = new Sandbox('sl');
let sides: SideBySide;
const ours = (args: string[]) => sides.ours(args);
const kernel = (args: string[]) => sides.kernel(args);
let host = '';
let pins = '';
interface Shown { ifname: string; linkinfo: { info_data: { mode: string; nodst?: boolean; macaddr_count?: number; macaddr_data?: string[] } } }
const view = (shown: Shown[], prefix: RegExp) => Object.fromEntries(shown.map((l) => {
  const d = l.linkinfo.info_data;
  return [l.ifname.replace(prefix, ''), { mode: d.mode, nodst: d.nodst ?? false, count: d.macaddr_count, macs: [...(d.macaddr_data ?? [])].sort() }];
}));
const kernelShow = () => view(JSON.parse(kernel(['-d', '-j', 'link', 'show', 'type', 'macvlan']).out) as Shown[], /^k/);
const oursShow = () => view(JSON.parse(ours(['-j', 'link', 'show']).out) as Shown[], /^o/);

beforeAll(() => {
  sides = new SideBySide(sb);
  ({ host, pins } = sides);
});
afterAll(() => sb.cleanup());

const A = '02:0e:00:00:00:0a', B = '02:0e:00:00:00:0b', C = '02:0e:00:00:00:0c', D = '02:0e:00:00:00:0d';

// The control plane's words and lists: the guests leave them to the host (the datapath's source mode runs
// there in the verdict rows, the fuzzer and test/e2e/source-mode.test.ts).
if (!IN_GUEST) describe('source lists and nodst, side by side with kernel macvlan', () => {
  it('the same adds, sets and mode changes report the same lists and flags', () => {
    const steps: string[][] = [
      ['link', 'add', 'link', 'P0', 'X1', 'type', 'macvlan', 'mode', 'source', 'macaddr', 'add', A],
      ['link', 'add', 'link', 'P0', 'X2', 'type', 'macvlan', 'mode', 'source', 'nodst'],
      ['link', 'add', 'link', 'P0', 'X3', 'type', 'macvlan', 'mode', 'vepa', 'nodst'],
      ['link', 'set', 'X1', 'type', 'macvlan', 'macaddr', 'add', B],
      ['link', 'set', 'X1', 'type', 'macvlan', 'macaddr', 'add', B], // idempotent
      ['link', 'set', 'X2', 'type', 'macvlan', 'macaddr', 'set', A, C, D],
      ['link', 'set', 'X2', 'type', 'macvlan', 'macaddr', 'del', C],
      ['link', 'set', 'X2', 'type', 'macvlan', 'macaddr', 'del', C], // not listed: no error
      ['link', 'set', 'X1', 'type', 'macvlan', 'macaddr', 'set'], // an empty set
      ['link', 'set', 'X1', 'type', 'macvlan', 'macaddr', 'add', D],
      ['link', 'set', 'X2', 'type', 'macvlan', 'mode', 'bridge'], // leaving source mode flushes the list
      ['link', 'set', 'X2', 'type', 'macvlan', 'mode', 'source'],
      ['link', 'set', 'X1', 'type', 'macvlan', 'nodst'],
      ['link', 'set', 'X1', 'up'],
      ['link', 'set', 'X1', 'type', 'macvlan', 'macaddr', 'flush'],
      ['link', 'set', 'X1', 'type', 'macvlan', 'macaddr', 'set', C, A],
    ];
    for (const s of steps) {
      const k = kernel(s.map((w) => w.replace(/^P0$/, 'kp0').replace(/^X/, 'kx')));
      const o = ours(s.map((w) => w.replace(/^P0$/, 'op0').replace(/^X/, 'ox')));
      expect([k.code, o.code], `${s.join(' ')}: ${k.err} ${o.err}`).toEqual([0, 0]);
      expect(oursShow(), `after ${s.join(' ')}`).toEqual(kernelShow());
    }
    expect(oursShow().x1).toEqual({ mode: 'source', nodst: true, count: 2, macs: [A, C] });
    expect(ours(['-d', 'link', 'show', 'ox1']).out).toMatch(/macvlan mode source nodst bcqueuelen 1000 .* remotes \(2\) 02:0e:00:00:00:0a 02:0e:00:00:00:0c /);
  });

  it('refusals: macaddr on a non-source child (the kernel\'s EINVAL), a group or zero address, a bad operation; nothing changes', () => {
    const before = ours(['-j', 'link', 'show']).out;
    expect(kernel(['link', 'set', 'kx3', 'type', 'macvlan', 'macaddr', 'add', A]).code).not.toBe(0);
    const vepa = ours(['link', 'set', 'ox3', 'type', 'macvlan', 'macaddr', 'add', A]);
    expect(vepa.code).toBe(2);
    expect(vepa.err).toMatch(/Invalid argument: macaddr lists belong to source-mode children, and ox3 is vepa/);
    const onAdd = ours(['link', 'add', 'link', 'op0', 'ox9', 'type', 'macvlan', 'mode', 'bridge', 'macaddr', 'add', A]);
    expect(onAdd.code).toBe(2);
    expect(onAdd.err).toMatch(/macaddr lists belong to source-mode children, and ox9 would be bridge/);
    for (const bad of ['01:00:5e:00:00:01', '00:00:00:00:00:00']) {
      expect(kernel(['link', 'set', 'kx1', 'type', 'macvlan', 'macaddr', 'add', bad]).code).not.toBe(0);
      const o = ours(['link', 'set', 'ox1', 'type', 'macvlan', 'macaddr', 'add', bad]);
      expect(o.code).toBe(2);
      expect(o.err).toMatch(/Cannot assign requested address/);
    }
    const op = ours(['link', 'set', 'ox1', 'type', 'macvlan', 'macaddr', 'replace', A]);
    expect(op.code).toBe(1);
    expect(op.err).toMatch(/"replace" is not a macaddr operation: use macaddr add MAC, del MAC, set \[MAC...\] or flush/);
    expect(ours(['-j', 'link', 'show']).out).toBe(before);
  });

  it('at most 16 source children per address: the 17th is refused clearly and nothing changes', () => {
    const names = Array.from({ length: 16 }, (_, i) => `oq${i}`);
    for (const n of names) expect(ours(['link', 'add', 'link', 'op0', n, 'type', 'macvlan', 'mode', 'source', 'macaddr', 'add', B]).code).toBe(0);
    const before = ours(['-j', 'link', 'show']).out;
    const r = ours(['link', 'set', 'ox2', 'type', 'macvlan', 'macaddr', 'set', D, B]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/No space left: 02:0e:00:00:00:0b is already listed by 16 source-mode children of op0/);
    expect(ours(['-j', 'link', 'show']).out, 'not even D was added').toBe(before);
    for (const n of names) expect(ours(['link', 'del', n]).code).toBe(0);
    expect(ours(['link', 'set', 'ox2', 'type', 'macvlan', 'macaddr', 'set', D, B]).code).toBe(0);
  });

  it('the configuration file: mode source, macaddr and nodst applied, kept, changed and undone', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${path.basename(pins)}-`));
    try {
      const file = path.join(dir, 'c.yaml');
      const write = (body: string) => fs.writeFileSync(file, `children:\n${body}`);
      write(`  - { name: oy1, parent: op0, mode: source, nodst: on, macaddr: ["${A}", "${B}"] }\n  - { name: oy2, parent: op0, mode: bridge }\n`);
      let r = ours(['apply', '-f', file]);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/added oy1 on op0, mode source, nodst, 2 source address\(es\)/);
      expect(oursShow().y1).toEqual({ mode: 'source', nodst: true, count: 2, macs: [A, B] });
      expect(ours(['apply', '-f', file]).out.trim()).toBe('no changes');
      write(`  - { name: oy1, parent: op0, mode: source, nodst: off, macaddr: ["${C}"] }\n  - { name: oy2, parent: op0, mode: source, macaddr: ["${A}"] }\n`);
      r = ours(['apply', '-f', file]);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/oy1: macaddr 02:0e:00:00:00:0c/);
      expect(r.out).toMatch(/oy1: nodst off/);
      expect(r.out).toMatch(/oy2: mode source/);
      expect(oursShow()).toMatchObject({ y1: { nodst: false, macs: [C] }, y2: { mode: 'source', macs: [A] } });
      // A refusal later in the file undoes the list changes made before it.
      const before = ours(['-j', 'link', 'show']).out;
      write(`  - { name: oy1, parent: op0, mode: source, macaddr: ["${D}"] }\n  - { name: oy2, parent: op0, mode: private, mtu: 9999 }\n`);
      r = ours(['apply', '-f', file]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/c\.yaml:3: children\[1\]\.mtu: .*the 2 change\(s\) made before it were undone/);
      expect(ours(['-j', 'link', 'show']).out, 'the lists and modes are back').toBe(before);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reconcile drops list entries naming a child that is gone (a command that died between steps)', () => {
    const stale = 99_999;
    const entries = () => inNetns(`/run/netns/${host}`, () => {
      const dp = Datapath.open(pins);
      try {
        return dp.sourceEntries().filter((e) => e.hosts.includes(stale)).length;
      } finally {
        dp.close();
      }
    });
    inNetns(`/run/netns/${host}`, () => {
      const dp = Datapath.open(pins);
      try {
        const p0 = addon().ifNameToIndex('op0');
        dp.setSourceHosts(p0, A, [...dp.sourceHosts(p0, A), stale]);
        dp.setSourceHosts(p0, '02:0e:00:00:00:ee', [stale]);
      } finally {
        dp.close();
      }
    });
    expect(entries()).toBe(2);
    const before = oursShow();
    expect(ours(['link', 'show']).code).toBe(0); // every command reconciles first
    expect(entries()).toBe(0);
    expect(oursShow(), 'the live lists are untouched').toEqual(before);
  });

  it('the datapath counts the list entries (while none, frames skip the source lookup), and reconcile puts a wrong count right', () => {
    const counts = () => inNetns(`/run/netns/${host}`, () => {
      const dp = Datapath.open(pins);
      try {
        return { count: dp.sourceCount(), entries: dp.sourceEntries().length };
      } finally {
        dp.close();
      }
    });
    const now = counts();
    expect(now.entries).toBeGreaterThan(0);
    expect(now.count).toBe(now.entries);
    // A count left at 0 (a build without it, or a lost write) would hide every list from the datapath.
    const m = new (addon().BpfMap)({ pin: path.join(pins, 'mvb_nsources') });
    try {
      m.update(Buffer.alloc(4), Buffer.alloc(4));
    } finally {
      m.close();
    }
    expect(counts().count).toBe(0);
    expect(ours(['link', 'show']).code).toBe(0); // reconciles
    expect(counts()).toEqual(now);
  });
});
