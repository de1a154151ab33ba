// The Vagrantfile (issue 14): `vagrant validate` passes with Vagrant and vagrant-libvirt from Debian,
// bad settings stop it with a message that names them, and the scripts it runs parse. The real
// `vagrant up` of both nodes is scripts/vagrant-offline.sh (minutes under software emulation; its run
// is in docs/vagrant.md).
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const home = fs.mkdtempSync(path.join(os.tmpdir(), `${process.env.MVB_TEST_RUN ?? 'mvbt'}vagrant-`));
afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

function vagrant(args: string[], env: Record<string, string> = {}) {
  return spawnSync('vagrant', args, {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, VAGRANT_HOME: home, VAGRANT_CHECKPOINT_DISABLE: '1', VAGRANT_DOTFILE_PATH: path.join(home, 'dot'), ...env },
  });
}

describe('Vagrantfile', () => {
  // VirtualBox is not in Debian: its configuration is checked without the provider (--ignore-provider).
  for (const provider of ['libvirt', 'virtualbox']) {
    it(`vagrant validate (${provider})`, () => {
      const r = vagrant(['validate', ...(provider === 'virtualbox' ? ['--ignore-provider'] : [])], { VAGRANT_DEFAULT_PROVIDER: provider });
      expect(r.error, 'vagrant is installed (scripts/bootstrap.sh installs it)').toBeUndefined();
      expect(r.stdout + r.stderr).toContain('Vagrantfile validated successfully');
      expect(r.status).toBe(0);
    }, 150_000);
  }

  it('defines the two nodes, peer first', () => {
    const r = vagrant(['status'], { VAGRANT_DEFAULT_PROVIDER: 'libvirt', LIBVIRT_DEFAULT_URI: 'test:///default' });
    const names = [...(r.stdout ?? '').matchAll(/^(peer|mvb)\s+not created/gm)].map((m) => m[1]);
    expect(names, r.stdout + r.stderr).toEqual(['peer', 'mvb']);
  }, 150_000);

  it('a bad setting stops it with a message naming the setting', () => {
    const r = vagrant(['validate'], { MVB_PROVISION_TESTS: 'most' });
    expect(r.status).not.toBe(0);
    expect(r.stderr + r.stdout).toContain('MVB_PROVISION_TESTS=most: expected all, vm or none');
  }, 150_000);

  it('the scripts it runs parse', () => {
    for (const s of ['vagrant-provision.sh', 'vagrant-box.sh', 'vagrant-offline.sh', 'bootstrap.sh']) {
      const r = spawnSync('bash', ['-n', path.join('scripts', s)], { encoding: 'utf8' });
      expect(r.stderr, s).toBe('');
      expect(r.status, s).toBe(0);
    }
  });
});
