// The declarative configuration file: parents, children, modes, addresses, namespaces. Read once,
// checked whole (a mistake names its line and field, and nothing changes), then applied so that running
// it again changes nothing.
//
//   parents:
//     - name: eth1
//       isolation: strict          # strict (default) | kernel
//       fastpath: tc               # tc (default) | xdp: unicast to children decided in native XDP first
//       bc_cutoff: 1               # optional: kernel macvlan's, kept and reported (we have no queue)
//       kind: veth                 # optional: its new children's kind, veth | netkit | auto (as children's kind)
//   children:
//     - name: c1
//       parent: eth1
//       mode: bridge               # private | vepa (default) | bridge | passthru | source
//       address: 02:00:00:00:00:01 # optional (random, or the parent's for passthru)
//       mtu: 1500                  # optional (the parent's)
//       netns: blue                # optional (the parent's netns)
//       state: up                  # up (default) | down
//       spoofchk: off              # off (default) | on: only the child's own source MAC may leave it
//       bcqueuelen: 1000           # optional: kernel macvlan's, kept and reported (we have no queue)
//       nodst: off                 # off (default) | on: frames from its sources reach only source children
//       macaddr: [02:0e:00:00:00:01] # source mode only: the remote source MACs it gets copies from
//       kind: veth                 # veth (default) | netkit (Linux 6.7+) | auto: netkit where the kernel has it
//       type: macvlan              # macvlan (default) | macvtap: a tap device user programs (QEMU) read and write
//       owner: qemu                # macvtap only, optional: a user (name or id) who may open its queues
//       group: kvm                 # macvtap only, optional: a group likewise
//       queues: 1                  # macvtap only: the queues a reader opens (tap exec, tap args), 1 to 256
//   prune: false                   # true: delete children the file does not list
import fs from 'node:fs';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node, type YAMLMap } from 'yaml';
import { CHILD_NODST, CHILD_SPOOFCHK, CHILD_UP, type ChildRecord, type Mode } from '../datapath/abi.js';
import { ConfigError } from './errors.js';
import { netnsExists } from '../net/links.js';
import type { Macvlan } from './macvlan.js';
import type { Mac } from '../mac.js';
import { MIN_MTU, checkBcCutoff, checkBcQueueLen, checkIfname, checkMtu, checkNetnsName, parseChildMac, parseFastpath, parseIsolation, parseKindChoice, parseMode, checkQueues, resolveId, type Fastpath, type Isolation, type KindChoice, type LinkType } from './validate.js';

export interface ParentConfig {
  name: string;
  isolation?: Isolation;
  fastpath?: Fastpath;
  bcCutoff?: number;
  /** The kind of its new children. */
  kind?: KindChoice;
  line: number;
}
export interface ChildConfig {
  name: string;
  parent: string;
  mode: Mode;
  address?: string;
  mtu?: number;
  netns: string;
  state: 'up' | 'down';
  spoofchk: boolean;
  bcqueuelen?: number;
  nodst: boolean;
  /** The child's device (veth when not given, or $MACVLAN_BPF_CHILD_KIND). */
  kind?: KindChoice;
  /** Source mode's list (absent: left as it is). */
  macaddr?: Mac[];
  /** macvtap: a tap child, its owner, group and queue count. */
  type: LinkType;
  owner?: string;
  group?: string;
  queues?: number;
  line: number;
}
export interface Config {
  file: string;
  parents: ParentConfig[];
  children: ChildConfig[];
  prune: boolean;
  /** Where prune was said (none: --prune on the command line). */
  pruneLine?: number;
}

const CHILD_KEYS = ['name', 'parent', 'mode', 'address', 'mtu', 'netns', 'state', 'spoofchk', 'bcqueuelen', 'nodst', 'macaddr', 'kind', 'type', 'owner', 'group', 'queues'];
const PARENT_KEYS = ['name', 'isolation', 'fastpath', 'bc_cutoff', 'kind'];
const TOP_KEYS = ['parents', 'children', 'prune'];

/** No configuration needs more (10,000 children are about 1 MiB). */
export const MAX_CONFIG_BYTES = 16 << 20;

export function loadConfigFile(file: string): Config {
  let text: string;
  try {
    // A device or a pipe (apply -f /dev/zero) would be read forever: only a regular file, of sane size.
    const st = fs.statSync(file);
    if (!st.isFile()) throw new ConfigError('EINVAL', `configuration file ${file} is not a regular file: give a YAML file`);
    if (st.size > MAX_CONFIG_BYTES) throw new ConfigError('E2BIG', `configuration file ${file} is ${st.size} bytes, more than the ${MAX_CONFIG_BYTES} a configuration may have`);
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError('ENOENT', `cannot read configuration file ${file}: ${(e as Error).message}`);
  }
  return parseConfig(text, file);
}

/** Parses and checks a configuration; throws a ConfigError naming file:line and the field. */
export function parseConfig(text: string, file = '<config>'): Config {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const lineOf = (n: Node | null | undefined) => (n?.range ? lc.linePos(n.range[0]).line : 1);
  const fail = (n: Node | null | undefined, field: string, problem: string): never => {
    throw new ConfigError('EINVAL', `${file}:${lineOf(n)}: ${field}: ${problem}`);
  };
  const err = doc.errors[0];
  if (err) throw new ConfigError('EINVAL', `${file}:${lc.linePos(err.pos[0]).line}: not valid YAML: ${err.message.split('\n')[0]}`);
  const cfg: Config = { file, parents: [], children: [], prune: false };
  if (doc.contents === null) return cfg;
  if (!isMap(doc.contents)) fail(doc.contents, 'top level', `expected a mapping with ${TOP_KEYS.join(', ')}`);
  const top = doc.contents as YAMLMap;

  const fields = (m: YAMLMap, allowed: string[], where: string) => {
    const out = new Map<string, Node>();
    for (const pair of m.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      if (!allowed.includes(key)) fail(pair.key as Node, `${where}${key || '<key>'}`, `unknown field; allowed: ${allowed.join(', ')}`);
      out.set(key, pair.value as Node);
    }
    return out;
  };
  const str = (n: Node | undefined, field: string): string => {
    if (!isScalar(n) || n.value === null || typeof n.value === 'object') fail(n, field, 'expected a string');
    return String((n as { value: unknown }).value);
  };
  /** A check of validate.ts, its problem reported at this node and field. */
  const checked = <T>(n: Node | undefined, field: string, check: () => T): T => {
    try {
      return check();
    } catch (e) {
      if (e instanceof ConfigError) fail(n, field, e.message);
      throw e;
    }
  };
  const list = (n: Node | undefined, field: string) => {
    if (n === undefined || (isScalar(n) && n.value === null)) return [];
    if (!isSeq(n)) fail(n, field, 'expected a list (items start with "- ")');
    return (n as unknown as { items: Node[] }).items;
  };

  const int = (n: Node | undefined, field: string, check: (v: number) => number): number => {
    if (!isScalar(n) || typeof n.value !== 'number') fail(n, field, `expected an integer, not ${isScalar(n) ? `"${String(n.value)}"` : 'this'}`);
    return checked(n, field, () => check((n as { value: number }).value));
  };
  const cutoffAt = new Map<number, Node>();
  const t = fields(top, TOP_KEYS, '');
  if (t.has('prune')) {
    const p = t.get('prune');
    if (!isScalar(p) || typeof p.value !== 'boolean') fail(p, 'prune', 'expected true or false');
    cfg.prune = (p as { value: boolean }).value;
    cfg.pruneLine = lineOf(p as Node);
  }
  list(t.get('parents'), 'parents').forEach((item, i) => {
    const where = `parents[${i}].`;
    if (!isMap(item)) fail(item, `parents[${i}]`, 'expected a mapping with name, isolation and fastpath');
    const f = fields(item as YAMLMap, PARENT_KEYS, where);
    if (!f.has('name')) fail(item, `${where}name`, 'missing: every parent needs a name');
    const p: ParentConfig = { name: str(f.get('name'), `${where}name`), line: lineOf(item) };
    if (f.has('isolation')) {
      const iso = str(f.get('isolation'), `${where}isolation`);
      p.isolation = checked(f.get('isolation'), `${where}isolation`, () => parseIsolation(iso));
    }
    if (f.has('fastpath')) {
      const fp = str(f.get('fastpath'), `${where}fastpath`);
      p.fastpath = checked(f.get('fastpath'), `${where}fastpath`, () => parseFastpath(fp));
    }
    if (f.has('kind')) {
      const k = str(f.get('kind'), `${where}kind`);
      p.kind = checked(f.get('kind'), `${where}kind`, () => parseKindChoice(k));
    }
    if (f.has('bc_cutoff')) {
      p.bcCutoff = int(f.get('bc_cutoff'), `${where}bc_cutoff`, checkBcCutoff);
      cutoffAt.set(i, f.get('bc_cutoff')!);
    }
    if (cfg.parents.some((q) => q.name === p.name)) fail(item, `${where}name`, `parent "${p.name}" is listed twice`);
    cfg.parents.push(p);
  });
  const byName = new Map<string, ChildConfig>(); // (netns, name)
  const upByAddress = new Map<string, ChildConfig>(); // (parent, address) of UP children
  list(t.get('children'), 'children').forEach((item, i) => {
    const where = `children[${i}].`;
    if (!isMap(item)) fail(item, `children[${i}]`, 'expected a mapping with name, parent, mode, ...');
    const f = fields(item as YAMLMap, CHILD_KEYS, where);
    for (const k of ['name', 'parent']) if (!f.has(k)) fail(item, `${where}${k}`, `missing: every child needs a ${k}`);
    const name = str(f.get('name'), `${where}name`);
    checked(f.get('name'), `${where}name`, () => checkIfname(name));
    const c: ChildConfig = { name, parent: str(f.get('parent'), `${where}parent`), mode: 'vepa', netns: '', state: 'up', spoofchk: false, nodst: false, type: 'macvlan', line: lineOf(item) };
    if (f.has('mode')) {
      const m = str(f.get('mode'), `${where}mode`);
      c.mode = checked(f.get('mode'), `${where}mode`, () => parseMode(m));
    }
    if (f.has('address')) {
      const a = str(f.get('address'), `${where}address`);
      c.address = checked(f.get('address'), `${where}address`, () => parseChildMac(a));
    }
    if (f.has('mtu')) {
      const n = f.get('mtu');
      if (!isScalar(n) || typeof n.value !== 'number') fail(n, `${where}mtu`, `expected an integer of at least ${MIN_MTU} (bytes)`);
      c.mtu = checked(n, `${where}mtu`, () => checkMtu((n as { value: number }).value));
    }
    if (f.has('netns')) {
      const ns = str(f.get('netns'), `${where}netns`);
      c.netns = checked(f.get('netns'), `${where}netns`, () => checkNetnsName(ns));
    }
    if (f.has('kind')) {
      const k = str(f.get('kind'), `${where}kind`);
      c.kind = checked(f.get('kind'), `${where}kind`, () => parseKindChoice(k));
    }
    if (f.has('state')) {
      const s = str(f.get('state'), `${where}state`);
      if (s !== 'up' && s !== 'down') fail(f.get('state'), `${where}state`, `"${s}" is not a state: use up or down`);
      c.state = s as 'up' | 'down';
    }
    for (const key of ['spoofchk', 'nodst'] as const) {
      if (!f.has(key)) continue;
      const n = f.get(key);
      const v = isScalar(n) ? n.value : undefined;
      if (v === true || v === 'on') c[key] = true;
      else if (v === false || v === 'off') c[key] = false;
      else fail(n, `${where}${key}`, `${isScalar(n) ? `"${String(v)}"` : 'this'} is not a switch: use on or off`);
    }
    if (f.has('macaddr')) {
      const n = f.get('macaddr');
      if (!isSeq(n)) fail(n, `${where}macaddr`, 'expected a list of MAC addresses, like [02:0e:00:00:00:01]');
      if (c.mode !== 'source') fail(n, `${where}macaddr`, `macaddr lists belong to source-mode children, and this one is ${c.mode}: set mode: source, or remove macaddr`);
      c.macaddr = (n as { items: Node[] }).items.map((x, j) => {
        const a = str(x, `${where}macaddr[${j}]`);
        return checked(x, `${where}macaddr[${j}]`, () => parseChildMac(a));
      });
    }
    if (f.has('bcqueuelen')) c.bcqueuelen = int(f.get('bcqueuelen'), `${where}bcqueuelen`, checkBcQueueLen);
    if (f.has('type')) {
      const ty = str(f.get('type'), `${where}type`);
      if (ty !== 'macvlan' && ty !== 'macvtap') fail(f.get('type'), `${where}type`, `"${ty}" is not a child type: use macvlan or macvtap`);
      c.type = ty as LinkType;
    }
    for (const key of ['owner', 'group'] as const) {
      if (!f.has(key)) continue;
      const v = str(f.get(key), `${where}${key}`);
      checked(f.get(key), `${where}${key}`, () => resolveId(key === 'owner' ? 'user' : 'group', v));
      c[key] = v;
    }
    if (f.has('queues')) c.queues = int(f.get('queues'), `${where}queues`, checkQueues);
    if (c.type === 'macvlan') {
      const tapOnly = (['owner', 'group', 'queues'] as const).find((k) => f.has(k));
      if (tapOnly) fail(f.get(tapOnly), `${where}${tapOnly}`, 'belongs to macvtap children: add type: macvtap, or remove it');
    } else {
      if (c.kind) fail(f.get('kind'), `${where}kind`, 'a macvtap child is a tap device: kind is for macvlan children; remove it');
      if (c.netns) fail(f.get('netns'), `${where}netns`, 'a macvtap child lives beside its parent (its readers reach it by fd): remove netns');
    }
    // By index, not by a scan of the children so far: a scan made 10,000 children cost 1.3 s here.
    const nameKey = `${c.netns}\0${c.name}`;
    const dup = byName.get(nameKey);
    if (dup) fail(item, `${where}name`, `child "${c.name}"${c.netns ? ` in netns "${c.netns}"` : ''} is already listed at line ${dup.line}`);
    const addrKey = c.address && c.state === 'up' ? `${c.parent}\0${c.address}` : '';
    const clash = addrKey ? upByAddress.get(addrKey) : undefined;
    if (clash) fail(f.get('address'), `${where}address`, `${c.address} is also the address of "${clash.name}" (line ${clash.line}), UP on the same parent`);
    byName.set(nameKey, c);
    if (addrKey) upByAddress.set(addrKey, c);
    cfg.children.push(c);
  });
  cfg.parents.forEach((p, i) => {
    // The kernel keeps bc_cutoff in the port, which lives only while the parent has children.
    if (p.bcCutoff !== undefined && !cfg.children.some((c) => c.parent === p.name))
      fail(cutoffAt.get(i), `parents[${i}].bc_cutoff`, `bc_cutoff belongs to the port, which exists only with children: list a child on ${p.name}, or remove bc_cutoff`);
  });
  return cfg;
}

/**
 * Makes the instance look like the configuration: missing children are made, differing settings
 * changed, states set; with prune, unlisted children are deleted. Everything the kernel can refuse
 * up front (a missing parent or netns) is checked before the first change. Returns what it changed.
 */
export function applyConfig(m: Macvlan, cfg: Config, opts: { prune?: boolean } = {}): string[] {
  const at = (line: number, field: string, problem: string, code: ConstructorParameters<typeof ConfigError>[0] = 'ENODEV') =>
    new ConfigError(code, `${cfg.file}:${line}: ${field}: ${problem}`);
  const linkKnown = new Map<string, boolean>();
  const hasLink = (name: string) => linkKnown.get(name) ?? (linkKnown.set(name, m.hasLink(name)).get(name)!);
  const nsKnown = new Map<string, boolean>(); // thousands of children share a few netns
  const hasNetns = (name: string) => nsKnown.get(name) ?? (nsKnown.set(name, netnsExists(name)).get(name)!);
  cfg.children.forEach((c, i) => {
    if (!hasLink(c.parent)) throw at(c.line, `children[${i}].parent`, `no interface "${c.parent}" in this network namespace`);
    if (c.netns && !hasNetns(c.netns)) throw at(c.line, `children[${i}].netns`, `network namespace "${c.netns}" does not exist: create it first (ip netns add ${c.netns})`, 'ENOENT');
  });
  cfg.parents.forEach((p, i) => {
    if (!hasLink(p.name)) throw at(p.line, `parents[${i}].name`, `no interface "${p.name}" in this network namespace`);
  });

  return m.batch(() => applyChecked(m, cfg, opts));
}

/** Where in the file a step comes from: its line and the field a refusal of it is about. */
interface At {
  line: number;
  field: string;
}

/**
 * Every change is journalled with its inverse as it is made; when the kernel (or a check) refuses one,
 * the journal is run backwards, so the instance is as it was, and the refusal is reported with the
 * file, line and field it came from. A deleted child is re-made from its record (same name, parent,
 * mode, MAC, MTU, netns and state; its counters start again).
 */
function applyChecked(m: Macvlan, cfg: Config, opts: { prune?: boolean }): string[] {
  const changes: string[] = [];
  const journal: (() => void)[] = [];
  const step = (at: At, fieldOf: (e: ConfigError) => string, change: () => void, undo?: () => void): void => {
    try {
      change();
    } catch (e) {
      const undone = journal.length;
      const failedUndo: string[] = [];
      for (const u of journal.reverse()) {
        try {
          u();
        } catch (ue) {
          failedUndo.push((ue as Error).message);
        }
      }
      if (!(e instanceof ConfigError)) throw e;
      const after = failedUndo.length
        ? ` (undoing the ${undone} change(s) made before it failed in part: ${failedUndo.join('; ')})`
        : undone ? ` (the ${undone} change(s) made before it were undone: nothing changed)` : ' (nothing changed)';
      throw new ConfigError(e.code, `${cfg.file}:${at.line}: ${fieldOf(e)}: ${e.message}${after}`);
    }
    if (undo) journal.push(undo);
  };
  const field = (name: string) => () => name;
  const label = (c: { name: string; netns: string }) => (c.netns ? `${c.name} (netns ${c.netns})` : c.name);
  /** The inverse of deleting a child: made again as it was. */
  const remake = (x: ChildRecord) => {
    const parent = m.ifname(x.parentIfindex);
    const up = (x.flags & CHILD_UP) !== 0;
    const netns = x.netns || undefined;
    const bcqueuelen = m.bcQueueLen(x);
    const macaddr = x.mode === 'source' ? m.macaddrOf(x.name, netns) : [];
    const access = m.tapAccess(x); // a tap's owner and group live only in the kernel: read before it goes
    return () => {
      m.add({ parent, name: x.name, mode: x.mode, address: x.mac, mtu: x.mtu, netns, spoofchk: (x.flags & CHILD_SPOOFCHK) !== 0, bcqueuelen, ...kindRequest(x), ...access,
        nodst: (x.flags & CHILD_NODST) !== 0, ...(macaddr.length ? { macaddr: { op: 'set' as const, macs: macaddr } } : {}) });
      if (up) m.setUp(x.name, true, netns);
    };
  };

  cfg.parents.forEach((p, i) => {
    const at = { line: p.line, field: `parents[${i}]` };
    const isolation = m.isolation(p.name);
    if (p.isolation && isolation !== p.isolation) {
      step(at, field(`${at.field}.isolation`), () => m.setIsolation(p.name, p.isolation!), () => m.setIsolation(p.name, isolation));
      changes.push(`port ${p.name}: isolation ${p.isolation}`);
    }
    const fastpath = m.fastpath(p.name);
    if (p.fastpath && fastpath !== p.fastpath) {
      step(at, field(`${at.field}.fastpath`), () => m.setFastpath(p.name, p.fastpath!), () => m.setFastpath(p.name, fastpath));
      changes.push(`port ${p.name}: fastpath ${p.fastpath}`);
    }
    const kind = m.childKind(p.name);
    if (p.kind && kind !== p.kind) {
      step(at, field(`${at.field}.kind`), () => m.setChildKind(p.name, p.kind!), () => m.setChildKind(p.name, kind));
      changes.push(`port ${p.name}: kind ${p.kind} (for new children)`);
    }
  });
  const existing = new Map(m.children().map((x) => [`${x.netns}\0${x.name}`, x]));
  cfg.children.forEach((c, i) => {
    const at = { line: c.line, field: `children[${i}]` };
    const netns = c.netns || undefined;
    let have = existing.get(`${c.netns}\0${c.name}`);
    const otherKind = have !== undefined && ((c.kind !== undefined && c.kind !== 'auto' && have.kind !== c.kind) || m.linkType(have) !== c.type || (c.type === 'macvtap' && (have.queues ?? 1) !== (c.queues ?? 1)));
    if (have && (m.ifname(have.parentIfindex) !== c.parent || ((have.mode === 'passthru') !== (c.mode === 'passthru')) || otherKind)) {
      const old = { ...have };
      // The parent, to/from passthru, or the device's kind cannot change in place.
      step(at, field(`${at.field}.${otherKind ? 'kind' : 'parent'}`), () => m.del(c.name, c.netns), remake(old));
      changes.push(`deleted ${label(c)} to re-create it`);
      have = undefined;
    }
    if (!have) {
      // Which field a refusal of the new child is about: its address, its MTU, or its name.
      const addField = (e: ConfigError) =>
        `${at.field}.${e.code === 'EEXIST' ? 'name' : e.code === 'EADDRINUSE' || e.code === 'EADDRNOTAVAIL' ? 'address' : /\bmtu\b/i.test(e.message) ? 'mtu' : /netns|namespace/.test(e.message) ? 'netns' : 'name'}`;
      step(at, addField, () => void m.add({ parent: c.parent, name: c.name, mode: c.mode, address: c.address, mtu: c.mtu, netns, spoofchk: c.spoofchk, bcqueuelen: c.bcqueuelen, childKind: c.kind,
        type: c.type, owner: c.owner, group: c.group, queues: c.queues,
        nodst: c.nodst, up: c.state === 'up', ...(c.macaddr ? { macaddr: { op: 'set' as const, macs: c.macaddr } } : {}) }), () => m.del(c.name, c.netns));
      changes.push(`added ${label(c)} on ${c.parent}, mode ${c.mode}${c.spoofchk ? ', spoofchk on' : ''}${c.nodst ? ', nodst' : ''}${c.macaddr ? `, ${c.macaddr.length} source address(es)` : ''}`);
    } else {
      const was = { ...have };
      const list = was.mode === 'source' ? m.macaddrOf(c.name, netns) : [];
      const setList = (macs: Mac[]) => m.setMacaddr(c.name, { op: 'set', macs }, c.netns);
      if (was.mode !== c.mode) {
        // Leaving source mode flushes the list: the undo brings it back.
        step(at, field(`${at.field}.mode`), () => m.setMode(c.name, c.mode, c.netns), () => {
          m.setMode(c.name, was.mode, c.netns);
          if (list.length) setList(list);
        });
        changes.push(`${label(c)}: mode ${c.mode}`);
      }
      if (c.address && c.mode !== 'passthru' && was.mac !== c.address) {
        step(at, field(`${at.field}.address`), () => m.setAddress(c.name, c.address!, c.netns), () => m.setAddress(c.name, was.mac, c.netns));
        changes.push(`${label(c)}: address ${c.address}`);
      }
      if (c.mtu && was.mtu !== c.mtu) {
        step(at, field(`${at.field}.mtu`), () => m.setMtu(c.name, c.mtu!, c.netns), () => m.setMtu(c.name, was.mtu, c.netns));
        changes.push(`${label(c)}: mtu ${c.mtu}`);
      }
      const spoofchk = (was.flags & CHILD_SPOOFCHK) !== 0;
      if (spoofchk !== c.spoofchk) {
        step(at, field(`${at.field}.spoofchk`), () => m.setSpoofchk(c.name, c.spoofchk, c.netns), () => m.setSpoofchk(c.name, spoofchk, c.netns));
        changes.push(`${label(c)}: spoofchk ${c.spoofchk ? 'on' : 'off'}`);
      }
      const listNow = c.mode === was.mode ? list : []; // a mode change has just flushed it
      const want = c.macaddr ? [...new Set(c.macaddr)].sort() : undefined;
      if (want && want.join() !== listNow.join()) {
        step(at, field(`${at.field}.macaddr`), () => setList(want), () => (m.findChild(c.name, c.netns).mode === 'source' ? setList(listNow) : undefined));
        changes.push(`${label(c)}: macaddr ${want.join(' ') || '(none)'}`);
      }
      const nodst = (was.flags & CHILD_NODST) !== 0;
      if (nodst !== c.nodst) {
        step(at, field(`${at.field}.nodst`), () => m.setNodst(c.name, c.nodst, c.netns), () => m.setNodst(c.name, nodst, c.netns));
        changes.push(`${label(c)}: nodst ${c.nodst ? 'on' : 'off'}`);
      }
      const bcqueuelen = c.bcqueuelen === undefined ? undefined : m.bcQueueLen(was); // a lookup only when asked
      if (bcqueuelen !== undefined && bcqueuelen !== c.bcqueuelen) {
        step(at, field(`${at.field}.bcqueuelen`), () => m.setBcQueueLen(c.name, c.bcqueuelen!, c.netns), () => m.setBcQueueLen(c.name, bcqueuelen, c.netns));
        changes.push(`${label(c)}: bcqueuelen ${c.bcqueuelen}`);
      }
    }
    const up = (m.findChild(c.name, c.netns).flags & CHILD_UP) !== 0;
    if ((c.state === 'up') !== up) {
      step(at, field(`${at.field}.state`), () => m.setUp(c.name, c.state === 'up', c.netns), () => m.setUp(c.name, up, c.netns));
      changes.push(`${label(c)}: ${c.state}`);
    }
  });
  cfg.parents.forEach((p, i) => {
    if (p.bcCutoff === undefined) return;
    const via = cfg.children.find((c) => c.parent === p.name)!; // parseConfig made sure there is one
    const was = m.bcCutoff(p.name);
    if (was === p.bcCutoff) return;
    step({ line: p.line, field: `parents[${i}]` }, field(`parents[${i}].bc_cutoff`), () => m.setBcCutoff(via.name, p.bcCutoff!, via.netns), () => m.setBcCutoff(via.name, was, via.netns));
    changes.push(`port ${p.name}: bc_cutoff ${p.bcCutoff}`);
  });
  if (opts.prune) {
    const keep = new Set(cfg.children.map((c) => `${c.netns}\0${c.name}`));
    for (const x of m.children()) {
      if (keep.has(`${x.netns}\0${x.name}`)) continue;
      const old = { ...x };
      step({ line: cfg.pruneLine ?? 0, field: 'prune' }, field(cfg.pruneLine ? 'prune' : `prune (--prune): ${label(x)}`), () => m.del(x.name, x.netns), remake(old));
      changes.push(`deleted ${label(x)} (not in ${cfg.file})`);
    }
  }
  return changes;
}

/** How to ask for a child of this record's kind again (a tap is asked for as a macvtap). */
function kindRequest(x: ChildRecord): { childKind?: KindChoice; type?: LinkType; queues?: number } {
  return x.kind === 'tap' ? { type: 'macvtap', queues: x.queues } : { childKind: x.kind };
}
