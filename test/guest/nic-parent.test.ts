// A real NIC as the parent (issue 14): the guest's virtio-net NIC p0, wired through a QEMU hub to a
// second NIC on the external host. virtio-net filters unicast by address in the device (QEMU drops a
// frame for a MAC it was not given), so children are reachable only if their MACs are in the NIC's
// unicast filter; the kernel's macvlan and macvlan-bpf both put them there, and neither makes the NIC
// promiscuous. Run inside the kernel matrix's guests only.
import { afterAll, expect, it } from 'vitest';
import { Sandbox, run } from '../helpers/sandbox.js';
import { parentDifferential } from '../helpers/parents.js';
import { Topology } from '../../src/lab/topology.js';
import { MIXED_CHILDREN } from '../../src/lab/topology.js';

const sb = new Sandbox('pn');
afterAll(() => sb.cleanup());

// Unicast only: with kernel macvlan, an unjoined group sometimes reached a private child through the
// NIC (a cell the model's mc_hash-collision rule did not explain, seen once in three runs); until that
// is understood the NIC's multicast is not part of the differential (see the closing note).
parentDifferential(sb, 'nic', 'virtio-net NIC (p0, wired to the external host\'s NIC)', { multicast: false });
// The XDP fast path on virtio_net's native XDP (issue 14: native XDP on a real NIC's driver).
parentDifferential(sb, 'nic', 'virtio-net NIC with the XDP fast path', { multicast: false, fastpath: 'xdp' });

it('the children\'s MACs are in the NIC\'s unicast filter, and the NIC is not promiscuous', () => {
  const t = Topology.build(sb, { datapath: 'bpf', children: MIXED_CHILDREN, reflector: false, parent: 'nic' }, 'f');
  try {
    const [p0] = JSON.parse(run('ip', ['-n', t.host, '-d', '-j', 'link', 'show', 'dev', 'p0'])) as { promiscuity: number; flags: string[]; linkinfo?: unknown }[];
    expect(p0!.promiscuity, 'p0 is not promiscuous').toBe(0);
    expect(p0!.flags).not.toContain('PROMISC');
    const fdb = run('bridge', ['-n', t.host, 'fdb', 'show', 'dev', 'p0']);
    for (const c of MIXED_CHILDREN) expect(fdb, `${c.name}'s MAC in p0's unicast list`).toContain(`${c.mac} self permanent`);
    expect(run('ip', ['-n', t.host, '-d', 'link', 'show', 'dev', 'p0'])).not.toMatch(/veth/);
  } finally {
    t.close();
  }
});

it('the XDP fast path runs in virtio_net\'s own (driver) XDP', () => {
  const t = Topology.build(sb, { datapath: 'bpf', children: MIXED_CHILDREN, reflector: false, parent: 'nic', fastpath: 'xdp' }, 'x');
  try {
    const [p0] = JSON.parse(run('ip', ['-n', t.host, '-d', '-j', 'link', 'show', 'dev', 'p0'])) as { xdp?: { mode: number; prog?: { name: string } } }[];
    expect(p0!.xdp?.mode, 'XDP_ATTACHED_DRV').toBe(1);
    expect(p0!.xdp?.prog?.name).toBe('mvb_parent_xdp');
    expect(run('nsenter', [`--net=/run/netns/${t.host}`, 'ethtool', '-i', 'p0'])).toMatch(/^driver: virtio_net$/m);
  } finally {
    t.close();
  }
});
