// The agent's half of the exact multicast filter (src/control/mc-filter.ts): when to re-read children's
// multicast lists, since the kernel announces no change of a device's list (docs/multicast-filter.md):
// - at start, and every MACVLAN_BPF_MC_SWEEP_MS (default 5000): every child, one read per netns;
// - a link event in a child's netns (a child up, its flags, a new device): that netns, within
//   MACVLAN_BPF_MC_POLL_MS (default 100);
// - a child that sent IGMP or MLD (its transmit program marks it: a join or leave by an application,
//   the groups of a new IPv6 address): that child, within the same poll interval.
// A join a frame arrives for before the re-read is missed for that long (the kernel delivers at once).
// On a clean stop every child gets every group again, since nobody watches its list any more.
import type { Macvlan } from '../control/macvlan.js';

export class McWatch {
  private polling?: NodeJS.Timeout;
  private sweeping?: NodeJS.Timeout;
  private readonly touched = new Set<string>();
  private readonly pollMs = Number(process.env.MACVLAN_BPF_MC_POLL_MS) || 100;
  private readonly sweepMs = Number(process.env.MACVLAN_BPF_MC_SWEEP_MS) || 5000;

  constructor(private readonly m: Macvlan, private readonly guard: (fn: () => void) => void, private readonly log: (s: string) => void) {}

  start(): void {
    this.sweep('start');
    this.poll();
  }

  /** Links changed in these namespaces ('' = the parents'): their children are re-read at the next poll. */
  linksChanged(netns: Iterable<string>): void {
    for (const ns of netns) this.touched.add(ns);
  }

  stop(): void {
    clearTimeout(this.polling);
    clearTimeout(this.sweeping);
    this.polling = this.sweeping = undefined;
    this.guard(() => this.m.multicastOff());
  }

  private sweep(why: string): void {
    this.guard(() => {
      const changed = this.m.syncMulticast();
      if (changed.length) this.log(`multicast filter (${why}): ${changed.join(',')}`);
    });
    this.sweeping = setTimeout(() => this.sweep('sweep'), this.sweepMs);
    this.sweeping.unref();
  }

  private poll(): void {
    this.polling = setTimeout(() => {
      this.guard(() => {
        const hosts = new Set(this.m.dp.takeMcDirty());
        if (this.touched.size) for (const h of this.m.childrenIn(this.touched)) hosts.add(h);
        this.touched.clear();
        if (hosts.size === 0) return;
        const changed = this.m.syncMulticast(hosts);
        if (changed.length) this.log(`multicast filter: ${changed.join(',')}`);
      });
      this.poll();
    }, this.pollMs);
    this.polling.unref();
  }
}
