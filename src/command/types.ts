// The commands that act on an instance, as typed values: the CLI parses argv into one, the control
// socket carries it as JSON, and the executor runs it, the same way in the CLI and in the agent.
import { MODE_NAMES, type Mode } from '../datapath/abi.js';
import { KIND_CHOICES, type Fastpath, type Isolation, type KindChoice, type LinkType } from '../control/validate.js';
import { MACADDR_OPS, type MacaddrChange } from '../control/sources.js';

export type Command =
  | { kind: 'link-add'; parent: string; name: string; mode?: Mode; address?: string; mtu?: number; netns?: string; spoofchk?: boolean; bcqueuelen?: number; bcCutoff?: number; nodst?: boolean; macaddr?: MacaddrChange; childKind?: KindChoice; type?: LinkType; owner?: string; group?: string; queues?: number }
  | { kind: 'link-set'; dev: string; netns?: string; up?: boolean; mode?: Mode; address?: string; mtu?: number; spoofchk?: boolean; bcqueuelen?: number; bcCutoff?: number; nodst?: boolean; macaddr?: MacaddrChange }
  | { kind: 'link-del'; dev: string; netns?: string }
  | { kind: 'link-show'; dev?: string; netns?: string; json: boolean; details?: boolean }
  | { kind: 'port-set'; parent: string; isolation?: Isolation; fastpath?: Fastpath; childKind?: KindChoice }
  | { kind: 'port-show'; parent?: string; json: boolean }
  | { kind: 'apply'; file: string; prune: boolean };

export type CommandKind = Command['kind'];

type FieldType = 'string' | 'number' | 'boolean' | 'mode' | 'isolation' | 'fastpath' | 'macaddr' | 'childKind' | 'linkType';
const FIELDS: Record<CommandKind, Record<string, [FieldType, boolean]>> = {
  'link-add': { parent: ['string', true], name: ['string', true], mode: ['mode', false], address: ['string', false], mtu: ['number', false], netns: ['string', false], spoofchk: ['boolean', false], bcqueuelen: ['number', false], bcCutoff: ['number', false], nodst: ['boolean', false], macaddr: ['macaddr', false], childKind: ['childKind', false], type: ['linkType', false], owner: ['string', false], group: ['string', false], queues: ['number', false] },
  'link-set': { dev: ['string', true], netns: ['string', false], up: ['boolean', false], mode: ['mode', false], address: ['string', false], mtu: ['number', false], spoofchk: ['boolean', false], bcqueuelen: ['number', false], bcCutoff: ['number', false], nodst: ['boolean', false], macaddr: ['macaddr', false] },
  'link-del': { dev: ['string', true], netns: ['string', false] },
  'link-show': { dev: ['string', false], netns: ['string', false], json: ['boolean', true], details: ['boolean', false] },
  'port-set': { parent: ['string', true], isolation: ['isolation', false], fastpath: ['fastpath', false], childKind: ['childKind', false] },
  'port-show': { parent: ['string', false], json: ['boolean', true] },
  apply: { file: ['string', true], prune: ['boolean', true] },
};

/** A command received as JSON, checked field by field; throws naming the first thing wrong. */
export function commandFromJson(x: unknown): Command {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new Error('command must be an object');
  const o = x as Record<string, unknown>;
  const kind = o.kind;
  if (typeof kind !== 'string' || !(kind in FIELDS)) throw new Error(`command.kind must be one of ${Object.keys(FIELDS).join(', ')}`);
  const spec = FIELDS[kind as CommandKind];
  for (const key of Object.keys(o)) if (key !== 'kind' && !(key in spec)) throw new Error(`${kind}: unknown field "${key}"`);
  for (const [key, [type, required]] of Object.entries(spec)) {
    const v = o[key];
    if (v === undefined) {
      if (required) throw new Error(`${kind}: field "${key}" is required`);
      continue;
    }
    const ok = type === 'mode' ? typeof v === 'string' && (MODE_NAMES as readonly string[]).includes(v)
      : type === 'isolation' ? v === 'strict' || v === 'kernel'
      : type === 'fastpath' ? v === 'tc' || v === 'xdp'
      : type === 'childKind' ? typeof v === 'string' && (KIND_CHOICES as readonly string[]).includes(v)
      : type === 'linkType' ? v === 'macvlan' || v === 'macvtap'
      : type === 'macaddr' ? isMacaddrChange(v)
        : type === 'number' ? typeof v === 'number' && Number.isFinite(v)
          : typeof v === type;
    if (!ok) throw new Error(`${kind}: field "${key}" must be a ${type}`);
  }
  if (kind === 'port-set' && o.isolation === undefined && o.fastpath === undefined && o.childKind === undefined) throw new Error('port-set: give isolation, fastpath or childKind');
  return o as unknown as Command;
}

function isMacaddrChange(v: unknown): v is MacaddrChange {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return Object.keys(o).every((k) => k === 'op' || k === 'macs') && (MACADDR_OPS as readonly unknown[]).includes(o.op) &&
    Array.isArray(o.macs) && o.macs.every((m) => typeof m === 'string');
}
