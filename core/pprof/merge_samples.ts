/**
 * The sample table of the merger: finds the merged sample with a given key (merged location
 * ids in stack order + label identity) without building key strings.
 *
 * Open addressing over typed arrays: the hash and label identity of every merged sample, and
 * its location ids in one contiguous pool, so a lookup touches a few cache lines instead of
 * chasing objects. Also the per-input id → merged-id memo used for locations.
 *
 * @module
 */

/** Mixes one 32-bit integer into a running hash. */
export function mixHash(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x5bd1e995);
  return h ^ (h >>> 15);
}

/** `h` mixed with both 32-bit halves of the integer `v` (any safe integer). */
export function mixNumber(h: number, v: number): number {
  return mixHash(mixHash(h, v | 0), (v / 4294967296) | 0);
}

function grow(a: Int32Array, min: number): Int32Array<ArrayBuffer> {
  let size = a.length * 2;
  while (size < min) size *= 2;
  const b = new Int32Array(size);
  b.set(a);
  return b;
}

/** Stack + label-identity → merged sample index. */
export class SampleTable {
  #slots = new Int32Array(1024); // sample index + 1; 0 = empty
  #hashes = new Int32Array(512);
  #labels = new Int32Array(512);
  #starts = new Int32Array(513); // ids of sample i: pool[starts[i] .. starts[i + 1])
  #pool = new Int32Array(8192);
  #count = 0;
  #freeSlot = 0;

  /** Number of entries. */
  get size(): number {
    return this.#count;
  }

  /**
   * Index of the entry whose ids equal `ids[0..n)` and whose label identity is `labelId`, or
   * -1. `h` must be the caller's hash of exactly these. After a miss, {@link insert} adds the
   * entry (no other call in between).
   */
  find(ids: Int32Array, n: number, labelId: number, h: number): number {
    const slots = this.#slots;
    const mask = slots.length - 1;
    const pool = this.#pool;
    const starts = this.#starts;
    let pos = h & mask;
    for (;;) {
      const entry = slots[pos];
      if (entry === 0) break;
      const idx = entry - 1;
      if (this.#hashes[idx] === h && this.#labels[idx] === labelId) {
        const start = starts[idx];
        if (starts[idx + 1] - start === n) {
          let i = 0;
          while (i < n && pool[start + i] === ids[i]) i++;
          if (i === n) return idx;
        }
      }
      pos = (pos + 1) & mask;
    }
    this.#freeSlot = pos;
    return -1;
  }

  /** Adds an entry after a missed {@link find} with the same arguments; returns its index. */
  insert(ids: Int32Array, n: number, labelId: number, h: number): number {
    const idx = this.#count++;
    if (idx + 2 > this.#hashes.length) {
      this.#hashes = grow(this.#hashes, idx + 2);
      this.#labels = grow(this.#labels, idx + 2);
      this.#starts = grow(this.#starts, idx + 3);
    }
    const start = this.#starts[idx];
    if (start + n > this.#pool.length) this.#pool = grow(this.#pool, start + n);
    this.#pool.set(ids.subarray(0, n), start);
    this.#starts[idx + 1] = start + n;
    this.#hashes[idx] = h;
    this.#labels[idx] = labelId;
    this.#slots[this.#freeSlot] = idx + 1;
    if (this.#count * 2 > this.#slots.length) this.#rehash();
    return idx;
  }

  #rehash(): void {
    const slots = new Int32Array(this.#slots.length * 2);
    const mask = slots.length - 1;
    for (let i = 0; i < this.#count; i++) {
      let p = this.#hashes[i] & mask;
      while (slots[p] !== 0) p = (p + 1) & mask;
      slots[p] = i + 1;
    }
    this.#slots = slots;
  }
}

/** Input id → merged id (0 = not mapped yet) for one input profile: typed array for dense ids. */
export class IdToIndex {
  readonly #dense: Int32Array;
  readonly #sparse = new Map<number, number>();

  /** A memo sized for ids up to `count` (larger ids use a Map). */
  constructor(count: number) {
    this.#dense = new Int32Array(count + 1);
  }

  /** The merged id of input id `id`, 0 when unknown. */
  get(id: number): number {
    return id < this.#dense.length ? this.#dense[id] : this.#sparse.get(id) ?? 0;
  }

  /** Records the merged id of input id `id`. */
  set(id: number, value: number): void {
    if (id < this.#dense.length) this.#dense[id] = value;
    else this.#sparse.set(id, value);
  }
}
