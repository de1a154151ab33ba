// Named network namespaces and pin roots under one prefix, and their removal: used by the lab, the
// tests and the benchmarks, so that everything they make can be found and removed again.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { Datapath } from '../datapath/datapath.js';

export function run(cmd: string, args: string[], env?: Record<string, string>): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: env ? { ...process.env, ...env } : undefined });
}

export class Sandbox {
  private readonly namespaces: string[] = [];
  private readonly pins: string[] = [];

  constructor(readonly prefix: string) {}

  /** Creates the named netns `<prefix>-<name>` with IPv6 autoconfiguration quiet. */
  netns(name: string): string {
    const ns = `${this.prefix}-${name}`;
    run('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  pinRoot(name = 'pins'): string {
    const p = `/sys/fs/bpf/${this.prefix}-${name}`;
    this.pins.push(p);
    return p;
  }

  /** Removes one namespace early (and forgets it). */
  dropNetns(ns: string): void {
    try { run('ip', ['netns', 'del', ns]); } catch { /* gone */ }
    const i = this.namespaces.indexOf(ns);
    if (i >= 0) this.namespaces.splice(i, 1);
  }

  cleanup(): void {
    for (const ns of this.namespaces.splice(0)) {
      try { run('ip', ['netns', 'del', ns]); } catch { /* gone */ }
    }
    for (const p of this.pins.splice(0)) if (fs.existsSync(p)) Datapath.destroy(p);
  }
}
