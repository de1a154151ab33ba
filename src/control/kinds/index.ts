// Every child kind, by name: the control plane looks a child's kind up here and never branches on it.
import type { KindName } from '../../datapath/abi.js';
import type { ChildKind } from './types.js';
import { veth } from './veth.js';
import { netkit } from './netkit.js';
import { tap } from './tap.js';
import { parseKindChoice, type KindChoice } from '../validate.js';

export type { ChildKind, KindContext, MakeRequest } from './types.js';

const KINDS: Record<KindName, ChildKind> = { veth, netkit, tap };

export function kindOf(name: KindName): ChildKind {
  return KINDS[name];
}

/**
 * The kind a new child gets when none is asked for: $MACVLAN_BPF_CHILD_KIND (veth, netkit or auto), or
 * veth, which every kernel has and the XDP fast path can deliver into.
 */
export function defaultKindChoice(): KindChoice {
  const env = process.env.MACVLAN_BPF_CHILD_KIND;
  return env ? parseKindChoice(env) : 'veth';
}

/**
 * The kinds to try, in order, for a choice: auto tries netkit first and falls back to veth on a kernel
 * without it (remembered, so the next child does not ask the kernel again).
 */
export function kindsFor(choice: KindChoice): ChildKind[] {
  if (choice === 'auto') return netkitMissing ? [veth] : [netkit, veth];
  return [KINDS[choice]];
}

let netkitMissing = false;
/** The kernel refused a netkit pair as unknown: auto means veth from now on. */
export function noteNetkitMissing(): void {
  netkitMissing = true;
}
