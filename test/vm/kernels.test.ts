// The kernel matrix: the privileged tests (BPF verdicts against the verifier of that kernel, the
// differentials against its own kernel macvlan, the agent, counters, hooks, rtnetlink, TCP,
// parents of every kind: a bridge, and the VLAN, bond and virtio-net NIC parents this host cannot make)
// run inside QEMU guests on Debian 12's stock kernel (6.1: no tcx, so every hook is cls_bpf) and on
// bookworm-backports' (6.12: tcx), besides this host's kernel, where the rest of the suite runs.
// Software emulation is about five times slower than the host, so the guests run the differentials'
// mixed and passthru scenarios with the hairpinning switch and 50 churned children (MVB_GUEST=1,
// test/helpers/scale.ts); what does not depend on the kernel (no-spawn, the agent's netlink overrun, the
// command line's words and cost, the control socket and the config file's errors, what /metrics and
// stats print, strict isolation's frames, whose verdict rows do run here) runs on the host only.
import { afterAll, describe, it } from 'vitest';
import { requireRoot } from '../helpers/sandbox.js';
import { GUEST_KERNELS, removeGuestOutput, runInGuest, type GuestKernel, type GuestResult } from '../helpers/guest.js';
import fs from 'node:fs';
import path from 'node:path';

const PRIVILEGED = [
  'test/bpf/', 'test/e2e/config.test.ts', 'test/e2e/hooks.test.ts', 'test/e2e/rtnetlink.test.ts',
  'test/e2e/agent.test.ts', 'test/e2e/counters.test.ts', 'test/e2e/differential.test.ts',
  'test/e2e/tcp.test.ts', 'test/e2e/protocols.test.ts', 'test/e2e/fastpath.test.ts',
  'test/e2e/parents.test.ts', 'test/e2e/source-mode.test.ts', 'test/e2e/mc-filter.test.ts', 'test/e2e/netkit.test.ts', 'test/guest/nic-parent.test.ts',
];
// Besides those, per kernel: the VLAN and bond parents (TC on those devices, the same in both kernels)
// and the macvtap tests (tun, vhost-net: Debian's kernels have it, this host's not) on the older one
// only, where the netkit tests (6.12: netkit.test.ts and the netkit halves of the differential,
// counters and TCP tests) do not run, to keep the two guests about equal in length.
const ONLY: Record<GuestKernel, string[]> = { stock: ['test/guest/parents.test.ts', 'test/e2e/macvtap.test.ts'], backports: [] };
const EXPECT: Record<GuestKernel, RegExp> = { stock: /^6\.1\./, backports: /^6\.12\./ };
const prefix = `${process.env.MVB_TEST_RUN ?? 'mvbt'}vm`;
const results: GuestResult[] = [];
afterAll(() => results.forEach(removeGuestOutput));

interface Report {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  testResults: { name: string; startTime: number; endTime: number; assertionResults: { fullName: string; status: string; failureMessages: string[] }[] }[];
}

// Both guests at once: a guest runs one test file at a time and keeps about one host CPU busy, so on 2
// cores two guests side by side end in about 15 minutes where one after the other took 22. The older
// kernel's guest gets one vCPU; the newer's two, to use both cores once the older is done (it has more
// to run: the netkit tests).
const CPUS: Record<GuestKernel, number> = { stock: 1, backports: 2 };

describe('kernel matrix: the privileged tests in QEMU guests', () => {
  for (const k of GUEST_KERNELS) {
    it.concurrent(`on Debian's ${k} kernel`, async ({ expect }) => {
      requireRoot();
      // The 6.12 guest also runs the child kinds benchmark's smoke (netkit: this host's kernel has none).
      const bench = k === 'backports' ? '; rc=$?; node dist/cli/main.js bench --smoke --only=kinds > /mvb-out/kinds.txt 2>&1; exit $rc' : '';
      const cmd = `MVB_GUEST=1 node_modules/.bin/vitest run ${[...PRIVILEGED, ...ONLY[k]].join(' ')} --reporter=dot --reporter=json --outputFile.json=/mvb-out/report.json${bench}`;
      // A guest's run has taken 949-1,273 s (6.1) and 1,095-1,492 s (6.12) in clean-clone CI runs on this
      // kind of machine, the same tests varying by 20-40 % from run to run: 30 minutes leaves room for
      // that (the 6.12 guest's 1,492 s was 96 % of the 26 minutes it had) and stays far inside CI's 90.
      const r = await runInGuest(k, cmd, { prefix, timeoutMs: 30 * 60_000, cpus: CPUS[k] });
      results.push(r);
      const kernel = /guest: kernel (\S+),/.exec(r.log)?.[1] ?? '';
      expect(kernel, `the guest did not start the test run; its console:\n${r.console.slice(-3000)}`).toMatch(EXPECT[k]);
      const file = path.join(r.out, 'report.json');
      expect(fs.existsSync(file), `no test report from the guest; its output:\n${r.log.slice(-3000)}`).toBe(true);
      const rep = JSON.parse(fs.readFileSync(file, 'utf8')) as Report;
      const failed = rep.testResults.flatMap((f) => f.assertionResults.filter((a) => a.status === 'failed').map((a) => `${path.basename(f.name)}: ${a.fullName}\n${a.failureMessages.join('\n').slice(0, 800)}`));
      console.log(`kernel matrix: ${kernel}: ${rep.numPassedTests} passed, ${rep.numFailedTests} failed, ${rep.numPendingTests} skipped in ${r.seconds.toFixed(0)} s`);
      // Where the guest's time goes, to keep the suite's length in hand: the slowest files.
      const slowest = rep.testResults.map((f) => [path.basename(f.name), (f.endTime - f.startTime) / 1000] as const).sort((a, b) => b[1] - a[1]).slice(0, 8);
      console.log(`kernel matrix: ${kernel}: slowest files: ${slowest.map(([n, sec]) => `${n} ${sec.toFixed(0)} s`).join(', ')}`);
      expect(failed, 'tests that failed in the guest').toEqual([]);
      expect(rep.numPendingTests, 'nothing may skip').toBe(0);
      expect(rep.numPassedTests).toBeGreaterThan(150);
      // Every test passed but the run failed (seen once, 6.12 guest, 289 passed): a file that failed to
      // load or an error outside any test. Its output says which.
      const failedFiles = (rep.testResults as { name: string; status?: string; message?: string }[])
        .filter((f) => f.status === 'failed').map((f) => `${path.basename(f.name)}: ${(f.message ?? '').slice(0, 800)}`);
      expect(r.rc, `the guest's test run exited ${r.rc}; files that failed outside a test:\n${failedFiles.join('\n')}\nits output:\n${r.log.slice(-4000)}`).toBe(0);
      if (k === 'backports') {
        const kinds = fs.existsSync(path.join(r.out, 'kinds.txt')) ? fs.readFileSync(path.join(r.out, 'kinds.txt'), 'utf8') : '';
        expect(kinds, 'bench --smoke --only=kinds in the guest').toMatch(/^\| external → child \| (\d[\d.]* ?[kM]?pps \| ){3}/m);
        expect(kinds).not.toMatch(/\| 0 ?pps|nothing delivered/);
      }
    }, 31 * 60_000); // past the guest's own 30 minutes, so a slow guest fails with its own message
  }
});
