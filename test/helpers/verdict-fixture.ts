// The datapath fixture the verdict tests and the fuzzer run programs against: four parents (p0 strict
// with every non-passthru mode, a DOWN child, a child in the parent's own netns, a universally
// administered MAC, a small-MTU child and three source-mode children, one DOWN, two with nodst; q0 passthru UP; r0 passthru DOWN; k0 kernel isolation), made
// by the control plane in a netns of the sandbox, with each device's ifindex.
import { Sandbox, run } from './sandbox.js';
import { Macvlan } from '../../src/control/macvlan.js';
import { inNetns, addon } from '../../src/native.js';
import type { Mode } from '../../src/datapath/abi.js';
import type { Mac } from '../../src/mac.js';

export const EXT: Mac = '02:0e:00:00:00:01';
export const UNKNOWN: Mac = '02:99:00:00:00:99';
/** Remote sources the source-mode children list: A by o1; B by o1 and o2 (nodst); C by o3 (nodst, DOWN). */
export const SRC_A: Mac = '02:0e:00:00:00:0a';
export const SRC_B: Mac = '02:0e:00:00:00:0b';
export const SRC_C: Mac = '02:0e:00:00:00:0c';
export const PARENT_MACS = { p0: '02:0a:00:00:00:01', q0: '02:0a:00:00:00:02', r0: '02:0a:00:00:00:03', k0: '02:0a:00:00:00:04' } as const satisfies Record<string, Mac>;
export type ParentName = keyof typeof PARENT_MACS;

export interface FixtureChild { parent: ParentName; name: string; mode: Mode; mac: Mac; up: boolean; sameNetns?: boolean; mtu?: number; sources?: Mac[]; nodst?: boolean }
export const CHILDREN: FixtureChild[] = [
  { parent: 'p0', name: 'p1', mode: 'private', mac: '02:00:00:00:01:01', up: true },
  { parent: 'p0', name: 'p2', mode: 'private', mac: '02:00:00:00:01:02', up: true },
  { parent: 'p0', name: 'v1', mode: 'vepa', mac: '02:00:00:00:02:01', up: true },
  { parent: 'p0', name: 'v2', mode: 'vepa', mac: '00:16:3e:00:02:02', up: true },
  { parent: 'p0', name: 'b1', mode: 'bridge', mac: '02:00:00:00:04:01', up: true, mtu: 1000 },
  { parent: 'p0', name: 'b2', mode: 'bridge', mac: '02:00:00:00:04:02', up: true },
  { parent: 'p0', name: 'b3', mode: 'bridge', mac: '02:00:00:00:04:03', up: false },
  { parent: 'p0', name: 's1', mode: 'bridge', mac: '02:00:00:00:04:05', up: true, sameNetns: true },
  // source mode: o1 also lists the bridge child s1 (its unicast to a bridge sibling re-enters the port)
  { parent: 'p0', name: 'o1', mode: 'source', mac: '02:00:00:00:10:01', up: true, sources: [SRC_A, SRC_B, '02:00:00:00:04:05'] },
  { parent: 'p0', name: 'o2', mode: 'source', mac: '02:00:00:00:10:02', up: true, sources: [SRC_B], nodst: true },
  { parent: 'p0', name: 'o3', mode: 'source', mac: '02:00:00:00:10:03', up: false, sources: [SRC_C], nodst: true },
  { parent: 'q0', name: 't1', mode: 'passthru', mac: PARENT_MACS.q0, up: true },
  { parent: 'r0', name: 't2', mode: 'passthru', mac: PARENT_MACS.r0, up: false },
  { parent: 'k0', name: 'kp1', mode: 'private', mac: '02:00:00:00:11:01', up: true },
  { parent: 'k0', name: 'kp2', mode: 'private', mac: '02:00:00:00:11:02', up: true },
];
export const ISOLATION: Record<ParentName, 'strict' | 'kernel'> = { p0: 'strict', q0: 'strict', r0: 'strict', k0: 'kernel' };

export interface Fixture {
  host: string;
  m: Macvlan;
  /** Parents by name, children by name -> host-end ifindex. */
  ifindex: Map<string, number>;
  close(): void;
}

export function buildFixture(sb: Sandbox): Fixture {
  const host = sb.netns('host');
  const kids = sb.netns('kids');
  const ext = sb.netns('ext');
  const ifindex = new Map<string, number>();
  for (const [p, mac] of Object.entries(PARENT_MACS)) {
    run('ip', ['-n', host, 'link', 'add', p, 'address', mac, 'type', 'veth', 'peer', 'name', `x${p}`, 'netns', ext]);
    run('ip', ['-n', host, 'link', 'set', p, 'up']);
  }
  const m = inNetns(`/run/netns/${host}`, () => {
    const mv = Macvlan.open(sb.pinRoot());
    mv.setIsolation('k0', 'kernel');
    // A test run delivers each flood copy as it is made (its transmit ends with bottom halves enabled),
    // which the datapath's backlog accounting cannot see: after a few hundred copies it would defer the
    // next flood to a continuation, copied outside the run. Every flood is copied at once here; deferred
    // floods are tested with real frames (test/e2e/fanout.test.ts).
    mv.dp.setFloodSettings({ budget: 0xffffffff });
    for (const c of CHILDREN) {
      const rec = mv.add({ parent: c.parent, name: c.name, mode: c.mode, address: c.mac, mtu: c.mtu, netns: c.sameNetns ? undefined : kids,
        ...(c.sources ? { macaddr: { op: 'set' as const, macs: c.sources } } : {}), ...(c.nodst ? { nodst: true } : {}) });
      ifindex.set(c.name, rec.hostIfindex);
      if (c.up) mv.setUp(c.name, true);
    }
    for (const p of Object.keys(PARENT_MACS)) ifindex.set(p, addon().ifNameToIndex(p));
    return mv;
  });
  return { host, m, ifindex, close: () => m.close() };
}
