// The kernel matrix: the privileged tests (BPF verdicts against the verifier of that kernel, the
// differentials against its own kernel macvlan, counters, hooks, rtnetlink in both; the agent, TCP,
// netkit, the XDP fast path and parents of every kind, with the VLAN, bond and virtio-net NIC parents
// this host cannot make, in one of them: the lists below) run inside QEMU guests on Debian 12's stock
// kernel (6.1: no tcx, so every hook is cls_bpf) and on
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

// In both guests: what the kernel's version decides, and the kernel macvlan each compares with: the
// verifier (test/bpf), the hooks (tcx or cls_bpf), rtnetlink, the differentials (against that kernel's
// own macvlan), counters, protocols, source mode and the multicast filter, the configuration file.
const PRIVILEGED = [
  'test/bpf/', 'test/e2e/config.test.ts', 'test/e2e/hooks.test.ts', 'test/e2e/rtnetlink.test.ts',
  'test/e2e/counters.test.ts', 'test/e2e/differential.test.ts', 'test/e2e/protocols.test.ts',
  'test/e2e/source-mode.test.ts', 'test/e2e/mc-filter.test.ts',
];
// Besides those, each file in one guest only (the host's 6.18 runs them all), so the two are about
// equal in length and both well inside their 30 minutes (each took 1,490 s and more than 1,800 s with
// every file in both, on 2026-12-02's slower host): the older kernel takes the agent, the XDP fast
// path, the VLAN and bond parents and the macvtap tests (tun, vhost-net: Debian's kernels have it,
// this host's not); the newer takes netkit (netkit.test.ts and the netkit halves of the differential,
// counters and TCP tests), TCP and the virtio-net NIC parent.
const ONLY: Record<GuestKernel, string[]> = {
  stock: ['test/e2e/agent.test.ts', 'test/e2e/fastpath.test.ts', 'test/e2e/parents.test.ts', 'test/guest/parents.test.ts', 'test/e2e/macvtap.test.ts'],
  backports: ['test/e2e/netkit.test.ts', 'test/e2e/tcp.test.ts', 'test/guest/nic-parent.test.ts'],
};
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
      // Where the guest's time goes, to keep the suite's length in hand: every file, slowest first.
      const files = rep.testResults.map((f) => [path.basename(f.name), (f.endTime - f.startTime) / 1000] as const).sort((a, b) => b[1] - a[1]);
      console.log(`kernel matrix: ${kernel}: files, slowest first: ${files.map(([n, sec]) => `${n} ${sec.toFixed(0)} s`).join(', ')}`);
      expect(failed, 'tests that failed in the guest').toEqual([]);
      expect(rep.numPendingTests, 'nothing may skip').toBe(0);
      expect(rep.numPassedTests).toBeGreaterThan(150);
      // Every test passed but the run failed (seen once, 6.12 guest, 289 passed): a file that failed to
      // load or an error outside any test. Its output says which.
      const failedFiles = (rep.testResults as { name: string; status?: string; message?: string }[])
        .filter((f) => f.status === 'failed').map((f) => `${path.basename(f.name)}: ${(f.message ?? '').slice(0, 800)}`);
      // Under emulation the guest's vitest main process has been too slow, twice, to answer a worker's
      // progress report within vitest's fixed 60 s ("[vitest-worker]: Timeout calling "onTaskUpdate"",
      // an unhandled error that makes the run exit 1 with every test passed and reported). That alone
      // is tolerated, named in the output; any other error is not.
      const caught = Number(/Vitest caught (\d+) unhandled error/.exec(r.log)?.[1] ?? 0);
      const rpcTimeouts = [...r.log.matchAll(/^Error: \[vitest-worker\]: Timeout calling "onTaskUpdate"/gm)].length;
      const rpcOnly = r.rc !== 0 && failedFiles.length === 0 && caught > 0 && caught === rpcTimeouts;
      if (rpcOnly) console.log(`kernel matrix: ${kernel}: exit ${r.rc} from ${caught} vitest progress-report timeout(s) only, every test passed: tolerated`);
      else expect(r.rc, `the guest's test run exited ${r.rc}; files that failed outside a test:\n${failedFiles.join('\n')}\nits output:\n${r.log.slice(-4000)}`).toBe(0);
      if (k === 'backports') {
        const kinds = fs.existsSync(path.join(r.out, 'kinds.txt')) ? fs.readFileSync(path.join(r.out, 'kinds.txt'), 'utf8') : '';
        expect(kinds, 'bench --smoke --only=kinds in the guest').toMatch(/^\| external → child \| (\d[\d.]* ?[kM]?pps \| ){3}/m);
        expect(kinds).not.toMatch(/\| 0 ?pps|nothing delivered/);
      }
    }, 31 * 60_000); // past the guest's own 30 minutes, so a slow guest fails with its own message
  }
});
