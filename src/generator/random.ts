// Seeded pseudo-random numbers: the generator's only source of randomness, so a seed fixes every byte.
//
// Each good record draws from its own stream, derived from (seed, stream, index), so its content is a
// function of its index alone; the order decisions (where bad records go) draw from separate streams.

const TWO_POW_32 = 0x1_0000_0000;

/** Named streams, so that adding a draw to one kind never shifts the values of another. */
export const Stream = {
  project: 1,
  phase: 2,
  task: 3,
  dependencyRow: 4,
  taskDependencies: 5,
  badProject: 11,
  badPhase: 12,
  badTask: 13,
  badDependency: 14,
  projectSlots: 21,
  phaseSlots: 22,
  taskSlots: 23,
  edgeSelection: 24,
} as const;

/** murmur3's 32-bit finaliser applied after folding `value` into `hash`. */
function mix(hash: number, value: number): number {
  let h = Math.imul(hash ^ value, 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Folds any safe integers (seeds and indexes may exceed 32 bits) into one 32-bit hash. */
export function hashNumbers(...values: number[]): number {
  let h = 0x2545f491;
  for (const value of values) {
    h = mix(h, value >>> 0);
    h = mix(h, Math.floor(value / TWO_POW_32) >>> 0);
  }
  return h;
}

/** sfc32: small, fast and statistically sound for test data (not for cryptography). */
export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = mix(seed, 0x6a09e667);
    this.b = mix(seed, 0xbb67ae85);
    this.c = mix(seed, 0x3c6ef372);
    this.d = 1;
    // The first outputs of sfc32 still echo the seed; discard them.
    for (let i = 0; i < 12; i++) this.uint32();
  }

  /** The stream of record `index` of `stream` under `seed`. */
  static derive(seed: number, stream: number, index = 0): Random {
    return new Random(hashNumbers(seed, stream, index));
  }

  uint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** A float in [0, 1). */
  next(): number {
    return this.uint32() / TWO_POW_32;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Random.pick needs a non-empty list.');
    return items[this.int(items.length)] as T;
  }
}
