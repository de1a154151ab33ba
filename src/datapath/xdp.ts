// The XDP fast path's hook on a parent: a native (driver-mode) XDP link, pinned under
// <pin root>/links/xdp-<ifindex> so it outlives every process and a restarted agent finds it, replaced
// atomically by a link update on a new build. Never generic XDP: a device whose driver has no XDP of
// its own is refused, as the fast path would be slower there than TC, not faster.
import fs from 'node:fs';
import path from 'node:path';
import { addon, isSystemError, type BpfLink } from '../native.js';
import { pinnedLinkOn } from './hooks.js';

/** bpf_link_info.type of an XDP link. */
const BPF_LINK_TYPE_XDP = 6;
/** XDP_FLAGS_DRV_MODE: the driver's own XDP, never the generic one. */
const XDP_FLAGS_DRV_MODE = 1 << 2;

export class XdpError extends Error {}

export class XdpHooks {
  private readonly dir: string;

  constructor(pinRoot: string) {
    this.dir = path.join(pinRoot, 'links');
  }

  private pinOf(ifindex: number): string {
    return path.join(this.dir, `xdp-${ifindex}`);
  }

  /** Our XDP link on the device, or null (no pin, or a pin whose device is gone: then it is removed). */
  private link(ifindex: number): BpfLink | null {
    return pinnedLinkOn(this.pinOf(ifindex), BPF_LINK_TYPE_XDP, ifindex);
  }

  /**
   * Puts progFd on the device's XDP hook in driver mode, or swaps it in where our link is there. `dev`
   * names the device in errors.
   */
  attach(ifindex: number, progFd: number, dev: string): void {
    const existing = this.link(ifindex);
    if (existing) {
      try {
        existing.update(progFd);
      } finally {
        existing.close();
      }
      return;
    }
    fs.mkdirSync(this.dir, { recursive: true });
    let l: BpfLink;
    try {
      l = addon().BpfLink.create({ progFd, ifindex, attachType: 'xdp', flags: XDP_FLAGS_DRV_MODE });
    } catch (e) {
      if (isSystemError(e) && (e.code === 'EOPNOTSUPP' || e.code === 'ENOTSUP'))
        throw new XdpError(`${dev} has no native XDP (its driver has none, and generic XDP would be slower than TC): keep its fast path tc`);
      if (isSystemError(e) && (e.code === 'EBUSY' || e.code === 'EEXIST'))
        throw new XdpError(`${dev} already runs an XDP program that is not macvlan-bpf's: remove it (ip link set dev ${dev} xdp off) or keep the fast path tc`);
      if (isSystemError(e) && e.code === 'ERANGE')
        throw new XdpError(`${dev}'s MTU is too large for XDP on its driver: lower it, or keep the fast path tc`);
      throw e;
    }
    try {
      l.pin(this.pinOf(ifindex));
    } catch (e) {
      l.detach();
      throw e;
    } finally {
      l.close();
    }
  }

  /** The id of our XDP program on the device, or 0. */
  programId(ifindex: number): number {
    const l = this.link(ifindex);
    if (!l) return 0;
    try {
      return l.info().progId;
    } finally {
      l.close();
    }
  }

  /** Takes our XDP program off the device (if it is there) and drops the pin. */
  detach(ifindex: number): void {
    const l = this.link(ifindex);
    if (l) {
      try {
        l.detach();
      } finally {
        l.close();
      }
    }
    this.forget(ifindex);
  }

  /** The device is gone: drop its pin (the kernel detached the link with the device). */
  forget(ifindex: number): void {
    fs.rmSync(this.pinOf(ifindex), { force: true });
  }

  /** The ifindexes with an XDP link pin. */
  pinned(): number[] {
    if (!fs.existsSync(this.dir)) return [];
    return fs.readdirSync(this.dir).map((f) => /^xdp-(\d+)$/.exec(f)).filter((m) => m !== null).map((m) => Number(m[1]));
  }
}
