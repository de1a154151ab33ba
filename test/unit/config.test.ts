// The config file parser: what it accepts, and that every mistake names the line and the field.
import { describe, expect, it } from 'vitest';
import { loadConfigFile, parseConfig } from '../../src/control/config.js';

describe('parseConfig', () => {
  it('reads parents and children with defaults', () => {
    const c = parseConfig('parents:\n  - name: eth1\n    isolation: kernel\nchildren:\n  - name: c1\n    parent: eth1\n  - { name: c2, parent: eth1, mode: bridge, address: "02:AA:00:00:00:01", mtu: 1400, netns: blue, state: down }\nprune: true\n', 'f.yaml');
    expect(c.parents).toEqual([{ name: 'eth1', isolation: 'kernel', line: 2 }]);
    expect(c.children[0]).toEqual({ name: 'c1', parent: 'eth1', mode: 'vepa', netns: '', state: 'up', spoofchk: false, nodst: false, type: 'macvlan', line: 5 });
    expect(c.children[1]).toMatchObject({ name: 'c2', mode: 'bridge', address: '02:aa:00:00:00:01', mtu: 1400, netns: 'blue', state: 'down', spoofchk: false, line: 7 });
    const on = (v: string) => parseConfig(`children:\n  - { name: c1, parent: eth1, spoofchk: ${v} }\n`, 'f.yaml').children[0]!.spoofchk;
    expect([on('on'), on('true'), on('off'), on('false')]).toEqual([true, true, false, false]);
    expect(c.prune).toBe(true);
    expect(parseConfig('', 'empty.yaml').children).toEqual([]);
    const src = parseConfig('children:\n  - { name: s1, parent: eth1, mode: source, nodst: on, macaddr: ["02:0E:00:00:00:01", 02:0e:00:00:00:02] }\n', 'f.yaml').children[0]!;
    expect(src).toMatchObject({ mode: 'source', nodst: true, macaddr: ['02:0e:00:00:00:01', '02:0e:00:00:00:02'] });
    const kinds = parseConfig('parents:\n  - { name: eth1, kind: auto }\nchildren:\n  - { name: k1, parent: eth1, kind: netkit }\n', 'f.yaml');
    expect([kinds.parents[0]!.kind, kinds.children[0]!.kind]).toEqual(['auto', 'netkit']);
    const tap = parseConfig('children:\n  - { name: t1, parent: eth1, type: macvtap, mode: bridge, owner: nobody, group: "0", queues: 4 }\n', 'f.yaml').children[0]!;
    expect(tap).toMatchObject({ type: 'macvtap', mode: 'bridge', owner: 'nobody', group: '0', queues: 4 });
  });

  const bad: [string, string, RegExp][] = [
    ['unknown top-level field', 'childs: []\n', /^f\.yaml:1: childs: unknown field/],
    ['children not a list', 'children: c1\n', /^f\.yaml:1: children: expected a list/],
    ['missing parent', 'children:\n  - name: c1\n', /^f\.yaml:2: children\[0\]\.parent: missing/],
    ['bad name', 'children:\n  - name: "a b"\n    parent: p0\n', /^f\.yaml:2: children\[0\]\.name: "a b" is not a valid interface name/],
    ['name too long', 'children:\n  - name: abcdefghijklmnop\n    parent: p0\n', /children\[0\]\.name: .* not a valid interface name/],
    ['bad mode', 'children:\n  - name: c1\n    parent: p0\n    mode: hub\n', /^f\.yaml:4: children\[0\]\.mode: "hub" is not a mode/],
    ['bad state', 'children:\n  - name: c1\n    parent: p0\n    state: on\n', /^f\.yaml:4: children\[0\]\.state: .* use up or down/],
    ['mtu too small', 'children:\n  - name: c1\n    parent: p0\n    mtu: 10\n', /^f\.yaml:4: children\[0\]\.mtu: mtu 10 is less than device minimum 68/],
    ['bad isolation', 'parents:\n  - name: p0\n    isolation: loose\n', /^f\.yaml:3: parents\[0\]\.isolation: "loose" is not an isolation/],
    ['prune not boolean', 'prune: yes please\n', /^f\.yaml:1: prune: expected true or false/],
    ['same MAC twice, both up', 'children:\n  - { name: a, parent: p0, address: "02:00:00:00:00:01" }\n  - { name: b, parent: p0, address: "02:00:00:00:00:01" }\n', /^f\.yaml:3: children\[1\]\.address: .* also the address of "a" \(line 2\)/],
    ['spoofchk not a switch', 'children:\n  - name: c1\n    parent: p0\n    spoofchk: maybe\n', /^f\.yaml:4: children\[0\]\.spoofchk: "maybe" is not a switch: use on or off/],
    ['nodst not a switch', 'children:\n  - name: c1\n    parent: p0\n    nodst: 2\n', /^f\.yaml:4: children\[0\]\.nodst: "2" is not a switch: use on or off/],
    ['macaddr on a vepa child', 'children:\n  - name: c1\n    parent: p0\n    macaddr: ["02:0e:00:00:00:01"]\n', /^f\.yaml:4: children\[0\]\.macaddr: macaddr lists belong to source-mode children, and this one is vepa: set mode: source/],
    ['macaddr not a list', 'children:\n  - name: c1\n    parent: p0\n    mode: source\n    macaddr: "02:0e:00:00:00:01"\n', /^f\.yaml:5: children\[0\]\.macaddr: expected a list of MAC addresses/],
    ['a group MAC in macaddr', 'children:\n  - name: c1\n    parent: p0\n    mode: source\n    macaddr: ["01:00:5e:00:00:01"]\n', /^f\.yaml:5: children\[0\]\.macaddr\[0\]: Cannot assign requested address/],
    ['bad child kind', 'children:\n  - name: c1\n    parent: p0\n    kind: tap\n', /^f\.yaml:4: children\[0\]\.kind: "tap" is not a child kind: use veth, netkit \(Linux 6\.7\+\) or auto/],
    ['bad parent kind', 'parents:\n  - name: p0\n    kind: macvtap\n', /^f\.yaml:3: parents\[0\]\.kind: "macvtap" is not a child kind/],
    ['bad type', 'children:\n  - name: c1\n    parent: p0\n    type: ipvlan\n', /^f\.yaml:4: children\[0\]\.type: "ipvlan" is not a child type: use macvlan or macvtap/],
    ['queues on a macvlan', 'children:\n  - name: c1\n    parent: p0\n    queues: 2\n', /^f\.yaml:4: children\[0\]\.queues: belongs to macvtap children: add type: macvtap/],
    ['too many queues', 'children:\n  - { name: c1, parent: p0, type: macvtap, queues: 257 }\n', /^f\.yaml:2: children\[0\]\.queues: queues 257 is not a queue count: give 1 to 256/],
    ['unknown owner', 'children:\n  - { name: c1, parent: p0, type: macvtap, owner: no-such-user-mvb }\n', /^f\.yaml:2: children\[0\]\.owner: no user "no-such-user-mvb" on this host \(\/etc\/passwd\)/],
    ['kind on a macvtap', 'children:\n  - { name: c1, parent: p0, type: macvtap, kind: veth }\n', /^f\.yaml:2: children\[0\]\.kind: a macvtap child is a tap device/],
    ['netns on a macvtap', 'children:\n  - { name: c1, parent: p0, type: macvtap, netns: blue }\n', /^f\.yaml:2: children\[0\]\.netns: a macvtap child lives beside its parent/],
    ['same name twice in one netns', 'children:\n  - { name: a, parent: p0, netns: blue }\n  - { name: b, parent: p0 }\n  - { name: a, parent: p1, netns: blue }\n', /^f\.yaml:4: children\[2\]\.name: child "a" in netns "blue" is already listed at line 2/],
    ['same MAC twice on a parent, an upper-case spelling', 'children:\n  - { name: a, parent: p0, address: "02:00:00:00:00:01" }\n  - { name: b, parent: p1, address: "02:00:00:00:00:01" }\n  - { name: c, parent: p0, address: "02:00:00:00:00:0A" }\n  - { name: d, parent: p0, address: "02:00:00:00:00:0a" }\n', /^f\.yaml:5: children\[3\]\.address: 02:00:00:00:00:0a is also the address of "c" \(line 4\)/],
    ['duplicate key', 'children:\n  - name: a\n    name: b\n    parent: p0\n', /^f\.yaml:3: not valid YAML/],
  ];
  it('one name in two netns, and one MAC on two parents or on a DOWN child, are fine', () => {
    const c = parseConfig('children:\n  - { name: a, parent: p0, netns: blue, address: "02:00:00:00:00:01" }\n  - { name: a, parent: p0, netns: red, address: "02:00:00:00:00:02" }\n'
      + '  - { name: b, parent: p1, address: "02:00:00:00:00:01" }\n  - { name: c, parent: p0, address: "02:00:00:00:00:01", state: down }\n', 'f.yaml');
    expect(c.children.map((x) => `${x.netns}/${x.name}`)).toEqual(['blue/a', 'red/a', '/b', '/c']);
  });

  it.each(bad)('%s', (_what, text, re) => {
    expect(() => parseConfig(text, 'f.yaml')).toThrow(re);
  });
});

describe('the configuration file itself', () => {
  it('a device or a pipe is refused at once, not read forever', () => {
    expect(() => loadConfigFile('/dev/zero')).toThrow(/\/dev\/zero is not a regular file: give a YAML file/);
  });
  it('a missing file names the file', () => {
    expect(() => loadConfigFile('/nonexistent/mvb.yaml')).toThrow(/cannot read configuration file \/nonexistent\/mvb.yaml/);
  });
});
