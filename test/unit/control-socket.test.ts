// The control socket's directory: one we make is 0700; one that exists is used as it is, never chmod'ed
// (it is not ours), and refused if anyone may replace files in it.
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serveControl } from '../../src/agent/control-socket.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), `${process.env.MVB_TEST_RUN ?? 'mvbt'}sock-`));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));
const ok = async () => ({ code: 0, stdout: '', stderr: '' });

describe('control socket directory', () => {
  it('a directory it makes is 0700, the socket 0600', async () => {
    const sock = path.join(base, 'new', 'a.sock');
    const srv = await serveControl(sock, ok);
    try {
      expect(fs.statSync(path.dirname(sock)).mode & 0o7777).toBe(0o700);
      expect(fs.statSync(sock).mode & 0o777).toBe(0o600);
    } finally {
      srv.close();
    }
  });

  it('an existing directory keeps its mode', async () => {
    const dir = path.join(base, 'shared');
    fs.mkdirSync(dir);
    fs.chmodSync(dir, 0o755);
    const srv = await serveControl(path.join(dir, 'a.sock'), ok);
    try {
      expect(fs.statSync(dir).mode & 0o7777).toBe(0o755);
      expect(fs.statSync(path.join(dir, 'a.sock')).mode & 0o777).toBe(0o600);
    } finally {
      srv.close();
    }
  });

  it('a world-writable directory without the sticky bit is refused, and left as it was', async () => {
    const dir = path.join(base, 'open');
    fs.mkdirSync(dir);
    fs.chmodSync(dir, 0o777);
    await expect(serveControl(path.join(dir, 'a.sock'), ok)).rejects.toThrow(/writable by everyone: choose another place \(MACVLAN_BPF_SOCKET\)/);
    expect(fs.statSync(dir).mode & 0o7777).toBe(0o777);
    expect(fs.existsSync(path.join(dir, 'a.sock'))).toBe(false);
  });

  it('a sticky world-writable directory (like /tmp) is used as it is', async () => {
    const dir = path.join(base, 'sticky');
    fs.mkdirSync(dir);
    fs.chmodSync(dir, 0o1777);
    const srv = await serveControl(path.join(dir, 'a.sock'), ok);
    try {
      expect(fs.statSync(dir).mode & 0o7777).toBe(0o1777);
    } finally {
      srv.close();
    }
  });
});
