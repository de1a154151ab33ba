// What the running kernel can make, asked the only reliable way: by making it, in a throwaway netns.
import { Sandbox } from './sandbox.js';
import { Rtnl, NETKIT_DROP } from '../net/rtnetlink.js';
import { isSystemError } from '../native.js';

/**
 * Whether this kernel makes netkit devices (6.7+ with CONFIG_NETKIT: Debian's 6.12, not 6.1, and not
 * this project's usual host, whose 6.18 is built without it). `prefix` names the throwaway netns.
 */
export function kernelHasNetkit(prefix: string): boolean {
  const sb = new Sandbox(prefix);
  try {
    const ns = sb.netns('p');
    return Rtnl.once(`/run/netns/${ns}`, (r) => {
      try {
        r.createNetkit({ name: 'nkp0', mtu: 1500, peer: { name: 'nkp1', mtu: 1500 }, peerPolicy: NETKIT_DROP });
        return true;
      } catch (e) {
        if (isSystemError(e) && (e.code === 'EOPNOTSUPP' || e.code === 'ENOTSUP')) return false;
        throw e;
      }
    });
  } finally {
    sb.cleanup();
  }
}
