// macvlan-bpf's commands, run the same way by the CLI (without an agent) and by the agent (for the CLI).
import { ArgReader, UsageError, matchKeyword } from './args.js';
import { ConfigError } from '../control/errors.js';
import { Macvlan, type ChildView } from '../control/macvlan.js';
import { DatapathError } from '../datapath/datapath.js';
import { isSystemError } from '../native.js';
import { applyConfig, loadConfigFile } from '../control/config.js';

const USAGE = `Usage: macvlan-bpf [ -j ] [ -n NETNS ] OBJECT COMMAND

  macvlan-bpf link add link PARENT [ name ] NAME [ address MAC ] [ mtu MTU ] [ netns NETNS ]
                       type macvlan [ mode { private | vepa | bridge | passthru } ]
  macvlan-bpf link set [ dev ] NAME { up | down | mode MODE | address MAC | mtu MTU } ...
  macvlan-bpf link del [ dev ] NAME
  macvlan-bpf link show [ [ dev ] NAME ]
  macvlan-bpf port set PARENT isolation { strict | kernel }
  macvlan-bpf port show [ PARENT ]
  macvlan-bpf apply -f FILE [ --prune ]
  macvlan-bpf stats [ --per-cpu ] [ --watch [ SECS ] ] [ --top N ] [ dev NAME ]
  macvlan-bpf agent [ --config FILE ] [ --prune ] [ --listen HOST:PORT | off ]
  macvlan-bpf lab [ --keep ]
  macvlan-bpf bench [ --smoke ] [ --only=paths|cost|fanout|agent|counters ]

  -j          JSON output (like ip -j)
  -n NETNS    the named network namespace a child lives in, when names repeat across namespaces

Run in the network namespace of the parents. State is pinned under $MACVLAN_BPF_PIN_ROOT
(default /sys/fs/bpf/macvlan-bpf). When an agent serves that instance, link, port and apply commands
go to it over its unix socket (/run/macvlan-bpf/agent.sock); without one they act directly.`;

/** Without an agent every command first reconciles; inside the agent, events keep the state true. */
export const commandContext = { reconcile: true };

/** Objects whose commands an agent runs on the CLI's behalf. */
export const AGENT_OBJECTS = new Set(['link', 'port', 'apply']);

/** The object word of a command line (after -j, -n NETNS), or undefined. */
export function objectOf(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-j' || a === '-json' || a === '--json') continue;
    if (a === '-n' || a === '-netns') { i++; continue; }
    return a;
  }
  return undefined;
}

interface Globals {
  json: boolean;
  netns?: string;
}

export async function runCommand(argv: string[]): Promise<number> {
  const g: Globals = { json: false };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (rest.length === 0 && (a === '-j' || a === '-json' || a === '--json')) g.json = true;
    else if (rest.length === 0 && (a === '-n' || a === '-netns')) g.netns = argv[++i];
    else if (rest.length === 0 && (a === '-h' || a === '--help' || a === 'help')) {
      console.log(USAGE);
      return 0;
    } else rest.push(a);
  }
  // `link show NAME -j` also works, as people type it after ip.
  const jIdx = rest.indexOf('-j');
  if (jIdx >= 0) {
    g.json = true;
    rest.splice(jIdx, 1);
  }
  try {
    const r = new ArgReader(rest);
    if (r.done) throw new UsageError('no object given');
    const objWord = r.next('object');
    const obj = matchKeyword(objWord, ['link', 'port', 'apply', 'stats', 'agent', 'lab', 'bench', 'help']);
    if (obj === 'help') {
      console.log(USAGE);
      return 0;
    }
    if (obj === 'lab') {
      const { runLab } = await import('../lab/lab.js');
      return await runLab({ keep: rest.includes('--keep'), json: g.json });
    }
    if (obj === 'bench') {
      const { runBench } = await import('../bench/main.js');
      return await runBench(rest.slice(1));
    }
    if (obj === 'apply') return applyCommand(r);
    if (obj === 'stats') {
      const { statsCommand } = await import('./stats.js');
      return await statsCommand(rest.slice(1), g.json);
    }
    if (obj === 'agent') {
      const { runAgent } = await import('../agent/agent.js');
      return await runAgent(rest.slice(1));
    }
    if (obj === 'link') return linkCommand(r, g);
    if (obj === 'port') return portCommand(r, g);
    throw new UsageError(`Object "${objWord}" is unknown, try "macvlan-bpf help".`);
  } catch (e) {
    return report(e);
  }
}

function report(e: unknown): number {
  if (e instanceof UsageError) {
    console.error(`Error: ${e.message}\n\n${USAGE}`);
    return 1;
  }
  if (e instanceof ConfigError || e instanceof DatapathError) {
    console.error(`Error: ${e.message}`);
    return 2;
  }
  if (isSystemError(e)) {
    console.error(`Error: ${e.message}`);
    return 2;
  }
  throw e;
}

function linkCommand(r: ArgReader, g: Globals): number {
  const cmdWord = r.done ? 'show' : r.next('command');
  const cmd = matchKeyword(cmdWord, ['add', 'set', 'delete', 'show', 'list']);
  switch (cmd) {
    case 'add':
      return linkAdd(r);
    case 'set':
      return linkSet(r, g);
    case 'delete':
      return linkDel(r, g);
    case 'show':
    case 'list':
      return linkShow(r, g);
    default:
      throw new UsageError(`Command "${cmdWord}" is unknown, try "macvlan-bpf help".`);
  }
}

function linkAdd(r: ArgReader): number {
  let parent: string | undefined, name: string | undefined, address: string | undefined, mtu: number | undefined;
  let netns: string | undefined, type: string | undefined, mode: string | undefined;
  while (!r.done) {
    const w = r.next('argument');
    if (type !== undefined) {
      // after "type macvlan" only its own options follow, as in ip-link
      if (w === 'mode') mode = r.next('mode');
      else throw new UsageError(`unknown macvlan option "${w}"`);
      continue;
    }
    switch (w) {
      case 'link': parent = r.next('parent device'); break;
      case 'name': case 'dev': name = r.next('name'); break;
      case 'address': address = r.next('address'); break;
      case 'mtu': mtu = r.nextInt('mtu'); break;
      case 'netns': netns = r.next('netns'); break;
      case 'type': type = r.next('type'); break;
      default:
        if (name !== undefined) throw new UsageError(`unexpected "${w}" (the name is already "${name}")`);
        name = w;
    }
  }
  if (!parent) throw new UsageError('"link PARENT" is required');
  if (!name) throw new UsageError('a name for the new child is required');
  if (type !== 'macvlan') {
    if (type === 'macvtap') throw new ConfigError('EOPNOTSUPP', 'type macvtap is not supported yet: create a macvlan child (macvtap children are planned as tap devices)');
    throw new UsageError(type ? `type "${type}" is not supported: only macvlan` : '"type macvlan" is required');
  }
  const m = Macvlan.open(undefined, { reconcile: commandContext.reconcile });
  try {
    m.add({ parent, name, address, mtu, netns, mode: mode as never });
  } finally {
    m.close();
  }
  return 0;
}

function applyCommand(r: ArgReader): number {
  let file: string | undefined;
  let prune = false;
  while (!r.done) {
    const w = r.next('argument');
    if (w === '-f' || w === '--file') file = r.next('file');
    else if (w === '--prune') prune = true;
    else throw new UsageError(`unknown apply option "${w}": use -f FILE [--prune]`);
  }
  if (!file) throw new UsageError('apply needs a configuration file: apply -f FILE');
  const config = loadConfigFile(file);
  const m = Macvlan.open(undefined, { reconcile: commandContext.reconcile });
  try {
    const changes = applyConfig(m, config, { prune: prune || config.prune });
    console.log(changes.length ? changes.join('\n') : 'no changes');
  } finally {
    m.close();
  }
  return 0;
}

function readDev(r: ArgReader): string {
  const w = r.next('device');
  return w === 'dev' ? r.next('device') : w;
}

function linkSet(r: ArgReader, g: Globals): number {
  const dev = readDev(r);
  // Like ip, whatever order they are given in: down first, then mode, address and mtu, then up.
  const ops: { rank: number; run: () => void }[] = [];
  const m = Macvlan.open(undefined, { reconcile: commandContext.reconcile });
  try {
    while (!r.done) {
      const w = r.next('argument');
      if (w === 'up') ops.push({ rank: 2, run: () => m.setUp(dev, true, g.netns) });
      else if (w === 'down') ops.push({ rank: 0, run: () => m.setUp(dev, false, g.netns) });
      else if (w === 'mode') { const v = r.next('mode'); ops.push({ rank: 1, run: () => m.setMode(dev, v, g.netns) }); }
      else if (w === 'address') { const v = r.next('address'); ops.push({ rank: 1, run: () => m.setAddress(dev, v, g.netns) }); }
      else if (w === 'mtu') { const v = r.nextInt('mtu'); ops.push({ rank: 1, run: () => m.setMtu(dev, v, g.netns) }); }
      else if (w === 'type') { r.next('type'); } // "type macvlan mode X", as ip-link accepts
      else throw new UsageError(`unknown setting "${w}": use up, down, mode, address or mtu`);
    }
    if (ops.length === 0) throw new UsageError('nothing to set: give up, down, mode, address or mtu');
    m.findChild(dev, g.netns); // a bad name fails before anything changes
    for (const op of ops.sort((a, b) => a.rank - b.rank)) op.run();
  } finally {
    m.close();
  }
  return 0;
}

function linkDel(r: ArgReader, g: Globals): number {
  const dev = readDev(r);
  const m = Macvlan.open(undefined, { reconcile: commandContext.reconcile });
  try {
    m.del(dev, g.netns);
  } finally {
    m.close();
  }
  return 0;
}

function linkShow(r: ArgReader, g: Globals): number {
  const dev = r.done ? undefined : readDev(r);
  const m = Macvlan.open(undefined, { reconcile: commandContext.reconcile });
  let views: ChildView[];
  try {
    views = m.show(dev, g.netns);
  } finally {
    m.close();
  }
  if (g.json) {
    console.log(JSON.stringify(views.map(toIpJson)));
    return 0;
  }
  for (const v of views) {
    const flags = ['BROADCAST', 'MULTICAST', ...(v.up ? ['UP'] : []), ...(v.operstate === 'UP' ? ['LOWER_UP'] : [])];
    console.log(`${v.ifindex}: ${v.name}@${v.parent}: <${flags.join(',')}> mtu ${v.mtu} state ${v.operstate}${v.netns ? ` netns ${v.netns}` : ''}`);
    console.log(`    link/ether ${v.address} brd ff:ff:ff:ff:ff:ff`);
    console.log(`    macvlan-bpf mode ${v.mode} host-end ${v.hostEnd}`);
  }
  return 0;
}

function toIpJson(v: ChildView) {
  return {
    ifindex: v.ifindex,
    ifname: v.name,
    link: v.parent,
    ...(v.netns ? { netns: v.netns } : {}),
    flags: ['BROADCAST', 'MULTICAST', ...(v.up ? ['UP'] : []), ...(v.operstate === 'UP' ? ['LOWER_UP'] : [])],
    mtu: v.mtu,
    operstate: v.operstate,
    link_type: 'ether',
    address: v.address,
    broadcast: 'ff:ff:ff:ff:ff:ff',
    linkinfo: { info_kind: 'macvlan', info_data: { mode: v.mode } },
    host_end: v.hostEnd,
  };
}

function portCommand(r: ArgReader, g: Globals): number {
  const cmdWord = r.done ? 'show' : r.next('command');
  const cmd = matchKeyword(cmdWord, ['set', 'show', 'list']);
  const m = Macvlan.open(undefined, { reconcile: commandContext.reconcile });
  try {
    if (cmd === 'set') {
      const parent = readDev(r);
      let did = false;
      while (!r.done) {
        const w = r.next('setting');
        if (w !== 'isolation') throw new UsageError(`unknown port setting "${w}": use isolation strict|kernel`);
        m.setIsolation(parent, r.next('isolation') as never);
        did = true;
      }
      if (!did) throw new UsageError('nothing to set: give isolation strict|kernel');
      return 0;
    }
    if (cmd === 'show' || cmd === 'list') {
      const only = r.done ? undefined : readDev(r);
      const views = m.show();
      const parents = [...new Set(views.map((v) => v.parent))].filter((p) => !only || p === only);
      if (only && !parents.includes(only)) parents.push(only);
      const rows = parents.map((p) => ({ parent: p, isolation: m.isolation(p), children: views.filter((v) => v.parent === p).map((v) => v.name) }));
      if (g.json) console.log(JSON.stringify(rows));
      else for (const row of rows) console.log(`${row.parent}: isolation ${row.isolation} children ${row.children.join(' ') || '-'}`);
      return 0;
    }
    throw new UsageError(`Command "${cmdWord}" is unknown, try "macvlan-bpf help".`);
  } finally {
    m.close();
  }
}
