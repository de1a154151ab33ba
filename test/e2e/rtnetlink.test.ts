// The rtnetlink requests the control plane makes instead of running ip: each checked against what
// `ip -j` then shows, and kernel refusals carried with their errno and extended-ack text.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox, run } from '../helpers/sandbox.js';
import { Rtnl } from '../../src/net/rtnetlink.js';
import { isSystemError } from '../../src/native.js';
import { ConfigError, kernelError } from '../../src/control/errors.js';

const sb = new Sandbox('r');
let host = '';
let kids = '';
let rt: Rtnl;

beforeAll(() => {
  host = sb.netns('host');
  kids = sb.netns('kids');
  rt = Rtnl.open(`/run/netns/${host}`);
});
afterAll(() => {
  rt?.close();
  sb.cleanup();
});

const show = (ns: string, dev: string) =>
  (JSON.parse(run('ip', ['-n', ns, '-j', '-d', 'link', 'show', 'dev', dev])) as { ifindex: number; address: string; mtu: number; flags: string[]; promiscuity: number; linkinfo?: { info_kind: string } }[])[0]!;
const gone = (ns: string, dev: string) => !run('ip', ['-n', ns, '-j', 'link', 'show']).includes(`"${dev}"`);

describe('rtnetlink, as the control plane uses it', () => {
  it('one RTM_NEWLINK makes a veth pair whose peer is born in its netns with its name, MAC and MTU', () => {
    const idx = rt.createVeth({ name: 'h1', index: 4242, mtu: 1500, peer: { name: 'c1', address: '02:00:00:00:99:01', mtu: 1400, netnsPath: `/run/netns/${kids}` } });
    expect(idx).toBe(4242);
    expect(show(host, 'h1')).toMatchObject({ ifindex: 4242, mtu: 1500, linkinfo: { info_kind: 'veth' } });
    expect(show(kids, 'c1')).toMatchObject({ address: '02:00:00:00:99:01', mtu: 1400, linkinfo: { info_kind: 'veth' } });
    expect(gone(host, 'c1'), 'the peer never existed beside the host end').toBe(true);
  });

  it('a clashing peer name is EEXIST, and nothing is left behind', () => {
    let err: unknown;
    try {
      rt.createVeth({ name: 'h2', mtu: 1500, peer: { name: 'c1', mtu: 1500, netnsPath: `/run/netns/${kids}` } });
    } catch (e) {
      err = e;
    }
    expect(isSystemError(err) && err.code).toBe('EEXIST');
    expect(gone(host, 'h2')).toBe(true);
  });

  it('up, MTU, address and promiscuity by index or by name; delete takes the pair', () => {
    Rtnl.once(`/run/netns/${kids}`, (k) => {
      k.setUp('c1', true);
      k.setMtu('c1', 1300);
      k.setAddress('c1', '02:00:00:00:99:02');
    });
    expect(show(kids, 'c1')).toMatchObject({ mtu: 1300, address: '02:00:00:00:99:02' });
    expect(show(kids, 'c1').flags).toContain('UP');
    rt.setPromisc(4242, true);
    expect(show(host, 'h1').promiscuity).toBe(1);
    rt.setPromisc(4242, false);
    expect(show(host, 'h1').promiscuity).toBe(0);
    rt.deleteLink('h1');
    expect(gone(host, 'h1')).toBe(true);
    expect(gone(kids, 'c1')).toBe(true);
  });

  it('a kernel refusal keeps its errno and the kernel\'s own words (extended ack)', () => {
    rt.createVeth({ name: 'h3', mtu: 1500, peer: { name: 'c3', mtu: 1500 } });
    let err: unknown;
    try {
      rt.setMtu('h3', 10);
    } catch (e) {
      err = e;
    }
    expect(isSystemError(err) && err.code).toBe('EINVAL');
    const c = kernelError(err, 'setting h3\'s mtu') as ConfigError;
    expect(c).toBeInstanceOf(ConfigError);
    expect(c.code).toBe('EINVAL');
    expect(c.errno).toBe(-22);
    expect(c.message).toMatch(/^setting h3's mtu: Invalid argument: mtu less than device minimum/);
    let missing: unknown;
    try {
      rt.deleteLink('nosuch0');
    } catch (e) {
      missing = e;
    }
    expect((kernelError(missing, 'deleting nosuch0') as ConfigError).message).toBe('deleting nosuch0: No such device');
    rt.deleteLink('h3');
  });
});
