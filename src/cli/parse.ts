// argv -> what to do: a typed command on the instance (run here or by the agent), one of the
// programs (stats, agent, lab, bench, tap) with its own arguments, or help. Syntax errors are UsageErrors
// (exit 1); a well-formed but invalid value (a mode, an isolation) is the ConfigError the control
// plane would give (exit 2).
import path from 'node:path';
import { parseFastpath, parseIsolation, parseKindChoice, parseMode, type KindChoice } from '../control/validate.js';
import type { Command } from '../command/types.js';
import { ArgReader, UsageError, matchKeyword } from './args.js';
import { isMacSyntax } from '../mac.js';
import { MACADDR_OPS, type MacaddrChange } from '../control/sources.js';

export type Invocation =
  | { what: 'command'; command: Command }
  | { what: 'program'; program: 'stats' | 'agent' | 'lab' | 'bench' | 'tap'; args: string[]; json: boolean }
  | { what: 'help' };

const JSON_FLAGS = ['-j', '-json', '--json'];
const DETAIL_FLAGS = ['-d', '-details', '--details'];

export function parseArgv(argv: string[]): Invocation {
  let json = false;
  let details = false;
  let netns: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (rest.length === 0 && JSON_FLAGS.includes(a)) json = true;
    else if (rest.length === 0 && DETAIL_FLAGS.includes(a)) details = true;
    else if (rest.length === 0 && (a === '-n' || a === '-netns')) {
      netns = argv[++i];
      if (netns === undefined) throw new UsageError('-n needs a network namespace name');
    } else if (rest.length === 0 && (a === '-h' || a === '--help' || a === 'help')) return { what: 'help' };
    else rest.push(a);
  }
  if (rest.length === 0) throw new UsageError('no object given');
  const objWord = rest[0]!;
  const obj = matchKeyword(objWord, ['link', 'port', 'apply', 'stats', 'agent', 'lab', 'bench', 'tap', 'help']);
  if (obj === 'help') return { what: 'help' };
  if (obj === 'stats' || obj === 'agent' || obj === 'lab' || obj === 'bench' || obj === 'tap') return { what: 'program', program: obj, args: rest.slice(1), json };
  // `link show NAME -j` and `link del NAME -n NETNS` also work, as people type them after ip.
  const words: string[] = [];
  for (let i = 1; i < rest.length; i++) {
    const w = rest[i]!;
    if (w === '-j') json = true;
    else if (w === '-d' && obj === 'link') details = true;
    else if (w === '-n' && obj === 'link') {
      netns = rest[++i];
      if (netns === undefined) throw new UsageError('-n needs a network namespace name');
    } else words.push(w);
  }
  const r = new ArgReader(words);
  if (obj === 'link') return { what: 'command', command: linkCommand(r, json, netns, details) };
  if (obj === 'port') return { what: 'command', command: portCommand(r, json) };
  if (obj === 'apply') return { what: 'command', command: applyCommand(r) };
  throw new UsageError(`Object "${objWord}" is unknown, try "macvlan-bpf help".`);
}

/** A MAC's syntax is the command line's (exit 1, as ip's "invalid address"); its value is the control plane's. */
function macWord(w: string): string {
  if (!isMacSyntax(w)) throw new UsageError(`"${w}" is not a MAC address: give six hex pairs like 02:00:00:00:00:01`);
  return w;
}

/** An on|off switch, as ip's (spoofchk on). */
function onOff(r: ArgReader, what: string): boolean {
  const w = r.next(`${what} on|off`);
  if (w === 'on') return true;
  if (w === 'off') return false;
  throw new UsageError(`"${w}" is not on or off: give ${what} on or ${what} off`);
}

/** A whole number in [min, max], or iproute2's words for the keyword (exit 1, nothing done). */
function intWord(r: ArgReader, what: string, min: number, max: number, kind: string): number {
  const w = r.next(what);
  if (!/^-?\d+$/.test(w) || Number(w) < min || Number(w) > max) throw new UsageError(`argument of "${what}" must be ${kind} [${min}-${max}], not "${w}"`);
  return Number(w);
}
const bcQueueLenWord = (r: ArgReader) => intWord(r, 'bcqueuelen', 0, 0xffff_ffff, 'a positive integer');
const bcCutoffWord = (r: ArgReader) => intWord(r, 'bc_cutoff', -0x8000_0000, 0x7fff_ffff, 'an integer');

/** ip-link's `macaddr { { add | del } MAC | set [ MAC ... ] | flush }` (source mode's list). */
function macaddrWords(r: ArgReader): MacaddrChange {
  const w = r.next('macaddr add|del|set|flush');
  const op = MACADDR_OPS.find((o) => o === w);
  if (!op) throw new UsageError(`"${w}" is not a macaddr operation: use macaddr add MAC, del MAC, set [MAC...] or flush`);
  if (op === 'add' || op === 'del') return { op, macs: [macWord(r.next(`macaddr ${op} MAC`))] };
  const macs: string[] = [];
  if (op === 'set') while (!r.done && isMacSyntax(r.peek()!)) macs.push(r.next('MAC'));
  return { op, macs };
}

function readDev(r: ArgReader): string {
  const w = r.next('device');
  return w === 'dev' ? r.next('device') : w;
}

function linkCommand(r: ArgReader, json: boolean, netns: string | undefined, details: boolean): Command {
  const cmdWord = r.done ? 'show' : r.next('command');
  switch (matchKeyword(cmdWord, ['add', 'set', 'delete', 'show', 'list'])) {
    case 'add':
      return linkAdd(r);
    case 'set':
      return linkSet(r, netns);
    case 'delete': {
      const dev = readDev(r);
      if (!r.done) throw new UsageError(`unexpected "${r.peek()}" after the device`);
      return { kind: 'link-del', dev, netns };
    }
    case 'show':
    case 'list': {
      const dev = r.done ? undefined : readDev(r);
      if (!r.done) throw new UsageError(`unexpected "${r.peek()}" after the device`);
      return { kind: 'link-show', dev, netns, json, ...(details ? { details } : {}) };
    }
    default:
      throw new UsageError(`Command "${cmdWord}" is unknown, try "macvlan-bpf help".`);
  }
}

function linkAdd(r: ArgReader): Command {
  let parent: string | undefined, name: string | undefined, address: string | undefined, mtu: number | undefined;
  let netns: string | undefined, type: string | undefined, mode: string | undefined, spoofchk: boolean | undefined;
  let bcqueuelen: number | undefined, bcCutoff: number | undefined, nodst: boolean | undefined, macaddr: MacaddrChange | undefined;
  let childKind: KindChoice | undefined, owner: string | undefined, group: string | undefined, queues: number | undefined;
  while (!r.done) {
    const w = r.next('argument');
    if (type !== undefined) {
      // after "type macvlan|macvtap" only its own options follow, as in ip-link (and the child's kind;
      // a macvtap's owner, group and queues, as ip tuntap takes the first two)
      if (w === 'mode') mode = r.next('mode');
      else if (type === 'macvtap' && w === 'owner') owner = r.next('owner');
      else if (type === 'macvtap' && w === 'group') group = r.next('group');
      else if (type === 'macvtap' && w === 'queues') queues = r.nextInt('queues');
      else if (w === 'kind') childKind = parseKindChoice(r.next('kind'));
      else if (w === 'spoofchk') spoofchk = onOff(r, 'spoofchk');
      else if (w === 'bcqueuelen') bcqueuelen = bcQueueLenWord(r);
      else if (w === 'bc_cutoff') bcCutoff = bcCutoffWord(r);
      else if (w === 'nodst') nodst = true;
      else if (w === 'macaddr') macaddr = macaddrWords(r);
      else if (type === 'macvtap') throw new UsageError(`unknown macvtap option "${w}": use mode MODE, owner USER, group GROUP, queues N, nodst, macaddr add|del|set|flush, bcqueuelen N, bc_cutoff N, spoofchk on|off`);
      else throw new UsageError(`unknown macvlan option "${w}": use mode MODE, nodst, macaddr add|del|set|flush, bcqueuelen N, bc_cutoff N, spoofchk on|off, kind veth|netkit|auto`);
      continue;
    }
    switch (w) {
      case 'spoofchk': spoofchk = onOff(r, 'spoofchk'); break;
      case 'link': parent = r.next('parent device'); break;
      case 'name': case 'dev': name = r.next('name'); break;
      case 'address': address = macWord(r.next('address')); break;
      case 'mtu': mtu = r.nextInt('mtu'); break;
      case 'netns': netns = r.next('netns'); break;
      case 'type': type = r.next('type'); break;
      case 'kind': childKind = parseKindChoice(r.next('kind')); break;
      default:
        if (name !== undefined) throw new UsageError(`unexpected "${w}" (the name is already "${name}")`);
        name = w;
    }
  }
  if (!parent) throw new UsageError('"link PARENT" is required');
  if (!name) throw new UsageError('a name for the new child is required');
  if (type !== 'macvlan' && type !== 'macvtap') throw new UsageError(type ? `type "${type}" is not supported: use macvlan or macvtap` : '"type macvlan" (or macvtap) is required');
  return { kind: 'link-add', parent, name, address, mtu, netns, mode: mode === undefined ? undefined : parseMode(mode), ...(spoofchk !== undefined ? { spoofchk } : {}),
    ...(bcqueuelen !== undefined ? { bcqueuelen } : {}), ...(bcCutoff !== undefined ? { bcCutoff } : {}), ...(nodst ? { nodst } : {}), ...(macaddr ? { macaddr } : {}),
    ...(childKind !== undefined ? { childKind } : {}), ...(type === 'macvtap' ? { type } : {}), ...(owner !== undefined ? { owner } : {}),
    ...(group !== undefined ? { group } : {}), ...(queues !== undefined ? { queues } : {}) };
}

function linkSet(r: ArgReader, netns: string | undefined): Command {
  const cmd: Extract<Command, { kind: 'link-set' }> = { kind: 'link-set', dev: readDev(r), netns };
  while (!r.done) {
    const w = r.next('argument');
    if (w === 'up') cmd.up = true;
    else if (w === 'down') cmd.up = false;
    else if (w === 'mode') cmd.mode = parseMode(r.next('mode'));
    else if (w === 'address') cmd.address = macWord(r.next('address'));
    else if (w === 'mtu') cmd.mtu = r.nextInt('mtu');
    else if (w === 'spoofchk') cmd.spoofchk = onOff(r, 'spoofchk');
    else if (w === 'bcqueuelen') cmd.bcqueuelen = bcQueueLenWord(r);
    else if (w === 'bc_cutoff') cmd.bcCutoff = bcCutoffWord(r);
    else if (w === 'nodst') cmd.nodst = true;
    else if (w === 'macaddr') cmd.macaddr = macaddrWords(r);
    else if (w === 'type') r.next('type'); // "type macvlan mode X", as ip-link accepts
    else throw new UsageError(`unknown setting "${w}": use up, down, mode, address, mtu, spoofchk, nodst, macaddr, bcqueuelen or bc_cutoff`);
  }
  if ([cmd.up, cmd.mode, cmd.address, cmd.mtu, cmd.spoofchk, cmd.bcqueuelen, cmd.bcCutoff, cmd.nodst, cmd.macaddr].every((v) => v === undefined))
    throw new UsageError('nothing to set: give up, down, mode, address, mtu, spoofchk, nodst, macaddr, bcqueuelen or bc_cutoff');
  return cmd;
}

function portCommand(r: ArgReader, json: boolean): Command {
  const cmdWord = r.done ? 'show' : r.next('command');
  const cmd = matchKeyword(cmdWord, ['set', 'show', 'list']);
  if (cmd === 'set') {
    const parent = readDev(r);
    let isolation: string | undefined;
    let fastpath: string | undefined;
    let childKind: KindChoice | undefined;
    while (!r.done) {
      const w = r.next('setting');
      if (w === 'isolation') isolation = r.next('isolation');
      else if (w === 'fastpath') fastpath = r.next('fastpath');
      else if (w === 'kind') childKind = parseKindChoice(r.next('kind'));
      else throw new UsageError(`unknown port setting "${w}": use isolation strict|kernel, fastpath tc|xdp, kind veth|netkit|auto`);
    }
    if (isolation === undefined && fastpath === undefined && childKind === undefined) throw new UsageError('nothing to set: give isolation strict|kernel, fastpath tc|xdp or kind veth|netkit|auto');
    return {
      kind: 'port-set',
      parent,
      ...(isolation !== undefined ? { isolation: parseIsolation(isolation) } : {}),
      ...(fastpath !== undefined ? { fastpath: parseFastpath(fastpath) } : {}),
      ...(childKind !== undefined ? { childKind } : {}),
    };
  }
  if (cmd === 'show' || cmd === 'list') {
    const parent = r.done ? undefined : readDev(r);
    return { kind: 'port-show', parent, json };
  }
  throw new UsageError(`Command "${cmdWord}" is unknown, try "macvlan-bpf help".`);
}

function applyCommand(r: ArgReader): Command {
  let file: string | undefined;
  let prune = false;
  while (!r.done) {
    const w = r.next('argument');
    if (w === '-f' || w === '--file') file = r.next('file');
    else if (w === '--prune') prune = true;
    else throw new UsageError(`unknown apply option "${w}": use -f FILE [--prune]`);
  }
  if (!file) throw new UsageError('apply needs a configuration file: apply -f FILE');
  // The caller's directory, also when the agent reads it.
  return { kind: 'apply', file: path.resolve(file), prune };
}
