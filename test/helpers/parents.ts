// The parents-of-every-kind differential: the mixed scenario on a parent of the given kind, unicast and
// multicast on one pair of topologies, kernel macvlan against macvlan-bpf (see differential.ts), with and without a hairpinning
// switch where the kind allows one. Shared by the host's bridge test and the guests' VLAN and bond tests.
import { describe, expect, it } from 'vitest';
import { JOINED_GROUP } from '../../src/lab/matrix.js';
import { MIXED_CHILDREN } from '../../src/lab/topology.js';
import type { ParentKind } from '../../src/lab/builder.js';
import type { Sandbox } from '../../src/lab/sandbox.js';
import { differential, unicastDifferential } from './differential.js';
import { scaled } from './scale.js';

const CHILDREN = [...MIXED_CHILDREN.map((c) => ({ ...c, groups: c.name === 'b2' ? [] : [JOINED_GROUP] })), { name: 'b3', mode: 'bridge' as const, mac: '02:00:00:00:04:03', up: false }];

export function parentDifferential(sb: Sandbox, kind: ParentKind, what: string, opts: { multicast?: boolean; fastpath?: 'tc' | 'xdp' } = {}): void {
  describe(`a ${what} as the parent: macvlan-bpf delivers what kernel macvlan delivers`, () => {
    // The guests (emulated, five times slower) take the switch-less half; the host runs both.
    for (const reflector of kind === 'vlan' ? [false] : scaled([false, true], [false])) {
      const base = { children: CHILDREN, reflector, isolation: 'kernel' as const, parent: kind, fastpath: opts.fastpath };
      if (opts.multicast === false) it(`unicast, reflector ${reflector ? 'ON' : 'OFF'}`, async () => {
        expect(await unicastDifferential(sb, base)).toBeGreaterThan(100);
      });
      else it(`unicast, broadcast and multicast, reflector ${reflector ? 'ON' : 'OFF'}`, async () => {
        const r = await differential(sb, base);
        expect(r.unicast).toBeGreaterThan(100);
        expect(r.multicast.cells).toBeGreaterThan(100);
      });
    }
  });
}
