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
