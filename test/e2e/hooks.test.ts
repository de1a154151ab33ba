// Where the programs sit: tcx links, pinned, on a kernel with tcx (this host's 6.18, the 6.12 guest);
// the cls_bpf fallback that kernels without tcx (Debian 12's 6.1 guest) get by themselves, and that is
// forced here with MACVLAN_BPF_TC_ATTACH; the takeover between the two, in both directions, under two
// frame streams with no frame lost. The kernel matrix runs this file on each kernel.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Sandbox, run } from '../helpers/sandbox.js';
import { IN_GUEST } from '../helpers/scale.js';
import { Topology, EXT_MAC, PARENT_MAC, waitFor, type ChildSpec } from '../../src/lab/topology.js';
import { addon, inNetns } from '../../src/native.js';
import { IngressHooks, TC_HANDLE, TC_PRIORITY, kernelHasTcx, type HookMode } from '../../src/datapath/hooks.js';
import { decodeChild } from '../../src/datapath/abi.js';
import { buildFrame, frameId } from '../../src/frames.js';
import { kernelAtLeast } from '../helpers/kernel.js';
import { loadBench } from '../../src/bench/traffic.js';
import { Macvlan } from '../../src/control/macvlan.js';
import { CHEAP_TCX_MS, TCX_PROBE_EVERY } from '../../src/control/tx-hooks.js';

const sb = new Sandbox('h');
const CLI = path.resolve(__dirname, '../../bin/macvlan-bpf');
const KIDS: ChildSpec[] = [
  { name: 'b1', mode: 'bridge', mac: '02:00:00:00:04:01' },
  { name: 'b2', mode: 'bridge', mac: '02:00:00:00:04:02' },
];
const savedMode = process.env.MACVLAN_BPF_TC_ATTACH;
/** tcx came in 6.6. */
const TCX = kernelAtLeast(6, 6);
const setMode = (m: string | undefined) => (m === undefined ? delete process.env.MACVLAN_BPF_TC_ATTACH : (process.env.MACVLAN_BPF_TC_ATTACH = m));
let t: Topology | undefined;
afterEach(() => setMode(savedMode));
afterAll(() => {
  t?.close();
  sb.cleanup();
});

/** Every hook of the topology (the parent, every child's host end) and how it is attached. */
function hooks(tt: Topology): { ifindex: number; as: HookMode | null; progId: number }[] {
  const m = new (addon().BpfMap)({ pin: path.join(tt.pinRoot, 'mvb_children') });
  const hosts = m.keys().map((k) => m.lookup(k)).filter((v): v is Buffer => v !== null).map((v) => decodeChild(v).hostIfindex);
  m.close();
  return inNetns(`/run/netns/${tt.host}`, () => {
    const h = new IngressHooks(tt.pinRoot, 'tcx');
    return [addon().ifNameToIndex('p0'), ...hosts].map((ifindex) => ({ ifindex, as: h.attachedAs(ifindex), progId: h.programId(ifindex) }));
  });
}
const clsactOn = (tt: Topology) => run('tc', ['-n', tt.host, 'qdisc', 'show']).split('\n').filter((l) => l.includes('clsact')).length;
const allAs = (tt: Topology, mode: HookMode) => hooks(tt).every((h) => h.as === mode);

/** Two streams, external → b1 and b2 → b1, at 1 frame/ms each, while `during` runs at frame `at`. */
async function streams(tt: Topology, n: number, at: number, during: () => void): Promise<number[]> {
  const a = addon();
  const wire = new a.PacketSocket({ ifname: 'e0', netns: `/run/netns/${tt.ext}` });
  const b2 = new a.PacketSocket({ ifname: 'b2', netns: `/run/netns/${tt.childNs.get('b2')}` });
  const b1 = new a.PacketSocket({ ifname: 'b1', netns: `/run/netns/${tt.childNs.get('b1')}` });
  const seen = new Map<number, number>();
  const drain = () => { for (const f of b1.recv()) { const id = frameId(f.data); if (id !== undefined) seen.set(id, (seen.get(id) ?? 0) + 1); } };
  try {
    for (let i = 0; i < n; i++) {
      wire.send(buildFrame({ dst: KIDS[0]!.mac, src: EXT_MAC, id: i }));
      b2.send(buildFrame({ dst: KIDS[0]!.mac, src: KIDS[1]!.mac, id: n + i }));
      if (i === at) during();
      if (i % 50 === 0) drain();
      await new Promise((r) => setTimeout(r, 1));
    }
    await new Promise((r) => setTimeout(r, 300));
    drain();
  } finally {
    for (const s of [wire, b1, b2]) s.close();
  }
  return [...Array(2 * n).keys()].filter((id) => seen.get(id) !== 1);
}

describe('hooks', () => {
  it(`this kernel (${os.release()}) ${TCX ? 'has' : 'has no'} tcx, found without touching a device`, () => {
    const obj = new (addon().BpfObject)(path.resolve(__dirname, '../../bpf/tc_child.bpf.o'), sb.pinRoot('probe'));
    try {
      expect(kernelHasTcx(obj.programFd('mvb_child_ingress'))).toBe(TCX);
    } finally {
      obj.close();
    }
  });

  it(TCX ? 'tcx: every hook is a pinned tcx link, no clsact anywhere, frames flow'
    : 'without tcx the default is cls_bpf, and asking for tcx is refused with the reason', async () => {
    if (!TCX) {
      setMode(undefined);
      t = Topology.build(sb, { datapath: 'bpf', children: KIDS, reflector: false }, 'o');
      const tt = t;
      expect(allAs(tt, 'cls_bpf')).toBe(true);
      expect(await streams(tt, 300, -1, () => undefined)).toEqual([]);
      const r = spawnSync('nsenter', [`--net=/run/netns/${tt.host}`, CLI, 'link', 'show'],
        { encoding: 'utf8', env: { ...process.env, MACVLAN_BPF_PIN_ROOT: tt.pinRoot, MACVLAN_BPF_TC_ATTACH: 'tcx', MACVLAN_BPF_NO_AGENT: '1' } });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/this kernel has no tcx \(it came in 6\.6\); use cls_bpf or auto/);
      tt.close();
      t = undefined;
      return;
    }
    setMode(undefined);
    t = Topology.build(sb, { datapath: 'bpf', children: KIDS, reflector: false }, 't');
    const tt = t;
    waitFor(() => allAs(tt, 'tcx'), 'every hook to be a tcx link (bulk-made children are promoted)', 20_000);
    const pins = fs.readdirSync(path.join(tt.pinRoot, 'links')).sort();
    expect(pins).toEqual(hooks(tt).map((h) => `tcx_ingress-${h.ifindex}`).sort());
    for (const p of pins) {
      const l = new (addon().BpfLink)({ pin: path.join(tt.pinRoot, 'links', p) });
      expect(l.info()).toMatchObject({ type: 11, attachType: 46 }); // BPF_LINK_TYPE_TCX, BPF_TCX_INGRESS
      l.close();
    }
    expect(clsactOn(tt)).toBe(0);
    expect(await streams(tt, 300, -1, () => undefined)).toEqual([]);
    tt.close();
    t = undefined;
  });

  it('cls_bpf forced: filters on clsact, no link; then taken over by tcx and back, under traffic, nothing lost', async () => {
    setMode('cls_bpf');
    t = Topology.build(sb, { datapath: 'bpf', children: KIDS, reflector: false }, 'c');
    const tt = t;
    expect(allAs(tt, 'cls_bpf')).toBe(true);
    expect(fs.existsSync(path.join(tt.pinRoot, 'links')) ? fs.readdirSync(path.join(tt.pinRoot, 'links')) : []).toEqual([]);
    expect(run('tc', ['-n', tt.host, 'filter', 'show', 'dev', 'p0', 'ingress'])).toContain(`handle 0x${TC_HANDLE.toString(16)}`);
    expect(clsactOn(tt)).toBe(3);
    const clsIds = hooks(tt).map((h) => h.progId);
    expect(clsIds.every((id) => id > 0)).toBe(true);

    // The agent restarted with the default mode takes every hook over (tcx first, then the filter goes);
    // on a kernel without tcx the default is cls_bpf, and a restart changes nothing.
    const lost = await streams(tt, 2000, 600, () => {
      tt.stopAgent();
      setMode(undefined);
      tt.startAgent();
    });
    if (!TCX) {
      expect(lost).toEqual([]);
      expect(hooks(tt).map((h) => h.progId)).toEqual(clsIds);
      return;
    }
    expect(lost, 'frames lost or duplicated while cls_bpf hooks became tcx links').toEqual([]);
    waitFor(() => allAs(tt, 'tcx'), 'every hook to be a tcx link', 20_000);
    expect(clsactOn(tt), 'the clsact qdiscs we made are gone').toBe(0);
    expect(tt.agentLog).toMatch(/transmit hooks: all tcx links/);

    // And back, as a kernel without tcx would need after a downgrade.
    const back = await streams(tt, 1000, 300, () => {
      tt.stopAgent();
      setMode('cls_bpf');
      tt.startAgent();
    });
    expect(back, 'frames lost or duplicated while tcx links became cls_bpf hooks').toEqual([]);
    expect(allAs(tt, 'cls_bpf')).toBe(true);
    expect(fs.readdirSync(path.join(tt.pinRoot, 'links'))).toEqual([]);
    // The clsact qdiscs made for this mode are known as ours: the last child's deletion removes p0's.
    tt.cli(['link', 'del', 'b2']);
    expect(clsactOn(tt)).toBe(2);
    tt.cli(['link', 'add', 'link', 'p0', 'b2', 'address', KIDS[1]!.mac, 'netns', tt.childNs.get('b2')!, 'type', 'macvlan', 'mode', 'bridge']);
  });

  it('a program after ours on the parent still sees what goes to the stack (ours hands it on), not what we deliver', () => {
    const tt = Topology.build(sb, { datapath: 'bpf', children: KIDS, reflector: false, control: 'direct' }, 'n');
    const a = addon();
    const obj = loadBench();
    const counter = new a.BpfMap({ fd: obj.mapFd('mvb_bench_count') });
    const p0 = a.ifNameToIndex('p0', `/run/netns/${tt.host}`);
    // After ours: a tcx link appended to the chain, or a cls_bpf filter at a later priority.
    const link = inNetns(`/run/netns/${tt.host}`, () => {
      if (TCX) return a.BpfLink.create({ progFd: obj.programFd('mvb_bench_tc_count'), ifindex: p0, attachType: 'tcx_ingress' });
      a.tcAttach(p0, 'ingress', obj.programFd('mvb_bench_tc_count'), 0x4d43, TC_PRIORITY + 1, true);
      return null;
    });
    try {
      const seen = () => { const raw = counter.lookup(Buffer.alloc(4))!; let n = 0; for (let o = 0; o + 16 <= raw.length; o += 16) n += Number(raw.readBigUInt64LE(o)); return n; };
      const wire = new a.PacketSocket({ ifname: 'e0', netns: `/run/netns/${tt.ext}` });
      for (let i = 0; i < 5; i++) wire.send(buildFrame({ src: EXT_MAC, dst: PARENT_MAC, id: i })); // the parent's own MAC
      for (let i = 0; i < 5; i++) wire.send(buildFrame({ src: EXT_MAC, dst: KIDS[0]!.mac, id: 10 + i })); // a child's
      waitFor(() => seen() >= 5, 'the second program to see the stack\'s frames', 3000);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
      expect(seen(), 'the stack\'s 5 frames, none of the child\'s').toBe(5);
      wire.close();
    } finally {
      inNetns(`/run/netns/${tt.host}`, () => (link ? link.detach() : a.tcDetach(p0, 'ingress', 0x4d43, TC_PRIORITY + 1)));
      link?.close();
      counter.close();
      obj.close();
      tt.close();
    }
  });

  // The guests take their kernel's own mode only (the forced one is the host's to check).
  for (const mode of TCX ? (IN_GUEST ? ['tcx'] : ['tcx', 'cls_bpf']) : ['cls_bpf']) {
    it(`a parent belongs to one instance: a second is refused by name and changes nothing (${mode})`, () => {
      const host = sb.netns(`o${mode[0]}`);
      const kids = sb.netns(`ok${mode[0]}`);
      const [pa, pb] = [sb.pinRoot(`oa${mode[0]}`), sb.pinRoot(`ob${mode[0]}`)];
      run('ip', ['-n', host, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'e0']);
      run('ip', ['-n', host, 'link', 'set', 'p0', 'up']);
      const cli = (pins: string, args: string[]) => spawnSync('nsenter', [`--net=/run/netns/${host}`, CLI, ...args], { encoding: 'utf8', env: { ...process.env, MACVLAN_BPF_PIN_ROOT: pins, MACVLAN_BPF_TC_ATTACH: mode, MACVLAN_BPF_NO_AGENT: '1' } });
      expect(cli(pa, ['link', 'add', 'link', 'p0', 'a1', 'netns', kids, 'type', 'macvlan', 'mode', 'bridge']).status).toBe(0);
      // What a refused add could have changed: the devices there and p0's hooks (not link states, which
      // a host end's carrier may still be settling, seen on 6.1).
      const devices = () => (JSON.parse(run('ip', ['-n', host, '-j', 'link', 'show'])) as { ifname: string }[]).map((l) => l.ifname).sort().join(' ') +
        ' | ' + run('tc', ['-n', host, 'filter', 'show', 'dev', 'p0', 'ingress']) + ' | ' + inNetns(`/run/netns/${host}`, () => addon().progQuery(addon().ifNameToIndex('p0'), 46).join(','));
      const before = devices();
      const r = cli(pb, ['link', 'add', 'link', 'p0', 'b1', 'netns', kids, 'type', 'macvlan', 'mode', 'bridge']);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/p0 is served by another macvlan-bpf instance \(its program, id \d+, is on p0's ingress\); use that instance \(its MACVLAN_BPF_PIN_ROOT\)/);
      expect(devices(), 'nothing changed').toBe(before);
      expect(run('ip', ['-n', kids, '-o', 'link']), 'no b1').not.toMatch(/ b1@/);
      // The first instance still owns p0, and its own commands are not refused.
      expect(cli(pa, ['link', 'add', 'link', 'p0', 'a2', 'netns', kids, 'type', 'macvlan', 'mode', 'bridge']).status).toBe(0);
      expect(cli(pa, ['link', 'del', 'a2']).status).toBe(0);
      expect(cli(pa, ['link', 'del', 'a1']).status).toBe(0);
      // Once the first instance let go of p0, the second may take it.
      expect(cli(pb, ['link', 'add', 'link', 'p0', 'b1', 'netns', kids, 'type', 'macvlan', 'mode', 'bridge']).status).toBe(0);
      expect(cli(pb, ['link', 'del', 'b1']).status).toBe(0);
    });
  }

  // Children made in bulk (apply): a tcx link at once where the last one was quick to make, or a
  // cls_bpf hook first, promoted afterwards, where links are slow (a synchronize_rcu() each under rtnl
  // on some kernels). The measured time is set here to take each way on any kernel.
  if (TCX) it('bulk-made children: tcx links at once where links are cheap; cls_bpf first, then promoted, where they are slow', () => {
    setMode(undefined);
    const host = sb.netns('bh');
    const kids = sb.netns('bk');
    const pins = sb.pinRoot('bulk');
    run('ip', ['-n', host, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'e0']);
    run('ip', ['-n', host, 'link', 'set', 'p0', 'up']);
    inNetns(`/run/netns/${host}`, () => {
      const m = Macvlan.open(pins);
      try {
        const add = (names: string[]) => m.batch(() => names.map((name) => m.add({ parent: 'p0', name, mode: 'bridge', netns: kids, up: true }).hostIfindex));
        const as = (hosts: number[]) => hosts.map((h) => m.dp.hooks.attachedAs(h));
        // Cheap (each child's own link is measured, so the time is set before each).
        const quick = ['q1', 'q2', 'q3'].flatMap((n) => {
          m.dp.hooks.tcxAttachMs = 0;
          return add([n]);
        });
        expect(as(quick)).toEqual(['tcx', 'tcx', 'tcx']);
        expect(m.pendingHooks).toBe(0);
        m.dp.hooks.tcxAttachMs = 50; // slow
        const slow = add(['s1', 's2', 's3']);
        expect(as(slow)).toEqual(['cls_bpf', 'cls_bpf', 'cls_bpf']);
        expect(m.pendingHooks).toBe(3);
        expect(m.promoteHooks()).toBe(0);
        expect(as([...quick, ...slow])).toEqual(Array(6).fill('tcx'));
        expect(run('tc', ['-n', host, 'qdisc', 'show']).split('\n').filter((l) => l.includes('clsact')).length, 'no clsact left on a host end').toBe(0);
        // One slow link is not the kernel's word for a whole batch: every TCX_PROBE_EVERY-th child
        // gets its link at once all the same, and from then on the quickest recent link decides.
        if (!IN_GUEST) {
          m.dp.hooks.tcxAttachMs = 50;
          const batch = add(Array.from({ length: TCX_PROBE_EVERY + 2 }, (_, i) => `p${i}`));
          const got = as(batch);
          const probe = got.indexOf('tcx'); // within TCX_PROBE_EVERY children of the last tcx link
          expect(probe, 'a probe').toBeGreaterThan(0);
          expect(probe).toBeLessThan(TCX_PROBE_EVERY);
          expect(got.slice(0, probe)).toEqual(Array(probe).fill('cls_bpf'));
          const after = m.dp.hooks.tcxAttachMs! <= CHEAP_TCX_MS ? 'tcx' : 'cls_bpf'; // as the probe's own time says
          expect(got.slice(probe + 1)).toEqual(Array(got.length - probe - 1).fill(after));
          m.promoteHooks();
        }
      } finally {
        m.close();
      }
    });
    sb.dropNetns(host);
    sb.dropNetns(kids);
  });

  // A word check, the same on every kernel: the host's.
  if (!IN_GUEST) it('an unknown MACVLAN_BPF_TC_ATTACH is refused with the choices, and nothing changes', () => {
    const tt = t!;
    const before = hooks(tt);
    const r = spawnSync('nsenter', [`--net=/run/netns/${tt.host}`, CLI, 'link', 'set', 'b1', 'down'],
      { encoding: 'utf8', env: { ...process.env, MACVLAN_BPF_PIN_ROOT: tt.pinRoot, MACVLAN_BPF_TC_ATTACH: 'xdp', MACVLAN_BPF_NO_AGENT: '1' } });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/MACVLAN_BPF_TC_ATTACH="xdp" is not an attach mode: use tcx, cls_bpf or auto/);
    expect(hooks(tt)).toEqual(before);
    expect(run('ip', ['-n', tt.childNs.get('b1')!, 'link', 'show', 'b1'])).toContain('UP');
    tt.cli(['link', 'del', 'b1']);
    tt.cli(['link', 'del', 'b2']);
    expect(clsactOn(tt), 'no clsact left on the parent or anywhere').toBe(0);
  });
});
