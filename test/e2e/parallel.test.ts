// Commands without an agent, in parallel (issue 17, finding 3): ten `link add` at once all exit 0 and all
// ten children are in the registry, with their devices, deletable again. They take turns on the
// instance's lock; without it one child's registry entry was lost.
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { Sandbox, run } from '../helpers/sandbox.js';

const sb = new Sandbox('l');
const CLI = path.resolve(__dirname, '../../bin/macvlan-bpf');
afterAll(() => sb.cleanup());

describe('parallel commands without an agent', () => {
  it('ten link add at once: ten children, each deletable', async () => {
    const host = sb.netns('h');
    const kids = sb.netns('k');
    const pins = sb.pinRoot();
    run('ip', ['-n', host, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'e0']);
    run('ip', ['-n', host, 'link', 'set', 'p0', 'up']);
    const cli = (args: string[]) => new Promise<{ code: number; err: string }>((resolve) =>
      execFile('nsenter', [`--net=/run/netns/${host}`, CLI, ...args], { env: { ...process.env, MACVLAN_BPF_PIN_ROOT: pins } },
        (e, _o, err) => resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, err })));
    const names = Array.from({ length: 10 }, (_, i) => `c${i}`);
    const adds = await Promise.all(names.map((n) => cli(['link', 'add', 'link', 'p0', n, 'netns', kids, 'type', 'macvlan', 'mode', 'bridge'])));
    expect(adds.map((r) => r.code), adds.map((r) => r.err).join('')).toEqual(names.map(() => 0));
    const shown = JSON.parse(run('nsenter', [`--net=/run/netns/${host}`, CLI, '-j', 'link', 'show'], { MACVLAN_BPF_PIN_ROOT: pins })) as { ifname: string }[];
    expect(shown.map((l) => l.ifname).sort()).toEqual([...names].sort());
    expect(run('ip', ['-n', kids, '-o', 'link']).split('\n').filter((l) => / c\d@/.test(l)).length).toBe(10);
    const dels = await Promise.all(names.map((n) => cli(['link', 'del', n])));
    expect(dels.map((r) => r.code), dels.map((r) => r.err).join('')).toEqual(names.map(() => 0));
    expect(run('ip', ['-n', kids, '-o', 'link']).split('\n').filter((l) => / c\d@/.test(l))).toEqual([]);
  }, 120_000);
});
