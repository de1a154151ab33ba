// BPF links that hang on one device each, pinned under <pin root>/links/<prefix>-<ifindex> so they
// outlive every process and a restarted agent finds them; a new build is swapped in by a link update,
// atomically. A tcx hook (hooks.ts), the XDP fast path's hook on a parent (xdp.ts) and a netkit child's
// peer hook (netkit.ts).
import fs from 'node:fs';
import path from 'node:path';
import { addon, type BpfLink, type LinkAttachType } from '../native.js';

/**
 * The link pinned at `pin` if it is still a link of `type` on device `ifindex`, else null; a pin whose
 * device is gone (the kernel detached the link, and the ifindex may be reused) is removed.
 */
export function pinnedLinkOn(pin: string, type: number, ifindex: number | 'live'): BpfLink | null {
  if (!fs.existsSync(pin)) return null;
  const l = new (addon().BpfLink)({ pin });
  const info = l.info();
  if (info.type === type && (ifindex === 'live' ? info.ifindex !== 0 : info.ifindex === ifindex)) return l;
  l.close();
  fs.rmSync(pin, { force: true });
  return null;
}

export class DeviceLinks {
  private readonly dir: string;

  /**
   * `sameDevice`: the kernel reports the link on the device it was made on (an XDP link); false when it
   * reports another (a netkit peer-slot link reports the peer, in the child's netns), so only that its
   * device still exists is checked (a link whose device is gone reports ifindex 0).
   */
  constructor(pinRoot: string, private readonly prefix: string, private readonly linkType: number, private readonly attachType: LinkAttachType, private readonly flags = 0, private readonly sameDevice = true) {
    this.dir = path.join(pinRoot, 'links');
  }

  private pinOf(ifindex: number): string {
    return path.join(this.dir, `${this.prefix}-${ifindex}`);
  }

  /** Our link on the device, or null (no pin, or a pin whose device is gone: then it is removed). */
  private link(ifindex: number): BpfLink | null {
    return pinnedLinkOn(this.pinOf(ifindex), this.linkType, this.sameDevice ? ifindex : 'live');
  }

  /**
   * Puts progFd on the device's hook, or swaps it in where our link is there. `refuse` turns the
   * kernel's refusal of a new link into the caller's own error (it rethrows what it does not know).
   */
  protected put(ifindex: number, progFd: number, refuse: (e: unknown) => never): void {
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
      l = addon().BpfLink.create({ progFd, ifindex, attachType: this.attachType, flags: this.flags });
    } catch (e) {
      refuse(e);
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

  /** True when the device has a pin of ours (a stat: cheap enough for every child). */
  hasPin(ifindex: number): boolean {
    return fs.existsSync(this.pinOf(ifindex));
  }

  /** The id of our program on the device, or 0. */
  programId(ifindex: number): number {
    const l = this.link(ifindex);
    if (!l) return 0;
    try {
      return l.info().progId;
    } finally {
      l.close();
    }
  }

  /** Takes our program off the device (if it is there) and drops the pin. */
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

  /** The ifindexes with a pin of this kind. */
  pinned(): number[] {
    if (!fs.existsSync(this.dir)) return [];
    const re = new RegExp(`^${this.prefix}-(\\d+)$`);
    return fs.readdirSync(this.dir).map((f) => re.exec(f)).filter((m) => m !== null).map((m) => Number(m[1]));
  }
}
