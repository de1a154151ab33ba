// Every child kind, by name: the control plane looks a child's kind up here and never branches on it.
import type { KindName } from '../../datapath/abi.js';
import type { ChildKind } from './types.js';
import { veth } from './veth.js';

export type { ChildKind, KindContext, MakeRequest } from './types.js';

const KINDS: Record<KindName, ChildKind> = { veth };

export function kindOf(name: KindName): ChildKind {
  return KINDS[name];
}

/** The kind a new child gets when none is asked for. */
export const DEFAULT_KIND: KindName = 'veth';
