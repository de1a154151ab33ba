// The TS mirror of bpf/include/mvb_abi.h must match the layouts the kernel knows from BTF.
import { afterAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/sandbox.js';
import { Datapath } from '../../src/datapath/datapath.js';
import { SIZES } from '../../src/datapath/abi.js';
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
      expect(info('mvb_child_stats').valueSize).toBe(SIZES.childStats);
      expect(info('mvb_parent_stats').valueSize).toBe(SIZES.parentStats);
      // Per-CPU buffers are sized in C: round_up(value, 8) x possible CPUs.
      const cs = info('mvb_child_stats');
      expect(cs.perCpu).toBe(true);
      expect(cs.valueBytes).toBe(((SIZES.childStats + 7) & ~7) * addon().possibleCpus());
    } finally {
      dp.close();
    }
  });

  it('dump() returns every entry of a per-CPU map, byte for byte as lookup does, past one batch', () => {
    const dp = Datapath.open(sb.pinRoot('dump'));
    try {
      const m = dp.maps.mvb_child_stats;
      const n = 1300; // more than one 512-entry chunk
      for (let i = 0; i < n; i++) {
        const v = Buffer.alloc(m.info().valueBytes);
        v.writeUInt32LE(i * 7 + 1, 0);
        v.writeUInt32LE(i, v.length - 8); // the last CPU's slot too
        m.update(Buffer.from(new Uint32Array([i + 1]).buffer), v);
      }
      const d = m.dump();
      expect(d.count).toBe(n);
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
});
