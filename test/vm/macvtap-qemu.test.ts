// A real QEMU guest on a macvtap child (#13 item 3): Debian's stock kernel in software emulation, its
// only NIC a virtio-net on the child's queue, which `macvlan-bpf tap exec` opens and hands to QEMU as
// `-netdev tap,fd={fd}`, as libvirt hands it the fds of a macvtap. In bridge mode, the guest exchanges
// ARP and ping with the external host (through the parent) and with a bridge-mode macvlan sibling
// (directly, never on the wire), and both of them learn the guest's MAC.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox, requireRoot, run } from '../helpers/sandbox.js';
import { removeGuestOutput, runInGuest, type GuestResult } from '../helpers/guest.js';
import { Topology, EXT_MAC } from '../../src/lab/topology.js';
import { projectRoot } from '../../src/native.js';

const sb = new Sandbox(`${process.env.MVB_TEST_RUN ?? 'mvbt'}q`);
const GUEST_MAC = '52:54:00:00:07:01';
const IP = { ext: '10.79.0.1', b1: '10.79.0.11', guest: '10.79.0.50' };
let t: Topology;
let r: GuestResult | undefined;

describe('a QEMU guest on a macvtap child', () => {
  beforeAll(() => {
    requireRoot();
    t = Topology.build(sb, { datapath: 'bpf', children: [{ name: 'b1', mode: 'bridge', mac: '02:00:00:00:04:01' }], reflector: false, control: 'direct' }, 'q');
    run('ip', ['-n', t.ext, 'addr', 'add', `${IP.ext}/24`, 'dev', 'e0']);
    run('ip', ['-n', t.childNs.get('b1')!, 'addr', 'add', `${IP.b1}/24`, 'dev', 'b1']);
    t.cli(['link', 'add', 'link', 'p0', 'vm0', 'address', GUEST_MAC, 'type', 'macvtap', 'mode', 'bridge']);
    t.cli(['link', 'set', 'vm0', 'up']);
  }, 60_000);
  afterAll(() => {
    if (r) removeGuestOutput(r);
    t?.close();
    sb.cleanup();
  });

  it('exchanges ARP and ping with the external host and with a bridge-mode sibling', async () => {
    const cmd = [
      'ip link set eth0 up', `ip addr add ${IP.guest}/24 dev eth0`,
      `ping -c 2 -W 5 ${IP.ext}`, `ping -c 2 -W 5 ${IP.b1}`, 'ip neigh show dev eth0',
    ].join(' && ');
    r = await runInGuest('stock', cmd, {
      prefix: sb.prefix, timeoutMs: 5 * 60_000, cpus: 1, memMiB: 1024,
      nics: ['-netdev', 'tap,id=t0,fd={fd}', '-device', `virtio-net-pci,netdev=t0,mac=${GUEST_MAC}`],
      wrap: { argv: ['nsenter', `--net=/run/netns/${t.host}`, path.join(projectRoot, 'bin', 'macvlan-bpf'), 'tap', 'exec', 'vm0', '--'], env: { MACVLAN_BPF_PIN_ROOT: t.pinRoot } },
    });
    expect(r.rc, `the guest's commands failed; its output:\n${r.log.slice(-3000)}\nconsole:\n${r.console.slice(-2000)}`).toBe(0);
    expect(r.console).toMatch(/tap exec: vm0: queue fds 3, vhost fds none/);
    expect(r.log).toMatch(new RegExp(`2 packets transmitted, 2 received[\\s\\S]*2 packets transmitted, 2 received`));
    // The guest learned both peers' MACs; each peer learned the guest's.
    expect(r.log).toMatch(new RegExp(`${IP.ext} lladdr ${EXT_MAC}`, 'i'));
    expect(r.log).toMatch(new RegExp(`${IP.b1} lladdr 02:00:00:00:04:01`, 'i'));
    for (const [ns, dev] of [[t.ext, 'e0'], [t.childNs.get('b1')!, 'b1']] as const)
      expect(run('ip', ['-n', ns, 'neigh', 'show', 'dev', dev])).toMatch(new RegExp(`${IP.guest} lladdr ${GUEST_MAC}`));
    const s = JSON.parse(t.cli(['-j', 'stats'])) as { children: { name: string; counters: { rxPackets: number; txPackets: number } }[] };
    const vm = s.children.find((c) => c.name === 'vm0')!.counters;
    expect(vm.rxPackets).toBeGreaterThanOrEqual(4); // two ARP replies and two echo replies at least
    expect(vm.txPackets).toBeGreaterThanOrEqual(4);
  }, 6 * 60_000);
});
