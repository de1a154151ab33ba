// The TS mirror of bpf/include/mvb_abi.h must match the layouts the kernel knows from BTF.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/sandbox.js';
import { Datapath } from '../../src/datapath/datapath.js';
import { CHILD_SLOTS, PARENT_SLOTS, SIZES, u32Key } from '../../src/datapath/abi.js';
import { addon } from '../../src/native.js';

const sb = new Sandbox('a');
afterAll(() => sb.cleanup());

describe('datapath ABI', () => {
  it('key and value sizes match the loaded maps', () => {
    const dp = Datapath.open(sb.pinRoot());
    try {
      const info = (n: keyof typeof dp.maps) => dp.maps[n].info();
      expect([info('mvb_macs').keySize, info('mvb_macs').valueSize]).toEqual([SIZES.macKey, SIZES.macVal]);
      expect(info('mvb_children').valueSize).toBe(SIZES.child);
      expect(info('mvb_ports').valueSize).toBe(SIZES.port);
      expect([info('mvb_flood').keySize, info('mvb_flood').valueSize]).toEqual([SIZES.floodKey, SIZES.floodVal]);
      expect([info('mvb_sources').keySize, info('mvb_sources').valueSize]).toEqual([SIZES.macKey, SIZES.sourceVal]);
      expect([info('mvb_groups').keySize, info('mvb_groups').valueSize]).toEqual([SIZES.macKey, SIZES.groupVal]);
      expect(info('mvb_child_ctrs').valueSize).toBe(SIZES.childStats);
      expect(info('mvb_child_ctrs').maxEntries).toBe(CHILD_SLOTS);
      expect(info('mvb_parent_ctrs').valueSize).toBe(SIZES.parentStats);
      expect(info('mvb_parent_ctrs').maxEntries).toBe(PARENT_SLOTS);
      expect(info('mvb_flood_cfg').valueSize).toBe(SIZES.floodCfg);
      // Per-CPU buffers are sized in C: round_up(value, 8) x possible CPUs.
      const cs = info('mvb_child_ctrs');
      expect(cs.perCpu).toBe(true);
      expect(cs.valueBytes).toBe(((SIZES.childStats + 7) & ~7) * addon().possibleCpus());
    } finally {
      dp.close();
    }
  });

  it('dump() returns every entry of a per-CPU map, byte for byte as lookup does, past one batch', () => {
    const dp = Datapath.open(sb.pinRoot('dump'));
    try {
      const m = dp.maps.mvb_parent_ctrs;
      const n = PARENT_SLOTS; // more than one 512-entry chunk
      for (let i = 0; i < n - 1; i++) {
        const v = Buffer.alloc(m.info().valueBytes);
        v.writeUInt32LE(i * 7 + 1, 0);
        v.writeUInt32LE(i, v.length - 8); // the last CPU's slot too
        m.update(Buffer.from(new Uint32Array([i + 1]).buffer), v);
      }
      const d = m.dump();
      expect(d.count).toBe(n); // an array's every index, written or not
      expect(d.batched).toBe(true);
      expect(d.values.length).toBe(n * m.info().valueBytes);
      const seen = new Set<number>();
      for (let i = 0; i < d.count; i++) {
        const key = d.keys.subarray(i * d.keySize, (i + 1) * d.keySize);
        seen.add(key.readUInt32LE(0));
        expect(d.values.subarray(i * d.valueBytes, (i + 1) * d.valueBytes).equals(m.lookup(key)!)).toBe(true);
      }
      expect(seen.size).toBe(n);
      expect(dp.maps.mvb_macs.dump().count).toBe(0); // empty maps too
    } finally {
      dp.close();
    }
  });

  it('dump(limit) reads an array\'s first indexes only, past one batch; a bad limit is refused', () => {
    const dp = Datapath.open(sb.pinRoot('dumplimit'));
    try {
      const m = dp.maps.mvb_child_ctrs;
      const v = Buffer.alloc(m.info().valueBytes);
      v.writeUInt32LE(77, v.length - 8); // the last CPU's slot
      m.update(Buffer.from([0x58, 2, 0, 0]), v); // index 600
      const d = m.dump(601);
      expect(d.count).toBe(601);
      expect(d.keys.readUInt32LE(600 * 4)).toBe(600);
      expect(d.values.subarray(600 * d.valueBytes).equals(v)).toBe(true);
      expect(d.values.subarray(0, 600 * d.valueBytes).every((b) => b === 0)).toBe(true);
      expect(m.dump(0).count).toBe(0);
      expect(() => m.dump(-1)).toThrow(/limit must be a non-negative number/);
    } finally {
      dp.close();
    }
  });

  it('reopening an instance reuses its pinned maps', () => {
    const root = sb.pinRoot('reuse');
    const a = Datapath.open(root);
    const b = Datapath.open(root);
    try {
      expect(a.maps.mvb_macs.info().id).toBe(b.maps.mvb_macs.info().id);
      expect(a.programs.parent.info().id).toBe(b.programs.parent.info().id);
    } finally {
      a.close();
      b.close();
    }
  });

  it('a bad map operation throws a Node-shaped error and changes nothing', () => {
    const dp = Datapath.open(sb.pinRoot('err'));
    try {
      let err: unknown;
      try {
        dp.maps.mvb_macs.update(Buffer.alloc(3), Buffer.alloc(8));
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'EINVAL', syscall: 'bpf_map_update_elem', errno: -22 });
      expect(dp.maps.mvb_macs.keys()).toEqual([]);
    } finally {
      dp.close();
    }
  });

  // An instance pinned by an older build (maps of another layout) taken over by this one: a map whose
  // values grew is copied across, converted; any other difference is refused before anything changes.
  describe('taking over an instance pinned by a build with another map layout', () => {
    /** Pins map `name` (`key`-byte keys, `value`-byte values) under pinRoot, as an older build's object would. */
    const pinOld = (pinRoot: string, name: string, value: number, o: { key?: number; type?: string } = {}): void => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvb-oldabi-'));
      try {
        const src = path.join(dir, 'old.bpf.c');
        fs.writeFileSync(src, [
          '#include <linux/bpf.h>',
          '#include <bpf/bpf_helpers.h>',
          `struct v { unsigned char b[${value}]; };`,
          `struct k { unsigned char b[${o.key ?? 4}]; };`,
          `struct { __uint(type, BPF_MAP_TYPE_${o.type ?? 'HASH'}); __type(key, struct k); __type(value, struct v); __uint(max_entries, 16); __uint(pinning, LIBBPF_PIN_BY_NAME); } ${name} SEC(".maps");`,
          'SEC("tc") int old_prog(struct __sk_buff *skb) { struct k k = {}; return bpf_map_lookup_elem(&' + name + ', &k) ? 1 : 0; }',
          'char _license[] SEC("license") = "GPL";',
        ].join('\n'));
        execFileSync('clang', ['-O2', '-g', '-target', 'bpf', '-I/usr/include/x86_64-linux-gnu', '-c', src, '-o', path.join(dir, 'old.bpf.o')]);
        if (fs.existsSync(path.join(pinRoot, name))) fs.unlinkSync(path.join(pinRoot, name));
        new (addon().BpfObject)(path.join(dir, 'old.bpf.o'), pinRoot).close();
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    };
    /** Makes the pinned instance look like another build's (as a rebuilt package would find it). */
    const otherBuild = (pinRoot: string) => {
      for (const f of fs.readdirSync(pinRoot)) if (f.startsWith('build-')) fs.rmdirSync(path.join(pinRoot, f));
    };

    it('mvb_ports with the old 24-byte values: its entries are copied across, counted as getting every group', () => {
      const root = sb.pinRoot('oldports');
      Datapath.open(root).close();
      pinOld(root, 'mvb_ports', 24);
      const old = new (addon().BpfMap)({ pin: path.join(root, 'mvb_ports') });
      const v = Buffer.alloc(24);
      v.writeUInt32LE(2, 0); // flags
      v.writeUInt32LE(5, 16); // nchildren
      v.writeUInt32LE(3, 20); // nflood
      old.update(Buffer.from([7, 0, 0, 0]), v);
      old.close();
      otherBuild(root);
      const dp = Datapath.open(root);
      try {
        expect(dp.maps.mvb_ports.info().valueSize).toBe(SIZES.port);
        const p = dp.getPort(7)!;
        expect(p).toMatchObject({ flags: 2, nchildren: 5, nflood: 3, nfloodAll: 3 });
        expect(fs.existsSync(path.join(root, 'mvb_ports_old')), 'the old pin is gone').toBe(false);
      } finally {
        dp.close();
      }
    });

    it('ports and children without counter slots (44- and 96-byte entries, counters in hashes by ifindex): each is given a slot, the entries naming it, its counters move there', () => {
      const root = sb.pinRoot('oldslots');
      Datapath.open(root).close();
      pinOld(root, 'mvb_children', 96);
      pinOld(root, 'mvb_macs', 8, { key: 12 });
      pinOld(root, 'mvb_flood', 8, { key: 8 });
      pinOld(root, 'mvb_child_stats', 40, { type: 'PERCPU_HASH' });
      pinOld(root, 'mvb_ports', 44);
      pinOld(root, 'mvb_parent_stats', SIZES.parentStats, { type: 'PERCPU_HASH' });
      const a = addon();
      const open = (n: string) => new a.BpfMap({ pin: path.join(root, n) });
      const [children, macs, flood, stats, ports, pstats] = ['mvb_children', 'mvb_macs', 'mvb_flood', 'mvb_child_stats', 'mvb_ports', 'mvb_parent_stats'].map(open);
      const port = Buffer.alloc(44);
      port.writeUInt32LE(2, 16); // nchildren
      port.writeUInt32LE(2, 20); // nflood
      port.writeUInt32LE(1, 40); // nflood_all
      ports!.update(u32Key(3), port); // another parent first: slot 1
      ports!.update(u32Key(7), port);
      const ps = Buffer.alloc(pstats!.info().valueBytes);
      ps.writeBigUInt64LE(900n, 16); // wire_packets
      pstats!.update(u32Key(7), ps);
      const hosts = [41, 42];
      const perCpu = stats!.info().valueBytes;
      hosts.forEach((h, i) => {
        const c = Buffer.alloc(96);
        c.writeUInt32LE(7, 0); // parent
        c.writeUInt32LE(h, 4);
        c.writeUInt8(4, 18); // bridge
        c.write(`old${i}`, 32);
        children!.update(u32Key(h), c);
        const k = Buffer.alloc(12);
        k.writeUInt32LE(7, 0);
        k.writeUInt8(i + 1, 9);
        const mv = Buffer.alloc(8);
        mv.writeUInt32LE(h, 0);
        mv.writeUInt8(4, 4); // bridge
        macs!.update(k, mv);
        const fk = Buffer.alloc(8);
        fk.writeUInt32LE(7, 0);
        fk.writeUInt32LE(i, 4);
        flood!.update(fk, mv);
        const s = Buffer.alloc(perCpu);
        s.writeBigUInt64LE(BigInt(100 + i), 0); // rx_packets on the first CPU
        s.writeBigUInt64LE(BigInt(5 + i), perCpu - 8); // flood_copies on the last
        stats!.update(u32Key(h), s);
      });
      for (const m of [children, macs, flood, stats, ports, pstats]) m!.close();
      otherBuild(root);
      const dp = Datapath.open(root);
      try {
        const slots = hosts.map((h) => dp.getChild(h)!.slot!);
        expect(new Set(slots).size).toBe(2);
        expect(slots.every((s) => s >= 1)).toBe(true);
        expect(dp.getChild(41)!.name).toBe('old0');
        const pslot = dp.getPort(7)!.slot!;
        expect(dp.getPort(3)!.slot).not.toBe(pslot);
        expect(dp.getPort(7)).toMatchObject({ nchildren: 2, nflood: 2, nfloodAll: 1 });
        expect(hosts.map((h) => dp.getChild(h)!.parentSlot)).toEqual([pslot, pslot]);
        expect(dp.parentStatsRaw(7)!.readBigUInt64LE(16)).toBe(900n);
        for (const [i, h] of hosts.entries()) {
          const e = dp.getFlood(7, i)!;
          expect(e).toMatchObject({ hostIfindex: h, slot: slots[i] });
          const raw = dp.childStatsRaw(h)!;
          expect(raw.readBigUInt64LE(0)).toBe(BigInt(100 + i));
          expect(raw.readBigUInt64LE(raw.length - 8)).toBe(BigInt(5 + i));
        }
        const macVals = dp.maps.mvb_macs.dump();
        expect(macVals.count).toBe(2);
        for (let i = 0; i < macVals.count; i++) {
          const v = macVals.values.subarray(i * macVals.valueBytes, (i + 1) * macVals.valueBytes);
          expect(v.readUInt32LE(8)).toBe(slots[hosts.indexOf(v.readUInt32LE(0))]);
        }
        expect(fs.existsSync(path.join(root, 'mvb_child_stats')), 'the old counters\' pin is gone').toBe(false);
        expect(fs.existsSync(path.join(root, 'mvb_parent_stats')), 'the old counters\' pin is gone').toBe(false);
        expect(fs.readdirSync(root).filter((f) => f.endsWith('_old'))).toEqual([]);
      } finally {
        dp.close();
      }
    });

    it('a layout it cannot convert is refused, naming the map and what to do, and nothing is changed', () => {
      const root = sb.pinRoot('oldflood');
      Datapath.open(root).close();
      pinOld(root, 'mvb_flood', 4);
      otherBuild(root);
      const before = fs.readdirSync(root).sort();
      expect(() => Datapath.open(root)).toThrow(/mvb_flood: 4-byte keys and 4-byte values, this build's 8 and 12.*delete its children/);
      expect(fs.readdirSync(root).sort()).toEqual(before);
    });
  });
});

describe('threadAffinity (the benchmarks keep a test run on one CPU)', () => {
  it('sets this thread\'s CPUs and says them; a CPU past the set is refused by name, nothing changed', () => {
    const a = addon();
    const was = a.threadAffinity();
    expect(was.length).toBeGreaterThan(0);
    try {
      expect(a.threadAffinity([was.at(-1)!])).toEqual([was.at(-1)!]);
      expect(() => a.threadAffinity([1 << 20])).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'sched_setaffinity', message: expect.stringContaining(`cpu ${1 << 20}`) }));
      expect(a.threadAffinity()).toEqual([was.at(-1)!]);
    } finally {
      a.threadAffinity(was);
    }
    expect(a.threadAffinity()).toEqual(was);
  });
});
