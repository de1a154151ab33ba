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

describe('control socket requests', () => {
  it('a request with no newline past the size limit is refused, not buffered on', async () => {
    const sock = path.join(base, 'lim', 'a.sock');
    const srv = await serveControl(sock, ok);
    try {
      const net = await import('node:net');
      const answer = await new Promise<string>((resolve, reject) => {
        const c = net.connect(sock);
        let got = '';
        c.setEncoding('utf8');
        c.on('data', (d: string) => (got += d));
        c.on('end', () => resolve(got));
        c.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? resolve(got) : reject(e)));
        const chunk = 'x'.repeat(64 * 1024);
        for (let i = 0; i < 40 && !c.destroyed; i++) c.write(chunk); // 2.5 MiB, no newline
      });
      expect(answer).toMatch(/longer than 1048576 bytes without a newline/);
    } finally {
      srv.close();
    }
  });

  it('an agent that closes without answering is reported as that, not as a malformed answer', async () => {
    const net = await import('node:net');
    const { requestControl } = await import('../../src/agent/control-socket.js');
    const sock = path.join(base, 'mute.sock');
    const srv = net.createServer((c) => c.on('data', () => c.end()));
    await new Promise<void>((r) => srv.listen(sock, () => r()));
    try {
      await expect(requestControl(sock, { v: 1, command: { kind: 'link-show', json: false } })).rejects.toThrow(/closed the connection without answering .*check with 'macvlan-bpf link show'/);
    } finally {
      srv.close();
    }
  });
});
