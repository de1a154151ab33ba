// The systemd unit in contrib/ is valid for systemd itself (systemd-analyze verify), runs the agent
// with the config file, and stops only the agent (the datapath outlives it).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const UNIT = path.resolve(__dirname, '../../contrib/systemd/macvlan-bpf.service');
const BIN = path.resolve(__dirname, '../../bin/macvlan-bpf');

describe('contrib/systemd/macvlan-bpf.service', () => {
  const text = fs.readFileSync(UNIT, 'utf8');
  const key = (k: string) => text.split('\n').filter((l) => l.startsWith(`${k}=`)).map((l) => l.slice(k.length + 1));

  it('passes systemd-analyze verify (with ExecStart pointing at this checkout)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvb-unit-'));
    try {
      const f = path.join(dir, 'macvlan-bpf.service');
      fs.writeFileSync(f, text.replaceAll('/usr/local/bin/macvlan-bpf', BIN));
      const r = spawnSync('systemd-analyze', ['verify', f], { encoding: 'utf8' });
      expect(r.error, 'systemd-analyze must be installed (the bootstrap installs systemd)').toBeUndefined();
      expect(r.stderr.split('\n').filter((l) => l.includes('macvlan-bpf.service'))).toEqual([]);
      expect(r.status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs the agent on the config file, reloads with SIGHUP, stops only the agent', () => {
    expect(key('ExecStart')).toEqual(['/usr/local/bin/macvlan-bpf agent --config /etc/macvlan-bpf/config.yaml']);
    expect(key('ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    expect(key('KillMode')).toEqual(['process']);
    expect(key('Restart')).toEqual(['always']);
    // The agent's own usage names the options the unit passes.
    const usage = execFileSync(BIN, ['help'], { encoding: 'utf8' });
    expect(usage).toContain('agent [ --config FILE ]');
  });
});
