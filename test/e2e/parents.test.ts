// Parents other than a plain veth (issue 14): a Linux bridge as the parent, the mixed scenario through
// it, differentially against kernel macvlan on the same bridge. VLAN and bond parents need 802.1Q and
// bonding, which this host's kernel lacks: the kernel matrix's guests run them (test/guest/parents).
import { afterAll } from 'vitest';
import { Sandbox } from '../helpers/sandbox.js';
import { parentDifferential } from '../helpers/parents.js';

const sb = new Sandbox('pb');
afterAll(() => sb.cleanup());

parentDifferential(sb, 'bridge', 'Linux bridge (br0, with the wire as its port)');
