// The shape of src/: no import cycles (static, type-only and dynamic imports all count), and no process
// spawned outside the lab's and benchmarks' reference topologies (kernel macvlan, the bridge), which
// build what they compare against with iproute2. test/e2e/no-spawn.test.ts proves the second at run time.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(__dirname, '../../src');
/**
 * Where spawning ip, tc, iperf3 or the agent is allowed: reference topologies and benchmarks; and
 * `tap exec`, whose whole job is to run the user's command (QEMU) with a macvtap child's queue fds; and
 * the CNI plugin's IPAM delegation, which runs the IPAM plugin as the CNI spec says.
 */
const MAY_SPAWN = ['lab/', 'bench/', 'cli/tap.ts', 'cni/ipam.ts'];

function sources(dir = SRC): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Every module a file imports: `import ... from`, `export ... from`, `import('...')`, `import '...'`. */
export function importsOf(file: string, text: string): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;
  for (let m; (m = re.exec(text)); ) {
    const spec = m[1]!;
    if (!spec.startsWith('.')) continue;
    out.push(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts')));
  }
  return out;
}

/** Strongly connected components with more than one module, or a module importing itself. */
export function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>(), low = new Map<string, number>(), onStack = new Set<string>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc);
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('src/ structure', () => {
  const files = sources();
  const rel = (f: string) => path.relative(SRC, f);

  it('has no import cycles', () => {
    const graph = new Map(files.map((f) => [f, importsOf(f, fs.readFileSync(f, 'utf8'))]));
    for (const [f, deps] of graph) for (const d of deps) expect(fs.existsSync(d), `${rel(f)} imports ${rel(d)}, which does not exist`).toBe(true);
    expect(cycles(graph).map((c) => c.map(rel).sort().join(' -> '))).toEqual([]);
  });

  it('the cycle finder finds cycles (so the test above can fail)', () => {
    const g = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['d']], ['e', ['a']]]);
    expect(cycles(g).map((c) => c.sort().join())).toEqual(expect.arrayContaining(['a,b,c', 'd']));
    expect(cycles(g)).toHaveLength(2);
    expect(importsOf('/x/a.ts', "import type { A } from './b.js';\nexport { C } from '../c.js';\nawait import('./d.js');\nimport './e.js';"))
      .toEqual(['/x/b.ts', '/c.ts', '/x/d.ts', '/x/e.ts']);
  });

  it('spawns processes only in the reference topologies and benchmarks', () => {
    const spawners = files.filter((f) => /['"](node:)?child_process['"]/.test(fs.readFileSync(f, 'utf8'))).map(rel);
    expect(spawners.length, 'the lab and the benchmarks do spawn: the grep must see them').toBeGreaterThan(0);
    expect(spawners.filter((f) => !MAY_SPAWN.some((d) => f.startsWith(d)))).toEqual([]);
  });
});
