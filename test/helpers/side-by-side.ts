// The same command to kernel macvlan (ip) and to macvlan-bpf (its CLI), in one netns with one parent of
// each (kp0 for the kernel, op0 for ours, veths to an external netns): the tests that compare what the
// two report step by step (bcqueuelen, source lists) share this.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { run, type Sandbox } from './sandbox.js';

const CLI = path.resolve(__dirname, '../../bin/macvlan-bpf');

export interface Ran { code: number | null; out: string; err: string }

export class SideBySide {
  readonly host: string;
  readonly pins: string;

  constructor(sb: Sandbox) {
    this.host = sb.netns('host');
    const ext = sb.netns('ext');
    this.pins = sb.pinRoot();
    run('ip', ['-n', this.host, 'link', 'add', 'kp0', 'type', 'veth', 'peer', 'name', 'ke0', 'netns', ext]);
    run('ip', ['-n', this.host, 'link', 'add', 'op0', 'type', 'veth', 'peer', 'name', 'oe0', 'netns', ext]);
  }

  /** macvlan-bpf's CLI in the host netns, on this instance. */
  ours(args: string[]): Ran {
    const r = spawnSync('nsenter', [`--net=/run/netns/${this.host}`, CLI, ...args], { encoding: 'utf8', env: { ...process.env, MACVLAN_BPF_PIN_ROOT: this.pins } });
    return { code: r.status, out: r.stdout, err: r.stderr };
  }

  /** ip in the host netns. */
  kernel(args: string[]): Ran {
    const r = spawnSync('ip', ['-n', this.host, ...args], { encoding: 'utf8' });
    return { code: r.status, out: r.stdout, err: r.stderr };
  }
}
