// The loaded datapath of one instance: programs and maps pinned under one pin root, and their TC
// attachments. Everything here is mechanism; the rules for when to attach or insert live in control/.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { addon, projectRoot, type BpfMap, type BpfProgram } from '../native.js';
import {
  SIZES, FLOOD_BUDGET_DEFAULT, FLOOD_CHUNK_DEFAULT, u32Key, encodeMacKey, encodeMacVal, decodeMacKey, decodeMacVal, encodeChild, decodeChild,
  encodePort, decodePort, encodeFloodKey, encodeFloodVal, decodeFloodVal, encodeSourceVal, decodeSourceVal, encodeMcKey, decodeMcKey, encodeGroupVal, decodeGroupVal,
  type ChildRecord, type PortRecord, type MacEntry, type FloodEntry,
} from './abi.js';
import type { Mac } from '../mac.js';
import { IngressHooks, chooseHookMode, type HookMode } from './hooks.js';
import { XdpHooks } from './xdp.js';
import { NetkitHooks } from './netkit.js';
import { currentNetns, defaultPinRoot, markerOf, netnsGone, parseMarker, reclaimStale } from './instances.js';

export { DEFAULT_PIN_ROOT, NETNS_PIN_BASE } from './instances.js';
export const BPFFS = '/sys/fs/bpf';

/** MACVLAN_BPF_PIN_ROOT, or the default instance of this network namespace (see instances.ts). */
export function pinRootFromEnv(): string {
  return process.env.MACVLAN_BPF_PIN_ROOT || defaultPinRoot();
}

const PROGRAMS = {
  parent: { object: 'tc_parent.bpf.o', name: 'mvb_parent_ingress', pin: 'prog_parent_ingress' },
  child: { object: 'tc_child.bpf.o', name: 'mvb_child_ingress', pin: 'prog_child_ingress' },
  xdp: { object: 'xdp_parent.bpf.o', name: 'mvb_parent_xdp', pin: 'prog_parent_xdp' },
  netkit: { object: 'netkit_peer.bpf.o', name: 'mvb_child_netkit', pin: 'prog_child_netkit' },
} as const;
export type ProgramRole = keyof typeof PROGRAMS;
/** The programs that sit on a TC ingress hook. */
export type TcRole = 'parent' | 'child';

const MAP_NAMES = ['mvb_macs', 'mvb_children', 'mvb_ports', 'mvb_flood', 'mvb_child_ctrs', 'mvb_parent_ctrs', 'mvb_bcqueuelen', 'mvb_bc_cutoff', 'mvb_sources', 'mvb_mc', 'mvb_mc_dirty', 'mvb_groups', 'mvb_nsources', 'mvb_flood_cfg', 'mvb_macs_gen'] as const;
/** Kernel macvlan's defaults for the broadcast queue's settings (MACVLAN_DEFAULT_BC_QUEUE_LEN, bc_cutoff). */
export const DEFAULT_BC_QUEUE_LEN = 1000;
export const DEFAULT_BC_CUTOFF = 1;
type MapName = (typeof MAP_NAMES)[number];

export class DatapathError extends Error {}

/** Each pinned map's key and value sizes in this build (abi.ts mirrors mvb_abi.h). */
const LAYOUT: Partial<Record<MapName, [number, number]>> = {
  mvb_macs: [SIZES.macKey, SIZES.macVal],
  mvb_children: [4, SIZES.child],
  mvb_ports: [4, SIZES.port],
  mvb_flood: [SIZES.floodKey, SIZES.floodVal],
  mvb_sources: [SIZES.macKey, SIZES.sourceVal],
  mvb_groups: [SIZES.macKey, SIZES.groupVal],
  mvb_child_ctrs: [4, SIZES.childStats],
  mvb_parent_ctrs: [4, SIZES.parentStats],
  mvb_flood_cfg: [4, SIZES.floodCfg],
  mvb_macs_gen: [4, 8],
};

/** What converting one map's entries may ask of the others': each port's and each child's counter
 * slot (given while mvb_ports and mvb_children are converted, which go first in that order; else read
 * from the new maps). */
interface Migration {
  slotOf(hostIfindex: number): number;
  give(hostIfindex: number): number;
  portSlotOf(parentIfindex: number): number;
  givePort(parentIfindex: number): number;
}

/** Copies an old value into a new, longer one (zeros after it) and writes a child's slot at `at`. */
function withSlot(size: number, at: number, host: (old: Buffer, key: Buffer) => number, slot: (host: number) => number) {
  return (old: Buffer, key: Buffer): Buffer => {
    const b = Buffer.alloc(size);
    old.copy(b, 0, 0, Math.min(old.length, at));
    b.writeUInt32LE(slot(host(old, key)), at);
    return b;
  };
}

/**
 * Maps whose values this build made longer, with how an old value becomes a new one. mvb_ports grew
 * the flood counts (issue 18): until reconcile recounts them, every entry counts as getting every
 * group, so the datapath walks as the old build did. The children's registry, MAC and flood entries
 * grew their counter slot (mvb_abi.h): each child is given one, in the registry's order, and its entries
 * name it.
 */
const GROWN: Partial<Record<MapName, (old: Buffer, key: Buffer, m: Migration) => Buffer>> = {
  mvb_ports: (old, key, m) => {
    const b = Buffer.alloc(SIZES.port);
    old.copy(b, 0, 0, Math.min(old.length, 44));
    if (old.length <= 24) b.writeUInt32LE(b.readUInt32LE(20), 40); // nflood_all = nflood
    b.writeUInt32LE(m.givePort(key.readUInt32LE(0)), 44);
    return b;
  },
  mvb_children: (old, key, m) => {
    const b = withSlot(SIZES.child, 96, (_v, k) => k.readUInt32LE(0), (h) => m.give(h))(old, key);
    b.writeUInt32LE(m.portSlotOf(old.readUInt32LE(0)), 100);
    return b;
  },
  mvb_macs: (old, key, m) => withSlot(SIZES.macVal, 8, (v) => v.readUInt32LE(0), (h) => m.slotOf(h))(old, key),
  mvb_flood: (old, key, m) => withSlot(SIZES.floodVal, 8, (v) => v.readUInt32LE(0), (h) => m.slotOf(h))(old, key),
};
/** The hashes of counters by ifindex that older builds pinned, whose values move to the slots. */
const OLD_STATS = { mvb_child_stats: 'mvb_child_ctrs', mvb_parent_stats: 'mvb_parent_ctrs' } as const;

/**
 * Compares the pinned maps with this build's layout before a build takes an instance over. A map whose
 * values grew (GROWN) is moved aside to be copied into the new map after the load (see migrate); any
 * other difference is refused, naming the map and what to do, before anything is loaded. A map this
 * build adds is made at load; one it no longer has is left alone. Returns the maps moved aside.
 */
function checkPinnedLayout(pinRoot: string): MapName[] {
  const a = addon();
  const moved: MapName[] = [];
  const plan: MapName[] = [];
  for (const [name, [key, value]] of Object.entries(LAYOUT) as [MapName, [number, number]][]) {
    const pin = path.join(pinRoot, name);
    if (!fs.existsSync(pin)) continue;
    const m = new a.BpfMap({ pin });
    let info: { keySize: number; valueSize: number };
    try {
      info = m.info();
    } finally {
      m.close();
    }
    if (info.keySize === key && info.valueSize === value) continue;
    if (info.keySize === key && info.valueSize < value && GROWN[name]) {
      plan.push(name);
      continue;
    }
    throw new DatapathError(`the instance pinned at ${pinRoot} was made by a build whose maps have another layout (${name}: ${info.keySize}-byte keys and ${info.valueSize}-byte values, this build's ${key} and ${value}), which this build cannot convert: delete its children (link del, or apply --prune with an empty file) with the build that made them, then run this one; or stop its agent and remove ${pinRoot} (forwarding stops until the children are made again)`);
  }
  for (const name of plan) {
    fs.renameSync(path.join(pinRoot, name), path.join(pinRoot, `${name}_old`));
    moved.push(name);
  }
  return moved;
}

/** Copies the entries of the maps moved aside into the new ones (converted), then drops the old pins,
 * children first (the others' entries name their slots); then an older build's child counters into the
 * children's slots. The old programs, still attached until the caller re-attaches, keep using the old
 * maps meanwhile: what they count after their counters were copied is not carried over. */
function migrate(pinRoot: string, moved: MapName[]): void {
  const a = addon();
  /** Slots given while `map` is converted, or (when it is not) those its new entries name. */
  const slots = (map: 'mvb_children' | 'mvb_ports', slotOf: (v: Buffer) => number) => {
    const given = new Map<number, number>();
    let known: Map<number, number> | null = null;
    return {
      give: (k: number) => {
        given.set(k, given.size + 1);
        return given.size;
      },
      of: (k: number) => {
        if (!known) {
          if (moved.includes(map)) known = given;
          else {
            const neu = new a.BpfMap({ pin: path.join(pinRoot, map) });
            try {
              known = new Map(entries(neu).map(([key, v]) => [key.readUInt32LE(0), slotOf(v)]));
            } finally {
              neu.close();
            }
          }
        }
        return known.get(k) ?? 0;
      },
    };
  };
  const children = slots('mvb_children', (v) => decodeChild(v).slot ?? 0);
  const ports = slots('mvb_ports', (v) => decodePort(v).slot ?? 0);
  const m: Migration = { give: children.give, slotOf: children.of, givePort: ports.give, portSlotOf: ports.of };
  const first: MapName[] = ['mvb_ports', 'mvb_children'];
  const order = [...first.filter((n) => moved.includes(n)), ...moved.filter((n) => !first.includes(n))];
  for (const name of order) {
    const old = new a.BpfMap({ pin: path.join(pinRoot, `${name}_old`) });
    const neu = new a.BpfMap({ pin: path.join(pinRoot, name) });
    try {
      for (const [k, v] of entries(old)) neu.update(k, GROWN[name]!(v, k, m));
    } finally {
      old.close();
      neu.close();
    }
    fs.unlinkSync(path.join(pinRoot, `${name}_old`));
  }
  for (const [was, now] of Object.entries(OLD_STATS)) {
    const oldStats = path.join(pinRoot, was);
    if (!fs.existsSync(oldStats)) continue;
    const slotOf = now === 'mvb_child_ctrs' ? m.slotOf : m.portSlotOf;
    const old = new a.BpfMap({ pin: oldStats });
    const neu = new a.BpfMap({ pin: path.join(pinRoot, now) });
    try {
      if (old.info().valueBytes === neu.info().valueBytes)
        for (const [k, v] of entries(old)) {
          const slot = slotOf(k.readUInt32LE(0));
          if (slot) neu.update(u32Key(slot), v);
        }
    } finally {
      old.close();
      neu.close();
    }
    fs.unlinkSync(oldStats);
  }
}

/** Puts the maps moved aside back (the new build failed to load). */
function unmove(pinRoot: string, moved: MapName[]): void {
  for (const name of moved) {
    const pin = path.join(pinRoot, name);
    if (fs.existsSync(pin)) fs.unlinkSync(pin);
    fs.renameSync(path.join(pinRoot, `${name}_old`), pin);
  }
}

/** Mounts bpffs at /sys/fs/bpf when a fresh machine has none. */
export function ensureBpffs(): void {
  const a = addon();
  if (a.isBpffs(BPFFS)) return;
  try {
    a.mountBpffs(BPFFS);
  } catch (e) {
    throw new DatapathError(`bpffs is not mounted at ${BPFFS} and mounting it failed (${(e as Error).message}); run as root, or mount it: mount -t bpf bpf ${BPFFS}`);
  }
}

/** The build of the BPF objects on disk: a hash of their bytes, recorded as a `build-<id>` marker. */
export function buildId(): string {
  const h = createHash('sha256');
  for (const role of Object.keys(PROGRAMS) as ProgramRole[]) {
    const file = path.join(projectRoot, 'bpf', PROGRAMS[role].object);
    if (fs.existsSync(file)) h.update(fs.readFileSync(file));
  }
  return h.digest('hex').slice(0, 12);
}

export class Datapath {
  readonly maps: Record<MapName, BpfMap>;
  readonly programs: Record<ProgramRole, BpfProgram>;
  /** True when this open replaced the pinned programs with a newer build (attachments must follow). */
  upgraded = false;
  /** True when this open found the hooks made in another mode (tcx vs cls_bpf): attachments must follow. */
  rehooked = false;
  /** Instances this open found stale (their network namespace gone) and removed. */
  reclaimed: string[] = [];
  /** Where the programs sit on each device: tcx links, or cls_bpf filters where the kernel lacks tcx. */
  readonly hooks: IngressHooks;
  /** The XDP fast path's hooks on parents (native XDP links). */
  readonly xdp: XdpHooks;
  /** netkit children's transmit hooks (peer-slot links on their primaries). */
  readonly netkit: NetkitHooks;

  private constructor(readonly pinRoot: string, maps: Record<MapName, BpfMap>, programs: Record<ProgramRole, BpfProgram>) {
    this.maps = maps;
    this.programs = programs;
    this.hooks = new IngressHooks(pinRoot, chooseHookMode(programs.parent.fd));
    this.xdp = new XdpHooks(pinRoot);
    this.netkit = new NetkitHooks(pinRoot);
  }

  /** True when an instance is pinned at pinRoot. */
  static exists(pinRoot = pinRootFromEnv()): boolean {
    return fs.existsSync(path.join(pinRoot, PROGRAMS.parent.pin));
  }

  /**
   * Opens the instance pinned at pinRoot, loading and pinning it first when there is none. An instance
   * belongs to the network namespace its parents live in (ifindexes are per netns), recorded as a
   * `netns-<inode>` directory beside the pins.
   */
  static open(pinRoot = pinRootFromEnv(), opts: { create?: boolean } = {}): Datapath {
    const a = addon();
    ensureBpffs();
    if (!pinRoot.startsWith(BPFFS + '/')) throw new DatapathError(`pin root ${pinRoot} is not under ${BPFFS}`);
    const here = currentNetns();
    const marker = markerOf(here);
    const reclaimed = reclaimStale(pinRoot);
    if (fs.existsSync(pinRoot)) {
      for (const other of fs.readdirSync(pinRoot).filter((f) => f.startsWith('netns-') && f !== marker)) {
        const m = parseMarker(other);
        if (m && m.ino === here.ino && m.cookie === null) {
          fs.rmdirSync(path.join(pinRoot, other)); // written by an older version for this same netns
        } else if (m && netnsGone(pinRoot, m)) {
          // Its netns is gone, and with it every device it served: nothing is left to forward.
          Datapath.destroy(pinRoot);
          reclaimed.push(`${pinRoot} (its network namespace, inode ${m.ino}, is gone)`);
          break;
        } else {
          throw new DatapathError(`the instance pinned at ${pinRoot} serves another network namespace (inode ${m?.ino ?? other}), which still exists, and this command runs in inode ${here.ino}: run it in the parents' namespace (nsenter --net=...), or leave MACVLAN_BPF_PIN_ROOT unset to use this namespace's own instance`);
        }
      }
    }
    const build = `build-${buildId()}`;
    let upgraded = false;
    if (!Datapath.exists(pinRoot)) {
      if (opts.create === false) throw new DatapathError(`no macvlan-bpf instance is pinned at ${pinRoot}`);
      Datapath.load(pinRoot);
    } else if (!fs.existsSync(path.join(pinRoot, build))) {
      // Another build is pinned: load this one against the same pinned maps (nothing is lost) and
      // swap the program pins; the caller re-attaches with replace, which is atomic per hook.
      const moved = checkPinnedLayout(pinRoot);
      try {
        Datapath.load(pinRoot);
      } catch (e) {
        unmove(pinRoot, moved);
        throw e;
      }
      migrate(pinRoot, moved);
      upgraded = true;
    }
    fs.mkdirSync(path.join(pinRoot, marker), { recursive: true });
    for (const f of fs.readdirSync(pinRoot)) if (f.startsWith('build-') && f !== build) fs.rmdirSync(path.join(pinRoot, f));
    fs.mkdirSync(path.join(pinRoot, build), { recursive: true });
    const maps = Object.fromEntries(MAP_NAMES.map((n) => [n, new a.BpfMap({ pin: path.join(pinRoot, n) })])) as Record<MapName, BpfMap>;
    const programs = Object.fromEntries(
      (Object.keys(PROGRAMS) as ProgramRole[]).map((r) => [r, new a.BpfProgram({ pin: path.join(pinRoot, PROGRAMS[r].pin) })]),
    ) as Record<ProgramRole, BpfProgram>;
    const dp = new Datapath(pinRoot, maps, programs);
    dp.upgraded = upgraded;
    if (upgraded) dp.recountSources(); // a build without mvb_nsources left it at 0
    dp.reclaimed = reclaimed;
    // The hook mode the hooks were made in, as a `hooks-<mode>` marker: a change means taking them over.
    const hookMarker = `hooks-${dp.hooks.mode}`;
    if (!fs.existsSync(path.join(pinRoot, hookMarker))) {
      dp.rehooked = true;
      for (const f of fs.readdirSync(pinRoot)) if (f.startsWith('hooks-')) fs.rmdirSync(path.join(pinRoot, f));
      fs.mkdirSync(path.join(pinRoot, hookMarker));
    }
    return dp;
  }

  /** Loads every object (maps pin by name under pinRoot, reusing pinned ones) and pins its program. */
  private static load(pinRoot: string): void {
    const a = addon();
    fs.mkdirSync(pinRoot, { recursive: true });
    for (const role of Object.keys(PROGRAMS) as ProgramRole[]) {
      const spec = PROGRAMS[role];
      const file = path.join(projectRoot, 'bpf', spec.object);
      if (!fs.existsSync(file)) throw new DatapathError(`BPF object ${file} is missing; build it with 'npm run setup'`);
      const obj = new a.BpfObject(file, pinRoot);
      try {
        const prog = new a.BpfProgram({ fd: obj.programFd(spec.name) });
        const pin = path.join(pinRoot, spec.pin);
        const fresh = `${pin}_new`; // bpffs refuses names with a dot
        if (fs.existsSync(fresh)) fs.unlinkSync(fresh); // a half-made load: start again
        prog.pin(fresh);
        fs.renameSync(fresh, pin); // replaces an older build's pin in one step
        prog.close();
      } finally {
        obj.close();
      }
    }
  }

  /** Removes every pin of this instance (its maps die with their last user). */
  static destroy(pinRoot = pinRootFromEnv()): void {
    if (fs.existsSync(pinRoot)) fs.rmSync(pinRoot, { recursive: true, force: true });
  }

  close(): void {
    for (const m of Object.values(this.maps)) m.close();
    for (const p of Object.values(this.programs)) p.close();
  }

  // --- attachments ---------------------------------------------------------------------------------
  /**
   * Puts the role's program on the device's ingress (or swaps it in, atomically, if one is there), in
   * the instance's hook mode unless told otherwise. ownsClsact: a clsact found there is ours.
   */
  /** fresh: the device was just made (no older hook of ours can be on it). */
  attach(role: TcRole, ifindex: number, opts: { ownsClsact?: boolean; mode?: HookMode; fresh?: boolean } = {}): { qdiscCreated: boolean; qdiscRemoved: boolean } {
    return this.hooks.attach(ifindex, this.programs[role].fd, opts.ownsClsact ?? role === 'child', opts.mode, opts.fresh);
  }
  /** The id of another instance's parent program on the device, or 0 (see IngressHooks.foreignProgram). */
  foreignParentProgram(ifindex: number): number {
    return this.hooks.foreignProgram(ifindex, PROGRAMS.parent.name, this.programs.parent.info().id, this.maps.mvb_macs.info().id);
  }
  private readonly ids = new Map<ProgramRole, number>();
  /** The kernel's id of this instance's program for the role (what its hooks should carry). */
  programId(role: ProgramRole): number {
    let id = this.ids.get(role);
    if (id === undefined) this.ids.set(role, (id = this.programs[role].info().id));
    return id;
  }
  attachedProgramId(ifindex: number): number {
    return this.hooks.programId(ifindex);
  }
  detach(ifindex: number, removeClsact: boolean): void {
    this.hooks.detach(ifindex, removeClsact);
  }
  /** The XDP fast path's program on a parent (`dev` names it in errors), swapped in if ours is there. */
  attachXdp(ifindex: number, dev: string): void {
    this.xdp.attach(ifindex, this.programs.xdp.fd, dev);
  }
  detachXdp(ifindex: number): void {
    this.xdp.detach(ifindex);
  }

  // --- the MAC table -------------------------------------------------------------------------------
  // Every change, to the table or to the registry of children, is followed by a new generation, which
  // makes every CPU's cached entries stale (the datapath's per-CPU caches of both, mvb_abi.h): after the
  // call, no frame sees the old entry.
  putMac(parentIfindex: number, mac: Mac, v: MacEntry): void {
    this.maps.mvb_macs.update(encodeMacKey(parentIfindex, mac), encodeMacVal(v));
    this.newGeneration();
  }
  deleteMac(parentIfindex: number, mac: Mac): boolean {
    const had = this.maps.mvb_macs.delete(encodeMacKey(parentIfindex, mac));
    if (had) this.newGeneration();
    return had;
  }
  /** A random one, never 0: writers in several processes cannot repeat each other's. */
  private newGeneration(): void {
    const g = randomBytes(8);
    g[7] = g[7]! | 0x80;
    this.maps.mvb_macs_gen.update(Buffer.alloc(4), g);
  }
  getMac(parentIfindex: number, mac: Mac): MacEntry | null {
    const v = this.maps.mvb_macs.lookup(encodeMacKey(parentIfindex, mac));
    return v ? decodeMacVal(v) : null;
  }
  listMacs(): { parentIfindex: number; mac: Mac; entry: MacEntry }[] {
    return entries(this.maps.mvb_macs).map(([k, v]) => ({ ...decodeMacKey(k), entry: decodeMacVal(v) }));
  }

  // --- the registry of children ---------------------------------------------------------------------
  /** `copy`: how its flood copies reach it (COPY_PEER or 0; the control plane's registry says). */
  putChild(c: ChildRecord, copy = 0): void {
    this.maps.mvb_children.update(u32Key(c.hostIfindex), encodeChild(c, copy));
    this.newGeneration();
  }
  getChild(hostIfindex: number): ChildRecord | null {
    const v = this.maps.mvb_children.lookup(u32Key(hostIfindex));
    return v ? decodeChild(v) : null;
  }
  deleteChild(hostIfindex: number): boolean {
    const had = this.maps.mvb_children.delete(u32Key(hostIfindex));
    if (had) this.newGeneration();
    return had;
  }
  /** Every child, oldest first, read in one batched call. */
  listChildren(): ChildRecord[] {
    return entries(this.maps.mvb_children).map(([, v]) => decodeChild(v))
      .sort((x, y) => (x.createdNs < y.createdNs ? -1 : x.createdNs > y.createdNs ? 1 : 0));
  }

  // --- ports ---------------------------------------------------------------------------------------
  putPort(parentIfindex: number, p: PortRecord): void {
    this.maps.mvb_ports.update(u32Key(parentIfindex), encodePort(p));
  }
  getPort(parentIfindex: number): PortRecord | null {
    const v = this.maps.mvb_ports.lookup(u32Key(parentIfindex));
    return v ? decodePort(v) : null;
  }
  deletePort(parentIfindex: number): boolean {
    return this.maps.mvb_ports.delete(u32Key(parentIfindex));
  }
  listPorts(): { parentIfindex: number; port: PortRecord }[] {
    return entries(this.maps.mvb_ports).map(([k, v]) => ({ parentIfindex: k.readUInt32LE(0), port: decodePort(v) }));
  }

  // --- flood lists: entries 0..port.nflood-1 per parent -------------------------------------------
  getFlood(parentIfindex: number, idx: number): FloodEntry | null {
    const v = this.maps.mvb_flood.lookup(encodeFloodKey(parentIfindex, idx));
    return v ? decodeFloodVal(v) : null;
  }
  putFlood(parentIfindex: number, idx: number, e: FloodEntry): void {
    this.maps.mvb_flood.update(encodeFloodKey(parentIfindex, idx), encodeFloodVal(e));
  }
  deleteFlood(parentIfindex: number, idx: number): boolean {
    return this.maps.mvb_flood.delete(encodeFloodKey(parentIfindex, idx));
  }
  /** Every flood entry of one parent, by index, including strays past nflood. */
  floodEntries(parentIfindex: number): Map<number, FloodEntry> {
    const out = new Map<number, FloodEntry>();
    for (const [k, v] of entries(this.maps.mvb_flood)) if (k.readUInt32LE(0) === parentIfindex) out.set(k.readUInt32LE(4), decodeFloodVal(v));
    return out;
  }

  // --- source mode: the children listing each remote source address, by parent ----------------------
  /** Host ends of the children listing `mac` as a source on the parent (none: []). */
  sourceHosts(parentIfindex: number, mac: Mac): number[] {
    const v = this.maps.mvb_sources.lookup(encodeMacKey(parentIfindex, mac));
    return v ? decodeSourceVal(v) : [];
  }
  setSourceHosts(parentIfindex: number, mac: Mac, hosts: number[]): void {
    const key = encodeMacKey(parentIfindex, mac);
    const had = this.maps.mvb_sources.lookup(key) !== null;
    // mvb_nsources: counted before an entry is added and after one is deleted, so never below the truth
    // (the datapath skips source lookups while it reads 0).
    if (hosts.length === 0) {
      if (!had) return;
      this.maps.mvb_sources.delete(key);
      this.setSourceCount(Math.max(0, this.sourceCount() - 1));
    } else {
      if (!had) this.setSourceCount(this.sourceCount() + 1);
      this.maps.mvb_sources.update(key, encodeSourceVal(hosts));
    }
  }
  /** How floods keep within each CPU's backlog (mvb_abi.h, "Flooding at scale"): the most flood copies
   * one CPU keeps queued there, and the list entries a deferred flood walks per round. */
  floodSettings(): { budget: number; chunk: number } {
    const v = this.maps.mvb_flood_cfg.lookup(u32Key(0));
    return { budget: v?.readUInt32LE(0) || FLOOD_BUDGET_DEFAULT, chunk: v?.readUInt32LE(4) || FLOOD_CHUNK_DEFAULT };
  }
  /** Sets them (0: the default). The backlog holds net.core.netdev_max_backlog frames per CPU (1,000
   * by default), which the budget must stay well below: other traffic queues there too. */
  setFloodSettings(s: { budget?: number; chunk?: number }): void {
    const now = this.floodSettings();
    const raw = this.maps.mvb_flood_cfg.lookup(u32Key(0));
    const budget = s.budget ?? (raw?.readUInt32LE(0) ?? 0);
    const chunk = s.chunk ?? (raw?.readUInt32LE(4) ?? 0);
    for (const [what, n] of [['budget', budget], ['chunk', chunk]] as const)
      if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new DatapathError(`a flood ${what} of ${n} is not a count (0: the default)`);
    if ((chunk || FLOOD_CHUNK_DEFAULT) > (budget || FLOOD_BUDGET_DEFAULT))
      throw new DatapathError(`a flood chunk of ${chunk || FLOOD_CHUNK_DEFAULT} entries is more than the budget of ${budget || FLOOD_BUDGET_DEFAULT} copies: a deferred flood's round must fit in it (it was ${now.chunk} and ${now.budget})`);
    const v = Buffer.alloc(SIZES.floodCfg);
    v.writeUInt32LE(budget, 0);
    v.writeUInt32LE(chunk, 4);
    this.maps.mvb_flood_cfg.update(u32Key(0), v);
  }
  /** The datapath's count of source entries (mvb_nsources). */
  sourceCount(): number {
    return this.maps.mvb_nsources.lookup(u32Key(0))?.readUInt32LE(0) ?? 0;
  }
  private setSourceCount(n: number): void {
    const v = Buffer.alloc(4);
    v.writeUInt32LE(n);
    this.maps.mvb_nsources.update(u32Key(0), v);
  }
  /** Sets the count from the entries themselves (an instance taken over from a build without it; reconcile). */
  recountSources(): number {
    const n = this.sourceEntries().length;
    if (n !== this.sourceCount()) this.setSourceCount(n);
    return n;
  }
  /** Every source entry: (parent, address) -> host ends (one batched read). */
  sourceEntries(): { parentIfindex: number; mac: Mac; hosts: number[] }[] {
    return entries(this.maps.mvb_sources).map(([k, v]) => ({ ...decodeMacKey(k), hosts: decodeSourceVal(v) }));
  }

  // --- the exact multicast filter: the groups each child joined, and who announced a change ----------
  /** Every (child, group) entry, by host ifindex (one batched read). */
  mcGroups(): Map<number, Set<Mac>> {
    const out = new Map<number, Set<Mac>>();
    for (const [k] of entries(this.maps.mvb_mc)) {
      const { hostIfindex, group } = decodeMcKey(k);
      let s = out.get(hostIfindex);
      if (!s) out.set(hostIfindex, (s = new Set()));
      s.add(group);
    }
    return out;
  }
  addMcGroup(hostIfindex: number, group: Mac): void {
    this.maps.mvb_mc.update(encodeMcKey(hostIfindex, group), Buffer.from([1]));
  }
  deleteMcGroup(hostIfindex: number, group: Mac): void {
    this.maps.mvb_mc.delete(encodeMcKey(hostIfindex, group));
  }
  /** A joined group's members on a parent (mvb_groups); none: the entry goes. */
  setGroupMembers(parentIfindex: number, group: Mac, hosts: readonly number[]): void {
    if (hosts.length === 0) this.maps.mvb_groups.delete(encodeMacKey(parentIfindex, group));
    else this.maps.mvb_groups.update(encodeMacKey(parentIfindex, group), encodeGroupVal(hosts));
  }
  /** Every group entry: (parent, group) -> members (listed, or the count alone). */
  groupEntries(): { parentIfindex: number; mac: Mac; n: number; hosts: number[] }[] {
    return entries(this.maps.mvb_groups).map(([k, v]) => ({ ...decodeMacKey(k), ...decodeGroupVal(v) }));
  }
  /** Children that sent IGMP or MLD since the last call; the marks are taken. */
  takeMcDirty(): number[] {
    const hosts = entries(this.maps.mvb_mc_dirty).map(([k]) => k.readUInt32LE(0));
    for (const h of hosts) this.maps.mvb_mc_dirty.delete(u32Key(h));
    return hosts;
  }

  // --- the broadcast queue's settings: kept and reported, used by nothing (no queue) ----------------
  bcQueueLen(hostIfindex: number): number {
    return this.maps.mvb_bcqueuelen.lookup(u32Key(hostIfindex))?.readUInt32LE(0) ?? DEFAULT_BC_QUEUE_LEN;
  }
  /** Every request that is not the default, by host ifindex (one batched read). */
  bcQueueLens(): Map<number, number> {
    return new Map(entries(this.maps.mvb_bcqueuelen).map(([k, v]) => [k.readUInt32LE(0), v.readUInt32LE(0)]));
  }
  setBcQueueLen(hostIfindex: number, n: number): void {
    if (n === DEFAULT_BC_QUEUE_LEN) this.maps.mvb_bcqueuelen.delete(u32Key(hostIfindex));
    else this.maps.mvb_bcqueuelen.update(u32Key(hostIfindex), u32Key(n));
  }
  bcCutoff(parentIfindex: number): number {
    return this.maps.mvb_bc_cutoff.lookup(u32Key(parentIfindex))?.readInt32LE(0) ?? DEFAULT_BC_CUTOFF;
  }
  setBcCutoff(parentIfindex: number, n: number): void {
    if (n === DEFAULT_BC_CUTOFF) this.maps.mvb_bc_cutoff.delete(u32Key(parentIfindex));
    else {
      const b = Buffer.alloc(4);
      b.writeInt32LE(n);
      this.maps.mvb_bc_cutoff.update(u32Key(parentIfindex), b);
    }
  }

  // --- counters: created zeroed with their object, deleted with it ---------------------------------
  /** Zeroes a counter slot (a child is given it). */
  resetChildStats(slot: number): void {
    const m = this.maps.mvb_child_ctrs;
    m.update(u32Key(slot), Buffer.alloc(m.info().valueBytes));
  }
  /** Zeroes a parent counter slot (a port is given it). */
  resetParentStats(slot: number): void {
    const m = this.maps.mvb_parent_ctrs;
    m.update(u32Key(slot), Buffer.alloc(m.info().valueBytes));
  }
  /** A child's per-CPU counters, from its slot; null when there is no such child (or it has no slot). */
  childStatsRaw(hostIfindex: number): Buffer | null {
    const slot = this.getChild(hostIfindex)?.slot;
    return slot ? this.maps.mvb_child_ctrs.lookup(u32Key(slot)) : null;
  }
  /** A parent's per-CPU counters, from its port's slot; null when it has no port (or no slot). */
  parentStatsRaw(parentIfindex: number): Buffer | null {
    const slot = this.getPort(parentIfindex)?.slot;
    return slot ? this.maps.mvb_parent_ctrs.lookup(u32Key(slot)) : null;
  }
}

/** Every (key, value) of a map, read in one batched call (BPF_MAP_LOOKUP_BATCH where the kernel has it). */
function entries(m: BpfMap): [Buffer, Buffer][] {
  const d = m.dump();
  const out: [Buffer, Buffer][] = [];
  for (let i = 0; i < d.count; i++)
    out.push([d.keys.subarray(i * d.keySize, (i + 1) * d.keySize), d.values.subarray(i * d.valueBytes, (i + 1) * d.valueBytes)]);
  return out;
}

export { SIZES };
