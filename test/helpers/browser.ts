// Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) started inside a test's
// network namespace, so the page reaches the agent's 127.0.0.1 there and nothing else. A fresh profile
// per run; the flags keep Chromium from calling out (this machine's network is closed anyway).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

export interface NetnsBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchInNetns(netns: string, prefix: string): Promise<NetnsBrowser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/bootstrap.sh (it installs Debian's chromium)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-chromium-`));
  const profile = path.join(dir, 'profile');
  // Chromium itself in the netns: a wrapper that enters it and execs the real one with our arguments.
  const wrapper = path.join(dir, 'chromium-in-netns');
  fs.writeFileSync(wrapper, `#!/bin/sh\nexec nsenter --net=/run/netns/${netns} ${CHROMIUM} "$@"\n`, { mode: 0o700 });
  try {
    const context = await chromium.launchPersistentContext(profile, { executablePath: wrapper, headless: true, args: CHROMIUM_FLAGS, viewport: { width: 1400, height: 1250 } });
    return {
      context,
      async close() {
        await context.close().catch(() => undefined);
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
