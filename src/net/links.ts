// Links in any network namespace, over rtnetlink: queries (one socket in the caller's netns for the
// object's life, a short-lived one per request into another netns) and requests made inside a child's
// netns. No process is ever spawned here.
import fs from 'node:fs';
import { addon } from '../native.js';
import { Rtnl, type Link } from './rtnetlink.js';

export const NETNS_DIR = '/run/netns';

export type LinkInfo = Link;

export class LinkTable {
  private readonly here = Rtnl.open();

  list(netns?: string): LinkInfo[] {
    return this.in(netns, (r) => r.links());
  }

  get(name: string | number, netns?: string): LinkInfo | null {
    return this.in(netns, (r) => r.link(name));
  }

  /** Whether an interface of that name exists (an ioctl: no rtnl lock taken, unlike a link query). */
  exists(name: string, netns?: string): boolean {
    return addon().ifNameToIndex(name, netns ? netnsPath(netns) : undefined) !== 0;
  }

  private parents: Map<string | number, LinkInfo> | null = null;

  /**
   * A parent's link (this netns), as get(); while parents are held (one apply), read once and kept:
   * each query takes the kernel's rtnl lock, and 10,000 children made in one apply asked for their
   * parent three times each. Whoever changes a parent says so (forgetParents); changes by others meanwhile
   * are seen by the next operation, and by the agent's events.
   */
  parent(name: string | number): LinkInfo | null {
    const held = this.parents?.get(name);
    if (held) return { ...held, flags: [...held.flags] };
    const l = this.get(name);
    if (l && this.parents) {
      this.parents.set(l.ifindex, l);
      this.parents.set(l.ifname, l);
    }
    return l ? { ...l, flags: [...l.flags] } : null;
  }

  holdParents(): void {
    this.parents = new Map();
  }

  forgetParents(): void {
    this.parents?.clear();
  }

  releaseParents(): void {
    this.parents = null;
  }

  /**
   * Runs fn with a request socket in the named netns ('' or undefined: the caller's). A socket into
   * another netns lives only for fn: a kept one would keep that netns alive after `ip netns del`.
   */
  in<T>(netns: string | undefined, fn: (r: Rtnl) => T): T {
    return netns ? Rtnl.once(netnsPath(netns), fn) : fn(this.here);
  }

  /** The caller's-netns socket (parents, host ends, the unicast filter). */
  get rtnl(): Rtnl {
    return this.here;
  }

  close(): void {
    this.here.close();
  }
}

/** The name of an interface in the caller's netns, or '' when it is gone. */
export function ifnameOf(ifindex: number): string {
  return addon().ifIndexToName(ifindex);
}

export function netnsPath(name: string): string {
  return `${NETNS_DIR}/${name}`;
}

export function netnsExists(name: string): boolean {
  return fs.existsSync(netnsPath(name));
}

export function isUp(l: LinkInfo): boolean {
  return l.flags.includes('UP');
}

/** Writes a per-netns sysctl under /proc/sys/net (the calling process's netns). */
export function setNetSysctl(key: string, value: string): void {
  fs.writeFileSync(`/proc/sys/net/${key.replace(/\./g, '/')}`, value);
}
