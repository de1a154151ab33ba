// The XDP fast path's hook on a parent: a native (driver-mode) XDP link, pinned under
// <pin root>/links/xdp-<ifindex> (device-links.ts). Never generic XDP: a device whose driver has no XDP
// of its own is refused, as the fast path would be slower there than TC, not faster.
import { isSystemError } from '../native.js';
import { DeviceLinks } from './device-links.js';

/** bpf_link_info.type of an XDP link. */
const BPF_LINK_TYPE_XDP = 6;
/** XDP_FLAGS_DRV_MODE: the driver's own XDP, never the generic one. */
const XDP_FLAGS_DRV_MODE = 1 << 2;

export class XdpError extends Error {}

export class XdpHooks extends DeviceLinks {
  constructor(pinRoot: string) {
    super(pinRoot, 'xdp', BPF_LINK_TYPE_XDP, 'xdp', XDP_FLAGS_DRV_MODE);
  }

  /** Puts progFd on the device's XDP hook in driver mode, or swaps it in; `dev` names it in errors. */
  attach(ifindex: number, progFd: number, dev: string): void {
    this.put(ifindex, progFd, (e) => {
      if (isSystemError(e) && (e.code === 'EOPNOTSUPP' || e.code === 'ENOTSUP'))
        throw new XdpError(`${dev} has no native XDP (its driver has none, and generic XDP would be slower than TC): keep its fast path tc`);
      if (isSystemError(e) && (e.code === 'EBUSY' || e.code === 'EEXIST'))
        throw new XdpError(`${dev} already runs an XDP program that is not macvlan-bpf's: remove it (ip link set dev ${dev} xdp off) or keep the fast path tc`);
      if (isSystemError(e) && e.code === 'ERANGE')
        throw new XdpError(`${dev}'s MTU is too large for XDP on its driver: lower it, or keep the fast path tc`);
      throw e;
    });
  }
}
