// findCycleClosingEdges: which dependency edges close a cycle, replaying edges in declaration order.
import { describe, expect, it } from 'vitest';
import { findCycleClosingEdges, type EdgeGraph } from '../../src/jobs/reject-dependency-cycles.js';
import { prng } from './support.js';

/** A graph from [from, to] pairs, in declaration order ("from depends on to"). */
function graph(edges: readonly (readonly [string, string])[], extraNodes: string[] = []): EdgeGraph {
  const index = new Map<string, number>();
  const nodes: string[] = [];
  const intern = (id: string) => {
    let i = index.get(id);
    if (i === undefined) { i = nodes.length; nodes.push(id); index.set(id, i); }
    return i;
  };
  extraNodes.forEach(intern);
  const from = new Int32Array(edges.length);
  const to = new Int32Array(edges.length);
  edges.forEach(([a, b], e) => { from[e] = intern(a); to[e] = intern(b); });
  return { nodes, from, to };
}

const pairs = (spec: string) => spec.split(/\s+/).filter(Boolean).map((e) => e.split('>') as [string, string]);
const closing = (spec: string, extraNodes?: string[]) => findCycleClosingEdges(graph(pairs(spec), extraNodes));

/** The reference: edge e is rejected iff its target already reaches its source through kept edges. */
function bruteForce(g: EdgeGraph): number[] {
  const adj = new Map<number, number[]>();
  const reaches = (s: number, t: number) => {
    const seen = new Set([s]);
    const stack = [s];
    while (stack.length) {
      const u = stack.pop()!;
      if (u === t) return true;
      for (const v of adj.get(u) ?? []) if (!seen.has(v)) { seen.add(v); stack.push(v); }
    }
    return false;
  };
  const rejected: number[] = [];
  for (let e = 0; e < g.from.length; e++) {
    const u = g.from[e]!, v = g.to[e]!;
    if (reaches(v, u)) { rejected.push(e); continue; }
    adj.set(u, [...(adj.get(u) ?? []), v]);
  }
  return rejected;
}

function isAcyclic(n: number, edges: [number, number][]): boolean {
  const indeg = new Array<number>(n).fill(0);
  const out = Array.from({ length: n }, () => [] as number[]);
  for (const [u, v] of edges) { out[u]!.push(v); indeg[v]!++; }
  const queue = indeg.flatMap((d, i) => (d === 0 ? [i] : []));
  let seen = 0;
  while (queue.length) {
    const u = queue.pop()!;
    seen++;
    for (const v of out[u]!) if (--indeg[v]! === 0) queue.push(v);
  }
  return seen === n;
}

describe('findCycleClosingEdges: hand-made graphs', () => {
  it('no edges, no cycles', () => {
    expect(findCycleClosingEdges(graph([], ['a', 'b']))).toEqual([]);
  });

  it('a DAG (diamond and a chain) has no cycle-closing edge', () => {
    expect(closing('a>b a>c b>d c>d d>e')).toEqual([]);
  });

  it('a 2-cycle rejects the later edge', () => {
    expect(closing('a>b b>a')).toEqual([1]);
    expect(closing('b>a a>b')).toEqual([1]);
  });

  it('a 3-cycle rejects the edge that closes it', () => {
    expect(closing('a>b b>c c>a')).toEqual([2]);
    expect(closing('c>a a>b b>c')).toEqual([2]);
  });

  it('two separate cycles: one edge each', () => {
    expect(closing('a>b c>d b>a d>c')).toEqual([2, 3]);
  });

  it('a cycle with a DAG tail in and out of it', () => {
    expect(closing('x>a a>b b>c c>a c>y y>z x>z')).toEqual([3]);
  });

  it('unrelated edges declared between the cycle\'s edges do not matter', () => {
    expect(closing('a>b p>q b>c q>r c>a r>s')).toEqual([4]);
  });

  it('an edge that would close a cycle only through an already-rejected edge is kept', () => {
    // b>a is rejected (closes a>b). c>b would close c>b>a>c only through b>a: kept.
    expect(closing('a>b b>a a>c c>b')).toEqual([1]);
  });

  it('a duplicate edge is not a cycle; the reverse edge after both is rejected', () => {
    expect(closing('a>b a>b b>a')).toEqual([2]);
  });

  it('two overlapping cycles sharing an edge', () => {
    // a>b>c>a (c>a closes), then b>d, d>a closes a>b>d>a.
    expect(closing('a>b b>c c>a b>d d>a')).toEqual([2, 4]);
  });

  it('a strongly connected component closed by several edges in declaration order', () => {
    // Complete graph on 3 nodes: a>b, b>c, a>c (all forward), then the three backward edges.
    expect(closing('a>b b>c a>c c>a b>a c>b')).toEqual([3, 4, 5]);
  });

  it('a chain of 100 000 tasks closed into one cycle (no recursion overflow)', () => {
    const n = 100_000;
    const from = new Int32Array(n);
    const to = new Int32Array(n);
    for (let i = 0; i < n - 1; i++) { from[i] = i; to[i] = i + 1; }
    from[n - 1] = n - 1; to[n - 1] = 0;
    const nodes = Array.from({ length: n }, (_, i) => `t${i}`);
    expect(findCycleClosingEdges({ nodes, from, to })).toEqual([n - 1]);
  });

  it('the same long cycle declared closing-edge first: the last chain edge closes it', () => {
    const n = 100_000;
    const from = new Int32Array(n);
    const to = new Int32Array(n);
    from[0] = n - 1; to[0] = 0;
    for (let i = 0; i < n - 1; i++) { from[i + 1] = i; to[i + 1] = i + 1; }
    const nodes = Array.from({ length: n }, (_, i) => `t${i}`);
    expect(findCycleClosingEdges({ nodes, from, to })).toEqual([n - 1]);
  });

  it('a 100 000-node DAG (long chain plus shortcuts) has none', () => {
    const n = 100_000;
    const edges: [number, number][] = [];
    for (let i = 0; i < n - 1; i++) edges.push([i, i + 1]);
    for (let i = 0; i + 10 < n; i += 7) edges.push([i, i + 10]);
    const g = { nodes: Array.from({ length: n }, (_, i) => String(i)), from: Int32Array.from(edges, (e) => e[0]), to: Int32Array.from(edges, (e) => e[1]) };
    expect(findCycleClosingEdges(g)).toEqual([]);
  });
});

describe('findCycleClosingEdges: against a brute-force checker (seeded random graphs)', () => {
  it('matches on 1500 random small graphs; kept edges form a DAG; each reject closes a cycle among earlier kept edges', () => {
    const r = prng(2024);
    let withRejects = 0;
    for (let round = 0; round < 1500; round++) {
      const n = r.int(2, 9);
      const m = r.int(0, 24);
      const edges: [string, string][] = [];
      for (let e = 0; e < m; e++) {
        const a = r.int(0, n - 1);
        let b = r.int(0, n - 2);
        if (b >= a) b++; // no self-loops (self-dependencies are rejected before this stage)
        edges.push([`n${a}`, `n${b}`]);
      }
      const g = graph(edges, Array.from({ length: n }, (_, i) => `n${i}`));
      const got = findCycleClosingEdges(g);
      const expected = bruteForce(g);
      expect(got, `round ${round}: ${edges.map((e) => e.join('>')).join(' ')}`).toEqual(expected);

      const rejected = new Set(got);
      const kept: [number, number][] = [];
      for (let e = 0; e < m; e++) {
        const edge: [number, number] = [g.from[e]!, g.to[e]!];
        if (rejected.has(e)) {
          // Adding it to the kept edges before it makes a cycle.
          expect(isAcyclic(n, [...kept, edge]), `round ${round} edge ${e}`).toBe(false);
        } else {
          kept.push(edge);
        }
      }
      expect(isAcyclic(n, kept), `round ${round}`).toBe(true);
      if (got.length > 0) withRejects++;
    }
    expect(withRejects).toBeGreaterThan(300); // the sample really exercises cycles
  });
});
