// Compact per-id and per-edge storage for the validator: ids interned to small integers, and growable
// typed arrays instead of one object per record (a million tasks must not mean a million objects).

/** Interns legacy ids: each distinct id gets the next integer. */
export class IdInterner {
  private readonly index = new Map<string, number>();
  readonly names: string[] = [];

  intern(id: string): number {
    let i = this.index.get(id);
    if (i === undefined) {
      i = this.names.length;
      this.names.push(id);
      this.index.set(id, i);
    }
    return i;
  }

  find(id: string): number | undefined {
    return this.index.get(id);
  }

  get size(): number {
    return this.names.length;
  }
}

/** A growable Int32Array; unset slots read as `fill`. */
export class IntColumn {
  private data: Int32Array;
  length = 0;

  constructor(private readonly fill = 0, capacity = 1024) {
    this.data = new Int32Array(capacity).fill(fill);
  }

  get(i: number): number {
    return i < this.data.length ? this.data[i]! : this.fill;
  }

  set(i: number, value: number): void {
    this.ensure(i + 1);
    this.data[i] = value;
    if (i >= this.length) this.length = i + 1;
  }

  push(value: number): number {
    this.set(this.length, value);
    return this.length - 1;
  }

  /** The filled part (a view, not a copy). */
  view(): Int32Array {
    return this.data.subarray(0, this.length);
  }

  private ensure(size: number): void {
    if (size <= this.data.length) return;
    const grown = new Int32Array(Math.max(size, this.data.length * 2)).fill(this.fill);
    grown.set(this.data);
    this.data = grown;
  }
}
