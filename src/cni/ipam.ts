// IPAM is delegated, as in every reference plugin: the plugin named by ipam.type, found on CNI_PATH, is
// run with the same environment and configuration, and its result (or error) taken as it is.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CniError, CNI_CODES } from './errors.js';
import type { CniEnv, NetConf } from './conf.js';

export function execIpam(verb: 'ADD' | 'DEL' | 'CHECK', conf: NetConf, env: CniEnv): unknown {
  const type = conf.ipam.type!;
  if (type.includes('/')) throw new CniError(CNI_CODES.invalidConfig, `ipam type "${type}" must be a plugin name, not a path`);
  const file = env.path.map((d) => path.join(d, type)).find((f) => fs.existsSync(f));
  if (!file) throw new CniError(CNI_CODES.invalidConfig, `failed to find plugin "${type}" in path [${env.path.join(' ')}]`);
  // The call's own CNI_* (in the agent, process.env is the agent's), the rest of this process's.
  const cniEnv = { CNI_COMMAND: verb, CNI_CONTAINERID: env.containerId, CNI_NETNS: env.netns, CNI_IFNAME: env.ifname, CNI_ARGS: env.args, CNI_PATH: env.path.join(':') };
  const r = spawnSync(file, [], { input: conf.raw, encoding: 'utf8', env: { ...process.env, ...cniEnv }, timeout: 60_000 });
  if (r.error) throw new CniError(CNI_CODES.io, `running IPAM plugin ${type}: ${r.error.message}`);
  let out: unknown;
  try {
    out = r.stdout.trim() ? JSON.parse(r.stdout) : {};
  } catch {
    throw new CniError(CNI_CODES.decode, `IPAM plugin ${type} printed no JSON: ${r.stdout.slice(0, 200)}${r.stderr ? ` (stderr: ${r.stderr.slice(0, 200)})` : ''}`);
  }
  if (r.status !== 0) {
    const e = out as { code?: number; msg?: string; details?: string };
    throw new CniError(e.code ?? CNI_CODES.internal, e.msg ?? `IPAM plugin ${type} exited with ${r.status}`, e.details ?? '');
  }
  return out;
}
