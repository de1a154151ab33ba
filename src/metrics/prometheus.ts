// The Prometheus exposition: prom-client metrics whose values are set from one fresh snapshot at every
// scrape (nothing cached between scrapes). Names follow the Prometheus conventions: a `macvlan_bpf_`
// prefix, `_total` on counters, base units (bytes), labels for what varies (parent, child, netns, mode,
// reason). `?per_cpu=1` adds a `cpu` label and gives one series per possible CPU instead of their sum.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { CHILD_COUNTERS, COUNTED_DROP_REASONS, PARENT_COUNTERS, type ChildCounters, type ParentCounters, type Snapshot } from './snapshot.js';

const CHILD_METRICS: Record<keyof ChildCounters, [string, string]> = {
  rxPackets: ['macvlan_bpf_child_rx_packets_total', 'Frames delivered to the child (unicast and flood copies).'],
  rxBytes: ['macvlan_bpf_child_rx_bytes_total', 'Bytes delivered to the child.'],
  txPackets: ['macvlan_bpf_child_tx_packets_total', 'Frames the child sent that macvlan-bpf forwarded or dropped.'],
  txBytes: ['macvlan_bpf_child_tx_bytes_total', 'Bytes the child sent.'],
  floodCopies: ['macvlan_bpf_child_flood_copies_total', 'Broadcast and multicast copies delivered to the child (part of rx).'],
};
const PARENT_METRICS: Record<(typeof PARENT_COUNTERS)[number], [string, string]> = {
  stackPackets: ['macvlan_bpf_parent_stack_packets_total', "Frames passed to the parent's own network stack."],
  stackBytes: ['macvlan_bpf_parent_stack_bytes_total', "Bytes passed to the parent's own network stack."],
  wirePackets: ['macvlan_bpf_parent_wire_packets_total', 'Frames children sent out of the parent.'],
  wireBytes: ['macvlan_bpf_parent_wire_bytes_total', 'Bytes children sent out of the parent.'],
};
export const METRIC_NAMES = [
  ...Object.values(CHILD_METRICS).map(([n]) => n),
  ...Object.values(PARENT_METRICS).map(([n]) => n),
  'macvlan_bpf_drops_total', 'macvlan_bpf_child_up', 'macvlan_bpf_child_mac_conflict', 'macvlan_bpf_children', 'macvlan_bpf_read_duration_seconds',
  'macvlan_bpf_repairs_total',
];

const CHILD_LABELS = ['parent', 'child', 'netns', 'mode'] as const;

/** Builds one registry; `current()` is asked for the snapshot of the scrape in progress. */
function buildRegistry(current: () => Snapshot, perCpu: boolean, processMetrics: boolean): Registry {
  const registry = new Registry();
  const cpu = perCpu ? (['cpu'] as const) : ([] as const);
  const eachCpu = <T>(total: T, per: T[], f: (v: T, cpu?: string) => void) => {
    if (perCpu) per.forEach((v, i) => f(v, String(i)));
    else f(total);
  };
  for (const k of CHILD_COUNTERS) {
    const [name, help] = CHILD_METRICS[k];
    new Counter({
      name, help, labelNames: [...CHILD_LABELS, ...cpu], registers: [registry],
      collect() {
        this.reset();
        for (const c of current().children) {
          const labels = { parent: c.parent, child: c.name, netns: c.netns, mode: c.mode };
          eachCpu(c.counters, c.perCpu, (v, n) => this.inc(n === undefined ? labels : { ...labels, cpu: n }, v[k]));
        }
      },
    });
  }
  for (const k of PARENT_COUNTERS) {
    const [name, help] = PARENT_METRICS[k];
    new Counter({
      name, help, labelNames: ['parent', ...cpu], registers: [registry],
      collect() {
        this.reset();
        for (const p of current().parents)
          eachCpu<ParentCounters>(p.counters, p.perCpu, (v, n) => this.inc(n === undefined ? { parent: p.name } : { parent: p.name, cpu: n }, v[k]));
      },
    });
  }
  new Counter({
    name: 'macvlan_bpf_drops_total', help: 'Frames dropped by the datapath, by parent and reason.', labelNames: ['parent', 'reason', ...cpu], registers: [registry],
    collect() {
      this.reset();
      for (const p of current().parents)
        for (const reason of COUNTED_DROP_REASONS)
          eachCpu<ParentCounters>(p.counters, p.perCpu, (v, n) => this.inc(n === undefined ? { parent: p.name, reason } : { parent: p.name, reason, cpu: n }, v.drops[reason]));
    },
  });
  new Gauge({
    name: 'macvlan_bpf_child_up', help: 'Whether the child is administratively UP (its MAC is in the forwarding table).', labelNames: CHILD_LABELS, registers: [registry],
    collect() {
      this.reset();
      for (const c of current().children) this.set({ parent: c.parent, child: c.name, netns: c.netns, mode: c.mode }, c.up ? 1 : 0);
    },
  });
  new Gauge({
    name: 'macvlan_bpf_child_mac_conflict', help: 'Whether the child is UP with a MAC an UP sibling or the parent holds (set with plain ip): it is out of the forwarding table.', labelNames: CHILD_LABELS, registers: [registry],
    collect() {
      this.reset();
      for (const c of current().children) this.set({ parent: c.parent, child: c.name, netns: c.netns, mode: c.mode }, c.conflict ? 1 : 0);
    },
  });
  new Counter({
    name: 'macvlan_bpf_repairs_total', help: 'What the agent found wrong and repaired since it started: mac_conflict (a child UP with a busy MAC, kept out of the table), hook (a missing or foreign program on a hook, attached again).', labelNames: ['what'], registers: [registry],
    collect() {
      this.reset();
      const r = current().repairs;
      this.inc({ what: 'mac_conflict' }, r?.macConflicts ?? 0);
      this.inc({ what: 'hook' }, r?.hooks ?? 0);
    },
  });
  new Gauge({
    name: 'macvlan_bpf_children', help: 'Children per parent and mode.', labelNames: ['parent', 'mode'], registers: [registry],
    collect() {
      this.reset();
      for (const c of current().children) this.inc({ parent: c.parent, mode: c.mode });
    },
  });
  new Gauge({
    name: 'macvlan_bpf_read_duration_seconds', help: 'Time this scrape took to read and decode every counter map.', registers: [registry],
    collect() {
      this.set(current().readMs / 1000);
    },
  });
  if (processMetrics) collectDefaultMetrics({ register: registry, prefix: 'macvlan_bpf_agent_' });
  return registry;
}

/** The agent's /metrics: reads a fresh snapshot per scrape; scrapes run one at a time. */
export class MetricsExporter {
  private snapshot?: Snapshot;
  private readonly summed: Registry;
  private readonly split: Registry;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly read: () => Snapshot, opts: { processMetrics?: boolean } = {}) {
    const current = () => this.snapshot!;
    this.summed = buildRegistry(current, false, opts.processMetrics ?? true);
    this.split = buildRegistry(current, true, false);
  }

  get contentType(): string {
    return this.summed.contentType;
  }

  /** The text exposition of a fresh reading. */
  scrape(perCpu = false): Promise<string> {
    const next = this.queue.then(async () => {
      this.snapshot = this.read();
      try {
        return await (perCpu ? this.split : this.summed).metrics();
      } finally {
        this.snapshot = undefined;
      }
    });
    this.queue = next.catch(() => undefined);
    return next;
  }
}
