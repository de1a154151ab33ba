// Which instance a command serves, and instances whose network namespace is gone.
//
// An instance belongs to one network namespace (ifindexes are per netns). The initial netns's instance
// is pinned at /sys/fs/bpf/macvlan-bpf; every other netns gets its own by default, pinned under
// /sys/fs/bpf/macvlan-bpf-netns/<cookie>, so the tool works in any netns as ip does. The netns is
// recorded beside the pins as `netns-<inode>-<cookie>`: an inode can be reused once its netns is
// freed, a cookie (SO_NETNS_COOKIE) never is while the machine runs. An instance whose netns no longer
// exists is stale: nothing can reach its devices, and it is reclaimed (its pins removed).
import fs from 'node:fs';
import path from 'node:path';
import { addon } from '../native.js';

export const DEFAULT_PIN_ROOT = '/sys/fs/bpf/macvlan-bpf';
/** Where the default instances of network namespaces other than the initial one are pinned. */
export const NETNS_PIN_BASE = '/sys/fs/bpf/macvlan-bpf-netns';

/** This thread's netns: its inode and its cookie. */
export interface NetnsId {
  ino: number;
  cookie: bigint;
}

export function currentNetns(): NetnsId {
  const a = addon();
  return { ino: a.netnsInode(), cookie: a.netnsCookie() };
}

export function markerOf(id: NetnsId): string {
  return `netns-${id.ino}-${id.cookie}`;
}

/** A marker's netns: `netns-<ino>-<cookie>`, or `netns-<ino>` as older versions wrote it (no cookie). */
export function parseMarker(name: string): { ino: number; cookie: bigint | null } | null {
  const m = /^netns-(\d+)(?:-(\d+))?$/.exec(name);
  return m ? { ino: Number(m[1]), cookie: m[2] === undefined ? null : BigInt(m[2]) } : null;
}

/** The instance a command serves when MACVLAN_BPF_PIN_ROOT does not say: the one of its netns. */
export function defaultPinRoot(): string {
  const a = addon();
  const init = initialNetnsInode();
  if (!init || a.netnsInode() === init) return DEFAULT_PIN_ROOT;
  return path.join(NETNS_PIN_BASE, String(a.netnsCookie()));
}

/**
 * The initial netns's inode: kernel threads live there (kthreadd is pid 2 when we see the machine's
 * pid namespace; pid 1 may refuse a look, as it does in some sandboxes), else pid 1's. 0: unknown.
 */
function initialNetnsInode(): number {
  const a = addon();
  for (const pid of [2, 1]) {
    try {
      if (pid === 2 && fs.readFileSync('/proc/2/comm', 'utf8').trim() !== 'kthreadd') continue;
      return a.netnsInode(`/proc/${pid}/ns/net`);
    } catch { /* not ours to look at */ }
  }
  return 0;
}

/**
 * Whether the netns a marker names still exists. Looked for where namespaces are held: every
 * process's /proc/<pid>/ns/net and the bind mounts under /run/netns; a match by inode is confirmed by
 * its cookie. A netns held only by a file descriptor or a bind mount elsewhere is not found this way,
 * so an instance is called stale only when, besides, none of its pinned links is still attached to a
 * device (a link is detached when its device goes with its netns).
 */
export function netnsGone(pinRoot: string, marker: { ino: number; cookie: bigint | null }, live = liveNetns()): boolean {
  const candidates = live.get(marker.ino) ?? [];
  if (candidates.length > 0) {
    if (marker.cookie === null) return false; // an old marker: the inode alone says it may be alive
    for (const p of candidates) {
      try {
        if (addon().netnsCookie(p) === marker.cookie) return false;
      } catch { /* gone meanwhile */ }
    }
  }
  return !anyLinkAttached(pinRoot);
}

/** Inode -> paths of a netns file, for every netns a process or /run/netns holds. */
export function liveNetns(): Map<number, string[]> {
  const out = new Map<number, string[]>();
  const add = (p: string) => {
    try {
      const ino = fs.statSync(p).ino;
      const list = out.get(ino);
      if (!list) out.set(ino, [p]);
      else if (list.length < 4) list.push(p);
    } catch { /* gone meanwhile, or not ours to read */ }
  };
  for (const pid of fs.readdirSync('/proc')) if (/^\d+$/.test(pid)) add(`/proc/${pid}/ns/net`);
  for (const dir of ['/run/netns', '/var/run/netns']) {
    if (!fs.existsSync(dir)) continue;
    for (const n of fs.readdirSync(dir)) add(path.join(dir, n));
  }
  return out;
}

function anyLinkAttached(pinRoot: string): boolean {
  const dir = path.join(pinRoot, 'links');
  if (!fs.existsSync(dir)) return false;
  const a = addon();
  for (const f of fs.readdirSync(dir)) {
    try {
      const l = new a.BpfLink({ pin: path.join(dir, f) });
      try {
        if (l.info().ifindex !== 0) return true;
      } finally {
        l.close();
      }
    } catch { /* not a link */ }
  }
  return false;
}

/**
 * Removes the default instances of network namespaces that are gone (under NETNS_PIN_BASE), except
 * `keep`. Returns what it removed, for the log.
 */
export function reclaimStale(keep: string): string[] {
  if (!fs.existsSync(NETNS_PIN_BASE)) return [];
  let live: Map<number, string[]> | undefined;
  const removed: string[] = [];
  for (const n of fs.readdirSync(NETNS_PIN_BASE)) {
    const root = path.join(NETNS_PIN_BASE, n);
    if (root === keep) continue;
    let marker;
    try {
      marker = fs.readdirSync(root).map(parseMarker).find((m) => m !== null);
    } catch {
      continue;
    }
    if (!marker) continue; // being made right now (the marker follows the maps): not ours to judge
    if (netnsGone(root, marker, (live ??= liveNetns()))) {
      fs.rmSync(root, { recursive: true, force: true });
      removed.push(`${root} (its network namespace, inode ${marker.ino}, is gone)`);
    }
  }
  return removed;
}
