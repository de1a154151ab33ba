import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/guest/: tests of devices this host's kernel cannot make (802.1Q, bonding), run only inside the
    // kernel matrix's guests (MVB_GUEST=1), where Debian's kernels have them.
    // test/vm/: the kernel matrix and the Vagrantfile's check, left out only inside the Vagrant VMs
    // (MVB_KERNEL_MATRIX=0, scripts/vagrant-provision.sh: no guests nested in a guest).
    // test/vagrant/: the two-VM test, run by the Vagrant provisioning with the peer's address (MVB_PEER).
    exclude: [
      ...configDefaults.exclude,
      ...(process.env.MVB_GUEST === '1' ? [] : ['test/guest/**']),
      ...(process.env.MVB_KERNEL_MATRIX === '0' ? ['test/vm/**'] : []),
      ...(process.env.MVB_PEER ? [] : ['test/vagrant/**']),
    ],
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/yield.ts'],
    // Root tests build network namespaces; one file at a time keeps 2-core machines honest and fast.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
