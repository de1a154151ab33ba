#!/usr/bin/env node
// macvlan-bpf: an `ip link`-like command for macvlan children on the eBPF datapath. argv is parsed into
// a typed command; with an agent running for the instance, the agent runs it, otherwise it runs here.
import { requestControl, socketPathFor } from '../agent/control-socket.js';
import { tryInstanceLock } from '../control/instance-lock.js';
import { execute, isRefusal } from '../command/execute.js';
import { processOutput } from '../command/output.js';
import type { Command } from '../command/types.js';
import { Macvlan } from '../control/macvlan.js';
import { pinRootFromEnv } from '../datapath/datapath.js';
import { UsageError } from './args.js';
import { parseArgv, type Invocation } from './parse.js';
import { USAGE } from './usage.js';

async function main(argv: string[]): Promise<number> {
  try {
    return await dispatch(parseArgv(argv));
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`Error: ${e.message}\n\n${USAGE}`);
      return 1;
    }
    if (isRefusal(e)) {
      console.error(`Error: ${e.message}`);
      return 2;
    }
    throw e;
  }
}

async function dispatch(inv: Invocation): Promise<number> {
  switch (inv.what) {
    case 'help':
      console.log(USAGE);
      return 0;
    case 'command':
      return runCommand(inv.command);
    case 'program':
      return runProgram(inv.program, inv.args, inv.json);
  }
}

async function runCommand(cmd: Command): Promise<number> {
  const viaAgent = process.env.MACVLAN_BPF_NO_AGENT !== '1';
  const pinRoot = pinRootFromEnv();
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
          process.stdout.write(res.stdout);
          process.stderr.write(res.stderr);
          return res.code;
        }
      } catch (e) {
        console.error(`Error: ${(e as Error).message}`);
        return 2;
      }
    }
    lock = needsLock ? await tryInstanceLock(pinRoot) : { close: () => undefined };
    if (lock) break;
    if (Date.now() > end) {
      console.error(`Error: the instance ${pinRoot} stayed busy for 60 s (another command is still running, or an agent is starting)`);
      return 2;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  try {
    // After reconciling the pinned state with the kernel (Macvlan.open).
    const m = Macvlan.open(pinRoot);
    for (const r of m.dp.reclaimed) console.error(`note: removed the stale instance ${r}`);
    try {
      const code = execute(m, cmd, processOutput);
      m.promoteHooks(); // no agent will: the hooks of children made in bulk become tcx links now
      return code;
    } finally {
      m.close();
    }
  } finally {
    lock.close();
  }
}

async function runProgram(program: 'stats' | 'agent' | 'lab' | 'bench' | 'tap', args: string[], json: boolean): Promise<number> {
  switch (program) {
    case 'stats': {
      const { statsCommand } = await import('./stats.js');
      return statsCommand(args, json);
    }
    case 'agent': {
      const { runAgent } = await import('../agent/agent.js');
      return runAgent(args);
    }
    case 'lab': {
      const { runLab } = await import('../lab/lab.js');
      return runLab({ keep: args.includes('--keep'), json });
    }
    case 'bench': {
      const { runBench } = await import('../bench/main.js');
      return runBench(args);
    }
    case 'tap': {
      const { tapCommand } = await import('./tap.js');
      return tapCommand(args, json);
    }
  }
}

/** Exits once everything written to stdout and stderr is out (a pipe takes its time): no output is cut. */
/**
 * Exits once everything written to stdout and stderr has left the process. A pipe is written
 * asynchronously: exiting while a slow reader has not taken it all cut the output (an empty write's
 * callback came back before the data queued ahead of it had gone), so this waits until neither stream
 * holds anything.
 */
function exitAfterFlush(code: number): void {
  process.exitCode = code;
  const wait = () => (process.stdout.writableLength > 0 || process.stderr.writableLength > 0 ? setTimeout(wait, 5) : process.exit(code));
  wait();
}

main(process.argv.slice(2)).then(exitAfterFlush, (e) => {
  console.error(e instanceof Error ? e.stack : e);
  exitAfterFlush(1);
});
