// Typed view of the native addon (native/src). The addon holds no policy: it opens kernel objects.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export interface NodeSystemError extends Error {
  errno: number;
  code: string;
  syscall: string;
}

export interface TestRunOptions {
  data: Buffer;
  ctx?: Buffer;
  repeat?: number;
  dataOutSize?: number;
  flags?: number;
  batchSize?: number;
}
export interface TestRunResult {
  retval: number;
  duration: number;
  data: Buffer;
  ctx: Buffer | null;
}

export interface BpfObject {
  programFd(name: string): number;
  mapFd(name: string): number;
  programNames(): string[];
  close(): void;
}
export interface BpfMapInfo {
  id: number;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  perCpu: boolean;
  possibleCpus: number;
  valueBytes: number;
}
export interface MapDump {
  keys: Buffer;
  values: Buffer;
  count: number;
  keySize: number;
  valueBytes: number;
  batched: boolean;
}
export interface BpfMap {
  lookup(key: Buffer): Buffer | null;
  update(key: Buffer, value: Buffer, flags?: number): void;
  delete(key: Buffer): boolean;
  keys(): Buffer[];
  /** Every entry in one call (BPF_MAP_LOOKUP_BATCH where the kernel has it), packed back to back; or the
   * first `limit`, in the map's order (an array's indexes 0..limit-1). */
  dump(limit?: number): MapDump;
  info(): BpfMapInfo;
  pin(path: string): void;
  close(): void;
}
export interface BpfProgram {
  readonly fd: number;
  info(): { id: number; type: number; name: string; tag: Buffer; mapIds: number[] };
  pin(path: string): void;
  testRun(opts: TestRunOptions): TestRunResult;
  close(): void;
}
export interface BpfLinkInfo {
  id: number;
  type: number;
  progId: number;
  /** tcx and netkit links: the device, 0 once it is gone. */
  ifindex: number;
  attachType: number;
}
export type EthtoolFlag = 'gro' | 'gso' | 'tso' | 'tx-checksum';
export type LinkAttachType = 'xdp' | 'tcx_ingress' | 'tcx_egress' | 'netkit_primary' | 'netkit_peer';
export interface BpfLink {
  readonly fd: number;
  info(): BpfLinkInfo;
  /** BPF_LINK_UPDATE: the new program in one atomic step (only if oldProgFd is still attached, if given). */
  update(newProgFd: number, oldProgFd?: number): void;
  /** BPF_LINK_DETACH: off its hook now, whoever holds the link. */
  detach(): void;
  pin(path: string): void;
  close(): void;
}
export interface ReceivedFrame {
  data: Buffer;
  pktType: number;
}
export interface PacketSocket {
  readonly ifindex: number;
  send(frame: Buffer): number;
  /** The same frame count times (sendmmsg in C); blocks until all are sent. */
  sendBurst(frame: Buffer, count: number): { sent: number; retries: number; ns: number };
  recv(): ReceivedFrame[];
  close(): void;
}
/** One queue of a tap device (native/src/tap_queue.h): a non-blocking fd, vnet header on by default. */
export interface TapQueue {
  readonly fd: number;
  readonly ifindex: number;
  /** One write: the vnet header (if on) then the frame. */
  send(frame: Buffer): number;
  /** Every frame queued now (vnet header included), without blocking. */
  recv(): Buffer[];
  /** TUNGETIFF's flags. */
  flags(): number;
  setPersist(on: boolean): void;
  setOwner(uid: number): void;
  setGroup(gid: number): void;
  /** TUNSETQUEUE: attach (true) or detach (false) this queue. */
  setQueue(attached: boolean): void;
  vnetHdrSz(): number;
  setVnetHdrSz(n: number): void;
  /** TUNSETOFFLOAD, TUN_F_* bits by value. */
  setOffload(flags: number): void;
  /** Hands the fd over (another process inherits it); this object forgets it. */
  release(): number;
  /** The benchmarks' writer: the same buffer (vnet header + frame) count times, in C. */
  sendBurst(buf: Buffer, count: number): { sent: number; retries: number; ns: number };
  /** The benchmarks' reader: a thread reads and counts every frame until countStop() (or close). */
  countStart(): void;
  counted(): { packets: number; bytes: number };
  countStop(): { packets: number; bytes: number };
  close(): void;
}
export interface NetlinkDatagram {
  /** The nsid (in the listener's netns) of the netns the event happened in; -1: the listener's own. */
  nsid: number;
  data: Buffer;
}
export interface NetlinkSocket {
  readonly fd: number;
  readonly portId: number;
  request(msg: Buffer): Buffer[];
  listen(cb: (err: NodeSystemError | null, batch: NetlinkDatagram[]) => void): void;
  stop(): void;
  close(): void;
}
export type FdOrPin = { fd: number } | { pin: string };
/** A program may also be opened by its id. */
export type ProgramSource = FdOrPin | { progId: number };

export interface Addon {
  BpfObject: new (path: string, pinRoot: string) => BpfObject;
  BpfMap: new (src: FdOrPin) => BpfMap;
  BpfProgram: new (src: ProgramSource) => BpfProgram;
  BpfLink: {
    new (src: FdOrPin): BpfLink;
    /** BPF_LINK_CREATE (raw syscall: the system libbpf predates tcx and netkit). */
    create(opts: { progFd: number; ifindex: number; attachType: LinkAttachType | number; flags?: number }): BpfLink;
  };
  PacketSocket: new (opts: { ifname: string; protocol?: number; netns?: string; ignoreOutgoing?: boolean }) => PacketSocket;
  /**
   * create: make the tap (EBUSY if the name is taken); else attach one more queue to an existing one.
   * multiQueue: make a multiqueue tap (default true); attaching, the tap's own is used when not given. { path }: a device node that
   * is a tap queue when opened (kernel macvtap's /dev/tapN).
   */
  TapQueue: new (opts: { ifname: string; create?: boolean; vnetHdr?: boolean; multiQueue?: boolean; netns?: string } | { path: string }) => TapQueue;
  NetlinkSocket: new (opts?: { netns?: string; groups?: number[]; listenAllNsid?: boolean; rcvbuf?: number }) => NetlinkSocket;
  possibleCpus(): number;
  /** The calling thread's CPUs, after setting them to `cpus` when given (this thread only). */
  threadAffinity(cpus?: number[]): number[];
  tcAttach(ifindex: number, dir: 'ingress' | 'egress', progFd: number, handle: number, priority: number, replace: boolean): { qdiscCreated: boolean };
  tcDetach(ifindex: number, dir: 'ingress' | 'egress', handle: number, priority: number): boolean;
  tcQuery(ifindex: number, dir: 'ingress' | 'egress', handle: number, priority: number): number;
  tcDestroyClsact(ifindex: number): boolean;
  /** Native (driver) XDP unless mode is 'skb'; never flags 0 (silently generic). */
  xdpAttach(ifindex: number, progFd: number, mode?: 'native' | 'skb'): void;
  xdpDetach(ifindex: number, mode?: 'native' | 'skb'): void;
  /** The ids of the programs on a device's hook (attachType: the kernel's number, e.g. 46 tcx ingress). */
  progQuery(ifindex: number, attachType: number): number[];
  /** A device's ethtool flag (SIOCETHTOOL), in the calling thread's netns. */
  ethtoolGet(ifname: string, flag: EthtoolFlag): boolean;
  ethtoolSet(ifname: string, flag: EthtoolFlag, on: boolean): void;
  netnsEnter(path: string): number;
  netnsRestore(fd: number): void;
  netnsInode(path?: string): number;
  /** The netns's cookie: never reused while the machine runs (path: a netns file; default the thread's). */
  netnsCookie(path?: string): bigint;
  ifNameToIndex(name: string, netnsPath?: string): number;
  ifIndexToName(ifindex: number): string;
  isBpffs(path: string): boolean;
  mountBpffs(path: string): void;
}

const here = path.dirname(fileURLToPath(import.meta.url));
/** The project root: dist/ or src/ sit one level below it. */
export const projectRoot = path.resolve(here, '..');

let cached: Addon | undefined;
export function addon(): Addon {
  if (!cached) {
    const require = createRequire(import.meta.url);
    const file = path.join(projectRoot, 'native', 'build', 'Release', 'macvlan_bpf.node');
    try {
      cached = require(file) as Addon;
    } catch (e) {
      throw new Error(`cannot load the native addon ${file}: ${(e as Error).message}; build it with 'npm run setup'`);
    }
  }
  return cached;
}

export function isSystemError(e: unknown): e is NodeSystemError {
  return e instanceof Error && typeof (e as NodeSystemError).code === 'string' && typeof (e as NodeSystemError).errno === 'number';
}

/** Runs fn with the main thread inside the netns at nsPath (synchronous work only). */
export function inNetns<T>(nsPath: string | undefined, fn: () => T): T {
  if (!nsPath) return fn();
  const a = addon();
  const back = a.netnsEnter(nsPath);
  try {
    return fn();
  } finally {
    a.netnsRestore(back);
  }
}
