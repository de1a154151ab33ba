// iproute2 as a library: link creation, state and queries through `ip -j`. The datapath itself never
// depends on it; it is how the control plane makes and inspects ordinary interfaces.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { ConfigError, codeFromIpStderr } from '../control/errors.js';

export const NETNS_DIR = '/run/netns';

export interface LinkInfo {
  ifindex: number;
  ifname: string;
  address: string;
  mtu: number;
  min_mtu?: number;
  max_mtu?: number;
  flags: string[];
  operstate: string;
  link_type: string;
  link?: string | null;
  link_index?: number;
  link_netnsid?: number;
  master?: string;
  promiscuity?: number;
  linkinfo?: { info_kind?: string; info_slave_kind?: string };
}

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

export function bridgeCmd(args: string[]): string {
  return run('bridge', args);
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

export function listLinks(netns?: string): LinkInfo[] {
  return ipJson<LinkInfo[]>(['-d', 'link', 'show'], netns);
}

export function getLink(name: string, netns?: string): LinkInfo | null {
  try {
    const l = ipJson<LinkInfo[]>(['-d', 'link', 'show', 'dev', name], netns);
    return l[0] ?? null;
  } catch (e) {
    if (e instanceof IpCommandError && /does not exist|Cannot find device/.test(e.stderr)) return null;
    throw e;
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
