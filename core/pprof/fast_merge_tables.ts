/**
 * Merged functions, mappings and locations of the fused merge (fast_merge.ts), columnar,
 * keyed exactly like merge.ts / merge_keys.ts (pprof's keys): functions by (start line, name,
 * system name, file name); mappings by {@link mappingKey} (size rounded up to 4 KiB, file
 * offset, build id else file); locations by (address − mapping start, merged mapping,
 * is_folded, lines). The lines part follows pprof's slot quirk (merge_keys.ts `fillLineSlots`): of n
 * lines the key holds every function id and line number but only the last line's column.
 * Indexes are 0-based in creation (first-use) order.
 *
 * @module
 */

import type { MappingFields } from "./decode_messages.ts";
import { mappingKey } from "./merge_keys.ts";
import { mixHash, mixNumber } from "./merge_samples.ts";
import { finalMix, HASH_SEED, hashFloodError, MAX_ALIKE } from "./hash_seed.ts";

function grow<T extends Int32Array | Uint32Array | Float64Array | Uint8Array>(a: T, min: number): T {
  if (a.length >= min) return a;
  const Ctor = a.constructor as new (n: number) => T;
  const b = new Ctor(Math.max(min, 2 * a.length));
  b.set(a);
  return b;
}

/** Rebuilds an open-addressing slot array (entry + 1 per slot) twice as large. */
function rehash(old: Int32Array, hashes: Int32Array, count: number): Int32Array<ArrayBuffer> {
  const slots = new Int32Array(old.length * 2);
  const mask = slots.length - 1;
  for (let i = 0; i < count; i++) {
    let p = hashes[i] & mask;
    while (slots[p] !== 0) p = (p + 1) & mask;
    slots[p] = i + 1;
  }
  return slots;
}

/** Merged functions; strings are merged string ids. */
export class FunctionTable {
  count = 0;
  name: Int32Array = new Int32Array(256);
  systemName: Int32Array = new Int32Array(256);
  filename: Int32Array = new Int32Array(256);
  startLine: Float64Array = new Float64Array(256);
  #hashes = new Int32Array(256);
  #slots = new Int32Array(512);

  /** Index of the function with this key, created when new. */
  intern(name: number, systemName: number, filename: number, startLine: number): number {
    const h = finalMix(mixNumber(mixHash(mixHash(mixHash(0x2f1 ^ HASH_SEED, name), systemName), filename), startLine));
    const mask = this.#slots.length - 1;
    let pos = h & mask, alike = 0;
    for (let e = this.#slots[pos]; e !== 0; e = this.#slots[pos = (pos + 1) & mask]) {
      const i = e - 1;
      if (this.#hashes[i] !== h) continue;
      if (
        this.name[i] === name && this.systemName[i] === systemName && this.filename[i] === filename &&
        this.startLine[i] === startLine
      ) return i;
      if (++alike > MAX_ALIKE) throw hashFloodError("functions");
    }
    const i = this.count++;
    if (i >= this.name.length) {
      this.name = grow(this.name, i + 1);
      this.systemName = grow(this.systemName, i + 1);
      this.filename = grow(this.filename, i + 1);
      this.startLine = grow(this.startLine, i + 1);
      this.#hashes = grow(this.#hashes, i + 1);
    }
    this.name[i] = name;
    this.systemName[i] = systemName;
    this.filename[i] = filename;
    this.startLine[i] = startLine;
    this.#hashes[i] = h;
    this.#slots[pos] = i + 1;
    if (this.count * 2 > this.#slots.length) this.#slots = rehash(this.#slots, this.#hashes, this.count);
    return i;
  }
}

/** A merged mapping: a Mapping message's fields without its id (first-seen; strings as merged string ids). */
export type MergedMapping = Omit<MappingFields, "id">;

/** Merged mappings, keyed like merge_keys.ts {@link mappingKey}. */
export class MappingTable {
  readonly list: MergedMapping[] = [];
  readonly #byKey = new Map<string, number>();

  /** Index of the mapping with `m`'s key (`fileKey` = the merged id of its build id, else of its file), created when new. */
  intern(m: MergedMapping): number {
    const key = mappingKey(
      {
        memoryStart: m.memoryStart,
        memoryLimit: m.memoryLimit,
        fileOffset: m.fileOffset,
        buildId: m.buildId !== 0 ? String(m.buildId) : "",
        file: String(m.file),
      } as Parameters<typeof mappingKey>[0],
    );
    let i = this.#byKey.get(key);
    if (i === undefined) {
      i = this.list.length;
      this.list.push(m);
      this.#byKey.set(key, i);
    }
    return i;
  }
}

/** Merged locations: see the module doc for the key. */
export class LocationTable {
  count = 0;
  /** Merged mapping index + 1 (0 = none). */
  mapping: Int32Array = new Int32Array(1024);
  /** Output address (shifted into the merged mapping), 32-bit halves. */
  addrLo: Uint32Array = new Uint32Array(1024);
  addrHi: Uint32Array = new Uint32Array(1024);
  /** Key address (address − mapping start), 32-bit halves. */
  relLo: Uint32Array = new Uint32Array(1024);
  relHi: Uint32Array = new Uint32Array(1024);
  folded: Uint8Array = new Uint8Array(1024);
  /** Lines of location i: `[lineStart[i], lineStart[i + 1])`. */
  lineStart: Int32Array = new Int32Array(1025);
  /** Merged function index of each line. */
  lineFn: Int32Array = new Int32Array(2048);
  lineNumber: Float64Array = new Float64Array(2048);
  lineColumn: Float64Array = new Float64Array(2048);
  #lines = 0;
  #hashes = new Int32Array(1024);
  #slots = new Int32Array(2048);

  /**
   * Index of the location with this key, created (with these lines and address) when new.
   * Lines: merged function indexes `fns[0, n)`, numbers and columns `[from, from + n)`.
   */
  intern(
    mapping: number,
    relLo: number,
    relHi: number,
    folded: number,
    fns: Int32Array,
    numbers: Float64Array,
    columns: Float64Array,
    from: number,
    n: number,
    addrLo: number,
    addrHi: number,
  ): number {
    let h = mixHash(mixHash(mixHash(mixHash(0x3a7 ^ HASH_SEED ^ n, mapping), relLo), relHi), folded);
    for (let j = 0; j < n; j++) h = mixNumber(mixHash(h, fns[j]), numbers[from + j]);
    if (n > 0) h = mixNumber(h, columns[from + n - 1]);
    h = finalMix(h);
    const mask = this.#slots.length - 1;
    let pos = h & mask, alike = 0;
    for (let e = this.#slots[pos]; e !== 0; e = this.#slots[pos = (pos + 1) & mask]) {
      const i = e - 1;
      if (this.#hashes[i] !== h) continue;
      if (
        this.relLo[i] === relLo && this.relHi[i] === relHi && this.mapping[i] === mapping &&
        this.folded[i] === folded && this.#sameLines(i, fns, numbers, columns, from, n)
      ) return i;
      if (++alike > MAX_ALIKE) throw hashFloodError("locations");
    }
    const i = this.count++;
    if (i + 1 >= this.mapping.length) this.#grow(i + 2);
    this.mapping[i] = mapping;
    this.addrLo[i] = addrLo;
    this.addrHi[i] = addrHi;
    this.relLo[i] = relLo;
    this.relHi[i] = relHi;
    this.folded[i] = folded;
    const start = this.#lines;
    if (start + n > this.lineFn.length) {
      this.lineFn = grow(this.lineFn, start + n);
      this.lineNumber = grow(this.lineNumber, start + n);
      this.lineColumn = grow(this.lineColumn, start + n);
    }
    this.lineFn.set(fns.subarray(0, n), start);
    this.lineNumber.set(numbers.subarray(from, from + n), start);
    this.lineColumn.set(columns.subarray(from, from + n), start);
    this.#lines = start + n;
    this.lineStart[i + 1] = this.#lines;
    this.#hashes[i] = h;
    this.#slots[pos] = i + 1;
    if (this.count * 2 > this.#slots.length) this.#slots = rehash(this.#slots, this.#hashes, this.count);
    return i;
  }

  #sameLines(
    i: number,
    fns: Int32Array,
    numbers: Float64Array,
    columns: Float64Array,
    from: number,
    n: number,
  ): boolean {
    const start = this.lineStart[i];
    if (this.lineStart[i + 1] - start !== n) return false;
    for (let j = 0; j < n; j++) {
      if (this.lineFn[start + j] !== fns[j] || this.lineNumber[start + j] !== numbers[from + j]) return false;
    }
    return n === 0 || this.lineColumn[start + n - 1] === columns[from + n - 1];
  }

  #grow(min: number): void {
    this.mapping = grow(this.mapping, min);
    this.addrLo = grow(this.addrLo, min);
    this.addrHi = grow(this.addrHi, min);
    this.relLo = grow(this.relLo, min);
    this.relHi = grow(this.relHi, min);
    this.folded = grow(this.folded, min);
    this.lineStart = grow(this.lineStart, this.mapping.length + 1);
    this.#hashes = grow(this.#hashes, min);
  }
}
