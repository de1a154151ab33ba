// Preloaded (node --require) into a macvlan-bpf process under test: any attempt to start a process is
// written to $MVB_SPAWN_LOG and fails. syncBuiltinESMExports() makes ES-module imports of
// node:child_process see the same guarded functions.
'use strict';
const fs = require('node:fs');
const cp = require('node:child_process');
const { syncBuiltinESMExports } = require('node:module');

for (const name of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork']) {
  cp[name] = function forbidden(cmd, args) {
    const line = `${process.pid} ${name} ${cmd} ${Array.isArray(args) ? args.join(' ') : ''}\n`;
    if (process.env.MVB_SPAWN_LOG) fs.appendFileSync(process.env.MVB_SPAWN_LOG, line);
    throw new Error(`macvlan-bpf must not spawn processes here: ${line.trim()}`);
  };
}
syncBuiltinESMExports();
