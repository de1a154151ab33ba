#!/usr/bin/env node
// macvlan-bpf: an `ip link`-like command for macvlan children on the eBPF datapath. With an agent
// running for the instance, link/port/apply commands are its to run; otherwise they run here.
import path from 'node:path';
import { AGENT_OBJECTS, objectOf, runCommand } from './commands.js';
import { requestControl, socketPathFor } from '../agent/control-socket.js';
import { pinRootFromEnv } from '../datapath/datapath.js';

async function main(argv: string[]): Promise<number> {
  const obj = objectOf(argv);
  if (obj && AGENT_OBJECTS.has(obj) && process.env.MACVLAN_BPF_NO_AGENT !== '1') {
    // A relative -f FILE means the caller's directory, not the agent's.
    const forwarded = argv.map((a, i) => (i > 0 && (argv[i - 1] === '-f' || argv[i - 1] === '--file') ? path.resolve(a) : a));
    try {
      const res = await requestControl(socketPathFor(pinRootFromEnv()), { argv: forwarded });
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
  return runCommand(argv);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(e instanceof Error ? e.stack : e);
    process.exit(1);
  },
);
