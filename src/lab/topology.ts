// One parent, its children, an external host and optionally a hairpinning switch, built either with
// the kernel's macvlan or with macvlan-bpf, with a packet socket at every endpoint. The same spec builds
// the same topology (names, MACs) both ways, so deliveries can be compared cell by cell.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { addon, projectRoot } from '../native.js';
import { TapEndpoint, waitTapActive, type FrameEndpoint } from './tap-endpoint.js';
import { Datapath as BpfDatapath } from '../datapath/datapath.js';
import { decodeChild, encodeMcKey, type Mode } from '../datapath/abi.js';
import { ETH_P_8021Q, ETH_P_PAUSE, ETH_P_TEST, frameId } from '../frames.js';
import type { Endpoint, Injection, ModelPort } from '../model.js';
import type { Mac } from '../mac.js';
import { run, type Sandbox } from './sandbox.js';
import { PARENT_DEV, PARENT_MAC, WIRE_DEV, addBpfChildren, addKernelChildren, buildWire, type ChildDef, type ParentKind } from './builder.js';
import { waitFor } from './wait.js';

export { EXT_MAC, PARENT_MAC } from './builder.js';
export { waitFor } from './wait.js';
export const UNKNOWN_MAC: Mac = '02:99:00:00:00:99';

/** The spec's "mixed" scenario (§8): two children of each non-passthru mode. */
export const MIXED_CHILDREN: readonly ChildSpec[] = [
  { name: 'p1', mode: 'private', mac: '02:00:00:00:01:01' },
  { name: 'p2', mode: 'private', mac: '02:00:00:00:01:02' },
  { name: 'v1', mode: 'vepa', mac: '02:00:00:00:02:01' },
  { name: 'v2', mode: 'vepa', mac: '02:00:00:00:02:02' },
  { name: 'b1', mode: 'bridge', mac: '02:00:00:00:04:01' },
  { name: 'b2', mode: 'bridge', mac: '02:00:00:00:04:02' },
];

export interface ChildSpec {
  name: string;
  mode: Mode;
  mac: Mac;
  up?: boolean;
  mtu?: number;
  /** Multicast groups the child joins (ip maddr add). */
  groups?: Mac[];
  /** Source mode: the remote source MACs it lists (macaddr set), and nodst. */
  sources?: Mac[];
  nodst?: boolean;
  /** A macvtap child (kernel macvtap, or macvlan-bpf's tap kind): beside the parent, read through a queue. */
  tap?: boolean;
}
export type Datapath = 'kernel' | 'bpf';
export interface TopoSpec {
  datapath: Datapath;
  children: ChildSpec[];
  reflector: boolean;
  isolation?: 'strict' | 'kernel';
  /**
   * How a bpf topology is run: 'agent' (default) starts a macvlan-bpf agent in the host netns, applies
   * the children as a config file through it, and brings them up with plain `ip link set up` inside
   * their namespaces, as users do; 'direct' drives the control plane in-process (no agent).
   */
  control?: 'agent' | 'direct';
  /** What the parent is (default: the veth p0 itself). */
  parent?: ParentKind;
  /** The bpf parent's fast path (default tc). */
  fastpath?: 'tc' | 'xdp';
  /** The bpf children's device kind (default: the control plane's, veth or $MACVLAN_BPF_CHILD_KIND). */
  childKind?: 'veth' | 'netkit' | 'auto';
}

export class Topology {
  readonly ext: string;
  readonly host: string;
  readonly childNs = new Map<string, string>();
  readonly pinRoot: string;
  private readonly sockets = new Map<Endpoint, FrameEndpoint[]>();
  private agentProc?: ChildProcess;
  private agentLogFile = '';

  private constructor(readonly sb: Sandbox, readonly spec: TopoSpec, tag: string) {
    this.ext = sb.netns(`${tag}x`);
    this.host = sb.netns(`${tag}h`);
    this.pinRoot = sb.pinRoot(tag);
  }

  static build(sb: Sandbox, spec: TopoSpec, tag: string): Topology {
    const t = new Topology(sb, spec, tag);
    try {
      t.make(tag);
    } catch (e) {
      t.close(); // what was made so far goes: the next build reuses the names
      throw e;
    }
    return t;
  }

  private make(tag: string): void {
    const { ext, host, spec } = this;
    const kind = spec.parent ?? 'veth';
    const parent = PARENT_DEV[kind];
    buildWire({ host, ext, reflector: spec.reflector, parent: kind });
    // A macvtap child lives beside its parent; every other child in a netns of its own.
    for (const c of spec.children) this.childNs.set(c.name, c.tap ? host : this.sb.netns(`${tag}${c.name}`));
    const defs: ChildDef[] = spec.children.map((c) => ({ ...c, netns: this.childNs.get(c.name)! }));

    if (spec.datapath === 'kernel') {
      addKernelChildren(host, defs, parent);
    } else if ((spec.control ?? 'agent') === 'agent') {
      this.startAgent();
      const cfg = [
        'parents:',
        `  - { name: ${parent}, isolation: ${spec.isolation ?? 'strict'}, fastpath: ${spec.fastpath ?? 'tc'} }`,
        'children:',
        ...spec.children.map((c) => `  - { name: ${c.name}, parent: ${parent}, mode: ${c.mode}, address: "${c.mac}", ${c.tap ? 'type: macvtap' : `netns: ${this.childNs.get(c.name)}`}${c.mtu ? `, mtu: ${c.mtu}` : ''}${c.nodst ? ', nodst: on' : ''}${c.sources ? `, macaddr: [${c.sources.map((a) => `"${a}"`).join(', ')}]` : ''}${spec.childKind && !c.tap ? `, kind: ${spec.childKind}` : ''}, state: down }`),
      ].join('\n');
      const file = path.join(os.tmpdir(), `${this.sb.prefix}-${tag}.yaml`);
      fs.writeFileSync(file, cfg + '\n');
      try {
        this.cli(['apply', '-f', file]);
      } finally {
        fs.rmSync(file, { force: true });
      }
      for (const c of spec.children) if (c.up !== false) run('ip', ['-n', this.childNs.get(c.name)!, 'link', 'set', c.name, 'up']);
      this.waitForAgentSync();
    } else {
      addBpfChildren(host, this.pinRoot, defs, { isolation: spec.isolation, parent, fastpath: spec.fastpath, childKind: spec.childKind });
    }

    for (const c of spec.children)
      for (const g of c.groups ?? []) run('ip', ['-n', this.childNs.get(c.name)!, 'maddr', 'add', g, 'dev', c.name]);
    if (spec.datapath === 'bpf' && (spec.control ?? 'agent') === 'agent') this.waitForMulticastFilter();

    const a = addon();
    this.sockets.set('wire', [new a.PacketSocket({ ifname: WIRE_DEV[kind], netns: `/run/netns/${ext}` })]);
    // Protocol-specific handlers run after the rx_handler and TC: exactly "the parent's stack got it".
    // A QinQ frame reaches them as 0x8100 (only its outer tag is taken off), hence the second socket.
    this.sockets.set('stack', [ETH_P_TEST, ETH_P_8021Q, ETH_P_PAUSE].map((protocol) => new a.PacketSocket({ ifname: parent, netns: `/run/netns/${host}`, protocol })));
    for (const c of spec.children) {
      const ns = this.childNs.get(c.name)!;
      this.sockets.set(c.name, [c.tap ? (spec.datapath === 'kernel' ? TapEndpoint.kernel(ns, c.name) : TapEndpoint.ours(ns, c.name)) : new a.PacketSocket({ ifname: c.name, netns: `/run/netns/${ns}` })]);
    }
    for (const c of spec.children) if (c.tap && spec.datapath === 'bpf') waitTapActive(this.childNs.get(c.name)!, c.name);
  }

  /** Runs the CLI in the host netns (it goes to the agent when one runs). */
  cli(args: string[]): string {
    return run('nsenter', [`--net=/run/netns/${this.host}`, path.join(projectRoot, 'bin', 'macvlan-bpf'), ...args], { MACVLAN_BPF_PIN_ROOT: this.pinRoot });
  }

  /** Starts the agent for this topology's instance and waits until its control socket answers. */
  startAgent(): void {
    // Its log goes to a file, not a pipe: we often wait synchronously, and a full pipe would block it.
    this.agentLogFile ||= path.join(os.tmpdir(), `${path.basename(this.pinRoot)}-agent.log`);
    const log = fs.openSync(this.agentLogFile, 'a');
    const proc = spawn('nsenter', [`--net=/run/netns/${this.host}`, process.execPath, path.join(projectRoot, 'dist', 'cli', 'main.js'), 'agent'], {
      env: { MACVLAN_BPF_MC_SWEEP_MS: '1000', ...process.env, MACVLAN_BPF_PIN_ROOT: this.pinRoot },
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    this.agentProc = proc;
    // Ready is when this agent says so (after its start reconcile and listening): an agent killed with
    // SIGKILL leaves its socket file, so the file's presence says nothing, and a caller would race.
    const ready = `ready (pid ${proc.pid},`;
    try {
      // Generous: in an emulated guest under load, node's start and the programs' load and verification
      // took over 10 s once (the 6.12 guest, while the host ran other tests); a hung agent still fails.
      waitFor(() => this.agentLog.includes(ready) || proc.exitCode !== null, 'the agent to listen', 60_000);
    } catch (e) {
      throw new Error(`${(e as Error).message}; its log:\n${this.agentLog.slice(-2000)}`);
    }
    if (proc.exitCode !== null) throw new Error(`the agent exited with ${proc.exitCode}: ${this.agentLog}`);
  }

  /** Stops the agent (SIGTERM to the pid we started; SIGKILL with hard). Forwarding goes on. */
  stopAgent(hard = false): void {
    const p = this.agentProc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    // nsenter execs node: the pid is the agent's own.
    p.kill(hard ? 'SIGKILL' : 'SIGTERM');
    waitFor(() => !pidAlive(p.pid!), 'the agent to exit');
    this.agentProc = undefined;
  }

  get agentPid(): number | undefined {
    return this.agentProc?.pid;
  }

  /** Everything the agents of this topology printed. */
  get agentLog(): string {
    return this.agentLogFile && fs.existsSync(this.agentLogFile) ? fs.readFileSync(this.agentLogFile, 'utf8') : '';
  }

  /** Closes an endpoint's packet sockets (an open socket keeps its netns alive after ip netns del). */
  closeEndpoint(ep: Endpoint): void {
    for (const s of this.sockets.get(ep) ?? []) s.close();
    this.sockets.delete(ep);
  }

  /** Waits until the agent has put every UP child in the map and finished handling those events. */
  waitForAgentSync(): void {
    const up = this.spec.children.filter((c) => c.up !== false).length;
    const macs = new (addon().BpfMap)({ pin: path.join(this.pinRoot, 'mvb_macs') });
    try {
      waitFor(() => macs.keys().length === up, `the agent to insert ${up} UP children`);
    } finally {
      macs.close();
    }
    this.cli(['link', 'show']); // served after every event already queued, so their handling is complete
  }

  /**
   * The agent's exact multicast filter holds the groups the children joined: `ip maddr add` announces
   * nothing, so the agent finds them at its next sweep (MACVLAN_BPF_MC_SWEEP_MS, 1 s in the lab). Read
   * from the maps in-process (children without extra groups start with the ones every device holds).
   */
  waitForMulticastFilter(): void {
    // A macvtap child gets every group (kinds/tap.ts): no list to wait for.
    const want = this.spec.children.filter((c) => c.up !== false && !c.tap && (c.groups ?? []).length > 0);
    if (want.length === 0) return;
    const a = addon();
    const children = new a.BpfMap({ pin: path.join(this.pinRoot, 'mvb_children') });
    const mc = new a.BpfMap({ pin: path.join(this.pinRoot, 'mvb_mc') });
    try {
      const hostOf = new Map<string, number>();
      for (const k of children.keys()) hostOf.set(decodeChild(children.lookup(k)!).name, k.readUInt32LE(0));
      waitFor(() => want.every((c) => (c.groups ?? []).every((g) => mc.lookup(encodeMcKey(hostOf.get(c.name) ?? 0, g)) !== null)),
        'the agent to read the children\'s multicast groups', 30_000);
    } finally {
      children.close();
      mc.close();
    }
  }

  /** The model of this topology (for the model check). */
  model(): ModelPort {
    return {
      parentMac: PARENT_MAC,
      children: this.spec.children.map((c) => ({ name: c.name, mode: c.mode, mac: c.mode === 'passthru' ? PARENT_MAC : c.mac, up: c.up !== false, groups: c.groups, sources: c.sources, nodst: c.nodst,
        // macvlan-bpf's macvtap child gets every group (its reader's joins are unseen; README).
        ...(c.tap && this.spec.datapath === 'bpf' ? { allmulti: true } : {}) })),
      isolation: this.spec.datapath === 'bpf' ? (this.spec.isolation ?? 'strict') : 'kernel',
      // Without an agent, every child gets every group (difference 3); with one, the exact filter.
      allmulti: this.spec.datapath === 'bpf' && this.spec.control === 'direct',
      parentAllmulti: this.spec.datapath === 'bpf',
      bridgeParent: this.spec.parent === 'bridge',
      filteringNic: this.spec.parent === 'nic',
    };
  }

  endpoints(): Endpoint[] {
    return [...this.sockets.keys()];
  }

  send(inj: Injection, frame: Buffer): void {
    const key = inj.from === 'child' ? inj.name : inj.from;
    try {
      this.sockets.get(key)![0]!.send(frame);
    } catch (e) {
      // A netkit child's transmit returns the datapath's drop to the sender (NET_XMIT_DROP, ENOBUFS on a
      // packet socket), where a veth's host end takes the frame first: a dropped frame, as the test expects.
      if ((e as { code?: string }).code !== 'ENOBUFS') throw e;
    }
  }

  /** Waits, then drains every endpoint: every frame each one received since the last drain. */
  async drain(settleMs = 250): Promise<Map<Endpoint, Buffer[]>> {
    await new Promise((r) => setTimeout(r, settleMs));
    return new Map([...this.sockets].map(([ep, socks]) => [ep, socks.flatMap((s) => s.recv()).map((f) => f.data)]));
  }

  /** Drains every endpoint and counts test frames: id -> endpoint -> copies. */
  async collect(settleMs = 250): Promise<Map<number, Map<Endpoint, number>>> {
    const out = new Map<number, Map<Endpoint, number>>();
    for (const [ep, frames] of await this.drain(settleMs)) {
      for (const f of frames) {
        const id = frameId(f);
        if (id === undefined) continue;
        let m = out.get(id);
        if (!m) out.set(id, (m = new Map()));
        m.set(ep, (m.get(ep) ?? 0) + 1);
      }
    }
    return out;
  }

  /** Removes everything; safe to call twice. The agent goes first, even if stopping it fails. */
  close(): void {
    try {
      this.stopAgent();
    } catch {
      this.agentProc?.kill('SIGKILL');
    }
    for (const s of [...this.sockets.values()].flat()) s.close();
    this.sockets.clear();
    this.sb.dropNetns(this.ext);
    this.sb.dropNetns(this.host); // takes p0 and every host end with it
    for (const ns of new Set(this.childNs.values())) if (ns !== this.host) this.sb.dropNetns(ns);
    BpfDatapath.destroy(this.pinRoot);
    if (this.agentLogFile) fs.rmSync(this.agentLogFile, { force: true });
  }
}

/** Alive, and not a zombie waiting for our (blocked) event loop to reap it. */
function pidAlive(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

