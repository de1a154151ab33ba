// Runs one command on an instance the way every front end must: by the agent when one serves the
// instance (it holds the instance and runs every command itself), otherwise here, after reconciling,
// holding the instance's lock so parallel commands take turns. The CLI and the CNI plugin use it.
import { requestControl, socketPathFor } from '../agent/control-socket.js';
import { tryInstanceLock } from '../control/instance-lock.js';
import { Macvlan } from '../control/macvlan.js';
import { pinRootFromEnv } from '../datapath/datapath.js';
import { execute } from './execute.js';
import type { Output } from './output.js';
import type { Command } from './types.js';

/** Returns the exit status: 0, or 2 for a refusal (its message already on out.err). */
export async function runCommand(cmd: Command, out: Output, pinRoot = pinRootFromEnv()): Promise<number> {
  const viaAgent = process.env.MACVLAN_BPF_NO_AGENT !== '1';
  // The agent, if one serves the instance; else this process acts, holding the instance's lock so that
  // parallel commands take turns. Both are asked again while the lock is busy (an agent may be starting).
  const end = Date.now() + 60_000;
  // MACVLAN_BPF_NO_AGENT=1 acts directly even beside an agent (documented as such): no lock then. Nor
  // do read-only commands wait for one.
  const mutates = cmd.kind !== 'link-show' && cmd.kind !== 'port-show';
  const needsLock = viaAgent && mutates;
  let lock: { close(): void } | null = null;
  while (!lock) {
    if (viaAgent) {
      try {
        const res = await requestControl(socketPathFor(pinRoot), { v: 1, command: cmd });
        if (res) {
          for (const l of res.stdout.split('\n').slice(0, -1)) out.out(l);
          for (const l of res.stderr.split('\n').slice(0, -1)) out.err(l);
          return res.code;
        }
      } catch (e) {
        out.err(`Error: ${(e as Error).message}`);
        return 2;
      }
    }
    lock = needsLock ? await tryInstanceLock(pinRoot) : { close: () => undefined };
    if (lock) break;
    if (Date.now() > end) {
      out.err(`Error: the instance ${pinRoot} stayed busy for 60 s (another command is still running, or an agent is starting)`);
      return 2;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  try {
    // After reconciling the pinned state with the kernel (Macvlan.open).
    const m = Macvlan.open(pinRoot);
    for (const r of m.dp.reclaimed) out.err(`note: removed the stale instance ${r}`);
    try {
      const code = execute(m, cmd, out);
      m.promoteHooks(); // no agent will: the hooks of children made in bulk become tcx links now
      return code;
    } finally {
      m.close();
    }
  } finally {
    lock.close();
  }
}
