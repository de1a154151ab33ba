// An instance opened in a netns for the length of one call, and a netns's links as comparable lines:
// what the configuration tests compare before and after a command.
import { execFileSync } from 'node:child_process';
import { Macvlan } from '../../src/control/macvlan.js';
import { inNetns } from '../../src/native.js';

/** Runs fn on the instance pinned at pins, opened inside the netns `host`, and closes it. */
export function withMacvlan<T>(host: string, pins: string, fn: (m: Macvlan) => T): T {
  return inNetns(`/run/netns/${host}`, () => {
    const m = Macvlan.open(pins);
    try {
      return fn(m);
    } finally {
      m.close();
    }
  });
}

/** Every link of a netns as "name mac mtu UP|DOWN", sorted. */
export function linkLines(ns: string): string[] {
  return (JSON.parse(execFileSync('ip', ['-n', ns, '-j', 'link', 'show'], { encoding: 'utf8' })) as { ifname: string; address: string; mtu: number; flags: string[] }[])
    .map((l) => `${l.ifname} ${l.address} ${l.mtu} ${l.flags.includes('UP') ? 'UP' : 'DOWN'}`)
    .sort();
}
