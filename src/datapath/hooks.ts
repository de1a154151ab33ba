// Where our TC programs sit on a device's ingress, and how they are put there: a tcx link (kernels
// since 6.6: owned by a link object we pin, replaced atomically by a link update, gone when the pin
// goes) or, where the kernel has no tcx, a classic cls_bpf filter on a clsact qdisc (direct action, our
// own handle and priority). The mode is chosen once per open: $MACVLAN_BPF_TC_ATTACH=tcx|cls_bpf forces
// one, otherwise tcx when the kernel has it. A hook made in the other mode (an instance made on another
// kernel, or under the other setting) is taken over on the next attach, new hook first, so no frame
// meets an empty hook.
import { addon, isSystemError } from '../native.js';
import { DeviceLinks } from './device-links.js';

/** Our TC filters' handle and priority on every clsact we use (the cls_bpf mode). */
export const TC_HANDLE = 0x4d56;
export const TC_PRIORITY = 0x4d56;
/** bpf_link_info.type of a tcx link. */
const BPF_LINK_TYPE_TCX = 11;
/** How many recent tcx links' times IngressHooks.tcxAttachMs looks at. */
const TCX_SAMPLES = 5;
/** The tcx ingress attach type (uapi number; newer than the system headers). */
const BPF_TCX_INGRESS = 46;

export type HookMode = 'tcx' | 'cls_bpf';

export class HookError extends Error {}

/**
 * True when the kernel has tcx: a tcx link on ifindex 0 fails with ENODEV where tcx exists (the device
 * lookup comes after the attach type is known) and EINVAL where it does not. Touches no device.
 */
export function kernelHasTcx(progFd: number): boolean {
  try {
    addon().BpfLink.create({ progFd, ifindex: 0, attachType: 'tcx_ingress' }).close();
    return true; // cannot happen, but a link is a link
  } catch (e) {
    if (isSystemError(e) && e.code === 'ENODEV') return true;
    if (isSystemError(e) && (e.code === 'EINVAL' || e.code === 'EOPNOTSUPP')) return false;
    throw e;
  }
}

/** The attach mode $MACVLAN_BPF_TC_ATTACH asks for, or tcx where the kernel has it. */
export function chooseHookMode(progFd: number, env = process.env.MACVLAN_BPF_TC_ATTACH): HookMode {
  const want = env || 'auto';
  if (want !== 'auto' && want !== 'tcx' && want !== 'cls_bpf')
    throw new HookError(`MACVLAN_BPF_TC_ATTACH="${want}" is not an attach mode: use tcx, cls_bpf or auto`);
  const tcx = kernelHasTcx(progFd);
  if (want === 'tcx' && !tcx) throw new HookError(`MACVLAN_BPF_TC_ATTACH=tcx, but this kernel has no tcx (it came in 6.6); use cls_bpf or auto`);
  return want === 'cls_bpf' || !tcx ? 'cls_bpf' : 'tcx';
}


/** Our tcx links, pinned under <pin root>/links/tcx_ingress-<ifindex>. */
class TcxLinks extends DeviceLinks {
  constructor(pinRoot: string) {
    super(pinRoot, 'tcx_ingress', BPF_LINK_TYPE_TCX, 'tcx_ingress');
  }

  attach(ifindex: number, progFd: number): void {
    this.put(ifindex, progFd, (e) => {
      throw e;
    });
  }
}

/** The ingress hooks of one instance: tcx links (device-links.ts), or cls_bpf filters. */
export class IngressHooks {
  private readonly tcx: TcxLinks;
  /** How long the last few tcx links took to make (ms): some kernels wait a synchronize_rcu() under
   * rtnl for each (12-17 ms), others not (0.7 ms). */
  private tcxRecent: number[] = [];

  /** The quickest of the last TCX_SAMPLES links' times (ms), or null before the first. Where the kernel
   * waits a grace period for each link, none is quick; where it doesn't, one slow link (a grace period
   * or rtnl behind other work) must not make it look slow. Set: that time alone (tests). */
  get tcxAttachMs(): number | null {
    return this.tcxRecent.length === 0 ? null : Math.min(...this.tcxRecent);
  }

  set tcxAttachMs(ms: number | null) {
    this.tcxRecent = ms === null ? [] : [ms];
  }

  constructor(pinRoot: string, readonly mode: HookMode) {
    this.tcx = new TcxLinks(pinRoot);
  }

  /**
   * Puts progFd on the device's ingress, replacing our program if one is there (atomically in both
   * modes). ownsClsact: the device's clsact qdisc is ours to remove when a cls_bpf hook is taken over.
   * mode: this instance's, unless the caller needs the other (a tcx link costs the kernel a
   * synchronize_rcu() under rtnl, about 12 ms; a cls_bpf filter 0.1 ms, so bulk creation starts there).
   * Returns whether a clsact qdisc was created, or removed (ours, after a cls_bpf hook was taken over).
   */
  attach(ifindex: number, progFd: number, ownsClsact: boolean, mode: HookMode = this.mode, fresh = false): { qdiscCreated: boolean; qdiscRemoved: boolean } {
    const a = addon();
    if (mode === 'tcx') {
      const t0 = performance.now();
      this.tcx.attach(ifindex, progFd);
      this.tcxRecent.push(performance.now() - t0);
      if (this.tcxRecent.length > TCX_SAMPLES) this.tcxRecent.shift();
      // A cls_bpf hook of ours from before (none on a device just made): tcx runs first and decides, so
      // it can go now.
      let qdiscRemoved = false;
      if (!fresh && a.tcQuery(ifindex, 'ingress', TC_HANDLE, TC_PRIORITY)) {
        a.tcDetach(ifindex, 'ingress', TC_HANDLE, TC_PRIORITY);
        if (ownsClsact) qdiscRemoved = a.tcDestroyClsact(ifindex);
      }
      return { qdiscCreated: false, qdiscRemoved };
    }
    const r = { ...a.tcAttach(ifindex, 'ingress', progFd, TC_HANDLE, TC_PRIORITY, true), qdiscRemoved: false };
    this.tcx.detach(ifindex); // a tcx link of ours from before would keep deciding first
    return r;
  }

  /** The id of our program on the device's ingress, or 0 when we have none there. */
  programId(ifindex: number): number {
    return this.tcx.programId(ifindex) || addon().tcQuery(ifindex, 'ingress', TC_HANDLE, TC_PRIORITY);
  }

  /**
   * Another instance's program on the device's ingress: the id of a program named `name` that is not
   * `ownId` and does not use our map `ownMapId` (on the tcx hook, or at our cls_bpf handle and
   * priority), or 0. One parent belongs to one
   * instance: two would each believe the hook is theirs and take it from the other.
   */
  foreignProgram(ifindex: number, name: string, ownId: number, ownMapId: number): number {
    const a = addon();
    const ids = [...a.progQuery(ifindex, BPF_TCX_INGRESS), a.tcQuery(ifindex, 'ingress', TC_HANDLE, TC_PRIORITY)].filter((id) => id && id !== ownId);
    for (const id of ids) {
      let p;
      try {
        p = new a.BpfProgram({ progId: id });
      } catch {
        continue; // gone meanwhile
      }
      try {
        // One of ours from an older build uses our maps; another instance's uses its own.
        const info = p.info();
        if (info.name === name.slice(0, 15) && !info.mapIds.includes(ownMapId)) return id; // names keep 15 characters
      } finally {
        p.close();
      }
    }
    return 0;
  }

  /** True when the device's hook is our tcx link (a stat of its pin: cheap enough for every child). */
  hasTcxPin(ifindex: number): boolean {
    return this.tcx.hasPin(ifindex);
  }

  /** How our program is attached there now, if it is. */
  attachedAs(ifindex: number): HookMode | null {
    if (this.tcx.programId(ifindex)) return 'tcx';
    return addon().tcQuery(ifindex, 'ingress', TC_HANDLE, TC_PRIORITY) ? 'cls_bpf' : null;
  }

  /** Takes our program off the device, whichever way it is attached; removeClsact: the qdisc too. */
  detach(ifindex: number, removeClsact: boolean): void {
    const a = addon();
    this.tcx.detach(ifindex);
    a.tcDetach(ifindex, 'ingress', TC_HANDLE, TC_PRIORITY);
    if (removeClsact) a.tcDestroyClsact(ifindex);
  }

  /** The device is gone: drop its link pin (the kernel detached the link with the device). */
  forget(ifindex: number): void {
    this.tcx.forget(ifindex);
  }

  /** The ifindexes that have a link pin (reconcile removes those of devices no longer ours). */
  pinned(): number[] {
    return this.tcx.pinned();
  }
}
