// The agent: owns one instance's state while it runs. It listens to rtnetlink link events of its own
// netns and of every netns with an nsid there, and applies each child's and parent's new state to the
// maps at once (the kernel's macvlan does the same in its open/stop/notifier callbacks). Forwarding never
// depends on it: maps, programs and TC attachments are pinned or held by the kernel, so the agent may
// die, restart and reconcile while frames keep flowing.
import fs from 'node:fs';
import net from 'node:net';
import type { Server } from 'node:net';
import { Macvlan } from '../control/macvlan.js';
import { ConfigError } from '../control/errors.js';
import { applyConfig, loadConfigFile } from '../control/config.js';
import { execute } from '../command/execute.js';
import { CollectedOutput } from '../command/output.js';
import type { Command } from '../command/types.js';
import { pinRootFromEnv } from '../datapath/datapath.js';
import { HookError } from '../datapath/hooks.js';
import { NETNS_DIR } from '../net/links.js';
import { RTM_DELLINK, RTM_NEWLINK, Rtnl, linkEventSocket, parseLink, splitMessages } from '../net/rtnetlink.js';
import type { NetlinkDatagram, NetlinkSocket, NodeSystemError } from '../native.js';
import { serveControl, socketPathFor, type CniRequest, type ControlResponse } from './control-socket.js';
import { cniCall } from '../cni/plugin.js';
import { McWatch } from './mc-watch.js';
import { acquireInstanceLock } from '../control/instance-lock.js';
import { DEFAULT_LISTEN, ListenError, MetricsServer, parseListen, type ListenAddress } from '../metrics/http.js';
import { CounterReader, type Repairs } from '../metrics/snapshot.js';

export interface AgentOptions {
  pinRoot: string;
  socketPath: string;
  config?: string;
  prune?: boolean;
  /** Where the dashboard, /metrics and the JSON API are served; null: not at all. */
  listen?: ListenAddress | null;
  log?: (msg: string) => void;
}

export class AgentError extends Error {}

/** Holds the instance lock: an abstract unix socket, released by the kernel when the process dies. */
async function takeLock(pinRoot: string): Promise<Server> {
  const server = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(`\0macvlan-bpf-agent:${pinRoot}`, () => resolve());
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new AgentError(`another macvlan-bpf agent is already running for ${pinRoot} in this network namespace; stop it first (systemctl stop macvlan-bpf, or kill its pid), or give this one another instance with MACVLAN_BPF_PIN_ROOT`);
    throw e;
  }
  server.unref();
  return server;
}

export class Agent {
  private events?: NetlinkSocket;
  private control?: Server;
  private readonly nsNames = new Map<number, string>();
  private resyncQueued = false;
  private promoting?: NodeJS.Timeout;
  private auditing?: NodeJS.Timeout;
  private promotionStarted = 0;
  private metrics?: MetricsServer;
  private commandLock?: Server;
  private counters?: CounterReader;
  private mcWatch?: McWatch;
  /** Where the HTTP server really listens (port 0 asks the kernel for a free one). */
  httpAddress?: { host: string; port: number };

  private constructor(private readonly m: Macvlan, private readonly lock: Server, private readonly opts: AgentOptions) {}

  static async start(opts: AgentOptions): Promise<Agent> {
    const lock = await takeLock(opts.pinRoot);
    // The instance's command lock, for its whole life: commands without an agent take turns with it.
    const commands = await acquireInstanceLock(opts.pinRoot, 60_000, 'a command run without the agent is still running');
    let m: Macvlan | undefined;
    let agentRef: Agent | undefined;
    try {
      // Listen before the first dump: whatever changes during reconcile arrives as an event after it.
      m = Macvlan.open(opts.pinRoot, { reconcile: false });
      const agent = (agentRef = new Agent(m, lock, opts));
      agent.commandLock = commands;
      agent.events = linkEventSocket();
      agent.events.listen((err, batch) => agent.onEvents(err, batch));
      for (const r of m.dp.reclaimed) agent.log(`removed the stale instance ${r}`);
      agent.resync('start');
      agent.auditSoon();
      agent.mcWatch = new McWatch(m, (fn) => agent.guard(fn), (s) => agent.log(s));
      if (opts.config) agent.apply(opts.config, opts.prune);
      agent.mcWatch.start();
      // Commands run synchronously, one at a time, between event batches.
      agent.control = await serveControl(opts.socketPath, async (req) => (req.cni ? agent.runCni(req.cni) : agent.runForClient(req.command)));
      if (opts.listen) {
        const counters = (agent.counters = new CounterReader(opts.pinRoot));
        agent.metrics = new MetricsServer({ listen: opts.listen, read: () => ({ ...counters.read(), repairs: agent.repairs() }), log: (s) => agent.log(s) });
        const a = await agent.metrics.start();
        agent.httpAddress = { host: a.address, port: a.port };
      }
      return agent;
    } catch (e) {
      agentRef?.stop();
      if (!agentRef) {
        m?.close();
        lock.close();
        commands.close();
      }
      throw e;
    }
  }

  /** What this agent found wrong and repaired (the metric macvlan_bpf_repairs_total). */
  repairs(): Repairs {
    return { macConflicts: this.m.events.macConflicts, hooks: this.m.events.hooksRepaired };
  }

  private log(msg: string): void {
    (this.opts.log ?? ((s) => void process.stdout.write(`${s}\n`)))(msg);
  }

  stop(): void {
    this.mcWatch?.stop();
    clearTimeout(this.promoting);
    clearTimeout(this.auditing);
    this.metrics?.stop();
    this.counters?.close();
    this.events?.close();
    this.control?.close();
    this.m.close();
    this.lock.close();
    this.commandLock?.close();
    if (this.control && fs.existsSync(this.opts.socketPath)) fs.unlinkSync(this.opts.socketPath);
  }

  apply(file: string, prune?: boolean): string[] {
    const cfg = loadConfigFile(file);
    const changes = applyConfig(this.m, cfg, { prune: prune || cfg.prune });
    this.log(`applied ${file}: ${changes.length ? changes.join('; ') : 'no changes'}`);
    this.ensureNsids();
    this.promoteSoon();
    return changes;
  }

  /** Full reconcile with a dump of every link: at start, and whenever events may have been lost. */
  resync(why: string): void {
    this.ensureNsids();
    const r = this.m.reconcile();
    const what = [
      r.purged.length && `purged ${r.purged.join(',')}`,
      r.stateSynced.length && `state ${r.stateSynced.join(',')}`,
      r.readdressed.length && `readdressed ${r.readdressed.join(',')}`,
      r.portsReleased.length && `released ports ${r.portsReleased.join(',')}`,
      r.conflicts.length && `conflicts: ${r.conflicts.join('; ')}`,
      r.hooksRepaired.length && `hooks repaired: ${r.hooksRepaired.join('; ')}`,
      r.orphansRemoved.length && `orphan host ends removed: ${r.orphansRemoved.join('; ')}`,
      r.moved.length && `moved ${r.moved.join('; ')}`,
    ].filter(Boolean);
    this.log(`reconciled (${why}): ${what.length ? what.join('; ') : 'in sync'}`);
    this.promoteSoon();
  }

  /**
   * Children made in bulk transmit through a cls_bpf hook until their tcx link is made; the kernel
   * takes about 12 ms per link, so they are promoted a few at a time between events and commands.
   */
  private promoteSoon(): void {
    if (this.promoting || this.m.pendingHooks === 0) return;
    if (!this.promotionStarted) this.promotionStarted = performance.now();
    // Promotion blocks the event loop (a tcx link takes the kernel ~12 ms): not while pods are being
    // added (CNI calls), which would wait behind it; it resumes once they pause.
    const wait = Math.max(0, this.quietUntil - performance.now());
    this.promoting = setTimeout(() => {
      this.promoting = undefined;
      if (performance.now() < this.quietUntil) return this.promoteSoon();
      let left = 0;
      this.guard(() => void (left = this.m.promoteHooks(performance.now() + 10)));
      if (left > 0) return this.promoteSoon();
      this.log(`transmit hooks: all tcx links (promotion took ${((performance.now() - this.promotionStarted) / 1000).toFixed(1)} s)`);
      this.promotionStarted = 0;
    }, wait);
  }

  /** Until when promotions wait (performance.now() ms): a CNI call just ran, another may follow. */
  private quietUntil = 0;

  /**
   * Hooks change with no link event (a `tc filter del`, a `bpftool link detach`): the agent looks at
   * every hook of its own every few seconds (MACVLAN_BPF_AUDIT_MS, default 5000) and repairs it.
   */
  private auditSoon(): void {
    const ms = Number(process.env.MACVLAN_BPF_AUDIT_MS) || 5000;
    this.auditing = setTimeout(() => {
      this.guard(() => {
        const r = this.m.repairHooks();
        if (r.hooksRepaired.length) this.log(`hooks repaired: ${r.hooksRepaired.join('; ')}`);
      });
      this.auditSoon();
    }, ms);
    this.auditing.unref();
  }

  private queueResync(why: string): void {
    if (this.resyncQueued) return;
    this.resyncQueued = true;
    setImmediate(() => {
      this.resyncQueued = false;
      this.guard(() => this.resync(why));
    });
  }

  /** Every child netns needs an nsid here, or its events never reach us (NETLINK_LISTEN_ALL_NSID). */
  private ensureNsids(only?: string): void {
    // One new child's netns (link add), or every child's (apply, a resync).
    const names = new Set(only !== undefined ? [only].filter(Boolean) : this.m.children().map((c) => c.netns).filter(Boolean));
    const rt = Rtnl.open();
    try {
      for (const ns of names) {
        try {
          const id = rt.nsid(`${NETNS_DIR}/${ns}`, true);
          if (id >= 0) this.nsNames.set(id, ns);
        } catch { /* the netns is gone: reconcile purges its children */ }
      }
    } finally {
      rt.close();
    }
  }

  /** The name (under /run/netns) of the netns with this nsid, looked up again when unknown. */
  private netnsName(nsid: number): string | undefined {
    if (!this.nsNames.has(nsid)) {
      const rt = Rtnl.open();
      try {
        for (const ns of fs.existsSync(NETNS_DIR) ? fs.readdirSync(NETNS_DIR) : []) {
          try {
            const id = rt.nsid(`${NETNS_DIR}/${ns}`);
            if (id >= 0) this.nsNames.set(id, ns);
          } catch { /* vanished meanwhile */ }
        }
      } finally {
        rt.close();
      }
    }
    return this.nsNames.get(nsid);
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      // A vanished netns or parent mid-change is normal life: log, resync, keep running.
      this.log(`error: ${(e as Error).message}`);
      if (!(e instanceof ConfigError)) this.queueResync('after an error');
    }
  }

  private onEvents(err: NodeSystemError | null, batch: NetlinkDatagram[]): void {
    if (!this.events) return; // a batch of a socket given up after an overrun
    if (err) {
      this.log(`netlink: ${err.message}`);
      // A fresh socket, then a full dump: whatever was lost is in the dump, and whatever happens from
      // now on arrives as events (an overrun socket can stay congested and deliver nothing more).
      // The old socket's poll handle closes at the end of this loop turn; the new one is made on the
      // next, so libuv never sees the same fd number twice at once.
      this.events?.close();
      this.events = undefined;
      setTimeout(() => {
        this.events = linkEventSocket();
        this.events.listen((e, b) => this.onEvents(e, b));
        this.queueResync('event overrun');
      }, 0);
      return;
    }
    for (const d of batch) {
      for (const msg of splitMessages(d.data)) {
        if (msg.type !== RTM_NEWLINK && msg.type !== RTM_DELLINK) continue;
        const link = parseLink(msg.payload);
        const t0 = process.hrtime.bigint();
        // A child turned ALLMULTI or PROMISC on or off: its multicast filter is re-read soon.
        const ns = d.nsid < 0 ? '' : this.nsNames.get(d.nsid); // children's namespaces are all known (ensureNsids)
        if (ns !== undefined && msg.type === RTM_NEWLINK) this.mcWatch?.linkChanged(ns, link.ifname, link.flags);
        this.guard(() => {
          const note = this.m.events.onLinkEvent({ nsid: d.nsid, deleted: msg.type === RTM_DELLINK, link }, (id) => this.netnsName(id));
          if (note) this.log(note);
        });
        if (process.env.MACVLAN_BPF_AGENT_DEBUG) this.log(`event ${d.nsid} ${link.ifname} ${link.flags.join(',')} ${Number(process.hrtime.bigint() - t0) / 1000}us`);
      }
    }
  }

  /**
   * Runs a CNI call for the plugin's client: the plugin's own code, its commands on this instance (as
   * any client's), its IPAM plugin spawned from here with the call's CNI_* environment.
   */
  async runCni(req: CniRequest): Promise<ControlResponse> {
    this.quietUntil = performance.now() + 100;
    const r = await cniCall(req.env, req.config, async (cmd, out) => {
      const res = this.runForClient(cmd, true);
      for (const l of res.stdout.split('\n').slice(0, -1)) out.out(l);
      for (const l of res.stderr.split('\n').slice(0, -1)) out.err(l);
      return res.code;
    });
    return { code: r.code, stdout: r.stdout, stderr: '' };
  }

  /** Runs one client's command on the agent's own instance, with its output collected for the answer. */
  runForClient(cmd: Command, quick = false): ControlResponse {
    const out = new CollectedOutput();
    let code: number;
    try {
      // quick (a pod's ADD waits on it): a new child's transmit hook starts as cls_bpf, as in bulk, and
      // becomes a tcx link soon after (promoteSoon): a tcx link takes the kernel about 12 ms to make.
      code = quick ? this.m.batch(() => execute(this.m, cmd, out)) : execute(this.m, cmd, out);
    } catch (e) {
      out.err(`Error: ${(e as Error).message}`);
      code = 1;
      this.queueResync('after a failed command');
    }
    // New children may live in namespaces without an nsid here yet.
    if (cmd.kind === 'apply') this.ensureNsids();
    else if (cmd.kind === 'link-add') this.ensureNsids(cmd.netns ?? '');
    this.promoteSoon();
    return { code, stdout: out.stdout.join(''), stderr: out.stderr.join('') };
  }
}

/** `macvlan-bpf agent [--config FILE] [--prune]`: runs until SIGTERM or SIGINT. */
export async function runAgent(args: string[]): Promise<number> {
  let config: string | undefined;
  let prune = false;
  let listenText = process.env.MACVLAN_BPF_LISTEN || DEFAULT_LISTEN;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--config' || a === '-f') config = args[++i];
    else if (a === '--prune') prune = true;
    else if (a === '--listen') listenText = args[++i] ?? '';
    else {
      console.error(`Error: unknown agent option "${a}": use --config FILE [--prune] [--listen HOST:PORT|off]`);
      return 1;
    }
  }
  let listen: ListenAddress | null;
  try {
    listen = parseListen(listenText);
  } catch (e) {
    console.error(`Error: ${(e as Error).message}`);
    return 1;
  }
  const pinRoot = pinRootFromEnv();
  const socketPath = socketPathFor(pinRoot);
  let agent: Agent;
  try {
    agent = await Agent.start({ pinRoot, socketPath, config, prune, listen, log: (s) => void process.stdout.write(`macvlan-bpf agent: ${s}\n`) });
  } catch (e) {
    if (e instanceof AgentError || e instanceof ConfigError || e instanceof ListenError || e instanceof HookError) {
      console.error(`Error: ${e.message}`);
      return 2;
    }
    throw e;
  }
  console.log(`macvlan-bpf agent: ready (pid ${process.pid}, instance ${pinRoot}, control socket ${socketPath})`);
  if (agent.httpAddress) {
    const { host, port } = agent.httpAddress;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
    console.log(`macvlan-bpf agent: dashboard ${url}, Prometheus ${url}metrics, JSON ${url}api/v1/snapshot`);
    if (!['127.0.0.1', '::1'].includes(host)) console.log('macvlan-bpf agent: warning: the dashboard and /metrics have no authentication and are reachable beyond this host');
  }
  return new Promise((resolve) => {
    const bye = (sig: string) => {
      console.log(`macvlan-bpf agent: ${sig}: stopping; forwarding goes on without the agent`);
      agent.stop();
      resolve(0);
    };
    process.once('SIGTERM', () => bye('SIGTERM'));
    process.once('SIGINT', () => bye('SIGINT'));
    process.on('SIGHUP', () => {
      if (!config) return;
      try {
        agent.apply(config, prune);
      } catch (e) {
        console.log(`macvlan-bpf agent: SIGHUP: ${(e as Error).message}; nothing changed`);
      }
    });
  });
}
