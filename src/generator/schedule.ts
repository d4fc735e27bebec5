// Where bad records go and which class each one gets, decided on the fly in O(1) memory.

import type { Random } from './random.js';

/**
 * Interleaves `bad` extra records among `good` ones uniformly at random (each remaining slot is bad with
 * probability badLeft / slotsLeft). The first slot is always good so a duplicate id has an original.
 */
export class SlotSchedule {
  private goodLeft: number;
  private badLeft: number;
  private goodTaken = 0;

  constructor(
    private readonly random: Random,
    good: number,
    bad: number,
  ) {
    this.goodLeft = good;
    this.badLeft = bad;
  }

  get done(): boolean {
    return this.goodLeft + this.badLeft === 0;
  }

  /** The kind of the next slot; call only while not done. */
  next(): 'good' | 'bad' {
    const firstAndGood = this.goodTaken === 0 && this.goodLeft > 0;
    if (!firstAndGood && this.random.next() * (this.goodLeft + this.badLeft) < this.badLeft) {
      this.badLeft--;
      return 'bad';
    }
    this.goodLeft--;
    this.goodTaken++;
    return 'good';
  }
}

/** Selects about `wanted` of `population` candidates seen in order (Knuth's selection sampling). */
export class SelectionSampler {
  private wanted: number;
  private left: number;

  constructor(
    private readonly random: Random,
    wanted: number,
    population: number,
  ) {
    this.wanted = Math.min(wanted, population);
    this.left = population;
  }

  /** Whether the next candidate is selected. */
  take(): boolean {
    if (this.left <= 0) return false;
    const selected = this.random.next() * this.left < this.wanted;
    this.left--;
    if (selected) this.wanted--;
    return selected;
  }

  /** Passes over a candidate that may not be selected (it still counts towards the population). */
  skip(): void {
    if (this.left > this.wanted) this.left--;
  }
}

export interface RotatingVariant {
  /** Used at most once (oversized records are 1 MiB each). */
  readonly once?: boolean;
}

/**
 * Hands out variants in turn, so that the first `variants.length` bad records cover every class.
 * A variant that does not fit the current record keeps its turn and is offered again next time.
 */
export class Rotation<V extends RotatingVariant> {
  private turn = 0;
  private readonly used = new Set<V>();

  constructor(private readonly variants: readonly V[]) {}

  choose(fits: (variant: V) => boolean = () => true): V | undefined {
    const n = this.variants.length;
    // A spent one-off variant must not hold the turn.
    for (let k = 0; k < n && this.spent(this.at(this.turn)); k++) this.turn = (this.turn + 1) % n;
    for (let k = 0; k < n; k++) {
      const variant = this.at(this.turn + k);
      if (this.spent(variant) || !fits(variant)) continue;
      if (k === 0) this.turn = (this.turn + 1) % n;
      if (variant.once) this.used.add(variant);
      return variant;
    }
    return undefined;
  }

  private at(index: number): V {
    return this.variants[index % this.variants.length] as V;
  }

  private spent(variant: V): boolean {
    return variant.once === true && this.used.has(variant);
  }
}
