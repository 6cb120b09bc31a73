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
 * string-only sets are interned structurally in a hash table (key ids + hashed values,
 * compared with `===`; no per-sample key strings) and numbered directly, since their pprof
 * encodings are distinct iff the sets are. Once a numeric label shows up (never in Go CPU
 * profiles), every set is identified by its pprof byte key instead, so collisions merge
 * exactly as in pprof. Each distinct
 * string-only set gets one label object shared by all merged samples that carry it: a deep
 * copy, or (with `adopt`) the first input's own object.
 *
 * @module
 */

import type { Sample } from "./profile.ts";
import { mixHash } from "./merge_samples.ts";
import { finalMix, HASH_SEED } from "./hash_seed.ts";

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
      const units = unitsOf(s, k) ?? [];
      out += encodeString(k) + encodeNumber(values.length);
      for (const v of values) out += encodeNumber(v);
      out += encodeNumber(units.length);
      for (const u of units) out += encodeString(u);
    }
  }
  return out;
}

/**
 * The units of numeric label `key` of `s`, if it has its own entry: label keys come from the
 * profile, and a key such as "constructor" must not find `Object.prototype`'s.
 */
export function unitsOf(s: Pick<Sample, "numUnit">, key: string): string[] | undefined {
  return s.numUnit && Object.hasOwn(s.numUnit, key) ? s.numUnit[key] : undefined;
}

/** Sets `record[key] = value` as an own property (safe for "__proto__"). */
export function setOwn<T>(record: Record<string, T>, key: string, value: T): void {
  if (key === "__proto__") {
    Object.defineProperty(record, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    record[key] = value;
  }
}

/** An interned set; its key ids (sorted) and value lists are at `start…start+count` of the pools. */
interface StoredSet extends LabelSet {
  readonly start: number;
  readonly count: number;
}

/** The UTF-16 code units of `s` mixed into the running hash (every step mixes high bits down). */
function mixString(h: number, s: string): number {
  let x = h ^ s.length;
  for (let i = 0; i < s.length; i++) x = mixHash(x, s.charCodeAt(i));
  return x;
}

/** Interns label sets of samples; see the module doc. */
export class LabelInterner {
  readonly #keyIdsByName = new Map<string, number>();
  // pprof byte key → identity; only built once a numeric label shows up (never for Go CPU profiles).
  #byteKeys: Map<string, number> | undefined;
  #nextIdentity = 1;
  readonly #sets: StoredSet[] = [];
  #slots = new Int32Array(1024); // set index + 1; 0 = empty
  #hashes: number[] = [];
  readonly #keyIds: number[] = [];
  readonly #keys: string[] = [];
  readonly #lists: string[][] = [];
  readonly #poolIds: number[] = [];
  readonly #poolLists: string[][] = [];
  readonly #adopt: boolean;

  /**
   * With `adopt`, new sets reuse the input's label object instead of a deep copy (the input
   * must not be modified afterwards).
   */
  constructor(adopt = false) {
    this.#adopt = adopt;
  }

  /**
   * pprof label identity of the labels of a sample with numeric labels (0 for none). The
   * first call registers the byte keys of all string-only sets seen so far, so collisions
   * between string and numeric encodings resolve exactly as in pprof.
   */
  numericLabels(s: Pick<Sample, "label" | "numLabel" | "numUnit">): number {
    if (!this.#byteKeys) {
      this.#byteKeys = new Map([["", 0]]);
      for (const set of this.#sets) this.#byteKeys.set(labelByteKey(set), set.identity);
    }
    return this.#identityOf(labelByteKey(s));
  }

  #identityOf(byteKey: string): number {
    let id = this.#byteKeys!.get(byteKey);
    if (id === undefined) this.#byteKeys!.set(byteKey, id = this.#nextIdentity++);
    return id;
  }

  /**
   * The interned set of a sample that has string labels only (no numeric labels), or
   * `undefined` when it has no labels at all.
   */
  stringLabels(label: Record<string, string[]>): LabelSet | undefined {
    const names = Object.keys(label);
    const count = names.length;
    if (count === 0) return undefined;
    const keys = this.#keys;
    const ids = this.#keyIds;
    const lists = this.#lists;
    for (let k = 0; k < count; k++) {
      // Insertion sort by key id: any fixed order identifies the set.
      const name = names[k];
      const values = label[name];
      let id = this.#keyIdsByName.get(name);
      if (id === undefined) this.#keyIdsByName.set(name, id = this.#keyIdsByName.size + 1);
      let i = k;
      while (i > 0 && ids[i - 1] > id) {
        ids[i] = ids[i - 1];
        keys[i] = keys[i - 1];
        lists[i] = lists[i - 1];
        i--;
      }
      ids[i] = id;
      keys[i] = name;
      lists[i] = values;
    }
    let h = 0x5bd1e995 ^ HASH_SEED ^ count;
    for (let i = 0; i < count; i++) {
      const values = lists[i];
      h = mixHash(mixHash(h, ids[i]), values.length);
      for (let j = 0; j < values.length; j++) h = mixString(h, values[j]);
    }
    h = finalMix(h);
    const slots = this.#slots;
    const mask = slots.length - 1;
    let pos = h & mask;
    for (let entry = slots[pos]; entry !== 0; entry = slots[pos = (pos + 1) & mask]) {
      if (this.#hashes[entry - 1] === h && this.#sameSet(this.#sets[entry - 1], count)) return this.#sets[entry - 1];
    }
    let copy = label;
    if (!this.#adopt) {
      copy = {};
      for (let i = 0; i < count; i++) setOwn(copy, keys[i], lists[i] = lists[i].slice());
    }
    // String-only sets are distinct iff their pprof encodings are: number them directly
    // until numeric labels appear (then their byte keys decide, see numericLabels).
    const identity = this.#byteKeys ? this.#identityOf(labelByteKey({ label: copy })) : this.#nextIdentity++;
    const set: StoredSet = { identity, label: copy, start: this.#poolIds.length, count };
    for (let i = 0; i < count; i++) {
      this.#poolIds.push(ids[i]);
      this.#poolLists.push(lists[i]);
    }
    this.#sets.push(set);
    this.#hashes.push(h);
    slots[pos] = this.#sets.length;
    if (this.#sets.length * 2 > slots.length) this.#rehash();
    return set;
  }

  /** Whether `set` equals the set in the key/list scratch arrays (`count` keys). */
  #sameSet(set: StoredSet, count: number): boolean {
    if (set.count !== count) return false;
    for (let i = 0; i < count; i++) {
      if (this.#poolIds[set.start + i] !== this.#keyIds[i]) return false;
      const a = this.#poolLists[set.start + i], b = this.#lists[i];
      if (a.length !== b.length) return false;
      for (let j = 0; j < a.length; j++) if (a[j] !== b[j]) return false;
    }
    return true;
  }

  #rehash(): void {
    const slots = new Int32Array(this.#slots.length * 2);
    const mask = slots.length - 1;
    for (let i = 0; i < this.#hashes.length; i++) {
      let p = this.#hashes[i] & mask;
      while (slots[p] !== 0) p = (p + 1) & mask;
      slots[p] = i + 1;
    }
    this.#slots = slots;
  }
}

/** True when `record` has an own enumerable key. */
export function hasKeys(record: Record<string, unknown> | undefined): boolean {
  if (record) { for (const k in record) if (Object.hasOwn(record, k)) return true; }
  return false;
}

/** Deep copy of a sample's labels (the slow path for samples with numeric labels). */
export function copyAllLabels(src: Sample, dst: Sample): void {
  if (hasKeys(src.label)) {
    dst.label = {};
    for (const [k, v] of Object.entries(src.label!)) setOwn(dst.label, k, v.slice());
  }
  dst.numLabel = {};
  dst.numUnit = {};
  for (const [k, v] of Object.entries(src.numLabel!)) {
    setOwn(dst.numLabel, k, v.slice());
    setOwn(dst.numUnit, k, (unitsOf(src, k) ?? []).slice());
  }
}
