// The control plane of one instance: the user's operations on children and ports, with the kernel's
// configuration rules (spec §5, §7, §11). Every operation validates first, then changes the kernel and
// the maps in an order that keeps forwarding correct at each step, and rolls back what it made if a
// later step fails. The pieces it composes each own one concern: the registry of children, the flood
// list, ports, a child's datapath state, child kinds, and reconciling with the kernel.
import { DEFAULT_BC_QUEUE_LEN, Datapath, pinRootFromEnv } from '../datapath/datapath.js';
import { CHILD_GRO_SET, CHILD_MAC_BUSY, CHILD_MC_EXACT, CHILD_NODST, CHILD_SPOOFCHK, CHILD_UP, CHILD_XDP_ARMED, PORT_FASTPATH_XDP, PORT_ISOLATION_KERNEL, PORT_KIND_AUTO, PORT_KIND_NETKIT, PORT_KIND_VETH, PORT_KINDS, PORT_PASSTHRU, PORT_SETTINGS, type ChildRecord, type KindName, type Mode, type PortRecord } from '../datapath/abi.js';
import { randomMac, type Mac } from '../mac.js';
import { LinkTable, ifnameOf, netnsExists, type LinkInfo } from '../net/links.js';
import { ChildState } from './child-state.js';
import { hostEndName } from './names.js';
import { ConfigError, orKernelError } from './errors.js';
import { FloodList } from './flood.js';
import { defaultKindChoice, kindOf, kindsFor, noteNetkitMissing, type KindContext } from './kinds/index.js';
import type { MakeRequest } from './kinds/types.js';
import { Ports, newPort } from './ports.js';
import { Reconciler, type ReconcileReport } from './reconcile.js';
import { Registry } from './registry.js';
import { SourceLists, type MacaddrChange } from './sources.js';
import { McFilter } from './mc-filter.js';
import { TxHooks } from './tx-hooks.js';
import { checkBcCutoff, checkBcQueueLen, checkIfname, checkMtu, checkNetnsName, parseChildMac, parseFastpath, parseIsolation, parseKindChoice, parseMode, checkQueues, resolveId, type Fastpath, type Isolation, type KindChoice, type LinkType } from './validate.js';

export type { Isolation } from './validate.js';
export type { ReconcileReport } from './reconcile.js';

export interface AddChildRequest {
  parent: string;
  name: string;
  mode?: Mode;
  address?: string;
  mtu?: number;
  netns?: string;
  /** The host end's ifindex (ip link add ... index N): tests use it to re-create a deleted child's slot. */
  hostIfindex?: number;
  /** Only its own source MAC may leave the child (the spec's deliberate difference 4); off by default, as in the kernel. */
  spoofchk?: boolean;
  /** Kernel macvlan's broadcast queue length request (accepted and reported; we have no queue). */
  bcqueuelen?: number;
  /** The port's bc_cutoff, set through any child as in the kernel (accepted and reported). */
  bcCutoff?: number;
  /** nodst (kernel macvlan's flag): frames from the sources it lists reach only the source children. */
  nodst?: boolean;
  /** Source mode's list, as `macaddr add|del|set|flush` on ip link add (only in source mode). */
  macaddr?: MacaddrChange;
  /** The child's device: veth, netkit, or auto (netkit where the kernel has it); defaultKindChoice() if not given. */
  childKind?: KindChoice;
  /** macvtap: a tap device whose queues user programs read and write (default macvlan). */
  type?: LinkType;
  /** macvtap: who may open its queues besides root (a name or an id), and how many a reader opens. */
  owner?: string | number;
  group?: string | number;
  queues?: number;
  /**
   * In a batch (apply), the child is brought UP right after: a kind that can makes it UP from the
   * start, and the following setUp makes no request of its own.
   */
  up?: boolean;
}

export interface ChildView {
  name: string;
  netns: string;
  parent: string;
  parentIfindex: number;
  hostEnd: string;
  hostIfindex: number;
  ifindex: number;
  mode: Mode;
  /** What its device is: veth, netkit or tap. */
  kind: KindName;
  /** The kernel device it stands in for: macvlan, or macvtap (a tap). */
  type: LinkType;
  /** macvtap: the queues a reader opens unless told. */
  queues?: number;
  address: Mac;
  mtu: number;
  up: boolean;
  operstate: string;
  /** Set when the child is UP in the kernel with a busy MAC (made by plain ip) and so out of the table. */
  conflict?: string;
  /** Frames it sends with a source MAC not its own are dropped (counted as spoof). */
  spoofchk: boolean;
  /** The broadcast queue's settings as kernel macvlan reports them: this child's request, the port's
   * length in use (the largest request among its children) and the port's cutoff. No queue uses them. */
  bcqueuelen: number;
  usedbcqueuelen: number;
  bcCutoff: number;
  nodst: boolean;
  /** Source mode: the remote source MACs it lists (absent for other modes, as ip prints it). */
  macaddr?: Mac[];
  /** The exact multicast filter's groups (an agent keeps them); absent: it gets every group. */
  mcGroups?: Mac[];
}

export { hostEndName } from './names.js';

export class Macvlan {
  private readonly links = new LinkTable();
  private readonly registry: Registry;
  private readonly state: ChildState;
  private readonly ports: Ports;
  private readonly sources: SourceLists;
  private readonly mc: McFilter;
  /** Reconciling with the kernel, and the agent's per-event path. */
  readonly events: Reconciler;
  private readonly ctx: KindContext;
  private readonly txHooks: TxHooks;

  private constructor(readonly dp: Datapath) {
    this.registry = new Registry(dp);
    const flood = new FloodList(dp);
    this.ports = new Ports(dp, this.links, flood);
    this.sources = new SourceLists(dp);
    this.mc = new McFilter(dp, this.registry, flood, this.links);
    this.state = new ChildState(dp, this.registry, flood, this.ports, this.links, this.sources, this.mc);
    this.events = new Reconciler(dp, this.registry, this.state, flood, this.ports, this.links);
    this.ctx = { dp, links: this.links };
    this.txHooks = new TxHooks(dp, this.registry, this.ctx);
  }

  /** Opens (creating if needed) the instance and reconciles it with the kernel. */
  static open(pinRoot = pinRootFromEnv(), opts: { reconcile?: boolean } = {}): Macvlan {
    const m = new Macvlan(Datapath.open(pinRoot));
    if (m.dp.upgraded || m.dp.rehooked) m.reattachAll();
    if (opts.reconcile !== false) m.reconcile();
    return m;
  }

  close(): void {
    this.dp.close();
    this.links.close();
  }

  /**
   * A new build of the programs was pinned, or the hook mode changed: every hook gets it, atomically.
   * The children's hooks first: a newer parent program may send a flood copy marked for the child
   * program on a host end (MVB_COPY_MARK), which an older child program would take for the child's own
   * frame. Each child's entry is written again first, for what an older build did not write there
   * (mvb_child.copy, which the new programs read).
   */
  reattachAll(): void {
    const portSlot = new Map(this.dp.listPorts().map((x) => [x.parentIfindex, x.port.slot ?? 0]));
    for (const c of this.dp.listChildren()) {
      c.parentSlot = portSlot.get(c.parentIfindex) ?? 0; // a build that converted the ports, not the children
      this.registry.put(c);
      this.txHooks.reattach(c);
    }
    for (const { parentIfindex, port } of this.dp.listPorts()) this.ports.reattach(parentIfindex, port);
  }

  /** Children whose cls_bpf transmit hook waits to become a tcx link (see tx-hooks.ts). */
  get pendingHooks(): number {
    return this.txHooks.pending;
  }

  /** Promotes waiting hooks until the deadline (performance.now() ms; at least one); returns how many wait. */
  promoteHooks(deadline = Infinity): number {
    return this.txHooks.promote(deadline);
  }

  private inBatch = false;
  /** Children of this batch made UP in the kernel from the start (add with up): setUp has no request to make. */
  private readonly madeUp = new Set<number>();

  /** A user operation starts from the map as it is now (one read), not from what an earlier one saw. */
  private begin(): void {
    if (!this.inBatch) this.registry.refresh();
  }

  /** Runs many operations on one reading of the registry (an apply of a whole file). */
  batch<T>(fn: () => T): T {
    if (this.inBatch) return fn();
    this.registry.refresh();
    this.inBatch = true;
    this.links.holdParents();
    try {
      return fn();
    } finally {
      this.inBatch = false;
      this.links.releaseParents();
      this.madeUp.clear();
    }
  }

  /** Every hook of ours carries our program again (the agent's periodic look; reconcile does it too). */
  repairHooks(): ReconcileReport {
    this.registry.refresh();
    return this.events.repairHooks();
  }

  reconcile(): ReconcileReport {
    const r = this.events.reconcile();
    this.txHooks.findWaiting(this.registry.all());
    return r;
  }

  // --- lookups -------------------------------------------------------------------------------------
  /** Finds a child by name (and netns when names repeat across namespaces). */
  findChild(name: string, netns?: string): ChildRecord {
    const all = this.registry.find(name, netns);
    if (all.length === 0)
      throw new ConfigError('ENODEV', `Cannot find device "${name}"${netns !== undefined ? ` in netns "${netns}"` : ''}: no macvlan-bpf child has that name (see 'macvlan-bpf link show')`);
    if (all.length > 1)
      throw new ConfigError('EINVAL', `"${name}" names children in several namespaces (${all.map((c) => c.netns || '<parent netns>').join(', ')}): say which with -n <netns>`);
    return all[0]!;
  }

  /** Every child, oldest first. */
  children(): ChildRecord[] {
    return this.registry.all();
  }

  private parentLinkOrThrow(name: string): LinkInfo {
    const l = this.links.parent(name);
    if (!l) throw new ConfigError('ENODEV', `Cannot find device "${name}": the parent must be an existing interface in this network namespace`);
    return l;
  }

  /** A macvtap child's owner and group as the kernel holds them (none set, or another kind: {}). */
  tapAccess(c: ChildRecord): { owner?: number; group?: number } {
    if (c.kind !== 'tap') return {};
    return this.links.get(c.name, c.netns || undefined)?.tun ?? {};
  }

  /** What kernel device a child stands in for. */
  linkType(c: ChildRecord): LinkType {
    return kindOf(c.kind).linkKind;
  }

  hasLink(name: string): boolean {
    return this.links.get(name) !== null;
  }

  /** The name of an interface in the parents' netns, or '' when it is gone. */
  ifname(ifindex: number): string {
    return ifnameOf(ifindex);
  }

  // --- add -----------------------------------------------------------------------------------------
  add(req: AddChildRequest): ChildRecord {
    this.begin();
    const mode = parseMode(req.mode ?? 'vepa'); // the kernel's default (l.1511)
    checkIfname(req.name);
    let address = req.address !== undefined ? parseChildMac(req.address) : undefined;
    if (req.netns !== undefined) {
      checkNetnsName(req.netns);
      if (!netnsExists(req.netns)) throw new ConfigError('ENOENT', `network namespace "${req.netns}" does not exist: create it first (ip netns add ${req.netns})`);
    }
    if (req.mtu !== undefined) checkMtu(req.mtu);

    let parent = this.parentLinkOrThrow(req.parent);
    // A child of ours named as the parent: the kernel puts a macvlan on a macvlan onto the real lower
    // device (macvlan_port_create), never nests; so do we.
    const lower = this.registry.find(parent.ifname, '')[0];
    if (lower) parent = this.parentLinkOrThrow(this.ifname(lower.parentIfindex));
    const port = this.dp.getPort(parent.ifindex);
    this.checkParentUsable(parent, !port?.nchildren);
    // The child's kind: a tap for macvtap; for macvlan, asked for, else its parent's (port set … kind), else the default.
    const type = req.type ?? 'macvlan';
    const tap = type === 'macvtap' ? tapRequest(req) : undefined;
    const tapOnly = (['owner', 'group', 'queues'] as const).find((k) => req[k] !== undefined);
    if (!tap && tapOnly) throw new ConfigError('EINVAL', `Invalid argument: ${tapOnly} belongs to macvtap children (their queues are opened by user programs); ${req.name} would be a macvlan: add "type macvtap", or drop ${tapOnly}`);
    const kinds = tap ? [kindOf('tap')] : kindsFor(req.childKind !== undefined ? parseKindChoice(req.childKind) : (port && portKind(port)) ?? defaultKindChoice());
    if (req.mtu !== undefined) this.checkMtuUnderParent(req.mtu, parent);
    if (req.bcqueuelen !== undefined) checkBcQueueLen(req.bcqueuelen);
    if (req.bcCutoff !== undefined) checkBcCutoff(req.bcCutoff);
    if (req.macaddr && mode !== 'source')
      throw new ConfigError('EINVAL', `Invalid argument: macaddr lists belong to source-mode children, and ${req.name} would be ${mode} (add "mode source")`);
    const macaddr = req.macaddr ? req.macaddr.macs.map(parseChildMac) : [];
    const netns = req.netns ?? '';

    // Running it twice converges: an identical child is success, a different one is EEXIST.
    const existing = this.registry.find(req.name, netns)[0];
    if (existing) {
      const same = existing.parentIfindex === parent.ifindex && existing.mode === mode &&
        (address === undefined || existing.mac === address || mode === 'passthru') &&
        (req.mtu === undefined || existing.mtu === req.mtu) &&
        (req.spoofchk === undefined || ((existing.flags & CHILD_SPOOFCHK) !== 0) === req.spoofchk) &&
        (req.nodst === undefined || ((existing.flags & CHILD_NODST) !== 0) === req.nodst) &&
        (req.childKind === undefined || req.childKind === 'auto' || existing.kind === req.childKind) &&
        (kindOf(existing.kind).linkKind === type) && (!tap || (existing.queues ?? 1) === tap.queues) &&
        (req.macaddr === undefined || this.sources.plan(existing, { ...req.macaddr, macs: macaddr }).join() === this.sources.of(existing).join());
      if (same) return existing;
      throw new ConfigError('EEXIST', `File exists: child "${req.name}"${netns ? ` in netns "${netns}"` : ''} already exists with other settings (parent ${this.ifname(existing.parentIfindex)}, mode ${existing.mode}); delete it first or use 'link set'`);
    }

    const nsiblings = this.registry.countOf(parent.ifindex); // the list itself only for a refusal
    if (port && port.flags & PORT_PASSTHRU && nsiblings > 0)
      throw new ConfigError('EINVAL', `Invalid argument: ${parent.ifname} has a passthru child (${this.registry.ofParent(parent.ifindex)[0]!.name}); a passthru port takes exactly one child`);
    if (mode === 'passthru' && nsiblings > 0)
      throw new ConfigError('EINVAL', `Invalid argument: passthru needs a parent without children, and ${parent.ifname} has ${nsiblings} (${this.registry.ofParent(parent.ifindex).map((c) => c.name).join(', ')})`);
    if (mode === 'passthru') address = parent.address as Mac; // eth_hw_addr_inherit: the request is ignored

    let kind = kinds[0]!;
    // In bulk (apply), a TC transmit hook may start as cls_bpf, promoted to tcx afterwards (tx-hooks.ts).
    const ctx = this.inBatch ? this.txHooks.bulkContext() : this.ctx;
    const hostName = hostEndName(this.dp.pinRoot, netns, req.name);
    if (this.links.exists(hostName)) orKernelError(`removing ${hostName}, left by a crash`, () => this.links.rtnl.deleteLink(hostName));

    const undo: (() => void)[] = [];
    try {
      const p = this.ports.ensure(parent, port, undo);
      const rec: ChildRecord = {
        parentIfindex: parent.ifindex,
        hostIfindex: 0,
        mtu: req.mtu ?? parent.mtu,
        mac: address ?? randomMac(), // as the kernel's eth_random_addr would, but known without asking
        mode,
        flags: kind.deliveryFlags(netns) | (req.spoofchk ? CHILD_SPOOFCHK : 0) | (req.nodst ? CHILD_NODST : 0),
        kind: kind.name,
        ...(tap ? { queues: tap.queues } : {}),
        createdNs: process.hrtime.bigint(),
        name: req.name,
        netns,
        parentSlot: p.slot ?? 0,
      };
      // Born UP (in a batch that brings it up next): its MAC must be free before it can send.
      const bornUp = this.inBatch && req.up === true;
      if (bornUp) this.state.checkMacFree(rec, rec.mac);
      const make: MakeRequest = { parent, name: req.name, netns, address: rec.mac, mtu: rec.mtu, hostName, hostIfindex: req.hostIfindex, owner: tap?.owner, group: tap?.group, queues: tap?.queues, up: bornUp };
      try {
        rec.hostIfindex = kind.make(ctx, make, undo);
      } catch (e) {
        // auto on a kernel without netkit: a veth pair instead.
        if (!(e instanceof ConfigError && e.code === 'EOPNOTSUPP' && kinds.length > 1)) throw e;
        noteNetkitMissing();
        kind = kinds[1]!;
        rec.kind = kind.name;
        rec.flags = (rec.flags & ~kinds[0]!.deliveryFlags(netns)) | kind.deliveryFlags(netns);
        rec.hostIfindex = kind.make(ctx, make, undo);
      }
      if ((make.groForLife ?? kind.groForLife(ctx, rec)) || (p.flags & PORT_FASTPATH_XDP && kind.acceptXdp(ctx, rec, true))) rec.flags |= CHILD_GRO_SET;
      // Its counters start at zero in a slot no other child holds (the slot's last child may have counted
      // after it was read for the last time).
      rec.slot = this.registry.freeSlot();
      this.dp.resetChildStats(rec.slot);
      if (req.bcqueuelen !== undefined) {
        this.dp.setBcQueueLen(rec.hostIfindex, req.bcqueuelen);
        undo.push(() => this.dp.setBcQueueLen(rec.hostIfindex, DEFAULT_BC_QUEUE_LEN));
      }
      if (req.bcCutoff !== undefined) {
        const was = this.dp.bcCutoff(parent.ifindex);
        this.dp.setBcCutoff(parent.ifindex, req.bcCutoff);
        undo.push(() => this.dp.setBcCutoff(parent.ifindex, was));
      }
      this.registry.put(rec);
      undo.push(() => this.registry.delete(rec.hostIfindex));
      if (req.macaddr && req.macaddr.op !== 'del' && req.macaddr.op !== 'flush') {
        undo.push(() => this.sources.forget(rec));
        this.sources.apply(rec, [...new Set(macaddr)]);
      }
      kind.start(ctx, rec);
      if (make.bornUp) this.madeUp.add(rec.hostIfindex);
      p.nchildren += 1;
      if (mode === 'passthru') {
        p.flags |= PORT_PASSTHRU;
        p.passthruHost = rec.hostIfindex;
      }
      this.dp.putPort(parent.ifindex, p);
      this.mc.seed(rec);
      if (this.inBatch) this.txHooks.madeInBulk(rec, ctx);
      return rec;
    } catch (e) {
      for (const u of undo.reverse()) {
        try { u(); } catch { /* best effort: the first error is the one to report */ }
      }
      throw e;
    }
  }

  /** The kernel's macvlan_port_create() checks, made once per port (when it gets its first child). */
  private checkParentUsable(parent: LinkInfo, newPort: boolean): void {
    if (parent.link_type !== 'ether' || parent.flags.includes('LOOPBACK'))
      throw new ConfigError('EINVAL', `Invalid argument: ${parent.ifname} is ${parent.flags.includes('LOOPBACK') ? 'a loopback device' : `not an Ethernet device (link/${parent.link_type})`}; a parent must be an Ethernet interface`);
    if (this.dp.getChild(parent.ifindex))
      throw new ConfigError('EINVAL', `Invalid argument: ${parent.ifname} is the host end of a macvlan-bpf child; give the real parent`);
    if (parent.master)
      throw new ConfigError('EBUSY', `Device or resource busy: ${parent.ifname} is enslaved to ${parent.master} (a bridge port or bond slave cannot also be a macvlan parent); release it first: ip link set ${parent.ifname} nomaster`);
    if (!newPort) return;
    const foreign = this.dp.foreignParentProgram(parent.ifindex);
    if (foreign)
      throw new ConfigError('EBUSY', `Device or resource busy: ${parent.ifname} is served by another macvlan-bpf instance (its program, id ${foreign}, is on ${parent.ifname}'s ingress); use that instance (its MACVLAN_BPF_PIN_ROOT), or delete its children first`);
    const kernelChild = this.links.list().find((l) => l.link_index === parent.ifindex && l.link_netnsid === undefined && ['macvlan', 'macvtap', 'ipvlan', 'ipvtap'].includes(l.linkinfo?.info_kind ?? ''));
    if (kernelChild)
      throw new ConfigError('EBUSY', `Device or resource busy: ${parent.ifname} already carries kernel ${kernelChild.linkinfo?.info_kind} child ${kernelChild.ifname}; delete it, or use another parent`);
  }

  private checkMtuUnderParent(mtu: number, parent: LinkInfo): void {
    checkMtu(mtu);
    if (mtu > parent.mtu)
      throw new ConfigError('EINVAL', `Invalid argument: mtu ${mtu} is above the parent ${parent.ifname}'s mtu ${parent.mtu}; a child's MTU must not exceed its parent's (raise the parent's first)`);
  }

  // --- up / down -----------------------------------------------------------------------------------
  setUp(name: string, up: boolean, netns?: string): void {
    this.begin();
    const c = this.findChild(name, netns);
    if (up) {
      this.state.checkMacFree(c, c.mac);
      if (!this.madeUp.delete(c.hostIfindex))
        orKernelError(`bringing ${c.name} up`, () => this.links.in(c.netns || undefined, (r) => r.setUp(c.name, true)));
      this.state.insertUp(c);
    } else {
      this.state.removeUp(c); // out of the table first: nothing is redirected into a closing device
      orKernelError(`bringing ${c.name} down`, () => this.links.in(c.netns || undefined, (r) => r.setUp(c.name, false)));
    }
  }

  // --- set -----------------------------------------------------------------------------------------
  setMode(name: string, modeName: string, netns?: string): void {
    this.begin();
    const c = this.findChild(name, netns);
    const mode = parseMode(modeName);
    if (mode === c.mode) return;
    if (mode === 'passthru' || c.mode === 'passthru')
      throw new ConfigError('EINVAL', `Invalid argument: the mode cannot change to or from passthru (${c.name} is ${c.mode}); delete and re-create the child instead`);
    c.mode = mode;
    this.state.setMode(c);
  }

  setAddress(name: string, addr: string, netns?: string): void {
    this.begin();
    const c = this.findChild(name, netns);
    const mac = parseChildMac(addr);
    if (mac === c.mac) return;
    if (c.mode === 'passthru') {
      // The passthru child's MAC is the parent's: setting one sets both (l.772-775).
      const parentName = this.ifname(c.parentIfindex);
      this.links.forgetParents();
      orKernelError(`setting ${parentName}'s address`, () => this.links.rtnl.setAddress(c.parentIfindex, mac));
      orKernelError(`setting ${c.name}'s address`, () => this.links.in(c.netns || undefined, (r) => r.setAddress(c.name, mac)));
      this.state.rekey(c, mac, false);
      const port = this.dp.getPort(c.parentIfindex);
      if (port) this.dp.putPort(c.parentIfindex, { ...port, mac });
      return;
    }
    this.state.checkMacFree(c, mac);
    orKernelError(`setting ${c.name}'s address`, () => this.links.in(c.netns || undefined, (r) => r.setAddress(c.name, mac)));
    this.state.rekey(c, mac, true);
  }

  setMtu(name: string, mtu: number, netns?: string): void {
    this.begin();
    const c = this.findChild(name, netns);
    const parent = this.parentLinkOrThrow(this.ifname(c.parentIfindex));
    this.checkMtuUnderParent(mtu, parent);
    orKernelError(`setting ${c.name}'s mtu`, () => this.links.in(c.netns || undefined, (r) => r.setMtu(c.name, mtu)));
    c.mtu = mtu;
    this.registry.put(c);
  }

  /** A child's bcqueuelen request (the kernel's default 1000 unless set). */
  bcQueueLen(c: ChildRecord): number {
    return this.dp.bcQueueLen(c.hostIfindex);
  }

  /** A parent's bc_cutoff (1 unless set through one of its children). */
  bcCutoff(parentName: string): number {
    return this.dp.bcCutoff(this.parentLinkOrThrow(parentName).ifindex);
  }

  /** bcqueuelen N: this child's request, kept and reported (`ip -d link show`); no queue uses it. */
  setBcQueueLen(name: string, n: number, netns?: string): void {
    this.begin();
    const c = this.findChild(name, netns);
    this.dp.setBcQueueLen(c.hostIfindex, checkBcQueueLen(n));
  }

  /** bc_cutoff N: the port's, set through any of its children, as in the kernel; kept and reported. */
  setBcCutoff(name: string, n: number, netns?: string): void {
    this.begin();
    const c = this.findChild(name, netns);
    this.dp.setBcCutoff(c.parentIfindex, checkBcCutoff(n));
  }

  /** spoofchk on|off: takes effect with the next frame (the datapath reads the registry's flags). */
  setSpoofchk(name: string, on: boolean, netns?: string): void {
    this.setFlag(name, CHILD_SPOOFCHK, on, netns);
  }

  /** nodst on|off: takes effect with the next frame (the datapath reads the registry's flags). */
  setNodst(name: string, on: boolean, netns?: string): void {
    this.setFlag(name, CHILD_NODST, on, netns);
  }

  /** A switch the datapath reads from the child's registry entry. */
  private setFlag(name: string, flag: number, on: boolean, netns?: string): void {
    this.begin();
    const c = this.findChild(name, netns);
    if (((c.flags & flag) !== 0) === on) return;
    c.flags = on ? c.flags | flag : c.flags & ~flag;
    this.registry.put(c);
  }

  /** macaddr add|del|set|flush: a source-mode child's list of remote source MACs. */
  setMacaddr(name: string, change: MacaddrChange, netns?: string): void {
    this.begin();
    const c = this.findChild(name, netns);
    const macs = change.macs.map(parseChildMac);
    this.sources.apply(c, this.sources.plan(c, { op: change.op, macs }));
  }

  /**
   * The exact multicast filter (the agent's): re-reads the multicast lists of the given children (all
   * by default) and updates their filters. Returns the names whose filter changed.
   */
  syncMulticast(hosts?: Iterable<number>): string[] {
    this.begin();
    const want = hosts ? new Set(hosts) : null;
    return this.mc.sync(this.registry.all().filter((c) => !want || want.has(c.hostIfindex)));
  }

  /** An agent keeps the multicast lists from now on: children it makes start with an exact filter. */
  multicastWatched(): void {
    this.mc.watching = true;
  }

  /** Whether a child's link flags (ALLMULTI, PROMISC) call for re-reading its multicast filter. */
  multicastStale(netns: string, name: string, flags: string[]): boolean {
    return this.mc.stale(netns, name, flags);
  }

  /** Host ends of the children with these names (netns\0name), for a re-read. */
  childrenNamed(keys: Set<string>): number[] {
    return this.registry.all().filter((c) => keys.has(`${c.netns}\0${c.name}`)).map((c) => c.hostIfindex);
  }

  /** Nobody keeps the multicast lists any more (the agent stops): every child gets every group again. */
  multicastOff(): void {
    this.begin();
    this.mc.clearAll();
  }

  /** The remote source MACs a source-mode child lists. */
  macaddrOf(name: string, netns?: string): Mac[] {
    this.begin();
    return this.sources.of(this.findChild(name, netns));
  }

  setIsolation(parentName: string, isolation: Isolation): void {
    parseIsolation(isolation);
    const { parent, port } = this.portOf(parentName);
    port.flags = isolation === 'kernel' ? port.flags | PORT_ISOLATION_KERNEL : port.flags & ~PORT_ISOLATION_KERNEL;
    this.keepPort(parent.ifindex, port);
  }

  /** A parent's port for a setting: its own, or a new one (kept only with settings, see keepPort). */
  private portOf(parentName: string): { parent: LinkInfo; port: PortRecord } {
    const parent = this.parentLinkOrThrow(parentName);
    if (parent.link_type !== 'ether' || parent.flags.includes('LOOPBACK'))
      throw new ConfigError('EINVAL', `Invalid argument: ${parent.ifname} is not an Ethernet device and cannot be a parent`);
    return { parent, port: this.dp.getPort(parent.ifindex) ?? newPort(parent) };
  }

  /** A port is kept while it has children or settings other than the defaults (as ports.release does). */
  private keepPort(parentIfindex: number, port: PortRecord): void {
    if (!port.nchildren && !(port.flags & PORT_SETTINGS)) {
      if (this.dp.getPort(parentIfindex)) this.ports.forget(parentIfindex);
      return;
    }
    this.ports.giveSlot(parentIfindex, port);
    this.dp.putPort(parentIfindex, port);
  }

  /**
   * The parent's fast path: 'xdp' decides unicast to children in native XDP before an skb exists (the
   * rest passes on to TC), 'tc' decides everything in TC. All or nothing: children get what XDP
   * redirects need first, then the program goes on; off again in the reverse order.
   */
  setFastpath(parentName: string, fastpath: Fastpath): void {
    parseFastpath(fastpath);
    this.begin();
    const { parent, port } = this.portOf(parentName);
    const want = fastpath === 'xdp';
    if (want === ((port.flags & PORT_FASTPATH_XDP) !== 0)) return;
    const children = this.registry.ofParent(parent.ifindex);
    const undo: (() => void)[] = [];
    try {
      if (want) {
        for (const c of children) {
          if (c.flags & CHILD_GRO_SET) {
            // GRO on for life (kinds/veth.ts), set while the child was down: an UP one is armed now.
            if (c.flags & CHILD_UP && !(c.flags & CHILD_XDP_ARMED)) {
              kindOf(c.kind).armXdp(this.ctx, c);
              c.flags |= CHILD_XDP_ARMED;
            }
            continue;
          }
          if (!kindOf(c.kind).acceptXdp(this.ctx, c, true)) continue;
          // Set while UP, GRO arms the host end at once (kinds/veth.ts); a DOWN child is armed when it comes up.
          c.flags |= CHILD_GRO_SET | (c.flags & CHILD_UP ? CHILD_XDP_ARMED : 0);
          undo.push(() => {
            c.flags &= ~(CHILD_GRO_SET | CHILD_XDP_ARMED);
            kindOf(c.kind).acceptXdp(this.ctx, c, false);
          });
        }
        // Attached even without children, and taken off again: a parent without native XDP is refused now.
        this.dp.attachXdp(parent.ifindex, parent.ifname);
        if (!port.nchildren) this.dp.detachXdp(parent.ifindex);
        else undo.push(() => this.dp.detachXdp(parent.ifindex));
        port.flags |= PORT_FASTPATH_XDP;
      } else {
        this.dp.detachXdp(parent.ifindex);
        for (const c of children) {
          if (kindOf(c.kind).groForLife(this.ctx, c)) continue; // its GRO (and the arming) stays
          if (c.flags & CHILD_GRO_SET) kindOf(c.kind).acceptXdp(this.ctx, c, false);
          c.flags &= ~(CHILD_GRO_SET | CHILD_XDP_ARMED);
        }
        port.flags &= ~PORT_FASTPATH_XDP;
      }
      for (const c of children) this.registry.put(c);
      this.keepPort(parent.ifindex, port);
    } catch (e) {
      for (const u of undo.reverse()) {
        try { u(); } catch { /* best effort: the first error is the one to report */ }
      }
      throw e;
    }
  }

  /** The kind of the parent's new children (`port set PARENT kind …`): kept across restarts. */
  setChildKind(parentName: string, choice: KindChoice): void {
    parseKindChoice(choice);
    const { parent, port } = this.portOf(parentName);
    port.flags = (port.flags & ~PORT_KINDS) | { netkit: PORT_KIND_NETKIT, auto: PORT_KIND_AUTO, veth: PORT_KIND_VETH }[choice];
    this.keepPort(parent.ifindex, port);
  }

  /** The kind the parent's new children get (its own setting, else the default). */
  childKind(parentName: string): KindChoice {
    const l = this.parentLinkOrThrow(parentName);
    const p = this.dp.getPort(l.ifindex);
    return (p && portKind(p)) ?? defaultKindChoice();
  }

  fastpath(parentName: string): Fastpath {
    const l = this.parentLinkOrThrow(parentName);
    const p = this.dp.getPort(l.ifindex);
    return p && p.flags & PORT_FASTPATH_XDP ? 'xdp' : 'tc';
  }

  isolation(parentName: string): Isolation {
    const l = this.parentLinkOrThrow(parentName);
    const p = this.dp.getPort(l.ifindex);
    return p && p.flags & PORT_ISOLATION_KERNEL ? 'kernel' : 'strict';
  }

  // --- delete --------------------------------------------------------------------------------------
  del(name: string, netns?: string): void {
    this.begin();
    this.state.purge(this.findChild(name, netns), true);
  }

  // --- show ----------------------------------------------------------------------------------------
  show(name?: string, netns?: string): ChildView[] {
    this.begin();
    const children = name ? [this.findChild(name, netns)] : this.registry.all();
    const byNs = new Map<string, Map<string, LinkInfo>>();
    const linksIn = (ns: string) => {
      let m = byNs.get(ns);
      if (!m) {
        m = new Map(this.links.list(ns || undefined).map((l) => [l.ifname, l]));
        byNs.set(ns, m);
      }
      return m;
    };
    const here = new Map(this.links.list().map((l) => [l.ifindex, l]));
    const requested = this.dp.bcQueueLens();
    const bcqueuelen = (c: ChildRecord) => requested.get(c.hostIfindex) ?? DEFAULT_BC_QUEUE_LEN;
    const used = new Map<number, number>(); // the port's bc_queue_len_used: the largest request
    for (const c of this.registry.all()) used.set(c.parentIfindex, Math.max(used.get(c.parentIfindex) ?? 0, bcqueuelen(c)));
    const cutoff = new Map<number, number>();
    const bcCutoff = (p: number) => cutoff.get(p) ?? cutoff.set(p, this.dp.bcCutoff(p)).get(p)!;
    const lists = children.some((c) => c.mode === 'source') ? this.sources.all() : new Map<number, Mac[]>();
    return children.map((c) => {
      const l = linksIn(c.netns).get(c.name);
      return {
        name: c.name,
        netns: c.netns,
        parent: here.get(c.parentIfindex)?.ifname ?? `if${c.parentIfindex}`,
        parentIfindex: c.parentIfindex,
        hostEnd: here.get(c.hostIfindex)?.ifname ?? '',
        hostIfindex: c.hostIfindex,
        ifindex: l?.ifindex ?? 0,
        mode: c.mode,
        kind: c.kind,
        type: kindOf(c.kind).linkKind,
        ...(c.queues ? { queues: c.queues } : {}),
        address: c.mac,
        mtu: l?.mtu ?? c.mtu,
        up: (c.flags & CHILD_UP) !== 0,
        operstate: l?.operstate ?? 'UNKNOWN',
        spoofchk: (c.flags & CHILD_SPOOFCHK) !== 0,
        bcqueuelen: bcqueuelen(c),
        usedbcqueuelen: used.get(c.parentIfindex) ?? DEFAULT_BC_QUEUE_LEN,
        bcCutoff: bcCutoff(c.parentIfindex),
        nodst: (c.flags & CHILD_NODST) !== 0,
        ...(c.mode === 'source' ? { macaddr: lists.get(c.hostIfindex) ?? [] } : {}),
        ...(c.flags & CHILD_MC_EXACT ? { mcGroups: this.mc.groupsOf(c) ?? [] } : {}),
        ...(c.flags & CHILD_MAC_BUSY ? { conflict: `address ${c.mac} is held by ${this.state.macHolder(c, c.mac) ?? 'another device'}; not forwarding` } : {}),
      };
    });
  }
}

/** A macvtap request's own settings, checked; the macvlan-only ones refused. */
function tapRequest(req: AddChildRequest): { owner?: number; group?: number; queues: number } {
  if (req.childKind !== undefined)
    throw new ConfigError('EINVAL', `Invalid argument: kind ${req.childKind} is for macvlan children (a veth or netkit pair); a macvtap child is a tap device: drop "kind"`);
  return {
    owner: req.owner !== undefined ? resolveId('user', req.owner) : undefined,
    group: req.group !== undefined ? resolveId('group', req.group) : undefined,
    queues: req.queues !== undefined ? checkQueues(req.queues) : 1,
  };
}

/** The child kind a port asks for, or undefined when it has none of its own (veth, or the default). */
function portKind(p: PortRecord): KindChoice | undefined {
  return p.flags & PORT_KIND_NETKIT ? 'netkit' : p.flags & PORT_KIND_AUTO ? 'auto' : p.flags & PORT_KIND_VETH ? 'veth' : undefined;
}
