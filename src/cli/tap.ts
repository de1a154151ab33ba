// `tap exec` and `tap args`: how a user program gets a macvtap child's queues. exec opens the queues
// (and /dev/vhost-net, once per queue, where the kernel has it) and runs a command with them as
// inherited fds, as libvirt hands QEMU `-netdev tap,fds=…,vhostfds=…`; args prints the QEMU options
// and the libvirt <interface> for the child. Neither changes the instance: the child is read from the
// pinned registry.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { decodeChild, type ChildRecord } from '../datapath/abi.js';
import { pinRootFromEnv } from '../datapath/datapath.js';
import { ConfigError } from '../control/errors.js';
import { checkQueues } from '../control/validate.js';
import { addon } from '../native.js';
import { UsageError } from './args.js';

export interface TapArgs {
  op: 'exec' | 'args';
  child: string;
  queues?: number;
  /** exec: the command and its arguments ({fds}, {vhostfds}, {fd} and {vhostfd} replaced). */
  command: string[];
}

const VHOST = '/dev/vhost-net';

export function parseTapArgs(args: string[]): TapArgs {
  const op = args[0];
  if (op !== 'exec' && op !== 'args') throw new UsageError(`${op ? `"tap ${op}" is not a tap command` : 'tap needs a command'}: use tap exec CHILD [--queues N] -- COMMAND..., or tap args CHILD [--queues N]`);
  const child = args[1];
  if (!child || child.startsWith('-')) throw new UsageError(`tap ${op} needs the macvtap child's name`);
  const out: TapArgs = { op, child, command: [] };
  for (let i = 2; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--queues') {
      const n = args[++i];
      if (n === undefined || !/^\d+$/.test(n)) throw new UsageError(`--queues needs a number (1 to 256), not "${n ?? ''}"`);
      out.queues = checkQueues(Number(n));
    } else if (a === '--' && op === 'exec') {
      out.command = args.slice(i + 1);
      break;
    } else throw new UsageError(`tap ${op}: unexpected "${a}"${op === 'exec' ? ' (the command comes after --)' : ''}`);
  }
  if (op === 'exec' && out.command.length === 0) throw new UsageError('tap exec needs a command after --, e.g. tap exec vm0 -- qemu-system-x86_64 -netdev tap,id=n0,fds={fds} …');
  return out;
}

/** The child from the pinned registry; it must be a macvtap child of this instance. */
export function findTapChild(name: string, pinRoot = pinRootFromEnv()): ChildRecord {
  const pin = path.join(pinRoot, 'mvb_children');
  if (!fs.existsSync(pin)) throw new ConfigError('ENODEV', `no macvlan-bpf instance is pinned at ${pinRoot}: make the macvtap child first (link add … type macvtap), or point MACVLAN_BPF_PIN_ROOT at its instance`);
  const m = new (addon().BpfMap)({ pin });
  let all: ChildRecord[];
  try {
    const d = m.dump();
    all = Array.from({ length: d.count }, (_, i) => decodeChild(d.values.subarray(i * d.valueBytes, (i + 1) * d.valueBytes)));
  } finally {
    m.close();
  }
  // Taps live beside their parent; a macvlan child of that name (in any netns) is named as such.
  const c = all.find((x) => x.name === name && x.kind === 'tap') ?? all.find((x) => x.name === name);
  if (!c) throw new ConfigError('ENODEV', `Cannot find device "${name}": no macvtap child of this instance has that name (see 'macvlan-bpf link show')`);
  if (c.kind !== 'tap') throw new ConfigError('EINVAL', `Invalid argument: ${name} is a macvlan child (a ${c.kind} pair), which has no queues to open; make a macvtap child: link add link PARENT NAME type macvtap`);
  return c;
}

/** Opens n queues of the tap (and as many vhost-net fds where the kernel has vhost-net): fd numbers, ours. */
function openQueues(c: ChildRecord, n: number): { queues: number[]; vhost: number[] } {
  const a = addon();
  const queues: number[] = [];
  const vhost: number[] = [];
  try {
    for (let i = 0; i < n; i++) queues.push(new a.TapQueue({ ifname: c.name }).release());
    if (fs.existsSync(VHOST)) for (let i = 0; i < n; i++) vhost.push(fs.openSync(VHOST, 'r+'));
  } catch (e) {
    for (const fd of [...queues, ...vhost]) fs.closeSync(fd);
    const code = (e as { code?: string }).code;
    if (code === 'EBUSY' || code === 'EINVAL')
      throw new ConfigError('EBUSY', `Device or resource busy: ${c.name} cannot take ${n} more queue(s) (it was made for ${c.queues ?? 1}; a single-queue tap takes one reader at a time): close its other readers, or make it with more queues`);
    throw e;
  }
  return { queues, vhost };
}

/** Replaces {fds}, {vhostfds} (colon-separated, as QEMU's fds= takes them), {fd} and {vhostfd} in an argument. */
export function substitute(arg: string, fds: number[], vhostfds: number[]): string {
  return arg.replaceAll('{fds}', fds.join(':')).replaceAll('{vhostfds}', vhostfds.join(':'))
    .replaceAll('{fd}', String(fds[0] ?? '')).replaceAll('{vhostfd}', String(vhostfds[0] ?? ''));
}

async function tapExec(c: ChildRecord, n: number, command: string[]): Promise<number> {
  const { queues, vhost } = openQueues(c, n);
  // In the command, the fds are numbered from 3 up, queues first, in the order opened.
  const childFds = [...queues, ...vhost].map((_, i) => 3 + i);
  const qFds = childFds.slice(0, queues.length);
  const vFds = childFds.slice(queues.length);
  console.error(`tap exec: ${c.name}: queue fds ${qFds.join(':')}, vhost fds ${vFds.length ? vFds.join(':') : `none (${VHOST} is absent)`}`);
  const argv = command.map((a) => substitute(a, qFds, vFds));
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['inherit', 'inherit', 'inherit', ...queues, ...vhost] });
  for (const fd of [...queues, ...vhost]) fs.closeSync(fd); // the command holds them now
  const forward = (sig: NodeJS.Signals) => () => proc.kill(sig);
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, forward(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  try {
    return await new Promise<number>((resolve) => {
      proc.on('error', (e) => {
        console.error(`Error: cannot run ${argv[0]}: ${e.message}`);
        resolve(127);
      });
      proc.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? os.constants.signals[signal] : 0)));
    });
  } finally {
    for (const [s, h] of handlers) process.off(s, h);
  }
}

/** The QEMU options and libvirt interface for the child: by name, and with fds from tap exec. */
export function tapSnippets(c: ChildRecord, n: number): { qemu: string[]; qemuWithFds: string[]; libvirt: string } {
  const mq = n > 1 ? `,mq=on,vectors=${2 * n + 2}` : '';
  const device = ['-device', `virtio-net-pci,netdev=${c.name},mac=${c.mac}${mq}`];
  return {
    qemu: ['-netdev', `tap,id=${c.name},ifname=${c.name},script=no,downscript=no${n > 1 ? `,queues=${n}` : ''}`, ...device],
    qemuWithFds: ['-netdev', `tap,id=${c.name},fds={fds}${fs.existsSync(VHOST) ? ',vhost=on,vhostfds={vhostfds}' : ''}`, ...device],
    libvirt: [
      `<interface type='ethernet'>`,
      `  <mac address='${c.mac}'/>`,
      `  <target dev='${c.name}' managed='no'/>`,
      `  <model type='virtio'/>`,
      ...(n > 1 ? [`  <driver queues='${n}'/>`] : []),
      `</interface>`,
    ].join('\n'),
  };
}

export async function tapCommand(args: string[], json: boolean): Promise<number> {
  const o = parseTapArgs(args);
  const c = findTapChild(o.child);
  const n = o.queues ?? c.queues ?? 1;
  if (o.op === 'exec') return tapExec(c, n, o.command);
  const s = tapSnippets(c, n);
  if (json) console.log(JSON.stringify({ child: c.name, mac: c.mac, queues: n, qemu: s.qemu, qemu_with_fds: s.qemuWithFds, libvirt: s.libvirt }));
  else {
    console.log(`# QEMU, opening the tap by name:\n${s.qemu.join(' ')}`);
    console.log(`# QEMU under 'macvlan-bpf tap exec ${c.name} -- qemu-system-x86_64 …' (fds it opened):\n${s.qemuWithFds.join(' ')}`);
    console.log(`# libvirt domain XML (instead of <interface type='direct'>):\n${s.libvirt}`);
  }
  return 0;
}
