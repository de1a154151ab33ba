// A macvtap child as a test endpoint: its reader's queue, framed like a packet socket (send a frame,
// receive frames) so the topologies, differentials and benchmarks treat it like any child. The vnet
// header (10 bytes, macvtap's default) is added on send and taken off on receive. macvlan-bpf's tap is
// opened by name; kernel macvtap through its character device, made from the major:minor its netns's
// sysfs gives (a /dev/tapN name cannot be trusted when macvtaps live in several netns: spec §9),
// opened, and unlinked again at once.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { addon, type ReceivedFrame, type TapQueue } from '../native.js';
import { run } from './sandbox.js';
import { waitFor } from './wait.js';

const VNET_HDR = Buffer.alloc(10);

export interface FrameEndpoint {
  send(frame: Buffer): number;
  recv(): ReceivedFrame[];
  close(): void;
}

export class TapEndpoint implements FrameEndpoint {
  private constructor(readonly queue: TapQueue) {}

  /** macvlan-bpf's tap child `name` in netns `ns`: one more queue. */
  static ours(ns: string, name: string): TapEndpoint {
    return new TapEndpoint(new (addon().TapQueue)({ ifname: name, netns: `/run/netns/${ns}` }));
  }

  /** Kernel macvtap `name` in netns `ns`: a queue opened through its character device. */
  static kernel(ns: string, name: string): TapEndpoint {
    const [link] = JSON.parse(run('ip', ['-n', ns, '-j', 'link', 'show', 'dev', name])) as { ifindex: number }[];
    // ip netns exec mounts that netns's sysfs, where the macvtap class device is.
    const dev = run('ip', ['netns', 'exec', ns, 'cat', `/sys/class/net/${name}/tap${link!.ifindex}/dev`]).trim();
    const [major, minor] = dev.split(':');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvb-tapdev-'));
    const node = path.join(dir, `tap${link!.ifindex}`);
    try {
      execFileSync('mknod', ['-m', '600', node, 'c', major!, minor!]);
      return new TapEndpoint(new (addon().TapQueue)({ path: node }));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  send(frame: Buffer): number {
    return this.queue.send(Buffer.concat([VNET_HDR, frame])) - VNET_HDR.length;
  }

  recv(): ReceivedFrame[] {
    return this.queue.recv().map((b) => ({ data: b.subarray(VNET_HDR.length), pktType: 0 }));
  }

  close(): void {
    this.queue.close();
  }
}

/**
 * Waits, when tap `name` in netns `ns` is UP, until its queue is active. Its first reader turns its
 * carrier on and the kernel activates its queue a moment later (linkwatch: 1-4 ms measured on a quiet
 * host, longer on a loaded one); a TC redirect into it before that is dropped (README, macvtap). The
 * operstate turns UP in the same step.
 */
export function waitTapActive(ns: string, name: string): void {
  const link = () => (JSON.parse(run('ip', ['-n', ns, '-j', 'link', 'show', 'dev', name])) as { flags: string[]; operstate: string }[])[0]!;
  if (!link().flags.includes('UP')) return;
  waitFor(() => link().operstate === 'UP', `tap ${name}'s queue to be active (operstate UP)`);
}
