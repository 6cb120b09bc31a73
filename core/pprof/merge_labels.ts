/**
 * Label identity for merging, exactly as google/pprof's sample key sees labels, but fast.
 *
 * pprof appends a byte encoding of a sample's labels to its sample key: string labels by
 * sorted key (key, value count, values), then numeric labels by sorted key (key, value count,
 * values as uvarint, unit count, units), all length-prefixed but with no separator between the
 * two sections. Among label sets with string labels only this encoding is injective; a set
 * with numeric labels can collide with a different set (e.g. `{k: ["\x01\x00"]}` and
 * `{k: [2]}` with unit "" encode alike), and pprof then treats them as the same labels.
 *
 * {@link LabelInterner} gives every sample a label identity with exactly pprof's equality:
 * string-only sets are interned structurally as sequences of interned string ids in a typed
 * hash table (no per-sample strings); each distinct set, and every set with numeric labels, is then
 * identified by its pprof byte key, so collisions merge exactly as in pprof. Distinct
 * string-only sets get one shared, deep-copied label object.
 *
 * @module
 */

import type { Sample } from "./profile.ts";
import { mixHash, SampleTable } from "./merge_samples.ts";

const MAX_VALUE = Number.MAX_SAFE_INTEGER;

/** The labels of a sample and their identity (0 = no labels). */
export interface LabelSet {
  /** Identity in pprof's sample key: equal ids ⇔ equal pprof label encodings. */
  readonly identity: number;
  /** Shared copy of the string labels (treat as immutable). */
  readonly label: Record<string, string[]>;
}

/** Returns pprof's uvarint encoding of `v` (as uint64: negatives wrap) as byte characters. */
function encodeNumber(v: number): string {
  if (v >= 0 && v < 128) return String.fromCharCode(v);
  let out = "";
  if (v >= 0 && v <= MAX_VALUE) {
    while (v >= 128) {
      out += String.fromCharCode((v % 128) | 128);
      v = Math.floor(v / 128);
    }
    return out + String.fromCharCode(v);
  }
  let b = BigInt.asUintN(64, BigInt(Math.trunc(v)));
  while (b >= 128n) {
    out += String.fromCharCode(Number(b & 127n) | 128);
    b >>= 7n;
  }
  return out + String.fromCharCode(Number(b));
}

const utf8 = new TextEncoder();
// deno-lint-ignore no-control-regex
const ASCII = /^[\x00-\x7f]*$/;

/** pprof's `putDelimitedString`: UTF-8 byte length as uvarint, then the bytes. */
function encodeString(s: string): string {
  if (ASCII.test(s)) return encodeNumber(s.length) + s;
  const bytes = utf8.encode(s);
  let out = encodeNumber(bytes.length);
  for (const b of bytes) out += String.fromCharCode(b);
  return out;
}

/** The labels part of pprof's sample key, byte for byte (a string of byte characters); "" without labels. */
export function labelByteKey(s: Pick<Sample, "label" | "numLabel" | "numUnit">): string {
  let out = "";
  if (s.label) {
    for (const k of Object.keys(s.label).sort()) {
      const values = s.label[k];
      out += encodeString(k) + encodeNumber(values.length);
      for (const v of values) out += encodeString(v);
    }
  }
  if (s.numLabel) {
    for (const k of Object.keys(s.numLabel).sort()) {
      const values = s.numLabel[k];
      const units = s.numUnit?.[k] ?? [];
      out += encodeString(k) + encodeNumber(values.length);
      for (const v of values) out += encodeNumber(v);
      out += encodeNumber(units.length);
      for (const u of units) out += encodeString(u);
    }
  }
  return out;
}

/** Sets `record[key] = value` as an own property (safe for "__proto__"). */
export function setOwn<T>(record: Record<string, T>, key: string, value: T): void {
  if (key === "__proto__") {
    Object.defineProperty(record, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    record[key] = value;
  }
}

/** Interns label sets of samples; see the module doc. */
export class LabelInterner {
  readonly #strings = new Map<string, number>();
  readonly #byteKeys = new Map<string, number>([["", 0]]);
  readonly #sets: LabelSet[] = [];
  readonly #table = new SampleTable();
  #seq = new Int32Array(64);
  readonly #keyIds: number[] = [];
  readonly #keys: string[] = [];

  /** pprof label identity of an encoded label key (0 for ""). */
  identityOf(byteKey: string): number {
    let id = this.#byteKeys.get(byteKey);
    if (id === undefined) this.#byteKeys.set(byteKey, id = this.#byteKeys.size);
    return id;
  }

  /**
   * The interned set of a sample that has string labels only (no numeric labels), or
   * `undefined` when it has no labels at all.
   */
  stringLabels(label: Record<string, string[]>): LabelSet | undefined {
    const keys = this.#keys;
    const ids = this.#keyIds;
    keys.length = 0;
    ids.length = 0;
    let len = 0;
    for (const k in label) {
      if (!Object.hasOwn(label, k)) continue;
      // Insertion sort by interned id: any fixed order identifies the set.
      const id = this.#intern(k);
      let i = ids.length;
      while (i > 0 && ids[i - 1] > id) {
        ids[i] = ids[i - 1];
        keys[i] = keys[i - 1];
        i--;
      }
      ids[i] = id;
      keys[i] = k;
      len += 2 + label[k].length;
    }
    if (ids.length === 0) return undefined;
    // The set as a self-delimiting id sequence: key, value count, values… per key.
    if (len > this.#seq.length) this.#seq = new Int32Array(Math.max(len, this.#seq.length * 2));
    const seq = this.#seq;
    let n = 0;
    let h = 0x5bd1e995 ^ len;
    for (let i = 0; i < ids.length; i++) {
      const values = label[keys[i]];
      seq[n++] = ids[i];
      seq[n++] = values.length;
      h = mixHash(mixHash(h, ids[i]), values.length);
      for (let j = 0; j < values.length; j++) h = mixHash(h, seq[n++] = this.#intern(values[j]));
    }
    const found = this.#table.find(seq, n, 0, h);
    if (found >= 0) return this.#sets[found];
    this.#table.insert(seq, n, 0, h);
    const copy: Record<string, string[]> = {};
    for (const k of keys) setOwn(copy, k, label[k].slice());
    const set = { identity: this.identityOf(labelByteKey({ label: copy })), label: copy };
    this.#sets.push(set);
    return set;
  }

  #intern(s: string): number {
    let id = this.#strings.get(s);
    if (id === undefined) this.#strings.set(s, id = this.#strings.size + 1);
    return id;
  }
}
