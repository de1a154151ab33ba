// The network configuration on stdin and the CNI_* environment: the reference macvlan plugin's keys
// (master, mode, mtu, mac, linkInContainer, ipam, dns, runtimeConfig.mac, CNI_ARGS MAC=) and ours
// (isolation, kind). A MAC comes from runtimeConfig, else CNI_ARGS, else the configuration, as there.
import { CniError, CNI_CODES } from './errors.js';
import { KIND_CHOICES, type KindChoice } from '../control/validate.js';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type Verb = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'STATUS' | 'GC';
const VERBS: readonly Verb[] = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'];

export interface CniEnv {
  command: Verb;
  containerId: string;
  netns: string;
  ifname: string;
  args: string;
  path: string[];
}

export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  master?: string;
  mode: 'bridge' | 'private' | 'vepa' | 'passthru';
  mtu: number;
  mac?: string;
  linkInContainer: boolean;
  ipam: { type?: string } & Record<string, unknown>;
  dns?: unknown;
  isolation?: 'strict' | 'kernel';
  /** The child's device (ours): veth, netkit or auto, as `link add … kind`. */
  kind?: KindChoice;
  prevResult?: unknown;
  /** GC: the attachments the runtime still has. */
  validAttachments?: { containerID: string; ifname: string }[];
  /** The whole configuration as given (IPAM plugins get it unchanged). */
  raw: string;
}

export function readEnv(env: NodeJS.ProcessEnv): CniEnv {
  const command = env.CNI_COMMAND ?? '';
  if (!(VERBS as readonly string[]).includes(command))
    throw new CniError(CNI_CODES.invalidEnv, `CNI_COMMAND is ${command ? `"${command}"` : 'not set'}: it must be one of ${VERBS.join(', ')}`);
  const e: CniEnv = {
    command: command as Verb,
    containerId: env.CNI_CONTAINERID ?? '',
    netns: env.CNI_NETNS ?? '',
    ifname: env.CNI_IFNAME ?? '',
    args: env.CNI_ARGS ?? '',
    path: (env.CNI_PATH ?? '').split(':').filter(Boolean),
  };
  const need: Record<Verb, (keyof CniEnv)[]> = { ADD: ['containerId', 'netns', 'ifname', 'path'], CHECK: ['containerId', 'netns', 'ifname', 'path'], DEL: ['containerId', 'ifname'], VERSION: [], STATUS: [], GC: [] };
  const names: Record<string, string> = { containerId: 'CNI_CONTAINERID', netns: 'CNI_NETNS', ifname: 'CNI_IFNAME', path: 'CNI_PATH' };
  for (const k of need[e.command]) {
    const v = e[k];
    if (Array.isArray(v) ? v.length === 0 : !v) throw new CniError(CNI_CODES.invalidEnv, `${names[k]} is required for ${e.command}`);
  }
  return e;
}

/** CNI_ARGS: "K=V;K2=V2" (IgnoreUnknown and the rest are not ours to refuse). */
export function cniArgs(s: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const kv of s.split(';').filter(Boolean)) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new CniError(CNI_CODES.invalidEnv, `CNI_ARGS: "${kv}" is not KEY=VALUE`);
    out.set(kv.slice(0, i), kv.slice(i + 1));
  }
  return out;
}

export function parseNetConf(text: string, env: CniEnv): NetConf {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new CniError(CNI_CODES.decode, `failed to load netconf: ${(e as Error).message}`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new CniError(CNI_CODES.decode, 'failed to load netconf: not a JSON object');
  const str = (k: string): string | undefined => {
    const v = o[k];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') throw new CniError(CNI_CODES.invalidConfig, `"${k}" must be a string`);
    return v;
  };
  const cniVersion = str('cniVersion') ?? '0.1.0';
  const mode = str('mode') ?? 'bridge';
  if (!['bridge', 'private', 'vepa', 'passthru'].includes(mode)) throw new CniError(CNI_CODES.invalidConfig, `unknown macvlan mode: "${mode}" (use bridge, private, vepa or passthru)`);
  const mtu = o.mtu ?? 0;
  if (typeof mtu !== 'number' || !Number.isInteger(mtu)) throw new CniError(CNI_CODES.invalidConfig, `"mtu" must be an integer, not ${JSON.stringify(mtu)}`);
  const isolation = str('isolation');
  if (isolation !== undefined && isolation !== 'strict' && isolation !== 'kernel') throw new CniError(CNI_CODES.invalidConfig, `"isolation" is "${isolation}": use strict or kernel`);
  const kind = str('kind');
  if (kind === 'macvtap') throw new CniError(CNI_CODES.invalidConfig, '"kind": "macvtap" cannot serve a pod: a macvtap child\'s tap lives beside its parent in the host network namespace (a VM on the node reads it: macvlan-bpf link add … type macvtap); use veth, netkit or auto');
  if (kind !== undefined && !(KIND_CHOICES as readonly string[]).includes(kind)) throw new CniError(CNI_CODES.invalidConfig, `"kind" is "${kind}": use veth, netkit (Linux 6.7+) or auto`);
  const ipam = (o.ipam ?? {}) as NetConf['ipam'];
  if (typeof ipam !== 'object' || ipam === null) throw new CniError(CNI_CODES.invalidConfig, '"ipam" must be an object ({} for an interface without addresses)');
  const rc = (o.runtimeConfig ?? {}) as { mac?: unknown };
  let mac = str('mac');
  const fromArgs = cniArgs(env.args).get('MAC');
  if (fromArgs) mac = fromArgs;
  if (typeof rc.mac === 'string' && rc.mac) mac = rc.mac;
  const attachments = o['cni.dev/valid-attachments'] ?? o['cni.dev/attachments'];
  return {
    cniVersion,
    name: str('name') ?? '',
    type: str('type') ?? '',
    master: str('master'),
    mode: mode as NetConf['mode'],
    mtu,
    mac,
    linkInContainer: o.linkInContainer === true,
    ipam,
    dns: o.dns,
    ...(isolation ? { isolation: isolation as 'strict' | 'kernel' } : {}),
    ...(kind ? { kind: kind as KindChoice } : {}),
    ...(o.prevResult !== undefined ? { prevResult: o.prevResult } : {}),
    ...(Array.isArray(attachments) ? { validAttachments: attachments as NetConf['validAttachments'] } : {}),
    raw: text,
  };
}
