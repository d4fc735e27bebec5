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

  /** Wants one more selection (used when a selection was wasted). */
  extend(): void {
    this.wanted = Math.min(this.wanted + 1, this.left);
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
 * Hands out variants in laps: each lap uses every entry of the list once, in list order, except that an
 * entry that does not fit the current record waits (keeping its place) for a later one. The first lap
 * therefore covers every variant as early as records allow; repeating an entry in the list weights it.
 */
export class Rotation<V extends RotatingVariant> {
  private readonly usedInLap: boolean[];
  private readonly spent = new Set<V>();

  constructor(private readonly entries: readonly V[]) {
    this.usedInLap = entries.map(() => false);
  }

  choose(fits: (variant: V) => boolean = () => true): V | undefined {
    const found = this.firstFitting(fits);
    if (found !== undefined) return found;
    // Only waiting entries are left (or none): start a new lap; the waiting ones keep their lead.
    this.usedInLap.fill(false);
    return this.firstFitting(fits);
  }

  private firstFitting(fits: (variant: V) => boolean): V | undefined {
    for (const [index, entry] of this.entries.entries()) {
      if (this.usedInLap[index] || this.spent.has(entry) || !fits(entry)) continue;
      this.usedInLap[index] = true;
      if (entry.once) this.spent.add(entry);
      return entry;
    }
    return undefined;
  }
}
