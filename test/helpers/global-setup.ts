// One prefix per test run, for every namespace, interface and pin the tests make; teardown removes
// whatever still carries it, so a failed or interrupted run leaves the machine as it found it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { kernelHasNetkit } from '../../src/lab/probe.js';

export function setup(): () => void {
  const prefix = `mvbt${randomBytes(2).toString('hex')}`;
  process.env.MVB_TEST_RUN = prefix;
  // Whether this kernel has netkit, asked once per run (test/helpers/kernel.ts): on a kernel without it
  // each try makes the kernel look for a module, which takes seconds in the emulated guests.
  if (process.getuid?.() === 0) process.env.MVB_NETKIT = kernelHasNetkit(`${prefix}nkp`) ? '1' : '0';
  return () => sweep(prefix);
}

export function sweep(prefix: string): void {
  let list = '';
  try {
    list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  } catch { /* no netns support: nothing to sweep */ }
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0];
    if (name && name.startsWith(prefix)) {
      try { execFileSync('ip', ['netns', 'del', name]); } catch { /* already gone */ }
    }
  }
  // Agents' control sockets and logs, and config files the tests wrote.
  for (const dir of ['/run/macvlan-bpf', os.tmpdir()])
    if (fs.existsSync(dir))
      for (const f of fs.readdirSync(dir)) if (f.startsWith(prefix)) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
  try { fs.rmdirSync('/run/macvlan-bpf'); } catch { /* not empty (a real agent's), or not there */ }
  if (fs.existsSync('/sys/fs/bpf'))
    for (const f of fs.readdirSync('/sys/fs/bpf'))
      if (f.startsWith(prefix)) fs.rmSync(`/sys/fs/bpf/${f}`, { recursive: true, force: true });
}
