// Names we derive: a child's host end is named for (instance, netns, child name), so a crashed half-made
// child is found again, and a host end whose child is in no registry is recognised as ours.
import { createHash } from 'node:crypto';

/** The derived name of a child's host end: stable for (instance, netns, name). */
export function hostEndName(pinRoot: string, netns: string, name: string): string {
  const h = createHash('sha256').update(`${pinRoot}\0${netns}\0${name}`).digest('hex');
  return `mvb${h.slice(0, 10)}`;
}

/** Whether a device name has the shape of a host end (of some instance). */
export const HOST_END_SHAPE = /^mvb[0-9a-f]{10}$/;

/**
 * The alias a tap child of this instance carries (ip link shows it): which instance made the tap, so
 * one left by a command that died before recording it is known as ours and removed (reconcile.ts).
 */
export function tapAlias(pinRoot: string, name: string): string {
  return `macvlan-bpf ${hostEndName(pinRoot, '', name)}`;
}
