// SPDX-License-Identifier: GPL-2.0-only
// The benchmark's command line, checked before anything is built: a word it does not know (say
// `--help`) must not start a half-hour run that takes the machine's quiet with it.
export const PARTS = ['paths', 'kinds', 'taps', 'cni', 'cost', 'fanout', 'agent', 'counters', 'scale'] as const;
export type Part = (typeof PARTS)[number];

export const BENCH_USAGE = `Usage: macvlan-bpf bench [ --smoke ] [ --only=${PARTS.join('|')} ]

  --smoke       each part once, with few frames: proves it runs, measures nothing
  --only=PART   one part of the benchmark instead of all of them`;

export type BenchArgs = { help: true } | { help: false; smoke: boolean; only?: Part };

/** Reads bench's arguments; throws an Error naming the word it does not know and what it takes. */
export function benchArgs(args: readonly string[]): BenchArgs {
  if (args.includes('--help') || args.includes('-h') || args.includes('help')) return { help: true };
  let smoke = false;
  let only: Part | undefined;
  for (const a of args) {
    if (a === '--smoke') smoke = true;
    else if (a.startsWith('--only=')) {
      const p = a.slice(7);
      if (!(PARTS as readonly string[]).includes(p)) throw new Error(`--only=${p}: no such part; use one of ${PARTS.join(', ')}`);
      if (only && only !== p) throw new Error(`--only given twice (${only}, ${p}): give one part, or none for all of them`);
      only = p as Part;
    } else throw new Error(`${JSON.stringify(a)}: bench takes --smoke and --only=PART, nothing else (macvlan-bpf bench --help)`);
  }
  return { help: false, smoke, only };
}
