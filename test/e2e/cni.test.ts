// The CNI plugin (#15 items 1 and 2) against the reference one: Debian's containernetworking-plugins
// `macvlan` (and its `host-local` and `static` IPAM, which both delegate to) is the oracle. Each side has
// its own wire (p0 ── e0, the external host 10.80.0.1) and its own pods (named netns); the same configs
// and CNI_* environment go to both, and the results must match field by field (the sandbox path aside,
// each side's pod being its own netns). Then frames: two pods in bridge mode and the external host ping
// each other through macvlan-bpf; and what only we have (STATUS, GC, CHECK of our own children).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox, run } from '../helpers/sandbox.js';
import { buildWire } from '../../src/lab/builder.js';
import { waitFor } from '../../src/lab/wait.js';
import { projectRoot } from '../../src/native.js';
import { kernelHasNetkit } from '../helpers/kernel.js';


const REFERENCE = '/usr/lib/cni/macvlan';
const OURS = path.join(projectRoot, 'bin', 'macvlan-bpf-cni');
const sb = new Sandbox('cn');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${sb.prefix}-cni-`));
const pins = sb.pinRoot('c');
afterAll(() => {
  sb.cleanup();
  fs.rmSync(tmp, { recursive: true, force: true });
});

type Side = 'ref' | 'bpf';
const hosts: Record<Side, string> = { ref: '', bpf: '' };
const exts: Record<Side, string> = { ref: '', bpf: '' };

interface Call { code: number; out: Record<string, unknown>; stderr: string }

/** Runs one side's plugin in its host netns with the CNI_* environment and the config on stdin. */
function cni(side: Side, verb: string, conf: object, env: { id?: string; netns?: string; ifname?: string; args?: string; PATH?: string } = {}): Call {
  const r = spawnSync('/usr/bin/nsenter', [`--net=/run/netns/${hosts[side]}`, side === 'ref' ? REFERENCE : OURS], {
    input: JSON.stringify(conf),
    encoding: 'utf8',
    env: {
      ...process.env,
      ...(env.PATH ? { PATH: env.PATH } : {}),
      MACVLAN_BPF_PIN_ROOT: pins,
      MACVLAN_BPF_CNI_STATE: path.join(tmp, 'state'),
      CNI_COMMAND: verb,
      CNI_CONTAINERID: env.id ?? 'c1',
      CNI_NETNS: env.netns === undefined ? '' : `/run/netns/${env.netns}`,
      CNI_IFNAME: env.ifname ?? 'eth0',
      CNI_PATH: '/usr/lib/cni',
      CNI_ARGS: env.args ?? '',
    },
  });
  return { code: r.status ?? -1, out: r.stdout.trim() ? (JSON.parse(r.stdout) as Record<string, unknown>) : {}, stderr: r.stderr };
}

/** A pod: a netns of its own, on the side's host. */
const pod = (side: Side, name: string) => sb.netns(`${side}${name}`);

/** The config for a side: the same but for where host-local keeps its leases. */
function conf(side: Side, o: Record<string, unknown>): object {
  const c = { cniVersion: '1.0.0', name: 'mvbnet', type: side === 'ref' ? 'macvlan' : 'macvlan-bpf-cni', master: 'p0', ...o } as Record<string, unknown>;
  const ipam = c.ipam as Record<string, unknown> | undefined;
  if (ipam?.type === 'host-local') c.ipam = { ...ipam, dataDir: path.join(tmp, `ipam-${side}`) };
  return c;
}
const HOST_LOCAL = { type: 'host-local', subnet: '10.80.0.0/24', rangeStart: '10.80.0.10', gateway: '10.80.0.1', routes: [{ dst: '0.0.0.0/0' }] };
const DNS = { nameservers: ['10.80.0.53'], search: ['pods.example'] };

/** The result with the sandbox path made side-neutral. */
function neutral(o: Record<string, unknown>): Record<string, unknown> {
  const ifs = (o.interfaces as { sandbox?: string }[] | undefined)?.map((i) => ({ ...i, sandbox: i.sandbox ? path.basename(i.sandbox).replace(/^.*-(ref|bpf)/, '') : undefined }));
  return { ...o, ...(ifs ? { interfaces: ifs } : {}) };
}

/** ADD on both sides with the same config and environment; the results must be equal. */
function addBoth(name: string, o: Record<string, unknown>, args = ''): { ref: Call; bpf: Call; pods: Record<Side, string> } {
  const pods = { ref: pod('ref', name), bpf: pod('bpf', name) };
  const ref = cni('ref', 'ADD', conf('ref', o), { id: name, netns: pods.ref, args });
  const bpf = cni('bpf', 'ADD', conf('bpf', o), { id: name, netns: pods.bpf, args });
  return { ref, bpf, pods };
}

describe('macvlan-bpf-cni against the reference macvlan plugin', () => {
  beforeAll(() => {
    for (const side of ['ref', 'bpf'] as const) {
      hosts[side] = sb.netns(`${side}h`);
      exts[side] = sb.netns(`${side}x`);
      buildWire({ host: hosts[side], ext: exts[side], extIp: '10.80.0.1/24' });
      // The host's default route goes out of p0 (the reference plugin's default master).
      run('ip', ['-n', hosts[side], 'addr', 'add', '10.80.0.254/24', 'dev', 'p0']);
      run('ip', ['-n', hosts[side], 'route', 'add', 'default', 'via', '10.80.0.1']);
    }
  }, 60_000);

  it('VERSION: every result version the reference gives from 0.3.0 on, and 1.1.0', () => {
    const ref = cni('ref', 'VERSION', {}).out.supportedVersions as string[];
    const ours = cni('bpf', 'VERSION', {}).out.supportedVersions as string[];
    expect(ours).toEqual(expect.arrayContaining(ref.filter((v) => !v.startsWith('0.1') && !v.startsWith('0.2'))));
    expect(ours).toContain('1.1.0');
  });

  it('ADD with host-local IPAM, MAC from CNI_ARGS, DNS: the same result, and the same pod', () => {
    const { ref, bpf, pods } = addBoth('a', { ipam: HOST_LOCAL, dns: DNS }, 'IgnoreUnknown=1;MAC=02:00:00:00:80:0a');
    expect(ref.code, JSON.stringify(ref.out)).toBe(0);
    expect(bpf.code, JSON.stringify(bpf.out)).toBe(0);
    expect(neutral(bpf.out)).toEqual(neutral(ref.out));
    expect((bpf.out.interfaces as { mac: string }[])[0]!.mac).toBe('02:00:00:00:80:0a');
    // Inside the pods: the same addresses and routes.
    const inside = (ns: string) => [
      run('ip', ['-n', ns, '-4', '-o', 'addr', 'show', 'dev', 'eth0']).replace(/^\d+: /, '').replace(/\s+valid_lft.*$/m, '').trim(),
      run('ip', ['-n', ns, 'route', 'show']).trim(),
      run('ip', ['-n', ns, '-br', 'link', 'show', 'eth0']).replace(/@\S+/, '').split(/\s+/).slice(0, 1).join(),
    ];
    expect(inside(pods.bpf)).toEqual(inside(pods.ref));
  });

  it('the MAC from runtimeConfig wins over CNI_ARGS and the config; cniVersion 0.3.1 results carry the IP version', () => {
    const { ref, bpf } = addBoth('b', { cniVersion: '0.3.1', mac: '02:00:00:00:80:01', runtimeConfig: { mac: '02:00:00:00:80:0b' }, ipam: { type: 'static', addresses: [{ address: '10.80.0.21/24', gateway: '10.80.0.1' }] } }, 'IgnoreUnknown=1;MAC=02:00:00:00:80:02');
    expect(ref.out.msg ?? '', 'the reference').toBe('');
    expect([ref.code, bpf.code]).toEqual([0, 0]);
    expect(neutral(bpf.out)).toEqual(neutral(ref.out));
    expect(bpf.out).toMatchObject({ cniVersion: '0.3.1', interfaces: [{ mac: '02:00:00:00:80:0b' }], ips: [{ version: '4', address: '10.80.0.21/24' }] });
  });

  it('L2 only (ipam {}) with the default master, cniVersion 0.4.0: the same shape, the interface UP', () => {
    const noMaster = (side: Side) => { const c = conf(side, { cniVersion: '0.4.0', ipam: {} }) as Record<string, unknown>; delete c.master; return c; };
    const pods = { ref: pod('ref', 'c'), bpf: pod('bpf', 'c') };
    const ref = cni('ref', 'ADD', noMaster('ref'), { id: 'c', netns: pods.ref });
    const bpf = cni('bpf', 'ADD', noMaster('bpf'), { id: 'c', netns: pods.bpf });
    expect([ref.code, bpf.code]).toEqual([0, 0]);
    const shape = (o: Record<string, unknown>) => ({ ...neutral(o), interfaces: (neutral(o).interfaces as { mac: string }[]).map((i) => ({ ...i, mac: /^[0-9a-f:]{17}$/.test(i.mac) })) });
    expect(shape(bpf.out)).toEqual(shape(ref.out));
    expect(run('ip', ['-n', pods.bpf, 'link', 'show', 'eth0'])).toMatch(/<[^>]*\bUP\b/);
    const shown = JSON.parse(run('nsenter', [`--net=/run/netns/${hosts.bpf}`, path.join(projectRoot, 'bin', 'macvlan-bpf'), '-j', 'link', 'show', 'eth0', '-n', pods.bpf], { MACVLAN_BPF_PIN_ROOT: pins })) as { link: string; linkinfo: { info_data: { mode: string } } }[];
    expect(shown[0]).toMatchObject({ link: 'p0', linkinfo: { info_data: { mode: 'bridge' } } });
  });

  it('refuses what the reference refuses: an MTU above the master\'s, a missing master; nothing is left behind', () => {
    for (const [o, why] of [[{ mtu: 9000, ipam: {} }, /invalid MTU 9000, must be \[0, master MTU\(1500\)\]/], [{ master: 'nope0', ipam: {} }, /nope0|Link not found/]] as const) {
      const pods = { ref: pod('ref', `x${o.mtu ?? 'm'}`), bpf: pod('bpf', `x${o.mtu ?? 'm'}`) };
      const ref = cni('ref', 'ADD', conf('ref', o), { id: 'x', netns: pods.ref });
      const bpf = cni('bpf', 'ADD', conf('bpf', o), { id: 'x', netns: pods.bpf });
      expect(ref.code).toBe(1);
      expect(bpf.code).toBe(1);
      expect(bpf.out.msg).toMatch(why);
      expect(typeof bpf.out.code).toBe('number');
      expect(run('ip', ['-n', pods.bpf, '-br', 'link']).trim().split('\n')).toHaveLength(1); // lo only
    }
  });

  it('CHECK with the ADD result as prevResult passes on both; a wrong MAC fails on both', () => {
    const prev = (side: Side) => ({ ...conf(side, { ipam: HOST_LOCAL, dns: DNS }), prevResult: cni(side, 'ADD', conf(side, { ipam: HOST_LOCAL, dns: DNS }), { id: 'd', netns: pod(side, 'd') }).out });
    const p = { ref: prev('ref'), bpf: prev('bpf') };
    for (const side of ['ref', 'bpf'] as const) {
      const ns = `${sb.prefix}-${side}d`;
      expect(cni(side, 'CHECK', p[side], { id: 'd', netns: ns }).code, side).toBe(0);
      const wrong = JSON.parse(JSON.stringify(p[side])) as { prevResult: { interfaces: { mac: string }[] } };
      wrong.prevResult.interfaces[0]!.mac = '02:00:00:00:99:99';
      const r = cni(side, 'CHECK', wrong, { id: 'd', netns: ns });
      expect(r.code, side).toBe(1);
      expect(String(r.out.msg)).toMatch(/Mac 02:00:00:00:99:99 doesn't match container Mac/);
    }
  });

  it('DEL twice succeeds, and DEL after the pod\'s netns is gone; the address returns to the pool', () => {
    for (const side of ['ref', 'bpf'] as const) {
      const ns = `${sb.prefix}-${side}a`;
      const c = conf(side, { ipam: HOST_LOCAL, dns: DNS });
      expect(cni(side, 'DEL', c, { id: 'a', netns: ns }).code, side).toBe(0);
      expect(cni(side, 'DEL', c, { id: 'a', netns: ns }).code, side).toBe(0);
      expect(run('ip', ['-n', ns, '-br', 'link']).includes('eth0'), side).toBe(false);
      sb.dropNetns(`${sb.prefix}-${side}d`);
      expect(cni(side, 'DEL', c, { id: 'd', netns: `${sb.prefix}-${side}d` }).code, side).toBe(0);
      expect(fs.readdirSync(path.join(tmp, `ipam-${side}`, 'mvbnet')).filter((f) => /^10\./.test(f)), side).toEqual([]);
    }
  });

  it('frames flow: two bridge-mode pods and the external host ping each other through macvlan-bpf', () => {
    const pods = ['e', 'f'].map((n) => pod('bpf', n));
    pods.forEach((ns, i) => expect(cni('bpf', 'ADD', conf('bpf', { ipam: { type: 'static', addresses: [{ address: `10.80.0.${31 + i}/24` }] } }), { id: `p${i}`, netns: ns }).code).toBe(0));
    run('ip', ['-n', exts.bpf, 'link', 'set', 'e0', 'up']);
    const ping = (ns: string, ip: string) => spawnSync('nsenter', [`--net=/run/netns/${ns}`, 'ping', '-c', '2', '-W', '3', ip], { encoding: 'utf8' }).status;
    expect(ping(pods[0]!, '10.80.0.32'), 'pod → pod').toBe(0);
    expect(ping(pods[1]!, '10.80.0.1'), 'pod → external host').toBe(0);
    expect(ping(exts.bpf, '10.80.0.31'), 'external host → pod').toBe(0);
  });

  it('with an agent, the plugin hands the call to it (no Node.js needed where the runtime runs it): the same result', async () => {
    const log = path.join(tmp, 'agent.log');
    const agent = spawn('nsenter', [`--net=/run/netns/${hosts.bpf}`, process.execPath, path.join(projectRoot, 'dist', 'cli', 'main.js'), 'agent', '--listen', 'off'], {
      env: { ...process.env, MACVLAN_BPF_PIN_ROOT: pins, MACVLAN_BPF_CNI_STATE: path.join(tmp, 'state') }, stdio: ['ignore', fs.openSync(log, 'w'), fs.openSync(log, 'a')],
    });
    try {
      waitFor(() => fs.readFileSync(log, 'utf8').includes('ready (pid'), 'the agent to listen');
      const noNode = '/usr/sbin:/usr/bin:/sbin:/bin'.split(':').filter((d) => !fs.existsSync(path.join(d, 'node'))).join(':') || '/nonexistent';
      const pods = { ref: pod('ref', 'g'), bpf: pod('bpf', 'g') };
      const ref = cni('ref', 'ADD', conf('ref', { ipam: HOST_LOCAL, dns: DNS }), { id: 'g', netns: pods.ref, args: 'IgnoreUnknown=1;MAC=02:00:00:00:80:0c' });
      const bpf = cni('bpf', 'ADD', conf('bpf', { ipam: HOST_LOCAL, dns: DNS }), { id: 'g', netns: pods.bpf, args: 'IgnoreUnknown=1;MAC=02:00:00:00:80:0c', PATH: noNode });
      expect(ref.code, JSON.stringify(ref.out)).toBe(0);
      expect(bpf.code, JSON.stringify(bpf.out) + bpf.stderr).toBe(0);
      expect(neutral(bpf.out)).toEqual(neutral(ref.out));
      expect(cni('bpf', 'DEL', conf('bpf', { ipam: HOST_LOCAL, dns: DNS }), { id: 'g', netns: pods.bpf, PATH: noNode }).code).toBe(0);
      expect(run('ip', ['-n', pods.bpf, '-br', 'link']).includes('eth0')).toBe(false);
    } finally {
      agent.kill('SIGTERM');
      await new Promise((r) => agent.once('exit', r));
    }
    // Without it, and without Node.js on the PATH, the client says what is missing, as a CNI error.
    const r = cni('bpf', 'VERSION', {}, { PATH: '/nonexistent' });
    expect(r.code).toBe(1);
    expect(r.out).toMatchObject({ code: 5, msg: expect.stringMatching(/no macvlan-bpf agent listens, and Node.js \(node\) cannot be run/) });
  });

  it('our own keys: kind (auto: netkit where the kernel has it, veth here), and "macvtap" refused with the reason', () => {
    const ns = pod('bpf', 'k');
    const r = cni('bpf', 'ADD', conf('bpf', { kind: 'auto', ipam: {} }), { id: 'k', netns: ns });
    expect(r.code, JSON.stringify(r.out)).toBe(0);
    const shown = JSON.parse(run('nsenter', [`--net=/run/netns/${hosts.bpf}`, path.join(projectRoot, 'bin', 'macvlan-bpf'), '-j', 'link', 'show', 'eth0', '-n', ns], { MACVLAN_BPF_PIN_ROOT: pins })) as { child_kind: string }[];
    expect(shown[0]!.child_kind).toBe(kernelHasNetkit() ? 'netkit' : 'veth');
    expect(cni('bpf', 'DEL', conf('bpf', { kind: 'auto', ipam: {} }), { id: 'k', netns: ns }).code).toBe(0);
    const m = cni('bpf', 'ADD', conf('bpf', { kind: 'macvtap', ipam: {} }), { id: 'k', netns: ns });
    expect(m.out).toMatchObject({ code: 7, msg: expect.stringMatching(/macvtap child's tap lives beside its parent/) });
  });

  it('STATUS says ready; GC removes the children of attachments the runtime no longer lists', () => {
    expect(cni('bpf', 'STATUS', conf('bpf', { cniVersion: '1.1.0' })).code).toBe(0);
    expect(cni('bpf', 'STATUS', conf('bpf', { cniVersion: '1.1.0', master: 'nope0' })).out).toMatchObject({ code: 50, msg: expect.stringMatching(/nope0 does not exist/) });
    const keep = `${sb.prefix}-bpfe`;
    const gone = `${sb.prefix}-bpff`;
    const r = cni('bpf', 'GC', { ...conf('bpf', { cniVersion: '1.1.0' }), 'cni.dev/valid-attachments': [{ containerID: 'p0', ifname: 'eth0' }] });
    expect(r.code, JSON.stringify(r.out)).toBe(0);
    expect(run('ip', ['-n', keep, '-br', 'link']).includes('eth0')).toBe(true);
    expect(run('ip', ['-n', gone, '-br', 'link']).includes('eth0')).toBe(false);
  });
});
