// Parents of the kinds only the kernel matrix's guests can make (Debian's kernels have 8021q and
// bonding as modules; this host's kernel has neither): a VLAN device (the seed's Figure 2: children of
// p0.10 talk to the external host through e0.10) and an active-backup bond. Run inside the guests only
// (vitest.config.ts leaves test/guest/ out elsewhere).
import { afterAll } from 'vitest';
import { Sandbox } from '../helpers/sandbox.js';
import { parentDifferential } from '../helpers/parents.js';

const sb = new Sandbox('pg');
afterAll(() => sb.cleanup());

parentDifferential(sb, 'vlan', 'VLAN device (p0.10, 802.1Q id 10)');
parentDifferential(sb, 'bond', 'bond (bond0, active-backup, the wire as its slave)');
