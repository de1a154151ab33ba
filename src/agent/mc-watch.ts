// The agent's half of the exact multicast filter (src/control/mc-filter.ts): when to re-read children's
// multicast lists, since the kernel announces no change of a device's list (docs/multicast-filter.md):
// - at start, and every MACVLAN_BPF_MC_SWEEP_MS (default 5000): every child, one read per netns;
// - a link event of a child whose ALLMULTI or PROMISC flag changed: that child, within
//   MACVLAN_BPF_MC_POLL_MS (default 100);
// - a child that sent IGMP or MLD (its transmit program marks it: a join or leave by an application,
//   the groups of a new IPv6 address): that child, within the same poll interval.
// A child made while the agent runs starts with the groups every UP device holds (McFilter.seed).
// A join a frame arrives for before the re-read is missed for that long (the kernel delivers at once).
// Each re-read reads the netns's whole list, so the poll waits at least five times as long as the last
// re-read took: an agent making thousands of children in one netns is not swamped by its own re-reads.
// On a clean stop every child gets every group again, since nobody watches its list any more.
import type { Macvlan } from '../control/macvlan.js';

export class McWatch {
  private polling?: NodeJS.Timeout;
  private sweeping?: NodeJS.Timeout;
  private readonly touched = new Set<string>(); // netns\0name of children whose flags changed
  private lastSyncMs = 0;
  private readonly pollMs = Number(process.env.MACVLAN_BPF_MC_POLL_MS) || 100;
  private readonly sweepMs = Number(process.env.MACVLAN_BPF_MC_SWEEP_MS) || 5000;

  constructor(private readonly m: Macvlan, private readonly guard: (fn: () => void) => void, private readonly log: (s: string) => void) {}

  start(): void {
    this.m.multicastWatched();
    this.sweep('start');
    this.poll();
  }

  /** A link changed in a child's netns ('' = the parents'): re-read it if its ALLMULTI or PROMISC changed. */
  linkChanged(netns: string, name: string, flags: string[]): void {
    if (this.m.multicastStale(netns, name, flags)) this.touched.add(`${netns}\0${name}`);
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
      if (changed.length) this.log(`multicast filter (${why}): ${changed.length <= 20 ? changed.join(',') : `${changed.length} children`}`);
    });
    this.sweeping = setTimeout(() => this.sweep('sweep'), this.sweepMs);
    this.sweeping.unref();
  }

  private poll(): void {
    this.polling = setTimeout(() => {
      this.guard(() => {
        const hosts = new Set(this.m.dp.takeMcDirty());
        if (this.touched.size) for (const h of this.m.childrenNamed(this.touched)) hosts.add(h);
        this.touched.clear();
        if (hosts.size === 0) return;
        const t0 = performance.now();
        const changed = this.m.syncMulticast(hosts);
        this.lastSyncMs = performance.now() - t0;
        if (changed.length && changed.length <= 20) this.log(`multicast filter: ${changed.join(',')}`);
        else if (changed.length) this.log(`multicast filter: ${changed.length} children`);
      });
      this.poll();
    }, Math.max(this.pollMs, 5 * this.lastSyncMs));
    this.polling.unref();
  }
}
