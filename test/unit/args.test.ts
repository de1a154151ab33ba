import { describe, expect, it } from 'vitest';
import { ArgReader, matchKeyword, UsageError } from '../../src/cli/args.js';
import { parseArgv } from '../../src/cli/parse.js';
import { commandFromJson } from '../../src/command/types.js';

describe('cli args', () => {
  it.each([
    ['li', 'link'],
    ['link', 'link'],
    ['a', 'add'],
    ['sh', 'show'],
    ['del', 'delete'],
  ])('%s abbreviates %s', (w, want) => expect(matchKeyword(w, ['link', 'port', 'add', 'set', 'delete', 'show'])).toBe(want));
  it('unknown words do not match', () => expect(matchKeyword('frob', ['link', 'port'])).toBeUndefined());
  it('numbers are checked', () => {
    expect(new ArgReader(['1400']).nextInt('mtu')).toBe(1400);
    expect(() => new ArgReader(['big']).nextInt('mtu')).toThrow(UsageError);
    expect(() => new ArgReader([]).next('device')).toThrow(/missing device/);
  });
});

describe('spoofchk on the command line', () => {
  const cmd = (s: string) => {
    const i = parseArgv(s.split(' '));
    return i.what === 'command' ? i.command : undefined;
  };
  it('link set NAME spoofchk on|off, alone or with other settings', () => {
    expect(cmd('link set c1 spoofchk on')).toMatchObject({ kind: 'link-set', dev: 'c1', spoofchk: true });
    expect(cmd('link set dev c1 down spoofchk off')).toMatchObject({ kind: 'link-set', dev: 'c1', up: false, spoofchk: false });
  });
  it('link add ... spoofchk on, before or after type macvlan', () => {
    expect(cmd('link add link p0 c1 spoofchk on type macvlan mode bridge')).toMatchObject({ kind: 'link-add', spoofchk: true, mode: 'bridge' });
    expect(cmd('link add link p0 c1 type macvlan mode vepa spoofchk on')).toMatchObject({ kind: 'link-add', spoofchk: true, mode: 'vepa' });
    expect(cmd('link add link p0 c1 type macvlan')).not.toHaveProperty('spoofchk');
  });
  it('anything but on or off is a syntax error that says what to give', () => {
    expect(() => cmd('link set c1 spoofchk yes')).toThrow(/"yes" is not on or off: give spoofchk on or spoofchk off/);
    expect(() => cmd('link set c1 spoofchk')).toThrow(UsageError);
  });
});

describe('the child kind on the command line and the control socket', () => {
  const cmd = (s: string) => {
    const i = parseArgv(s.split(' '));
    return i.what === 'command' ? i.command : undefined;
  };
  it('link add ... kind veth|netkit|auto, before or after type macvlan; port set PARENT kind', () => {
    expect(cmd('link add link p0 c1 kind netkit type macvlan mode bridge')).toMatchObject({ kind: 'link-add', childKind: 'netkit', mode: 'bridge' });
    expect(cmd('link add link p0 c1 type macvlan mode vepa kind auto')).toMatchObject({ kind: 'link-add', childKind: 'auto', mode: 'vepa' });
    expect(cmd('link add link p0 c1 type macvlan')).not.toHaveProperty('childKind');
    expect(cmd('port set p0 kind veth')).toEqual({ kind: 'port-set', parent: 'p0', childKind: 'veth' });
  });
  it('another kind is refused, naming the choices; the socket checks the field too', () => {
    expect(() => cmd('link add link p0 c1 type macvlan kind tap')).toThrow(/"tap" is not a child kind: use veth, netkit \(Linux 6\.7\+\) or auto/);
    expect(() => cmd('port set p0 kind')).toThrow(/missing kind/);
    expect(commandFromJson({ kind: 'link-add', parent: 'p0', name: 'c1', childKind: 'netkit' })).toMatchObject({ childKind: 'netkit' });
    expect(() => commandFromJson({ kind: 'link-add', parent: 'p0', name: 'c1', childKind: 'tap' })).toThrow(/field "childKind" must be a childKind/);
  });
});

describe('macvtap children on the command line and the control socket', () => {
  const cmd = (s: string) => {
    const i = parseArgv(s.split(' '));
    return i.what === 'command' ? i.command : undefined;
  };
  it('link add … type macvtap with its owner, group and queues', () => {
    expect(cmd('link add link p0 mvt0 address 02:00:00:00:07:01 type macvtap mode bridge owner qemu group kvm queues 4')).toEqual({
      kind: 'link-add', parent: 'p0', name: 'mvt0', address: '02:00:00:00:07:01', mtu: undefined, netns: undefined, mode: 'bridge', type: 'macvtap', owner: 'qemu', group: 'kvm', queues: 4,
    });
    expect(cmd('link add link p0 mvt0 type macvtap')).toMatchObject({ type: 'macvtap' });
    expect(cmd('link add link p0 c1 type macvlan')).not.toHaveProperty('type');
  });
  it('a macvtap option on a macvlan, or a word macvtap does not take, is a usage error naming the options', () => {
    expect(() => cmd('link add link p0 c1 type macvlan owner qemu')).toThrow(/unknown macvlan option "owner"/);
    expect(() => cmd('link add link p0 mvt0 type macvtap vnet_hdr on')).toThrow(/unknown macvtap option "vnet_hdr": use mode MODE, owner USER, group GROUP, queues N/);
    expect(() => cmd('link add link p0 mvt0 type ipvtap')).toThrow(/type "ipvtap" is not supported: use macvlan or macvtap/);
    expect(commandFromJson({ kind: 'link-add', parent: 'p0', name: 'm', type: 'macvtap', queues: 2, owner: 'qemu' })).toMatchObject({ type: 'macvtap', queues: 2 });
    expect(() => commandFromJson({ kind: 'link-add', parent: 'p0', name: 'm', type: 'tap' })).toThrow(/field "type" must be a linkType/);
  });
});

describe('tap exec and tap args on the command line', () => {
  it('parses the child, the queue count and the command; {fds} and {vhostfds} become the fd numbers', async () => {
    const { parseTapArgs, substitute } = await import('../../src/cli/tap.js');
    expect(parseTapArgs(['exec', 'vm0', '--queues', '2', '--', 'qemu', '-netdev', 'tap,fds={fds}'])).toEqual({ op: 'exec', child: 'vm0', queues: 2, command: ['qemu', '-netdev', 'tap,fds={fds}'] });
    expect(parseTapArgs(['args', 'vm0'])).toEqual({ op: 'args', child: 'vm0', command: [] });
    expect(substitute('tap,fds={fds},vhostfds={vhostfds},fd={fd}', [3, 4], [5, 6])).toBe('tap,fds=3:4,vhostfds=5:6,fd=3');
  });
  it('refuses what it cannot run, naming the fix', async () => {
    const { parseTapArgs } = await import('../../src/cli/tap.js');
    expect(() => parseTapArgs(['frob', 'vm0'])).toThrow(/"tap frob" is not a tap command: use tap exec CHILD/);
    expect(() => parseTapArgs([])).toThrow(/tap needs a command/);
    expect(() => parseTapArgs(['exec'])).toThrow(/needs the macvtap child's name/);
    expect(() => parseTapArgs(['exec', 'vm0', '--queues', '0', '--', 'x'])).toThrow(/queues 0 is not a queue count: give 1 to 256/);
    expect(() => parseTapArgs(['args', 'vm0', '--', 'x'])).toThrow(/unexpected "--"/);
  });
});
