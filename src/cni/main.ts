#!/usr/bin/env node
// macvlan-bpf-cni: the CNI plugin (spec 1.1: ADD, DEL, CHECK, STATUS, GC, VERSION), a drop-in for the
// reference macvlan plugin's configuration. The configuration on stdin, CNI_* in the environment; the
// result or a CNI error as JSON on stdout, exit status 0 or 1.
import fs from 'node:fs';
import { parseNetConf, readEnv, type NetConf } from './conf.js';
import { CniError, CNI_CODES } from './errors.js';
import { add, check, del, gc, status, version } from './plugin.js';

async function main(): Promise<number> {
  let conf: NetConf | undefined;
  try {
    const env = readEnv(process.env);
    const stdin = fs.readFileSync(0, 'utf8');
    if (env.command === 'VERSION') {
      try {
        conf = parseNetConf(stdin || '{}', env);
      } catch { /* VERSION needs no valid configuration */ }
      print(version(conf));
      return 0;
    }
    conf = parseNetConf(stdin, env);
    switch (env.command) {
      case 'ADD':
        print(await add(conf, env));
        return 0;
      case 'DEL':
        await del(conf, env);
        return 0;
      case 'CHECK':
        await check(conf, env);
        return 0;
      case 'STATUS':
        status(conf);
        return 0;
      case 'GC':
        await gc(conf);
        return 0;
    }
  } catch (e) {
    const err = e instanceof CniError ? e : new CniError(CNI_CODES.internal, (e as Error).message);
    print(err.toJson(conf?.cniVersion ?? '1.1.0'));
    return 1;
  }
  return 0;
}

function print(o: object): void {
  process.stdout.write(JSON.stringify(o, null, 4) + '\n');
}

main().then((code) => {
  process.exitCode = code;
});
