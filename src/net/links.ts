// iproute2 as a library: link creation, state and queries through `ip -j`. The datapath itself never
// depends on it; it is how the control plane makes and inspects ordinary interfaces.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { ConfigError, codeFromIpStderr } from '../control/errors.js';
import { Rtnl, type Link } from './rtnetlink.js';

export const NETNS_DIR = '/run/netns';

export type LinkInfo = Link;

export class IpCommandError extends Error {
  constructor(readonly args: string[], readonly stderr: string, readonly status: number | null) {
    super(`ip ${args.join(' ')}: ${stderr.trim()}`);
  }
}

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; status?: number | null };
    throw new IpCommandError(args, String(err.stderr ?? ''), err.status ?? null);
  }
}

function nsArgs(netns?: string): string[] {
  return netns ? ['-n', netns] : [];
}

/** ip [-n netns] args... */
export function ip(args: string[], netns?: string): string {
  return run('ip', [...nsArgs(netns), ...args]);
}

export function ipJson<T>(args: string[], netns?: string): T {
  const out = ip(['-j', ...args], netns).trim();
  return (out ? JSON.parse(out) : []) as T;
}

/** Runs an ip command and turns its failure into a ConfigError with the kernel's errno. */
export function ipOrConfigError(args: string[], netns: string | undefined, what: string): string {
  try {
    return ip(args, netns);
  } catch (e) {
    if (e instanceof IpCommandError) throw new ConfigError(codeFromIpStderr(e.stderr), `${what}: ${e.stderr.trim()}`);
    throw e;
  }
}

/**
 * Link queries over rtnetlink: one socket in the caller's netns for the object's life, and a short-lived
 * one per query into another netns (a kept socket would keep that netns alive after `ip netns del`).
 */
export class LinkTable {
  private readonly here = Rtnl.open();

  list(netns?: string): LinkInfo[] {
    return netns ? Rtnl.once(netnsPath(netns), (r) => r.links()) : this.here.links();
  }

  get(name: string | number, netns?: string): LinkInfo | null {
    return netns ? Rtnl.once(netnsPath(netns), (r) => r.link(name)) : this.here.link(name);
  }

  /** The caller's-netns socket, for requests beyond queries (link state, the unicast filter). */
  get rtnl(): Rtnl {
    return this.here;
  }

  close(): void {
    this.here.close();
  }
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
