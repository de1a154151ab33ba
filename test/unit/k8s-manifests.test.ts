// The deployment files (#15 item 3): the DaemonSet against the Kubernetes API schema (kubernetes-models'
// validation of apps/v1 DaemonSet), its mounts, command and probe against what the agent takes; the
// Multus NetworkAttachmentDefinition's and the conflist's CNI configuration through the plugin's own
// parser; and the install step run for real into temporary directories.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { parseArgv } from '../../src/cli/parse.js';
import { parseNetConf, readEnv } from '../../src/cni/conf.js';

const DIR = path.resolve(__dirname, '../../contrib/kubernetes');
const ROOT = path.resolve(__dirname, '../..');
const docs = (f: string) => parseAllDocuments(fs.readFileSync(path.join(DIR, f), 'utf8')).map((d) => d.toJS() as Record<string, unknown>);
const env = readEnv({ CNI_COMMAND: 'VERSION' });

describe('contrib/kubernetes', () => {
  it('the DaemonSet is a valid apps/v1 DaemonSet: host network, privileged agent, every mount backed by a volume', () => {
    const [ds] = docs('macvlan-bpf.yaml');
    expect(() => new DaemonSet(ds as never).validate()).not.toThrow();
    // The validation does catch a mistake (a type error), so the line above can fail.
    expect(() => new DaemonSet({ ...(ds as object), spec: { ...(ds!.spec as object), template: { spec: { hostNetwork: 'yes', containers: [] } } } } as never).validate()).toThrow(/hostNetwork must be boolean/);
    const spec = (ds!.spec as { template: { spec: { hostNetwork: boolean; volumes: { name: string; hostPath: { path: string } }[]; containers: { name: string; command: string[]; volumeMounts: { name: string; mountPath: string }[]; securityContext: { privileged: boolean }; readinessProbe: { httpGet: { port: number; host: string } } }[]; initContainers: { command: string[]; volumeMounts: { name: string }[] }[] } } }).template.spec;
    expect(spec.hostNetwork).toBe(true);
    const volumes = new Set(spec.volumes.map((v) => v.name));
    for (const c of [...spec.containers, ...spec.initContainers]) for (const m of c.volumeMounts) expect(volumes.has(m.name), m.name).toBe(true);
    const agent = spec.containers.find((c) => c.name === 'agent')!;
    expect(agent.securityContext.privileged).toBe(true);
    expect(agent.volumeMounts.map((m) => m.mountPath).sort()).toEqual(['/run/macvlan-bpf', '/run/netns', '/sys/fs/bpf']);
    // Its command is our CLI's agent, listening where the probe looks.
    const [bin, ...args] = agent.command;
    expect(bin).toBe('/opt/macvlan-bpf/bin/macvlan-bpf');
    expect(parseArgv(args)).toEqual({ what: 'program', program: 'agent', args: ['--listen', '127.0.0.1:9742'], json: false });
    expect(`${agent.readinessProbe.httpGet.host}:${agent.readinessProbe.httpGet.port}`).toBe('127.0.0.1:9742');
    // The install step is this repository's script.
    expect(fs.existsSync(path.join(ROOT, spec.initContainers[0]!.command[0]!.replace('/opt/macvlan-bpf/', '')))).toBe(true);
  });

  it('the NetworkAttachmentDefinition and the conflist carry a configuration the plugin takes', () => {
    const [nad] = docs('network-attachment-definition.yaml') as [{ apiVersion: string; kind: string; metadata: { name: string }; spec: { config: string } }];
    expect([nad.apiVersion, nad.kind]).toEqual(['k8s.cni.cncf.io/v1', 'NetworkAttachmentDefinition']);
    const c = parseNetConf(nad.spec.config, env);
    expect(c).toMatchObject({ type: 'macvlan-bpf-cni', name: nad.metadata.name, mode: 'bridge', master: 'eth1', isolation: 'strict', ipam: { type: 'host-local' } });
    const list = JSON.parse(fs.readFileSync(path.join(DIR, 'macvlan-bpf.conflist'), 'utf8')) as { cniVersion: string; name: string; plugins: object[] };
    const p = parseNetConf(JSON.stringify({ cniVersion: list.cniVersion, name: list.name, ...list.plugins[0] }), env);
    expect(p).toMatchObject({ type: 'macvlan-bpf-cni', cniVersion: '1.0.0' });
    expect(fs.existsSync(path.join(ROOT, 'bin', p.type))).toBe(true); // the type is the binary's name
  });

  it('the install step copies the project and links the plugin in place; without a runtime it refuses', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mvb-install-'));
    try {
      // A copy of the scripts with a stand-in runtime, as the image has (the real install copies all of /opt/macvlan-bpf).
      const src = path.join(tmp, 'src');
      fs.mkdirSync(path.join(src, 'scripts'), { recursive: true });
      fs.copyFileSync(path.join(ROOT, 'scripts', 'install-cni.sh'), path.join(src, 'scripts', 'install-cni.sh'));
      const install = () => spawnSync('sh', [path.join(src, 'scripts', 'install-cni.sh'), path.join(tmp, 'opt'), path.join(tmp, 'bin')], { encoding: 'utf8' });
      const bad = install();
      expect(bad.status).toBe(1);
      expect(bad.stderr).toMatch(/no Node.js runtime at .*\/opt\/node/);
      fs.writeFileSync(path.join(src, 'node'), '#!/bin/sh\n', { mode: 0o755 });
      const ok = install();
      expect(ok.status, ok.stderr).toBe(0);
      // The plugin: a link to the client as the node sees it (/opt/macvlan-bpf, the DaemonSet's host path).
      expect(fs.readlinkSync(path.join(tmp, 'bin', 'macvlan-bpf-cni'))).toBe('/opt/macvlan-bpf/bin/macvlan-bpf-cni');
      expect(fs.existsSync(path.join(tmp, 'opt', 'scripts', 'install-cni.sh'))).toBe(true);
      expect(fs.readdirSync(path.join(tmp, 'bin'))).toEqual(['macvlan-bpf-cni']); // no temporary left
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
