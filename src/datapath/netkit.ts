// A netkit child's transmit hook: our program in its peer slot (BPF_NETKIT_PEER, attached through the
// primary), a link pinned under <pin root>/links/netkit-<ifindex> (device-links.ts). netkit runs it in
// the child's own transmit, so there is no clsact, no tcx and no cls_bpf fallback to choose between.
import { DeviceLinks } from './device-links.js';

/** bpf_link_info.type of a netkit link. */
const BPF_LINK_TYPE_NETKIT = 13;

export class NetkitHooks extends DeviceLinks {
  constructor(pinRoot: string) {
    // The kernel reports a peer-slot link on the peer (its ifindex in the child's netns), not the primary.
    super(pinRoot, 'netkit', BPF_LINK_TYPE_NETKIT, 'netkit_peer', 0, false);
  }

  /** Puts progFd in the peer slot of the netkit primary `ifindex` (or swaps it in). */
  attach(ifindex: number, progFd: number): void {
    this.put(ifindex, progFd, (e) => {
      throw e;
    });
  }
}
