// The verbs. A pod's interface is a macvlan-bpf child named CNI_IFNAME in the pod's netns, made through
// the agent when one runs (the plugin lives for one call), directly otherwise (command/run.ts); its
// addresses and routes come from the IPAM plugin and are set over rtnetlink inside the netns, as the
// reference macvlan plugin does. Attachments are recorded (containerID, ifname → netns) so GC knows
// which children are the runtime's no more.
import fs from 'node:fs';
import path from 'node:path';
import { CollectedOutput } from '../command/output.js';
import { runCommand } from '../command/run.js';
import type { Command } from '../command/types.js';
import { inNetns } from '../native.js';
import { Rtnl } from '../net/rtnetlink.js';
import { addAddress, addRoute, addresses, parseCidr, routes } from '../net/ipconfig.js';
import { SUPPORTED_VERSIONS, parseNetConf, readEnv, type CniEnv, type NetConf } from './conf.js';
import { CniError, CNI_CODES } from './errors.js';
import { execIpam, execIpamAsync } from './ipam.js';
import { checkVersion, fromIpam, printable, type Result } from './result.js';

/**
 * Where ADD records an attachment (GC's memory), per network: <dir>/<network>/<containerID>_<ifname>
 * ($MACVLAN_BPF_CNI_STATE of the process that runs the plugin: the agent's, when it does).
 */
export function attachmentsDir(): string {
  return process.env.MACVLAN_BPF_CNI_STATE ?? '/run/macvlan-bpf/cni';
}

/**
 * How the plugin runs a control-plane command: through the agent or directly (command/run.ts) when it
 * runs as its own process; on the agent's own instance when the agent runs the plugin for a client.
 */
export type Executor = (cmd: Command, out: CollectedOutput) => Promise<number>;
export const standalone: Executor = (cmd, out) => runCommand(cmd, out);

/** Runs one control-plane command; a refusal becomes a CNI error carrying its message. */
async function command(exec: Executor, cmd: Command, code: number = CNI_CODES.internal): Promise<string[]> {
  const out = new CollectedOutput();
  const rc = await exec(cmd, out);
  if (rc !== 0) throw new CniError(code, out.stderr.join('').replace(/^Error: /, '').trim() || `${cmd.kind} failed (exit ${rc})`);
  return out.stdout;
}

/** The named netns a CNI_NETNS path is (containerd and CRI-O make them under /var/run/netns). */
function netnsName(p: string): string {
  const named = /^\/(?:var\/)?run\/netns\/([^/]+)$/;
  const m = named.exec(fs.existsSync(p) ? fs.realpathSync(p) : p) ?? named.exec(p);
  if (!m) throw new CniError(CNI_CODES.invalidEnv, `CNI_NETNS ${p} is not a named network namespace: macvlan-bpf needs one under /run/netns (or /var/run/netns), as containerd and CRI-O make them`);
  return m[1]!;
}

/** The interface of the default route in this netns (the reference plugin's default master). */
function defaultRouteInterface(): string {
  return Rtnl.once('', (r) => {
    const d = routes(r).find((x) => x.dst.prefix === 0 && x.ifindex);
    const name = d ? r.link(d.ifindex)?.ifname : undefined;
    if (!name) throw new CniError(CNI_CODES.invalidConfig, 'no default route interface found: give "master"');
    return name;
  });
}

function masterOf(conf: NetConf): { name: string; mtu: number } {
  if (conf.linkInContainer) throw new CniError(CNI_CODES.unsupportedField, '"linkInContainer" is not supported: macvlan-bpf children hang off a parent in the host network namespace');
  const name = conf.master ?? defaultRouteInterface();
  const link = Rtnl.once('', (r) => r.link(name));
  if (!link) throw new CniError(CNI_CODES.invalidConfig, `failed to lookup master "${name}": no such interface in the host network namespace`);
  if (conf.mtu < 0 || conf.mtu > link.mtu) throw new CniError(CNI_CODES.invalidConfig, `invalid MTU ${conf.mtu}, must be [0, master MTU(${link.mtu})]`);
  return { name, mtu: link.mtu };
}

function recordFile(conf: NetConf, env: CniEnv): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '_');
  return path.join(attachmentsDir(), safe(conf.name || 'unnamed'), `${safe(env.containerId)}_${safe(env.ifname)}`);
}

/** Addresses, link up, routes: ipam.ConfigureIface's steps (and arp_notify/ndisc_notify, as the plugin sets them). */
function configure(nsPath: string, ifname: string, r: Result): void {
  Rtnl.once(nsPath, (rt) => {
    const link = rt.link(ifname);
    if (!link) throw new CniError(CNI_CODES.internal, `failed to find interface ${ifname} in ${nsPath}`);
    inNetns(nsPath, () => {
      for (const [k, v] of [[`ipv4/conf/${ifname}/arp_notify`, '1'], [`ipv6/conf/${ifname}/ndisc_notify`, '1']] as const) {
        try {
          fs.writeFileSync(`/proc/sys/net/${k}`, v);
        } catch { /* IPv6 off in the pod: nothing to notify */ }
      }
    });
    for (const ip of r.ips) addAddress(rt, link.ifindex, parseCidr(ip.address));
    rt.setUp(link.ifindex, true);
    for (const route of r.routes) {
      const dst = parseCidr(route.dst);
      const v6 = dst.ip.includes(':');
      const gw = route.gw ?? r.ips.find((ip) => ip.gateway && ip.address.includes(':') === v6)?.gateway;
      addRoute(rt, { dst, ...(gw ? { gw } : {}), ifindex: link.ifindex });
    }
  });
}

export async function add(conf: NetConf, env: CniEnv, exec: Executor = standalone): Promise<object> {
  checkVersion(conf.cniVersion);
  const ns = netnsName(env.netns);
  const master = masterOf(conf);
  // The IPAM plugin runs while the child is made (the two do not depend on each other): an ADD waits
  // for the longer of them, not their sum. Whatever fails after it allocated gives the address back.
  const ipamRun = conf.ipam.type ? execIpamAsync('ADD', conf, env) : undefined;
  ipamRun?.catch(() => undefined); // awaited below; a refusal before that must not go unhandled
  const releaseIpam = async () => {
    if (!ipamRun) return;
    try {
      await ipamRun;
      execIpam('DEL', conf, env);
    } catch { /* it allocated nothing, or the first error is the one to report */ }
  };
  try {
    if (conf.isolation) await command(exec, { kind: 'port-set', parent: master.name, isolation: conf.isolation }, CNI_CODES.invalidConfig);
    await command(exec, { kind: 'link-add', parent: master.name, name: env.ifname, netns: ns, mode: conf.mode, ...(conf.mac ? { address: conf.mac } : {}), ...(conf.mtu ? { mtu: conf.mtu } : {}), ...(conf.kind ? { childKind: conf.kind } : {}) }, CNI_CODES.invalidConfig);
  } catch (e) {
    await releaseIpam();
    throw e;
  }
  try {
    const mac = Rtnl.once(env.netns, (r) => r.link(env.ifname)?.address ?? '');
    const result: Result = { interfaces: [{ name: env.ifname, mac, sandbox: env.netns }], ips: [], routes: [], dns: conf.dns };
    if (ipamRun) {
      const ipam = fromIpam(await ipamRun);
      if (ipam.ips.length === 0) throw new CniError(CNI_CODES.internal, 'IPAM plugin returned missing IP config');
      result.ips = ipam.ips.map((ip) => ({ ...ip, interface: 0 }));
      result.routes = ipam.routes;
    }
    await command(exec, { kind: 'link-set', dev: env.ifname, netns: ns, up: true });
    if (ipamRun) configure(env.netns, env.ifname, result);
    const file = recordFile(conf, env);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify({ netns: env.netns, ifname: env.ifname, containerID: env.containerId }));
    return printable(result, conf.cniVersion);
  } catch (e) {
    await releaseIpam();
    await command(exec, { kind: 'link-del', dev: env.ifname, netns: ns }).catch(() => undefined);
    throw e;
  }
}

/** Idempotent: a second DEL, or one after the netns is gone, succeeds. */
export async function del(conf: NetConf, env: CniEnv, exec: Executor = standalone): Promise<void> {
  if (conf.ipam.type) execIpam('DEL', conf, env);
  fs.rmSync(recordFile(conf, env), { force: true });
  if (!env.netns || !fs.existsSync(env.netns)) return; // the child went with its netns (reconcile purges it)
  let ns: string;
  try {
    ns = netnsName(env.netns);
  } catch {
    return;
  }
  const out = new CollectedOutput();
  const rc = await exec({ kind: 'link-del', dev: env.ifname, netns: ns }, out);
  const msg = out.stderr.join('');
  if (rc !== 0 && !/Cannot find device/.test(msg)) throw new CniError(CNI_CODES.internal, msg.replace(/^Error: /, '').trim());
}

export async function check(conf: NetConf, env: CniEnv, exec: Executor = standalone): Promise<void> {
  checkVersion(conf.cniVersion);
  const master = masterOf(conf);
  if (conf.ipam.type) execIpam('CHECK', conf, env);
  if (conf.prevResult === undefined) throw new CniError(CNI_CODES.invalidConfig, 'required prevResult missing');
  const prev = conf.prevResult as Result;
  const intf = (prev.interfaces ?? []).find((i) => i.name === env.ifname && i.sandbox === env.netns);
  if (!intf) throw new CniError(CNI_CODES.internal, `sandbox in prevResult doesn't match configured netns: ${env.netns}`);
  const ns = netnsName(env.netns);
  const shown = JSON.parse((await command(exec, { kind: 'link-show', dev: env.ifname, netns: ns, json: true })).join('')) as { address: string; link: string; linkinfo: { info_data: { mode: string } } }[];
  const c = shown[0];
  if (!c) throw new CniError(CNI_CODES.internal, `container Interface name in prevResult: ${env.ifname} not found`);
  if (c.link !== master.name) throw new CniError(CNI_CODES.internal, `container interface ${env.ifname} hangs off ${c.link}, not the master ${master.name}`);
  if (c.linkinfo.info_data.mode !== conf.mode) throw new CniError(CNI_CODES.internal, `container macvlan mode ${c.linkinfo.info_data.mode} does not match expected value: ${conf.mode}`);
  if (intf.mac && intf.mac !== c.address) throw new CniError(CNI_CODES.internal, `interface ${env.ifname} Mac ${intf.mac} doesn't match container Mac: ${c.address}`);
  Rtnl.once(env.netns, (rt) => {
    const link = rt.link(env.ifname)!;
    const have = addresses(rt, link.ifindex).map((a) => `${a.ip}/${a.prefix}`);
    for (const ip of prev.ips ?? []) {
      const want = parseCidr(ip.address);
      if (!have.includes(`${want.ip}/${want.prefix}`)) throw new CniError(CNI_CODES.internal, `Failed to match addr ${ip.address} on interface ${env.ifname}`);
    }
    const rs = routes(rt);
    for (const route of prev.routes ?? []) {
      const dst = parseCidr(route.dst);
      if (!rs.some((x) => x.dst.prefix === dst.prefix && x.ifindex === link.ifindex && (dst.prefix === 0 || x.dst.ip === dst.ip)))
        throw new CniError(CNI_CODES.internal, `Failed to match route ${route.dst} on interface ${env.ifname}`);
    }
  });
}

/** Ready when the instance can be reached or made: bpffs is there, and the master, if named, exists. */
export function status(conf: NetConf): void {
  checkVersion(conf.cniVersion);
  if (!fs.existsSync('/sys/fs/bpf')) throw new CniError(CNI_CODES.notAvailable, 'bpffs is not mounted at /sys/fs/bpf: macvlan-bpf cannot load its datapath');
  if (conf.master && !Rtnl.once('', (r) => r.link(conf.master!))) throw new CniError(CNI_CODES.notAvailable, `the master ${conf.master} does not exist (yet)`);
}

/** Removes the children of attachments the runtime no longer lists (recorded by ADD). */
export async function gc(conf: NetConf, exec: Executor = standalone): Promise<void> {
  checkVersion(conf.cniVersion);
  const valid = new Set((conf.validAttachments ?? []).map((a) => `${a.containerID}\0${a.ifname}`));
  const dir = path.join(attachmentsDir(), (conf.name || 'unnamed').replace(/[^A-Za-z0-9_.-]/g, '_'));
  if (!fs.existsSync(dir)) return;
  for (const f of fs.readdirSync(dir)) {
    const rec = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as { netns: string; ifname: string; containerID: string };
    if (valid.has(`${rec.containerID}\0${rec.ifname}`)) continue;
    await del({ ...conf, ipam: {} }, { command: 'DEL', containerId: rec.containerID, netns: rec.netns, ifname: rec.ifname, args: '', path: [] }, exec);
  }
}

export function version(conf: NetConf | undefined): object {
  return { cniVersion: conf?.cniVersion && (SUPPORTED_VERSIONS as readonly string[]).includes(conf.cniVersion) ? conf.cniVersion : '1.1.0', supportedVersions: SUPPORTED_VERSIONS };
}


/** Runs one CNI call: the verb's result JSON (or nothing), or a CniError. */
export async function runVerb(env: CniEnv, stdin: string, exec: Executor = standalone): Promise<object | undefined> {
  if (env.command === 'VERSION') {
    let conf: NetConf | undefined;
    try {
      conf = parseNetConf(stdin || '{}', env);
    } catch { /* VERSION needs no valid configuration */ }
    return version(conf);
  }
  const conf = parseNetConf(stdin, env);
  switch (env.command) {
    case 'ADD':
      return add(conf, env, exec);
    case 'DEL':
      return void (await del(conf, env, exec));
    case 'CHECK':
      return void (await check(conf, env, exec));
    case 'STATUS':
      return void status(conf);
    case 'GC':
      return void (await gc(conf, exec));
  }
}

/** The CNI call's output: the result, or the error as the spec prints it; and the exit status. */
export async function cniCall(env: NodeJS.ProcessEnv | Record<string, string>, stdin: string, exec: Executor = standalone): Promise<{ code: number; stdout: string }> {
  let cniVersion = '1.1.0';
  try {
    try {
      const v = (JSON.parse(stdin || '{}') as { cniVersion?: unknown }).cniVersion;
      if (typeof v === 'string') cniVersion = v;
    } catch { /* parseNetConf says what is wrong */ }
    const out = await runVerb(readEnv(env), stdin, exec);
    return { code: 0, stdout: out ? JSON.stringify(out, null, 4) + '\n' : '' };
  } catch (e) {
    const err = e instanceof CniError ? e : new CniError(CNI_CODES.internal, (e as Error).message);
    return { code: 1, stdout: JSON.stringify(err.toJson(cniVersion), null, 4) + '\n' };
  }
}
