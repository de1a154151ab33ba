// IPAM is delegated, as in every reference plugin: the plugin named by ipam.type, found on CNI_PATH, is
// run with the same environment and configuration, and its result (or error) taken as it is.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CniError, CNI_CODES } from './errors.js';
import type { CniEnv, NetConf } from './conf.js';

/** The plugin file for ipam.type on CNI_PATH, and the environment it runs with. */
function ipamCall(verb: 'ADD' | 'DEL' | 'CHECK', conf: NetConf, env: CniEnv): { type: string; file: string; cniEnv: NodeJS.ProcessEnv } {
  const type = conf.ipam.type!;
  if (type.includes('/')) throw new CniError(CNI_CODES.invalidConfig, `ipam type "${type}" must be a plugin name, not a path`);
  const file = env.path.map((d) => path.join(d, type)).find((f) => fs.existsSync(f));
  if (!file) throw new CniError(CNI_CODES.invalidConfig, `failed to find plugin "${type}" in path [${env.path.join(' ')}]`);
  // The call's own CNI_* (in the agent, process.env is the agent's), the rest of this process's.
  const cniEnv = { ...process.env, CNI_COMMAND: verb, CNI_CONTAINERID: env.containerId, CNI_NETNS: env.netns, CNI_IFNAME: env.ifname, CNI_ARGS: env.args, CNI_PATH: env.path.join(':') };
  return { type, file, cniEnv };
}

/** Its result, or its error as a CniError. */
function outcome(type: string, status: number | null, stdout: string, stderr: string): unknown {
  let out: unknown;
  try {
    out = stdout.trim() ? JSON.parse(stdout) : {};
  } catch {
    throw new CniError(CNI_CODES.decode, `IPAM plugin ${type} printed no JSON: ${stdout.slice(0, 200)}${stderr ? ` (stderr: ${stderr.slice(0, 200)})` : ''}`);
  }
  if (status !== 0) {
    const e = out as { code?: number; msg?: string; details?: string };
    throw new CniError(e.code ?? CNI_CODES.internal, e.msg ?? `IPAM plugin ${type} exited with ${status}`, e.details ?? '');
  }
  return out;
}

export function execIpam(verb: 'ADD' | 'DEL' | 'CHECK', conf: NetConf, env: CniEnv): unknown {
  const { type, file, cniEnv } = ipamCall(verb, conf, env);
  const r = spawnSync(file, [], { input: conf.raw, encoding: 'utf8', env: cniEnv, timeout: 60_000 });
  if (r.error) throw new CniError(CNI_CODES.io, `running IPAM plugin ${type}: ${r.error.message}`);
  return outcome(type, r.status, r.stdout, r.stderr);
}

/** The same, without waiting: the caller does something else meanwhile (makes the child). */
export function execIpamAsync(verb: 'ADD' | 'DEL' | 'CHECK', conf: NetConf, env: CniEnv): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const { type, file, cniEnv } = ipamCall(verb, conf, env);
    const p = spawn(file, [], { env: cniEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('error', (e) => reject(new CniError(CNI_CODES.io, `running IPAM plugin ${type}: ${e.message}`)));
    p.on('close', (status) => {
      try {
        resolve(outcome(type, status, stdout, stderr));
      } catch (e) {
        reject(e);
      }
    });
    p.stdin.on('error', () => undefined); // a plugin that exits without reading: its status says why
    p.stdin.end(conf.raw);
  });
}
