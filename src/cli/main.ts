#!/usr/bin/env node
// macvlan-bpf: an `ip link`-like command for macvlan children on the eBPF datapath. argv is parsed into
// a typed command; with an agent running for the instance, the agent runs it, otherwise it runs here.
import { isRefusal } from '../command/execute.js';
import { processOutput } from '../command/output.js';
import { runCommand } from '../command/run.js';
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
      return runCommand(inv.command, processOutput);
    case 'program':
      return runProgram(inv.program, inv.args, inv.json);
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

// A reader that goes away (`| head`) ends the command as SIGPIPE ends ip's: quietly, with status 141
// (128 + SIGPIPE, what a shell reports for ip), not with a stack trace of the failed write. Node
// ignores SIGPIPE, so the write fails with EPIPE instead.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit(141);
});

main(process.argv.slice(2)).then(exitAfterFlush, (e) => {
  console.error(e instanceof Error ? e.stack : e);
  exitAfterFlush(1);
});
