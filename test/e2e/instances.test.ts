// Instances per network namespace (issue 17, finding 2): with no MACVLAN_BPF_PIN_ROOT each netns has
// its own instance, so the tool works in any netns as ip does; an instance whose netns was deleted is
// recognised (its netns's cookie is never reused) and removed, instead of blocking every command.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox, run } from '../helpers/sandbox.js';
import { waitFor } from '../../src/lab/topology.js';
import { addon } from '../../src/native.js';
import { NETNS_PIN_BASE } from '../../src/datapath/datapath.js';
import { Datapath } from '../../src/datapath/datapath.js';

const sb = new Sandbox('in');
const CLI = path.resolve(__dirname, '../../bin/macvlan-bpf');
const baseExisted = fs.existsSync(NETNS_PIN_BASE);
const roots: string[] = [];
const explicit = sb.pinRoot('explicit');

/** The CLI in a netns; env: MACVLAN_BPF_PIN_ROOT or none (the netns's own instance). */
function cli(ns: string, args: string[], pinRoot?: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, MACVLAN_BPF_NO_AGENT: '1' };
  delete env.MACVLAN_BPF_PIN_ROOT;
  if (pinRoot) env.MACVLAN_BPF_PIN_ROOT = pinRoot;
  const r = spawnSync('nsenter', [`--net=/run/netns/${ns}`, CLI, ...args], { encoding: 'utf8', env });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
/** A parent p0 in a new netns, and a netns for its children. */
function hostWithParent(name: string): { host: string; kids: string } {
  const host = sb.netns(name);
  const kids = sb.netns(`${name}k`);
  run('ip', ['-n', host, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'e0']);
  run('ip', ['-n', host, 'link', 'add', 'p1', 'type', 'veth', 'peer', 'name', 'e1']); // for the explicit instance
  run('ip', ['-n', host, 'link', 'set', 'p0', 'up']);
  return { host, kids };
}
const ownRoot = (ns: string) => {
  const r = path.join(NETNS_PIN_BASE, String(addon().netnsCookie(`/run/netns/${ns}`)));
  roots.push(r);
  return r;
};

let a: { host: string; kids: string };
let b: { host: string; kids: string };
beforeAll(() => {
  a = hostWithParent('a');
  b = hostWithParent('b');
});
afterAll(() => {
  sb.cleanup();
  for (const r of roots) if (fs.existsSync(r)) Datapath.destroy(r);
  if (!baseExisted && fs.existsSync(NETNS_PIN_BASE) && fs.readdirSync(NETNS_PIN_BASE).length === 0) fs.rmdirSync(NETNS_PIN_BASE);
});

describe('one instance per network namespace', () => {
  it('with no pin root set, each netns gets its own instance, named by its cookie', () => {
    const [ra, rb] = [ownRoot(a.host), ownRoot(b.host)];
    for (const [x, n] of [[a, 'ca'], [b, 'cb']] as const) {
      const r = cli(x.host, ['link', 'add', 'link', 'p0', 'name', n, 'netns', x.kids, 'type', 'macvlan', 'mode', 'bridge']);
      expect(r.code, r.err).toBe(0);
    }
    expect(fs.existsSync(path.join(ra, 'mvb_macs'))).toBe(true);
    expect(fs.existsSync(path.join(rb, 'mvb_macs'))).toBe(true);
    expect(JSON.parse(cli(a.host, ['-j', 'link', 'show']).out).map((c: { ifname: string }) => c.ifname)).toEqual(['ca']);
    expect(JSON.parse(cli(b.host, ['-j', 'link', 'show']).out).map((c: { ifname: string }) => c.ifname)).toEqual(['cb']);
  });

  it('a netns deleted under its default instance: the instance is removed by the next command anywhere', () => {
    const c = hostWithParent('c');
    const rc = ownRoot(c.host);
    expect(cli(c.host, ['link', 'add', 'link', 'p0', 'name', 'cc', 'netns', c.kids, 'type', 'macvlan']).code).toBe(0);
    expect(fs.existsSync(rc)).toBe(true);
    sb.dropNetns(c.kids);
    sb.dropNetns(c.host);
    // The kernel frees a netns asynchronously: until its devices are gone it may still count as alive.
    let r = { code: null as number | null, out: '', err: '' };
    waitFor(() => (r = cli(b.host, ['link', 'show'])).code === 0 && !fs.existsSync(rc), 'the stale instance to be removed', 20_000);
    expect(r.err).toMatch(/note: removed the stale instance .*macvlan-bpf-netns.*is gone/);
  });
});

describe('an instance named with MACVLAN_BPF_PIN_ROOT belongs to one netns', () => {
  it('while that netns lives, a command from another netns is refused, naming both', () => {
    expect(cli(a.host, ['link', 'add', 'link', 'p1', 'name', 'xa', 'netns', a.kids, 'type', 'macvlan'], explicit).code).toBe(0);
    const r = cli(b.host, ['link', 'show'], explicit);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/serves another network namespace \(inode \d+\), which still exists/);
    expect(r.err).toContain('leave MACVLAN_BPF_PIN_ROOT unset');
  });

  it('once that netns is deleted, the stale instance is recognised and replaced, with a note', () => {
    sb.dropNetns(a.kids);
    sb.dropNetns(a.host);
    let r = { code: null as number | null, out: '', err: '' };
    waitFor(() => (r = cli(b.host, ['link', 'show'], explicit)).code === 0, `the stale instance to be recognised (last: ${r.err})`, 20_000);
    expect(r.err).toMatch(/note: removed the stale instance .*its network namespace, inode \d+, is gone/);
    const add = cli(b.host, ['link', 'add', 'link', 'p1', 'name', 'xb', 'netns', b.kids, 'type', 'macvlan'], explicit);
    expect(add.code, add.err).toBe(0);
    expect(JSON.parse(cli(b.host, ['-j', 'link', 'show'], explicit).out).map((c: { ifname: string }) => c.ifname)).toEqual(['xb']);
  });
});
