// Runs a typed command against an instance and writes what it has to say to an Output. The CLI (without
// an agent) and the agent (for a client) both run commands here, so both give one result. Refusals
// (ConfigError, DatapathError, a kernel error) are reported as "Error: ..." with exit status 2.
import { applyConfig, loadConfigFile } from '../control/config.js';
import { ConfigError } from '../control/errors.js';
import type { ChildView, Macvlan } from '../control/macvlan.js';
import { DatapathError } from '../datapath/datapath.js';
import { HookError } from '../datapath/hooks.js';
import { isSystemError } from '../native.js';
import type { Output } from './output.js';
import type { Command } from './types.js';

/** Exit status of a refused command (1 is bad syntax, which the CLI's parser reports). */
export const EXIT_REFUSED = 2;

export function isRefusal(e: unknown): e is Error {
  return e instanceof ConfigError || e instanceof DatapathError || e instanceof HookError || isSystemError(e);
}

export function execute(m: Macvlan, cmd: Command, out: Output): number {
  try {
    run(m, cmd, out);
    return 0;
  } catch (e) {
    if (!isRefusal(e)) throw e;
    out.err(`Error: ${e.message}`);
    return EXIT_REFUSED;
  }
}

function run(m: Macvlan, cmd: Command, out: Output): void {
  switch (cmd.kind) {
    case 'link-add':
      m.add({ parent: cmd.parent, name: cmd.name, mode: cmd.mode, address: cmd.address, mtu: cmd.mtu, netns: cmd.netns, spoofchk: cmd.spoofchk, bcqueuelen: cmd.bcqueuelen, bcCutoff: cmd.bcCutoff, nodst: cmd.nodst, macaddr: cmd.macaddr, childKind: cmd.childKind,
        type: cmd.type, owner: cmd.owner, group: cmd.group, queues: cmd.queues });
      return;
    case 'link-set': {
      m.findChild(cmd.dev, cmd.netns); // a bad name fails before anything changes
      // In ip's order, whatever order they were given in: down first, then mode, address, mtu, then up.
      if (cmd.up === false) m.setUp(cmd.dev, false, cmd.netns);
      if (cmd.mode !== undefined) m.setMode(cmd.dev, cmd.mode, cmd.netns);
      if (cmd.macaddr !== undefined) m.setMacaddr(cmd.dev, cmd.macaddr, cmd.netns);
      if (cmd.nodst !== undefined) m.setNodst(cmd.dev, cmd.nodst, cmd.netns);
      if (cmd.address !== undefined) m.setAddress(cmd.dev, cmd.address, cmd.netns);
      if (cmd.mtu !== undefined) m.setMtu(cmd.dev, cmd.mtu, cmd.netns);
      if (cmd.spoofchk !== undefined) m.setSpoofchk(cmd.dev, cmd.spoofchk, cmd.netns);
      if (cmd.bcqueuelen !== undefined) m.setBcQueueLen(cmd.dev, cmd.bcqueuelen, cmd.netns);
      if (cmd.bcCutoff !== undefined) m.setBcCutoff(cmd.dev, cmd.bcCutoff, cmd.netns);
      if (cmd.up === true) m.setUp(cmd.dev, true, cmd.netns);
      return;
    }
    case 'link-del':
      m.del(cmd.dev, cmd.netns);
      return;
    case 'link-show':
      return linkShow(m, cmd, out);
    case 'port-set':
      if (cmd.isolation !== undefined) m.setIsolation(cmd.parent, cmd.isolation);
      if (cmd.fastpath !== undefined) m.setFastpath(cmd.parent, cmd.fastpath);
      if (cmd.childKind !== undefined) m.setChildKind(cmd.parent, cmd.childKind);
      return;
    case 'port-show': {
      const views = m.show();
      const parents = [...new Set(views.map((v) => v.parent))].filter((p) => !cmd.parent || p === cmd.parent);
      if (cmd.parent && !parents.includes(cmd.parent)) parents.push(cmd.parent);
      const rows = parents.map((p) => ({ parent: p, isolation: m.isolation(p), fastpath: m.fastpath(p), kind: m.childKind(p), children: views.filter((v) => v.parent === p).map((v) => v.name) }));
      if (cmd.json) out.out(JSON.stringify(rows));
      else for (const row of rows) out.out(`${row.parent}: isolation ${row.isolation} fastpath ${row.fastpath} kind ${row.kind} children ${row.children.join(' ') || '-'}`);
      return;
    }
    case 'apply': {
      const config = loadConfigFile(cmd.file);
      const changes = applyConfig(m, config, { prune: cmd.prune || config.prune });
      out.out(changes.length ? changes.join('\n') : 'no changes');
      return;
    }
  }
}

function linkShow(m: Macvlan, cmd: Extract<Command, { kind: 'link-show' }>, out: Output): void {
  const views = m.show(cmd.dev, cmd.netns);
  if (cmd.json) {
    out.out(JSON.stringify(views.map(toIpJson)));
    return;
  }
  for (const v of views) {
    out.out(`${v.ifindex}: ${v.name}@${v.parent}: <${flagsOf(v).join(',')}> mtu ${v.mtu} state ${v.operstate}${v.netns ? ` netns ${v.netns}` : ''}`);
    out.out(`    link/ether ${v.address} brd ff:ff:ff:ff:ff:ff`);
    out.out(`    macvlan-bpf ${v.type === 'macvtap' ? `macvtap queues ${v.queues ?? 1} ` : ''}mode ${v.mode} kind ${v.kind} host-end ${v.hostEnd} spoofchk ${v.spoofchk ? 'on' : 'off'} multicast ${v.mcGroups ? `exact (${v.mcGroups.length} groups)` : 'all'}${v.conflict ? ` conflict: ${v.conflict}` : ''}`);
    if (cmd.details && v.mcGroups) out.out(`    multicast groups: ${v.mcGroups.join(' ') || '-'}`);
    // ip -d's words; the queue they size does not exist here (flooding is synchronous).
    if (cmd.details) {
      const remotes = v.macaddr ? ` remotes (${v.macaddr.length})${v.macaddr.map((a) => ` ${a}`).join('')}` : '';
      out.out(`    ${v.type} mode ${v.mode}${v.nodst ? ' nodst' : ''} bcqueuelen ${v.bcqueuelen} usedbcqueuelen ${v.usedbcqueuelen} bc_cutoff ${v.bcCutoff}${remotes} (no broadcast queue: flooding is synchronous, these are kept and reported only)`);
    }
  }
}

function flagsOf(v: ChildView): string[] {
  return ['BROADCAST', 'MULTICAST', ...(v.up || v.conflict ? ['UP'] : []), ...(v.operstate === 'UP' ? ['LOWER_UP'] : [])];
}

/** A child as `ip -j link show` prints a macvlan device, plus host_end. */
function toIpJson(v: ChildView) {
  return {
    ifindex: v.ifindex,
    ifname: v.name,
    link: v.parent,
    ...(v.netns ? { netns: v.netns } : {}),
    flags: flagsOf(v),
    mtu: v.mtu,
    operstate: v.operstate,
    link_type: 'ether',
    address: v.address,
    broadcast: 'ff:ff:ff:ff:ff:ff',
    // As ip -d -j prints them (bcqueuelen, usedbcqueuelen, bc_cutoff); bcqueue says there is no queue.
    linkinfo: {
      info_kind: v.type,
      info_data: {
        mode: v.mode,
        ...(v.nodst ? { nodst: true } : {}),
        bcqueuelen: v.bcqueuelen, usedbcqueuelen: v.usedbcqueuelen, bc_cutoff: v.bcCutoff, bcqueue: 'none (synchronous flooding)',
        // Source mode's list, as ip -d -j prints it: the count always, the addresses when there are any.
        ...(v.macaddr ? { macaddr_count: v.macaddr.length, ...(v.macaddr.length ? { macaddr_data: v.macaddr } : {}) } : {}),
      },
    },
    host_end: v.hostEnd,
    // What the child's device is (veth, netkit or tap; its own link shows that kind as ip sees it).
    child_kind: v.kind,
    ...(v.queues ? { queues: v.queues } : {}),
    spoofchk: v.spoofchk,
    // The exact multicast filter (an agent keeps it): the groups the child gets; "all" without one.
    mc_filter: v.mcGroups ? 'exact' : 'all',
    ...(v.mcGroups ? { mc_groups: v.mcGroups } : {}),
    ...(v.conflict ? { conflict: v.conflict } : {}),
  };
}
