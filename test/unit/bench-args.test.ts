// bench's command line: --help prints the usage, and a word bench does not know is refused before
// anything runs (once, `bench --help` started the whole half-hour benchmark).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { benchArgs, PARTS } from '../../src/bench/args.js';

describe('bench arguments', () => {
  it.each([
    [[], { help: false, smoke: false, only: undefined }],
    [['--smoke'], { help: false, smoke: true, only: undefined }],
    [['--only=paths', '--smoke'], { help: false, smoke: true, only: 'paths' }],
    [['--help'], { help: true }],
    [['-h'], { help: true }],
    [['--smoke', 'help'], { help: true }],
  ])('%j', (args, want) => expect(benchArgs(args)).toEqual(want));

  it.each([
    [['--only=path'], /--only=path: no such part; use one of paths, kinds/],
    [['--only=paths', '--only=cost'], /--only given twice \(paths, cost\)/],
    [['--quick'], /"--quick": bench takes --smoke and --only=PART, nothing else/],
    [['paths'], /"paths": bench takes/],
  ])('%j is refused', (args, msg) => expect(() => benchArgs(args)).toThrow(msg));

  it('knows every part the usage names', () => {
    for (const p of PARTS) expect(benchArgs([`--only=${p}`])).toMatchObject({ only: p });
  });

  // Through the real command line, as a user would type it: the help returns at once, a wrong word
  // exits 1 with its name, and neither builds anything (no root needed, no namespace made).
  it('bench --help and bench --bogus, run', () => {
    const run = (a: string[]) => spawnSync(process.execPath, ['dist/cli/main.js', 'bench', ...a], { encoding: 'utf8', timeout: 20_000 });
    const h = run(['--help']);
    expect(h.status).toBe(0);
    expect(h.stdout).toMatch(/^Usage: macvlan-bpf bench \[ --smoke \]/);
    const b = run(['--bogus']);
    expect(b.status).toBe(1);
    expect(b.stderr).toMatch(/^Error: "--bogus": bench takes --smoke and --only=PART/);
    expect(b.stderr).not.toMatch(/macvlan-bpf bench:/);
  });
});
