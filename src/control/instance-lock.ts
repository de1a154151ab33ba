// Mutual exclusion for an instance's mutating commands: an abstract unix socket named after the pin
// root, which only one process in a network namespace can hold and the kernel releases when that
// process dies (no stale lock file). The agent holds it for its whole life (it runs every command
// itself); a command acting without an agent holds it while it runs, so parallel commands take turns
// instead of losing each other's writes.
import net from 'node:net';

export class InstanceLockError extends Error {}

const nameOf = (pinRoot: string) => `\0macvlan-bpf-instance:${pinRoot}`;

/** Tries once: the held lock, or null when another process holds it. */
export function tryInstanceLock(pinRoot: string): Promise<net.Server | null> {
  const server = net.createServer();
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? resolve(null) : reject(e)));
    server.listen(nameOf(pinRoot), () => {
      server.unref();
      resolve(server);
    });
  });
}

/** Waits for the lock (polling every 20 ms) up to timeoutMs; `holder` names who may hold it, for the error. */
export async function acquireInstanceLock(pinRoot: string, timeoutMs: number, holder: string): Promise<net.Server> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await tryInstanceLock(pinRoot);
    if (s) return s;
    if (Date.now() > end) throw new InstanceLockError(`the instance ${pinRoot} stayed busy for ${timeoutMs / 1000} s (${holder})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
