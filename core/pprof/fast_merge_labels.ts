/**
 * Label sets of the fused merge (fast_merge.ts), columnar: each distinct set is stored once
 * in a number pool as merged string ids, with the same identity rules as merge_labels.ts's
 * {@link LabelInterner} (so samples aggregate exactly as in the object path and in pprof).
 *
 * A set is canonical once its string labels `(key, value)` and numeric labels
 * `(key, number, unit)` are each stably sorted by key id: equal canonical sets are equal
 * `label`/`numLabel`/`numUnit` records (values of a key keep their order). The unit of a
 * numeric label is stored as `0` when the label had no unit index, else `unit id + 1`: pprof
 * tells "no unit index" from "a unit index naming an empty string" in its sample key.
 *
 * Identity: sets with string labels only are numbered directly until the first numeric label
 * shows up; from then on new sets take the identity of their pprof byte key
 * ({@link labelByteKey}), with every earlier set registered under its byte key first — the
 * object path's rules, so even pprof's string/numeric key collisions merge alike.
 *
 * @module
 */

import type { StringInterner } from "./fast_merge_strings.ts";
import { labelByteKey, setOwn } from "./merge_labels.ts";
import { mixHash } from "./merge_samples.ts";
import { finalMix, HASH_SEED, hashFloodError, MAX_ALIKE } from "./hash_seed.ts";

const TWO_32 = 4294967296;

/** Interned label sets; see the module doc. */
export class LabelSetTable {
  /**
   * Pool: per set `[stringCount, numericCount, (key, value)…, (key, numberLow, numberHigh, unit)…]`
   * (a number is `high · 2^32 + (low >>> 0)`; see {@link numericValue}).
   */
  pool: Int32Array = new Int32Array(4096);
  /** Start of set `i` in the pool. */
  starts: Int32Array = new Int32Array(256);
  /** Number of stored sets. */
  count = 0;
  /** Identity of set `i` in the sample key. */
  identities: Int32Array = new Int32Array(256);
  #used = 0;
  #hashes = new Int32Array(256);
  #slots = new Int32Array(2 * 512); // (hash, set + 1) pairs; set + 1 = 0: empty
  #nextIdentity = 1;
  #byteKeys: Map<string, number> | undefined;
  readonly #strings: StringInterner;

  /** Sets whose strings live in `strings`. */
  constructor(strings: StringInterner) {
    this.#strings = strings;
  }

  /** Makes room for `sets` more sets with `values` pool entries in total at once. */
  reserve(sets: number, values: number): void {
    const need = this.count + sets + 2;
    if (need > this.starts.length) this.#growSets(need);
    if (this.#used + values > this.pool.length) this.#growPool(this.#used + values);
    if (need * 2 > this.#slots.length >> 1) this.#rehash(need);
  }

  #growPool(min: number): void {
    const grown = new Int32Array(Math.max(2 * this.pool.length, min));
    grown.set(this.pool.subarray(0, this.#used));
    this.pool = grown;
  }

  /**
   * Interns the set of `pairs[0, 2·ns)` (key, value ids) and `triples[0, 3·nn)` (key id, number,
   * unit as above), sorting both in place; returns the set index, -1 for no labels.
   */
  intern(pairs: Int32Array, ns: number, triples: Float64Array, nn: number): number {
    if (ns + nn === 0) return -1;
    sortPairs(pairs, ns);
    sortByKey(triples, nn, 3);
    let h = mixHash(0x5bd1e995 ^ HASH_SEED ^ ns, nn);
    for (let i = 0; i < 2 * ns; i++) h = mixHash(h, pairs[i]);
    for (let i = 0; i < 3 * nn; i++) {
      const v = triples[i];
      h = mixHash(mixHash(h, v | 0), (v / 4294967296) | 0);
    }
    h = finalMix(h);
    const size = 2 + 2 * ns + 4 * nn;
    const slots = this.#slots, mask = (slots.length >> 1) - 1;
    let pos = h & mask, alike = 0;
    for (let entry = slots[2 * pos + 1]; entry !== 0; entry = slots[2 * (pos = (pos + 1) & mask) + 1]) {
      if (slots[2 * pos] !== h) continue;
      if (this.#same(entry - 1, pairs, ns, triples, nn)) return entry - 1;
      if (++alike > MAX_ALIKE) throw hashFloodError("label sets");
    }
    const set = this.count++;
    if (set + 2 > this.starts.length) this.#growSets();
    if (this.#used + size > this.pool.length) this.#growPool(this.#used + size);
    const pool = this.pool, at = this.#used;
    pool[at] = ns;
    pool[at + 1] = nn;
    for (let i = 0; i < 2 * ns; i++) pool[at + 2 + i] = pairs[i];
    for (let i = 0, q = at + 2 + 2 * ns; i < nn; i++, q += 4) {
      const num = triples[3 * i + 1], high = Math.floor(num / TWO_32);
      pool[q] = triples[3 * i];
      pool[q + 1] = num - high * TWO_32;
      pool[q + 2] = high;
      pool[q + 3] = triples[3 * i + 2];
    }
    this.starts[set] = at;
    this.#used = at + size;
    this.#hashes[set] = h;
    slots[2 * pos] = h;
    slots[2 * pos + 1] = set + 1;
    if (nn !== 0 && !this.#byteKeys) {
      this.#byteKeys = new Map([["", 0]]);
      for (let i = 0; i < set; i++) this.#byteKeys.set(this.#byteKey(i), this.identities[i]);
    }
    this.identities[set] = this.#byteKeys ? this.#identityOf(this.#byteKey(set)) : this.#nextIdentity++;
    if (this.count * 2 > slots.length >> 1) this.#rehash();
    return set;
  }

  #identityOf(byteKey: string): number {
    let id = this.#byteKeys!.get(byteKey);
    if (id === undefined) this.#byteKeys!.set(byteKey, id = this.#nextIdentity++);
    return id;
  }

  /** pprof's label byte key of set `set`, via the object form merge_labels.ts encodes. */
  #byteKey(set: number): string {
    const pool = this.pool, at = this.starts[set];
    const ns = pool[at], nn = pool[at + 1];
    const text = (id: number) => this.#strings.text(id);
    const label: Record<string, string[]> = {};
    for (let i = 0; i < ns; i++) {
      const key = text(pool[at + 2 + 2 * i]);
      if (Object.hasOwn(label, key)) label[key].push(text(pool[at + 3 + 2 * i]));
      else setOwn(label, key, [text(pool[at + 3 + 2 * i])]);
    }
    const numLabel: Record<string, number[]> = {};
    const numUnit: Record<string, string[]> = {};
    const base = at + 2 + 2 * ns;
    for (let i = 0; i < nn; i++) {
      const key = text(pool[base + 4 * i]);
      if (!Object.hasOwn(numLabel, key)) setOwn(numLabel, key, []);
      numLabel[key].push(numericValue(pool, base + 4 * i + 1));
    }
    for (let i = 0; i < nn; i++) {
      const key = text(pool[base + 4 * i]);
      if (pool[base + 4 * i + 3] === 0 || Object.hasOwn(numUnit, key)) continue;
      const units: string[] = [];
      for (let j = 0; j < nn; j++) {
        if (pool[base + 4 * j] !== pool[base + 4 * i]) continue;
        const unit = pool[base + 4 * j + 3];
        units.push(unit === 0 ? "" : text(unit - 1));
      }
      setOwn(numUnit, key, units);
    }
    return labelByteKey({ label, numLabel, numUnit });
  }

  #same(set: number, pairs: Int32Array, ns: number, triples: Float64Array, nn: number): boolean {
    const pool = this.pool;
    let at = this.starts[set];
    if (pool[at] !== ns || pool[at + 1] !== nn) return false;
    at += 2;
    for (let i = 0; i < 2 * ns; i++) if (pool[at + i] !== pairs[i]) return false;
    at += 2 * ns;
    for (let i = 0; i < nn; i++, at += 4) {
      if (
        pool[at] !== triples[3 * i] || numericValue(pool, at + 1) !== triples[3 * i + 1] ||
        pool[at + 3] !== triples[3 * i + 2]
      ) return false;
    }
    return true;
  }

  #growSets(min = 0): void {
    const n = Math.max(min, this.starts.length * 2);
    const grow = (a: Int32Array) => {
      const b = new Int32Array(n);
      b.set(a);
      return b;
    };
    this.starts = grow(this.starts);
    this.identities = grow(this.identities);
    this.#hashes = grow(this.#hashes);
  }

  #rehash(min = 0): void {
    let size = this.#slots.length; // slots: twice the old count
    while (size < 2 * min) size *= 2;
    const slots = new Int32Array(2 * size);
    const mask = size - 1;
    for (let i = 0; i < this.count; i++) {
      const h = this.#hashes[i];
      let p = h & mask;
      while (slots[2 * p + 1] !== 0) p = (p + 1) & mask;
      slots[2 * p] = h;
      slots[2 * p + 1] = i + 1;
    }
    this.#slots = slots;
  }
}

/** The numeric label value stored as two 32-bit halves at `pool[at]` (low) and `pool[at + 1]` (high). */
export function numericValue(pool: Int32Array, at: number): number {
  return pool[at + 1] * TWO_32 + (pool[at] >>> 0);
}

/** Stable insertion sort of `n` (key, value) pairs by key (few labels per sample: usually already sorted). */
function sortPairs(a: Int32Array, n: number): void {
  for (let i = 1; i < n; i++) {
    const key = a[2 * i], value = a[2 * i + 1];
    let j = i;
    while (j > 0 && a[2 * (j - 1)] > key) {
      a[2 * j] = a[2 * (j - 1)];
      a[2 * j + 1] = a[2 * (j - 1) + 1];
      j--;
    }
    a[2 * j] = key;
    a[2 * j + 1] = value;
  }
}

/** Stable insertion sort of `n` records of `width` numbers by their first number (few labels per sample). */
function sortByKey(a: Float64Array, n: number, width: number): void {
  for (let i = 1; i < n; i++) {
    const key = a[i * width];
    let j = i;
    while (j > 0 && a[(j - 1) * width] > key) j--;
    if (j === i) continue;
    const saved = Array.from(a.subarray(i * width, i * width + width));
    a.copyWithin((j + 1) * width, j * width, i * width);
    a.set(saved, j * width);
  }
}
