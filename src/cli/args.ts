// Argument parsing in iproute2's style: keywords may be abbreviated to any unique prefix
// ("li" = link, "sh" = show), and the device name may come with or without "dev"/"name".

export class UsageError extends Error {}

/** Resolves an abbreviated keyword among choices (first full match wins, then unique prefix). */
export function matchKeyword(word: string, choices: readonly string[]): string | undefined {
  if (choices.includes(word)) return word;
  const hits = choices.filter((c) => c.startsWith(word));
  return hits.length >= 1 ? hits[0] : undefined; // iproute2 takes the first, in its own order
}

export class ArgReader {
  private i = 0;
  constructor(private readonly argv: string[]) {}
  get done(): boolean {
    return this.i >= this.argv.length;
  }
  peek(): string | undefined {
    return this.argv[this.i];
  }
  next(what: string): string {
    const v = this.argv[this.i++];
    if (v === undefined) throw new UsageError(`missing ${what}`);
    return v;
  }
  nextInt(what: string): number {
    const s = this.next(what);
    if (!/^\d+$/.test(s)) throw new UsageError(`${what} "${s}" is not a whole number`);
    return Number(s);
  }
}
