// `macvlan-bpf stats`: the dashboard's numbers in a terminal. Reads the pinned counter maps directly
// (no agent needed, nothing changed), once, or every interval with rates (--watch).
import { UsageError } from './args.js';
import { pinRootFromEnv } from '../datapath/datapath.js';
import { computeRates, type Rates } from '../metrics/rates.js';
import { COUNTED_DROP_REASONS, CounterReader, withoutPerCpu, type ChildCounters, type ParentCounters, type Snapshot } from '../metrics/snapshot.js';

export interface StatsOptions {
  json: boolean;
  perCpu: boolean;
  watchSeconds?: number;
  top: number;
  /** Only this child (by name) and its parent. */
  dev?: string;
  /** Watch: how many refreshes before returning (tests); forever when undefined. */
  count?: number;
}

export function parseStatsArgs(args: string[], json: boolean): StatsOptions {
  const o: StatsOptions = { json, perCpu: false, top: 20 };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--per-cpu' || a === '-c') o.perCpu = true;
    else if (a === '--watch' || a === '-w') {
      const n = args[i + 1];
      o.watchSeconds = 1;
      if (n !== undefined && /^\d+(\.\d+)?$/.test(n)) o.watchSeconds = Number(args[++i]);
      if (!(o.watchSeconds >= 0.2)) throw new UsageError(`--watch interval "${n}" is too short: give seconds, 0.2 or more`);
    } else if (a === '--top') {
      const n = args[++i] ?? '';
      if (!/^\d+$/.test(n) || Number(n) < 1) throw new UsageError(`--top "${n}" is not a positive whole number`);
      o.top = Number(n);
    } else if (a === '--count') o.count = Number(args[++i]);
    else if (a === 'dev' && args[i + 1]) o.dev = args[++i];
    else if (a === '-j' || a === '--json') o.json = true;
    else throw new UsageError(`unknown stats option "${a}": use [ -j ] [ --per-cpu ] [ --watch [ SECS ] ] [ --top N ] [ dev NAME ]`);
  }
  return o;
}

const units = ['', 'K', 'M', 'G', 'T', 'P'];
/** 1234567 -> "1.23M", as `ip -s -h` does. */
export function human(n: number): string {
  let i = 0;
  while (Math.abs(n) >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return i === 0 ? String(Math.round(n)) : `${n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)}${units[i]}`;
}

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i < 4 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ').trimEnd()).join('\n');
}

function filter(s: Snapshot, dev?: string): Snapshot {
  if (!dev) return s;
  const children = s.children.filter((c) => c.name === dev);
  if (!children.length) throw new UsageError(`no child named "${dev}": see macvlan-bpf link show`);
  const parents = s.parents.filter((p) => children.some((c) => c.parent === p.name));
  return { ...s, children, parents };
}

function parentLines(p: Snapshot['parents'][number], perCpu: boolean): string[] {
  const drops = (c: ParentCounters) => COUNTED_DROP_REASONS.filter((r) => c.drops[r]).map((r) => `${r} ${c.drops[r]}`).join(', ') || 'none';
  const line = (c: ParentCounters) => `stack ${c.stackPackets} pkts ${human(c.stackBytes)}B  wire ${c.wirePackets} pkts ${human(c.wireBytes)}B  drops: ${drops(c)}`;
  const out = [`parent ${p.name}  isolation ${p.isolation}${p.passthru ? '  passthru' : ''}  children ${p.children} (${p.childrenUp} up)`, `    ${line(p.counters)}`];
  if (perCpu) p.perCpu.forEach((c, i) => out.push(`    cpu${i}: ${line(c)}`));
  return out;
}

/** The plain-text report of one snapshot, with rates when there is a previous one. */
export function formatStats(s: Snapshot, o: StatsOptions, rates?: Rates): string {
  const out: string[] = [];
  for (const p of s.parents) out.push(...parentLines(p, o.perCpu));
  const head = ['CHILD', 'NETNS', 'PARENT', 'MODE', 'STATE', 'RX_PKTS', 'RX_BYTES', 'TX_PKTS', 'TX_BYTES', 'FLOOD'];
  if (rates) head.push('RX_PPS', 'TX_PPS', 'RX_BPS', 'TX_BPS');
  const rows = [head];
  let children = s.children;
  // Bytes per second are known for the top N only (the rest come as packet rates).
  const topByKey = new Map((rates?.top ?? []).map((r) => [r.key, r]));
  if (rates) {
    // Busiest first, as top does; then by name.
    const rate = (k: number) => (rates.busy[k] ? rates.busy[k]![0] + rates.busy[k]![1] : 0);
    children = [...children].sort((a, b) => rate(b.key) - rate(a.key));
  }
  const shown = rates ? children.slice(0, o.top) : children;
  const cells = (c: ChildCounters) => [String(c.rxPackets), human(c.rxBytes), String(c.txPackets), human(c.txBytes), String(c.floodCopies)];
  for (const c of shown) {
    const row = [c.name, c.netns || '-', c.parent, c.mode, c.up ? 'UP' : 'DOWN', ...cells(c.counters)];
    if (rates) {
      const r = topByKey.get(c.key);
      const [rx, tx] = rates.busy[c.key] ?? [0, 0];
      row.push(human(rx), human(tx), r ? human(r.rxBps) : '-', r ? human(r.txBps) : '-');
    }
    rows.push(row);
    if (o.perCpu) c.perCpu.forEach((pc, i) => rows.push([`  cpu${i}`, '', '', '', '', ...cells(pc), ...(rates ? ['', '', '', ''] : [])]));
  }
  out.push('', table(rows));
  if (rates) {
    if (children.length > shown.length) out.push(`(${children.length - shown.length} more children not shown: --top N)`);
    const t = rates.totals;
    out.push('', `total: rx ${human(t.rxPps)} pps ${human(t.rxBps)}B/s  tx ${human(t.txPps)} pps ${human(t.txBps)}B/s  flood ${human(t.floodPps)} pps  stack ${human(t.stackPps)} pps  wire ${human(t.wirePps)} pps  drops ${human(t.dropPps)} pps`);
    out.push(`cpus: ${rates.cpus.map((v, i) => `cpu${i} ${human(v)} pps`).join('  ')}`);
  }
  return out.join('\n');
}

/** JSON: the snapshot itself (per-CPU arrays only with --per-cpu), as /api/v1/snapshot gives it. */
export function statsJson(s: Snapshot, perCpu: boolean): object {
  return perCpu ? s : withoutPerCpu(s);
}

export async function statsCommand(args: string[], json: boolean): Promise<number> {
  const o = parseStatsArgs(args, json);
  const reader = new CounterReader(pinRootFromEnv());
  try {
    let prev = filter(reader.read(), o.dev);
    if (o.watchSeconds === undefined) {
      console.log(o.json ? JSON.stringify(statsJson(prev, o.perCpu)) : formatStats(prev, o));
      return 0;
    }
    for (let n = 0; o.count === undefined || n < o.count; n++) {
      await new Promise((r) => setTimeout(r, o.watchSeconds! * 1000));
      const cur = filter(reader.read(), o.dev);
      const rates = computeRates(prev, cur, o.top);
      if (o.json) console.log(JSON.stringify({ ...statsJson(cur, o.perCpu), rates }));
      else {
        if (process.stdout.isTTY) process.stdout.write('\x1b[H\x1b[2J');
        console.log(`${new Date(cur.time).toISOString()}  every ${o.watchSeconds}s  (Ctrl-C to stop)\n${formatStats(cur, o, rates)}`);
      }
      prev = cur;
    }
    return 0;
  } finally {
    reader.close();
  }
}
