// Complete output through a pipe (issue 17, finding 6): `-j link show` of 2,000 children and `-j stats`
// read through a slow reader are whole JSON (once cut at 64 KiB when stdout was a pipe); exit status 0.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Sandbox, run } from '../helpers/sandbox.js';

const sb = new Sandbox('o');
const CLI = path.resolve(__dirname, '../../bin/macvlan-bpf');
const N = 2000;
let host = '';
let pins = '';
afterAll(() => sb.cleanup());

/**
 * Runs the CLI with stdout into a pipe whose reader takes nothing for a second (the writer fills the
 * pipe and must wait), then reads it all: `macvlan-bpf ... | (sleep 1; cat)`.
 */
function piped(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  const quoted = args.map((a) => `'${a}'`).join(' ');
  return new Promise((resolve, reject) =>
    execFile('bash', ['-o', 'pipefail', '-c', `nsenter --net=/run/netns/${host} ${CLI} ${quoted} | (sleep 1; cat)`],
      { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, MACVLAN_BPF_PIN_ROOT: pins, ...env } },
      (e, out) => (e && !('code' in e) ? reject(e) : resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, out }))));
}

beforeAll(() => {
  host = sb.netns('h');
  const kids = sb.netns('k');
  pins = sb.pinRoot();
  run('ip', ['-n', host, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'e0']);
  run('ip', ['-n', host, 'link', 'set', 'p0', 'up']);
  const file = path.join(os.tmpdir(), `${sb.prefix}-children.yaml`);
  const lines = ['children:'];
  for (let i = 0; i < N; i++) lines.push(`  - { name: c${i}, parent: p0, mode: bridge, netns: ${kids}, state: down }`);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  try {
    // cls_bpf hooks: 2,000 tcx attachments would cost half a minute, and are not what this tests.
    run('nsenter', [`--net=/run/netns/${host}`, CLI, 'apply', '-f', file], { MACVLAN_BPF_PIN_ROOT: pins, MACVLAN_BPF_TC_ATTACH: 'cls_bpf' });
  } finally {
    fs.rmSync(file, { force: true });
  }
}, 300_000);

describe('output through a pipe', () => {
  it(`-j link show of ${N} children is whole JSON`, async () => {
    const r = await piped(['-j', 'link', 'show'], { MACVLAN_BPF_TC_ATTACH: 'cls_bpf' });
    expect(r.code).toBe(0);
    expect(r.out.length).toBeGreaterThan(65536);
    const list = JSON.parse(r.out) as { ifname: string }[];
    expect(list.length).toBe(N);
    expect(new Set(list.map((l) => l.ifname)).size).toBe(N);
  }, 120_000);

  it('a reader that goes away (| head) ends the command quietly, status 141 as for ip (SIGPIPE)', async () => {
    const r = await new Promise<{ out: string; err: string }>((resolve, reject) =>
      execFile('bash', ['-c', `nsenter --net=/run/netns/${host} ${CLI} link show | head -c 100 > /dev/null; echo "\${PIPESTATUS[0]}"`],
        { encoding: 'utf8', env: { ...process.env, MACVLAN_BPF_PIN_ROOT: pins } }, (e, out, err) => (e ? reject(e) : resolve({ out, err }))));
    expect(r.err).toBe('');
    expect(r.out.trim()).toBe('141');
  }, 120_000);

  it('-j stats is whole JSON', async () => {
    const r = await piped(['-j', 'stats']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out) as { children: unknown[] };
    expect(s.children.length).toBe(N);
  }, 120_000);
});
