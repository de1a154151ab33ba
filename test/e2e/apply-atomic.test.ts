// apply -f is all or nothing (issue 17, finding 4): a kernel refusal at any position of a 5-child file
// undoes every change made before it (new children, mode and state changes, a port's isolation, a
// child moved to another parent) and names the file, line and field. The refusal is the kernel's own:
// an interface with the child's name already exists in the child's netns (EEXIST from RTM_NEWLINK).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkLines, withMacvlan } from '../helpers/instance.js';
import { Sandbox, run } from '../helpers/sandbox.js';
import { Macvlan } from '../../src/control/macvlan.js';
import { applyConfig, loadConfigFile } from '../../src/control/config.js';
import { ConfigError } from '../../src/control/errors.js';

const sb = new Sandbox('aa');
const CLI = path.resolve(__dirname, '../../bin/macvlan-bpf');
let host = '';
let kids = '';
let pins = '';
const file = path.join(os.tmpdir(), `${sb.prefix}-apply.yaml`);

const withM = <T>(fn: (m: Macvlan) => T): T => withMacvlan(host, pins, fn);
const links = linkLines;
/** Everything a user or a frame could see: devices, children, the MAC table (by child), ports. */
function snapshot() {
  return withM((m) => {
    const names = new Map(m.dp.listChildren().map((c) => [c.hostIfindex, c.name]));
    return {
      kids: links(kids),
      hostEnds: links(host).length,
      children: m.dp.listChildren().map((c) => `${c.name} ${m.ifname(c.parentIfindex)} ${c.mac} ${c.mode} ${c.flags} ${c.mtu}`).sort(),
      macs: m.dp.listMacs().map((e) => `${m.ifname(e.parentIfindex)} ${e.mac} ${names.get(e.entry.hostIfindex)} ${e.entry.mode}`).sort(),
      ports: m.dp.listPorts().map((p) => `${m.ifname(p.parentIfindex)} ${p.port.flags} ${p.port.nchildren} ${p.port.nflood}`).sort(),
    };
  });
}
const mac = (i: number) => `02:00:00:00:0a:${(0x10 + i).toString(16)}`;
const FIVE = ['a0', 'a1', 'a2', 'a3', 'a4'];

function writeFile(children: string[]): void {
  fs.writeFileSync(file, [
    'parents:',
    '  - name: p0',
    '    isolation: kernel',
    'children:',
    ...children,
    'prune: true',
    '',
  ].join('\n'));
}
/** Line of children[i] in the file written by writeFile (1-based). */
const lineOf = (i: number) => 5 + i;

beforeAll(() => {
  host = sb.netns('host');
  kids = sb.netns('kids');
  const ext = sb.netns('ext');
  pins = sb.pinRoot();
  run('ip', ['-n', host, 'link', 'add', 'p0', 'address', '02:0a:00:00:00:01', 'type', 'veth', 'peer', 'name', 'e0', 'netns', ext]);
  run('ip', ['-n', host, 'link', 'add', 'p1', 'address', '02:0a:00:00:00:02', 'type', 'veth', 'peer', 'name', 'e1', 'netns', ext]);
  for (const l of ['p0', 'p1']) run('ip', ['-n', host, 'link', 'set', l, 'up']);
  for (const l of ['e0', 'e1']) run('ip', ['-n', ext, 'link', 'set', l, 'up']);
});
afterAll(() => {
  fs.rmSync(file, { force: true });
  sb.cleanup();
});

describe('apply is all or nothing', () => {
  for (let k = 0; k < 5; k++) {
    it(`a kernel refusal at child ${k} of 5 undoes everything before it and names ${'file:line: children[' + k + '].name'}`, () => {
      // Before: a0 and a2 exist (bridge, UP) unless the refusal is theirs, and z9, which the file
      // does not list (prune would delete it, after the children).
      withM((m) => {
        for (const x of m.children()) m.del(x.name, x.netns);
        for (const i of [0, 2].filter((i) => i !== k)) {
          m.add({ parent: 'p0', name: FIVE[i]!, mode: 'bridge', address: mac(i), netns: kids });
          m.setUp(FIVE[i]!, true);
        }
        m.add({ parent: 'p0', name: 'z9', mode: 'vepa', address: mac(9), netns: kids });
        m.setUp('z9', true);
      });
      // The file: existing ones change mode and go down, the others are new and UP.
      writeFile(FIVE.map((n, i) => [0, 2].includes(i) && i !== k
        ? `  - { name: ${n}, parent: p0, mode: vepa, address: "${mac(i)}", netns: ${kids}, state: down }`
        : `  - { name: ${n}, parent: p0, mode: private, address: "${mac(i)}", netns: ${kids} }`));
      run('ip', ['-n', kids, 'link', 'add', FIVE[k]!, 'type', 'bridge']); // the kernel will refuse this name
      try {
        const before = snapshot();
        let err: unknown;
        withM((m) => {
          try {
            applyConfig(m, loadConfigFile(file));
          } catch (e) {
            err = e;
          }
        });
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).code).toBe('EEXIST');
        expect((err as ConfigError).message).toMatch(new RegExp(`^${file}:${lineOf(k)}: children\\[${k}\\]\\.name: .*already exists`));
        expect((err as ConfigError).message).toMatch(/were undone: nothing changed\)$/);
        expect(snapshot(), 'after the refusal, the instance is exactly as before').toEqual(before);
      } finally {
        run('ip', ['-n', kids, 'link', 'del', FIVE[k]!]);
      }
    });
  }

  it('a child moved to another parent is put back on its old one when a later child is refused', () => {
    withM((m) => {
      for (const x of m.children()) m.del(x.name, x.netns);
      m.add({ parent: 'p1', name: 'a1', mode: 'bridge', address: mac(1), netns: kids, mtu: 1400 });
      m.setUp('a1', true);
    });
    writeFile([
      `  - { name: a1, parent: p0, mode: bridge, address: "${mac(1)}", netns: ${kids} }`,
      `  - { name: a3, parent: p0, mode: bridge, address: "${mac(3)}", netns: ${kids} }`,
    ]);
    run('ip', ['-n', kids, 'link', 'add', 'a3', 'type', 'bridge']);
    try {
      const before = snapshot();
      const r = spawnSync('nsenter', [`--net=/run/netns/${host}`, CLI, 'apply', '-f', file], { encoding: 'utf8', env: { ...process.env, MACVLAN_BPF_PIN_ROOT: pins } });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toContain(`${file}:${lineOf(1)}: children[1].name:`);
      expect(r.stdout).toBe('');
      expect(snapshot()).toEqual(before);
      expect(before.children.find((c) => c.startsWith('a1 '))).toMatch(new RegExp(`^a1 p1 ${mac(1)} bridge \\d+ 1400$`));
    } finally {
      run('ip', ['-n', kids, 'link', 'del', 'a3']);
    }
  });

  it('the same file without the refusal applies whole', () => {
    withM((m) => {
      for (const x of m.children()) m.del(x.name, x.netns);
    });
    writeFile(FIVE.map((n, i) => `  - { name: ${n}, parent: p0, mode: private, address: "${mac(i)}", netns: ${kids} }`));
    withM((m) => applyConfig(m, loadConfigFile(file)));
    const s = snapshot();
    expect(s.children.map((c) => c.split(' ')[0])).toEqual(FIVE);
    expect(s.macs).toHaveLength(5);
  });
});
