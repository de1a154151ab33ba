// The kernel's own floor for the scale benchmark (scale.ts): the devices of N veth children and nothing
// else, made one request at a time as the agent makes them (the child end born in its netns and UP, its
// host end here, then the host end up, which brings both carriers and the child's IPv6 set-up), with no
// program, map, registry or agent. What the kernel's per-device work costs as the netns fills is the
// same for this and for macvlan-bpf; what macvlan-bpf adds is the difference.
//
// Run as a process of its own in the host netns (the bench polls it while it works):
//   node dist/bench/scale-floor.js KIDS_NETNS_PATH N
// It prints the count made after each child ("made K"), so the bench needs no link dump (which would
// take the rtnl lock the work is waiting for).
import { Rtnl } from '../net/rtnetlink.js';
import { setNetSysctl } from '../net/links.js';
import { macFromBytes, type Mac } from '../mac.js';

/** The scale bench's i-th child MAC (02:TT:…, TT telling the set apart: up to 16 M children). */
export const scaleMac = (set: number, i: number): Mac => macFromBytes(Buffer.from([0x02, set, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, 0]));

/** Makes n pairs (host ends mvf<i> here, children k<i> in kids), reporting the count after each. */
export function makeFloor(kids: string, n: number, report: (made: number) => void): void {
  const rt = Rtnl.open();
  try {
    for (let i = 0; i < n; i++) {
      const host = `mvf${i.toString(36)}`; // in the bench's own host netns, gone with it
      const ifindex = rt.createVeth({ name: host, mtu: 1500, peer: { name: `k${i}`, address: scaleMac(6, i), mtu: 1500, netnsPath: kids, up: true } });
      setNetSysctl(`ipv6.conf.${host}.disable_ipv6`, '1'); // as the agent does for its host ends
      rt.setUp(ifindex, true);
      report(i + 1);
    }
  } finally {
    rt.close();
  }
}

if (process.argv[1]?.endsWith('scale-floor.js')) {
  const [kids, n] = process.argv.slice(2);
  if (!kids || !n) {
    process.stderr.write('usage: scale-floor.js KIDS_NETNS_PATH N\n');
    process.exit(1);
  }
  makeFloor(kids, Number(n), (made) => process.stdout.write(`made ${made}\n`));
}
