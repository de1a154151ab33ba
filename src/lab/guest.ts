// A QEMU guest (software emulation) on one of Debian's kernels, prepared by scripts/guest-kernels.sh (the
// kernel matrix's tests, and the benchmark of child kinds where this host's kernel lacks netkit):
// it boots that kernel with this host's root mounted read-only over 9p under a tmpfs overlay, runs one
// shell command in the project directory as root, and powers off. Its log and exit status come back
// through a writable 9p share; the console goes to a file beside it.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NIC_EXT, NIC_PARENT } from './builder.js';
import { projectRoot } from '../native.js';

export const PROJECT = projectRoot;
export const GUEST_KERNELS = ['stock', 'backports'] as const;
export type GuestKernel = (typeof GUEST_KERNELS)[number];

export interface GuestResult {
  /** The guest command's exit status, or null when the guest never wrote one. */
  rc: number | null;
  /** What the command printed. */
  log: string;
  /** Everything the serial console showed (boot included), for a failure's message. */
  console: string;
  /** The writable share: files the command left in /mvb-out. */
  out: string;
  seconds: number;
}

export function guestKernelDir(k: GuestKernel): string {
  const dir = path.join(PROJECT, '.cache', 'guests', k);
  if (!fs.existsSync(path.join(dir, 'ready')))
    throw new Error(`guest kernel "${k}" is not prepared in ${dir}: run scripts/guest-kernels.sh (npm test's set-up does)`);
  return dir;
}

/** Boots the guest, runs cmd (bash, in the project directory), and resolves when it powered off. */
export interface GuestOptions {
  prefix: string;
  timeoutMs: number;
  memMiB?: number;
  cpus?: number;
  /** QEMU's NIC options instead of the two back-to-back virtio NICs (e.g. one on a macvtap child's fds). */
  nics?: string[];
  /** A command QEMU runs under, given QEMU's argv after it (tap exec, which hands it the queue fds). */
  wrap?: { argv: string[]; env?: Record<string, string> };
}

export function runInGuest(k: GuestKernel, cmd: string, opts: GuestOptions): Promise<GuestResult> {
  const dir = guestKernelDir(k);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), `${opts.prefix}-guest-${k}-`));
  const consoleFile = `${out}.console`;
  const append = [
    'console=ttyS0', 'quiet', 'panic=-1',
    `mvb.init=${path.join(PROJECT, 'scripts', 'guest-init.sh')}`, `mvb.kdir=${dir}`, `mvb.project=${PROJECT}`,
    `mvb.cmd=${Buffer.from(cmd).toString('base64')}`,
  ].join(' ');
  const args = [
    '-accel', 'tcg', '-m', String(opts.memMiB ?? 4096), '-smp', String(opts.cpus ?? 2), '-nographic', '-no-reboot',
    // Two virtio NICs wired back to back through a QEMU hub (no host network at all): a real NIC as a
    // parent, with its own unicast filter (lab/builder.ts, parent kind 'nic').
    ...(opts.nics ?? [
      '-netdev', 'hubport,id=n0,hubid=0', '-device', `virtio-net-pci,netdev=n0,mac=${NIC_PARENT}`,
      '-netdev', 'hubport,id=n1,hubid=0', '-device', `virtio-net-pci,netdev=n1,mac=${NIC_EXT}`,
    ]),
    '-kernel', path.join(dir, 'vmlinuz'), '-initrd', path.join(dir, 'initrd.gz'), '-append', append,
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-virtfs', `local,path=${out},mount_tag=out,security_model=none`,
  ];
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const con = fs.openSync(consoleFile, 'w');
    const [file, ...argv] = [...(opts.wrap?.argv ?? []), 'qemu-system-x86_64', ...args];
    const qemu = spawn(file!, argv, { stdio: ['ignore', con, con], env: { ...process.env, ...opts.wrap?.env } });
    fs.closeSync(con);
    // A wrapper passes SIGTERM on to QEMU (killing it outright would leave QEMU running); QEMU ends on it.
    let killer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      qemu.kill('SIGTERM');
      killer = setTimeout(() => qemu.kill('SIGKILL'), 5000);
    }, opts.timeoutMs);
    qemu.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${file}: ${e.message} (npm test's set-up installs qemu-system-x86)`));
    });
    qemu.on('exit', () => {
      clearTimeout(timer);
      clearTimeout(killer);
      const read = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');
      const rcText = read(path.join(out, 'rc')).trim();
      resolve({ rc: rcText ? Number(rcText) : null, log: read(path.join(out, 'log')), console: read(consoleFile), out, seconds: (Date.now() - t0) / 1000 });
    });
  });
}

/** Removes what a guest run left (its share and console file). */
export function removeGuestOutput(r: GuestResult): void {
  fs.rmSync(r.out, { recursive: true, force: true });
  fs.rmSync(`${r.out}.console`, { force: true });
}
