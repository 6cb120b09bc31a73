/**
 * The string table of the fused merge (fast_merge.ts): strings are interned by their UTF-8
 * bytes straight from the input buffers into one byte pool, so no JS string is built for a
 * profile's strings and the merged table costs one byte per character.
 *
 * Equality is the object path's: there, a string is the UTF-8 decoding of its bytes with
 * invalid sequences replaced by U+FFFD (wire.ts), so two different invalid byte sequences may
 * be the same string. Here each string is interned by its canonical bytes, the UTF-8 encoding
 * of that decoding: identical to the input bytes for valid UTF-8 (checked only for strings
 * with non-ASCII bytes), re-encoded otherwise. Id 0 is always "".
 *
 * @module
 */

import { ProfileError } from "./errors.ts";
import { MAX_STRING_BYTES } from "./wire.ts";
import { finalMix, HASH_SEED, hashFloodError, MAX_ALIKE } from "./hash_seed.ts";

const FATAL_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const LENIENT_UTF8 = new TextDecoder("utf-8", { ignoreBOM: true });
const ENCODER = new TextEncoder();

function growInt32(a: Int32Array, min: number): Int32Array<ArrayBuffer> {
  const size = Math.max(min, a.length * 2);
  const b = new Int32Array(size);
  b.set(a);
  return b;
}

/** Interned strings by canonical UTF-8 bytes; ids 0..count-1 in first-intern order, 0 = "". */
export class StringInterner {
  /** Byte pool; string `id` is `bytes[starts[id], starts[id + 1])`. */
  bytes = new Uint8Array(1 << 16);
  /** Start offsets (count + 1 entries used). */
  starts = new Int32Array(1024);
  /** Number of interned strings (including ""). */
  count = 1;
  #slots = new Int32Array(2048); // id + 1; 0 = empty
  #hashes = new Int32Array(1024);

  /** Interns `buf[start, end)` (raw profile bytes) and returns its id. */
  intern(buf: Uint8Array, start: number, end: number): number {
    if (end === start) return 0;
    // FNV-style over 4-byte words, then the tail bytes, from this process's seed (hash_seed.ts);
    // `high` collects the top bits (non-ASCII?). Words that differ only in their top bits still
    // give hashes that differ only in theirs, whatever the seed: the final mix spreads them over
    // the table, and MAX_ALIKE bounds a lookup among strings with one hash.
    let h = HASH_SEED ^ (end - start);
    let high = 0, i = start;
    for (; i + 4 <= end; i += 4) {
      const word = buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24);
      high |= word;
      h = Math.imul(h ^ word, 16777619);
    }
    for (; i < end; i++) {
      high |= buf[i];
      h = Math.imul(h ^ buf[i], 16777619);
    }
    if ((high & 0x80808080) !== 0 && !isValidUtf8(buf, start, end)) {
      const canonical = ENCODER.encode(LENIENT_UTF8.decode(buf.subarray(start, end)));
      return this.intern(canonical, 0, canonical.length);
    }
    h = finalMix(h);
    const slots = this.#slots, mask = slots.length - 1;
    const pool = this.bytes, starts = this.starts;
    const length = end - start;
    let pos = h & mask, alike = 0;
    for (let entry = slots[pos]; entry !== 0; entry = slots[pos = (pos + 1) & mask]) {
      const id = entry - 1;
      if (this.#hashes[id] !== h) continue;
      const at = starts[id];
      let i = 0;
      if (starts[id + 1] - at === length) {
        while (i < length && pool[at + i] === buf[start + i]) i++;
        if (i === length) return id;
      }
      if (++alike > MAX_ALIKE) throw hashFloodError("strings");
    }
    const id = this.count++;
    if (id + 2 > starts.length) {
      this.starts = growInt32(starts, id + 2);
      this.#hashes = growInt32(this.#hashes, id + 2);
    }
    const at = this.starts[id];
    if (at + length > pool.length) this.#growBytes(at, at + length);
    const bytes = this.bytes;
    if (length <= 64) { for (let i = 0; i < length; i++) bytes[at + i] = buf[start + i]; }
    else bytes.set(buf.subarray(start, end), at);
    this.starts[id + 1] = at + length;
    this.#hashes[id] = h;
    slots[pos] = id + 1;
    if (this.count * 2 > slots.length) this.#rehash();
    return id;
  }

  /** Makes room for `count` more strings of `bytes` bytes in total at once. */
  reserve(count: number, bytes: number): void {
    const need = this.count + count + 1;
    if (need > this.starts.length) {
      this.starts = growInt32(this.starts, need);
      this.#hashes = growInt32(this.#hashes, need);
    }
    const used = this.starts[this.count];
    if (used + bytes > this.bytes.length) this.#growBytes(used, used + bytes);
    if (need * 2 > this.#slots.length) this.#rehash(need);
  }

  /** Grows the byte pool to hold `min` bytes, keeping its first `used` (the bytes of every string interned so far). */
  #growBytes(used: number, min: number): void {
    let size = this.bytes.length * 2;
    while (size < min) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, used));
    this.bytes = grown;
  }

  /** Interns a JS string (headers, tests). */
  internText(s: string): number {
    const bytes = ENCODER.encode(s);
    return this.intern(bytes, 0, bytes.length);
  }

  /** The string with id `id` (for error messages and the rare numeric-label path). */
  text(id: number): string {
    return LENIENT_UTF8.decode(this.bytes.subarray(this.starts[id], this.starts[id + 1]));
  }

  /** Compares strings `a` and `b` by UTF-8 bytes (Go's string order, as encode.ts sorts label keys). */
  compare(a: number, b: number): number {
    const pool = this.bytes, starts = this.starts;
    const sa = starts[a], la = starts[a + 1] - sa, sb = starts[b], lb = starts[b + 1] - sb;
    const n = Math.min(la, lb);
    for (let i = 0; i < n; i++) {
      const d = pool[sa + i] - pool[sb + i];
      if (d !== 0) return d;
    }
    return la - lb;
  }

  #rehash(min = 0): void {
    let size = this.#slots.length * 2;
    while (size < 2 * min) size *= 2;
    const slots = new Int32Array(size);
    const mask = slots.length - 1;
    for (let id = 1; id < this.count; id++) {
      let p = this.#hashes[id] & mask;
      while (slots[p] !== 0) p = (p + 1) & mask;
      slots[p] = id + 1;
    }
    this.#slots = slots;
  }
}

function isValidUtf8(buf: Uint8Array, start: number, end: number): boolean {
  try {
    FATAL_UTF8.decode(buf.subarray(start, end));
    return true;
  } catch {
    return false;
  }
}

/** Throws kind "too-large" as the object path does for a string longer than {@link MAX_STRING_BYTES}. */
export function checkStringSpans(spans: readonly number[]): void {
  for (let i = 0; i < spans.length; i += 2) {
    const length = spans[i + 1] - spans[i];
    if (length > MAX_STRING_BYTES) {
      throw new ProfileError("too-large", `string ${i / 2} is ${length} bytes, over the limit of ${MAX_STRING_BYTES}`);
    }
  }
}
