// The agent's control API: a unix socket in a root-only directory (0700, socket 0600), one JSON request
// per line ({ v: 1, command }, or { v: 1, cni: { env, config } }) and one JSON response per line
// ({ code, stdout, stderr }). The CLI sends the typed command it parsed; the agent runs it with the same
// executor the CLI would use without it, so both give one result. The CNI plugin's client sends its call
// whole, and the agent runs the plugin's code for it (the same code the plugin runs without an agent).
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { DEFAULT_PIN_ROOT, NETNS_PIN_BASE } from '../datapath/datapath.js';
import { commandFromJson, type Command } from '../command/types.js';

export const SOCKET_DIR = '/run/macvlan-bpf';
export const CONTROL_VERSION = 1;

/** A CNI call the plugin's client (native/cni/cni-client.c) hands over: its CNI_* and its stdin. */
export interface CniRequest {
  env: Record<string, string>;
  config: string;
}
export type ControlRequest = { v: number; command: Command; cni?: undefined } | { v: number; cni: CniRequest; command?: undefined };
export interface ControlResponse {
  code: number;
  stdout: string;
  stderr: string;
}

/** A request is one line of JSON; no command needs more than this. */
export const MAX_REQUEST = 1 << 20;

/** The socket of the agent serving pinRoot: agent.sock for the default instance, <pin dir>.sock else. */
export function socketPathFor(pinRoot: string): string {
  if (process.env.MACVLAN_BPF_SOCKET) return process.env.MACVLAN_BPF_SOCKET;
  // The default instance of another netns (NETNS_PIN_BASE/<cookie>): netns-<cookie>.sock.
  const name = pinRoot === DEFAULT_PIN_ROOT ? 'agent' : path.dirname(pinRoot) === NETNS_PIN_BASE ? `netns-${path.basename(pinRoot)}` : path.basename(pinRoot);
  return path.join(SOCKET_DIR, `${name}.sock`);
}

/** Listens on socketPath (a stale socket file is replaced: the caller holds the instance lock). */
export async function serveControl(socketPath: string, handle: (req: ControlRequest) => Promise<ControlResponse>): Promise<net.Server> {
  // A directory we make is root's alone (0700). One that exists is not ours to change: it is used as it
  // is, unless anyone may replace files in it (world-writable without the sticky bit), which would let
  // them put their own socket where the CLI looks for ours.
  const dir = path.dirname(socketPath);
  if (fs.mkdirSync(dir, { recursive: true, mode: 0o700 }) === undefined) {
    const st = fs.statSync(dir);
    if (st.mode & 0o002 && !(st.mode & 0o1000))
      throw new Error(`${dir}, where the control socket ${path.basename(socketPath)} would go, is writable by everyone: choose another place (MACVLAN_BPF_SOCKET) or make it 0755`);
  }
  if (fs.existsSync(socketPath)) fs.unlinkSync(socketPath);
  const server = net.createServer((conn) => {
    let buf = '';
    conn.setEncoding('utf8');
    let done = false;
    conn.on('data', (d: string) => {
      if (done) return;
      // Only the new chunk is searched (linear in the request), and a request has a size limit.
      const nl = d.indexOf('\n');
      if (nl < 0) {
        buf += d;
        if (buf.length > MAX_REQUEST) {
          done = true;
          conn.end(JSON.stringify({ code: 1, stdout: '', stderr: `Error: bad request: longer than ${MAX_REQUEST} bytes without a newline\n` }) + '\n');
        }
        return;
      }
      done = true;
      const line = buf + d.slice(0, nl);
      buf = '';
      let req: ControlRequest;
      try {
        const o = JSON.parse(line) as { v?: unknown; command?: unknown; cni?: unknown };
        if (o.v !== CONTROL_VERSION) throw new Error(`v must be ${CONTROL_VERSION} (this agent speaks version ${CONTROL_VERSION} of the control API)`);
        req = o.cni !== undefined ? { v: CONTROL_VERSION, cni: cniFromJson(o.cni) } : { v: CONTROL_VERSION, command: commandFromJson(o.command) };
      } catch (e) {
        conn.end(JSON.stringify({ code: 1, stdout: '', stderr: `Error: bad request: ${(e as Error).message}\n` }) + '\n');
        return;
      }
      handle(req).then(
        (res) => conn.end(JSON.stringify(res) + '\n'),
        (e) => conn.end(JSON.stringify({ code: 1, stdout: '', stderr: `Error: ${(e as Error).message}\n` }) + '\n'),
      );
    });
    conn.on('error', () => { /* the client went away */ });
  });
  // umask for the socket file itself: it must never be connectable by others, even for an instant.
  const old = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
  } finally {
    process.umask(old);
  }
  fs.chmodSync(socketPath, 0o600);
  return server;
}

function cniFromJson(x: unknown): CniRequest {
  const o = x as { env?: unknown; config?: unknown };
  if (typeof o !== 'object' || o === null || typeof o.config !== 'string' || typeof o.env !== 'object' || o.env === null)
    throw new Error('cni must be { env: { CNI_COMMAND, ... }, config: "<the network configuration>" }');
  const env = o.env as Record<string, unknown>;
  for (const [k, v] of Object.entries(env)) if (!/^CNI_[A-Z]+$/.test(k) || typeof v !== 'string') throw new Error(`cni.env: "${k}" is not a CNI_* string`);
  return { env: env as Record<string, string>, config: o.config };
}

/**
 * Sends one command to the agent. Returns null when no agent listens there (no socket, or a stale one):
 * the caller then acts directly.
 */
export function requestControl(socketPath: string, req: ControlRequest, timeoutMs = 600_000): Promise<ControlResponse | null> {
  if (!fs.existsSync(socketPath)) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const conn = net.connect(socketPath);
    let buf = '';
    let connected = false;
    conn.setEncoding('utf8');
    conn.setTimeout(timeoutMs, () => conn.destroy(new Error(`the agent at ${socketPath} did not answer within ${timeoutMs / 1000} s`)));
    conn.on('connect', () => {
      connected = true;
      conn.write(JSON.stringify(req) + '\n');
    });
    conn.on('data', (d: string) => (buf += d));
    conn.on('end', () => {
      if (buf === '') {
        reject(new Error(`the agent at ${socketPath} closed the connection without answering (did it stop? see its log); the command may or may not have been carried out: check with 'macvlan-bpf link show'`));
        return;
      }
      try {
        resolve(JSON.parse(buf) as ControlResponse);
      } catch {
        reject(new Error(`the agent at ${socketPath} sent a malformed answer`));
      }
    });
    conn.on('error', (e: NodeJS.ErrnoException) => {
      if (!connected && (e.code === 'ECONNREFUSED' || e.code === 'ENOENT')) resolve(null);
      else if (!connected && e.code === 'EACCES') reject(new Error(`cannot open the agent's socket ${socketPath}: permission denied (the control API is root-only; run as root)`));
      else reject(e);
    });
  });
}
