// No process is spawned by the control plane: the agent and the CLI run with a preload that makes every
// child_process call fail and be logged, and do every link operation there is (add in a netns, up,
// down, MTU, MAC, mode, isolation, apply, show, delete; passthru promiscuity; the agent's reactions to
// ip in the child's netns, to the parent's MTU and to a deleted parent; the CLI without an agent). The
// log must stay empty. Only the test itself runs ip, to play the user.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox, run } from '../helpers/sandbox.js';
import { Topology, waitFor } from '../../src/lab/topology.js';
import { addon } from '../../src/native.js';
import { decodeChild } from '../../src/datapath/abi.js';

const sb = new Sandbox('s');
const GUARD = path.resolve(__dirname, '../helpers/forbid-spawn.cjs');
const CLI = path.resolve(__dirname, '../../bin/macvlan-bpf');
let log = '';
let t: Topology | undefined;
const saved = { NODE_OPTIONS: process.env.NODE_OPTIONS, MVB_SPAWN_LOG: process.env.MVB_SPAWN_LOG };

beforeAll(() => {
  log = path.join(os.tmpdir(), `${sb.prefix}-spawn.log`);
  fs.writeFileSync(log, '');
  // Inherited by every macvlan-bpf process this file starts (agent and CLI), not by this one.
  process.env.NODE_OPTIONS = `${saved.NODE_OPTIONS ?? ''} --require ${GUARD}`.trim();
  process.env.MVB_SPAWN_LOG = log;
});
afterAll(() => {
  for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  t?.close();
  sb.cleanup();
  fs.rmSync(log, { force: true });
});

const spawned = () => fs.readFileSync(log, 'utf8');
const ipIn = (ns: string, ...args: string[]) => run('ip', ['-n', ns, ...args]);
function children(pinRoot: string) {
  const m = new (addon().BpfMap)({ pin: path.join(pinRoot, 'mvb_children') });
  try {
    return m.keys().map((k) => m.lookup(k)).filter((v): v is Buffer => v !== null).map(decodeChild);
  } finally {
    m.close();
  }
}

describe('the control plane spawns no process', () => {
  it('the guard catches a spawn from an ES module (so the test below can fail)', () => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', "import { execFileSync } from 'node:child_process'; execFileSync('true');"], { encoding: 'utf8', env: process.env });
    expect(r.status).not.toBe(0);
    expect(spawned()).toMatch(/execFileSync true/);
    fs.writeFileSync(log, '');
  });

  it('agent and CLI do every link operation over netlink', () => {
    const tt = (t = Topology.build(sb, { datapath: 'bpf', children: [{ name: 'b1', mode: 'bridge', mac: '02:00:00:00:04:01' }], reflector: false }, 'n'));
    const ns = tt.childNs.get('b1')!;
    expect(fs.readFileSync(`/proc/${tt.agentPid}/environ`, 'utf8'), 'the agent runs with the guard').toContain(GUARD);
    const find = (name: string) => children(tt.pinRoot).find((c) => c.name === name);
    // Through the agent.
    tt.cli(['link', 'add', 'link', 'p0', 'x1', 'netns', ns, 'type', 'macvlan', 'mode', 'bridge']);
    tt.cli(['link', 'set', 'x1', 'up']);
    tt.cli(['link', 'set', 'x1', 'down', 'mtu', '1400', 'address', '02:00:00:00:0a:01', 'mode', 'vepa']);
    tt.cli(['link', 'set', 'x1', 'up']);
    expect(JSON.parse(tt.cli(['-j', 'link', 'show', 'x1']))[0]).toMatchObject({ address: '02:00:00:00:0a:01', mtu: 1400, linkinfo: { info_data: { mode: 'vepa' } } });
    tt.cli(['port', 'set', 'p0', 'isolation', 'kernel']);
    const cfg = path.join(os.tmpdir(), `${sb.prefix}-cfg.yaml`);
    fs.writeFileSync(cfg, `children:\n${[1, 2, 3].map((i) => `  - { name: y${i}, parent: p0, mode: private, netns: ${ns} }`).join('\n')}\n`);
    tt.cli(['apply', '-f', cfg]);
    fs.rmSync(cfg);
    tt.cli(['link', 'del', 'x1']);
    // The agent reacts to ip, in the child's netns and on the parent.
    ipIn(ns, 'link', 'set', 'y1', 'down');
    waitFor(() => (find('y1')!.flags & 1) === 0, 'y1 down in the registry');
    ipIn(ns, 'link', 'set', 'y1', 'up');
    waitFor(() => (find('y1')!.flags & 1) === 1, 'y1 up in the registry');
    ipIn(tt.host, 'link', 'set', 'p0', 'mtu', '1300');
    waitFor(() => JSON.parse(ipIn(ns, '-j', 'link', 'show', 'y2'))[0].mtu === 1300, 'y2 to follow the parent\'s MTU');
    // passthru: the parent's promiscuity, and its deletion.
    ipIn(tt.host, 'link', 'add', 'pt0', 'type', 'veth', 'peer', 'name', 'pe0');
    ipIn(tt.host, 'link', 'set', 'pt0', 'up');
    tt.cli(['link', 'add', 'link', 'pt0', 'pass1', 'netns', ns, 'type', 'macvlan', 'mode', 'passthru']);
    tt.cli(['link', 'set', 'pass1', 'up']);
    expect(ipIn(tt.host, 'link', 'show', 'pt0')).toContain('PROMISC');
    tt.cli(['link', 'set', 'pass1', 'down']);
    expect(ipIn(tt.host, 'link', 'show', 'pt0')).not.toContain('PROMISC');
    ipIn(tt.host, 'link', 'del', 'pt0');
    waitFor(() => find('pass1') === undefined, 'the passthru child to go with its parent');
    // Without the agent: the CLI acts itself.
    tt.stopAgent();
    const direct = (...args: string[]) => run('nsenter', [`--net=/run/netns/${tt.host}`, CLI, ...args], { MACVLAN_BPF_PIN_ROOT: tt.pinRoot, MACVLAN_BPF_NO_AGENT: '1' });
    direct('link', 'add', 'link', 'p0', 'z1', 'netns', ns, 'type', 'macvlan');
    direct('link', 'set', 'z1', 'up');
    direct('link', 'del', 'z1');
    direct('link', 'del', 'y3');
    expect(find('z1')).toBeUndefined();
    expect(spawned(), 'processes the control plane tried to start').toBe('');
    expect(tt.agentLog).not.toMatch(/error|must not spawn/i);
  });
});
