// The tests' sandbox: the lab's, under the run's prefix, and root is required (never skipped).
import { randomBytes } from 'node:crypto';
import { Sandbox as LabSandbox, run } from '../../src/lab/sandbox.js';

export { run };

/** Root tests never skip: without root they fail loudly. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0)
    throw new Error('these tests need root (network namespaces, BPF); run them as root: sudo npm test');
}

export class Sandbox extends LabSandbox {
  constructor(tag: string) {
    requireRoot();
    const runPrefix = process.env.MVB_TEST_RUN ?? `mvbt${randomBytes(2).toString('hex')}`;
    super(`${runPrefix}${tag}${randomBytes(1).toString('hex')}`);
  }
}
