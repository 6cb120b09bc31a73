/**
 * The merged functions, mappings and locations of the fused merge (fast_merge.ts) and the
 * per-input memos that map an input's entities onto them, in merge.ts's order: a location's
 * mapping first (recording pprof's address shift when it joins an existing mapping), then its
 * lines' functions, then the location key (fast_merge_tables.ts).
 *
 * @module
 */

import type { InputTables } from "./fast_merge_input.ts";
import type { StringInterner } from "./fast_merge_strings.ts";
import { FunctionTable, LocationTable, MappingTable } from "./fast_merge_tables.ts";

const TWO_32 = 4294967296;

/** Returns `a` if it holds `n` entries, else a larger zeroed copy. */
function fit(a: Int32Array<ArrayBuffer>, n: number): Int32Array<ArrayBuffer> {
  if (a.length >= n) return a;
  const b = new Int32Array(Math.max(n, 2 * a.length));
  b.set(a);
  return b;
}

/** An input mapping's address shift (merged start − source start) and source start, as 32-bit halves. */
interface Shift {
  lo: number;
  hi: number;
  startLo: number;
  startHi: number;
}

/** Merged entities plus the memos of the input being merged. */
export class MergedEntities {
  readonly functions: FunctionTable = new FunctionTable();
  readonly mappings: MappingTable = new MappingTable();
  readonly locations: LocationTable = new LocationTable();
  readonly #strings: StringInterner;
  #input: InputTables | undefined;
  #fnMemo = new Int32Array(256);
  #mapMemo = new Int32Array(16);
  #locMemo = new Int32Array(1024);
  #mapShift: Shift[] = [];
  #lineFns = new Int32Array(64);

  /** Entities whose strings are interned in `strings`. */
  constructor(strings: StringInterner) {
    this.#strings = strings;
  }

  /** Starts merging `input`: resets the memos; maps its first mapping first when none exists yet (pprof's main binary rule). */
  begin(input: InputTables): void {
    this.#input = input;
    this.#fnMemo = fit(this.#fnMemo, input.fnCount).fill(0, 0, input.fnCount);
    this.#mapMemo = fit(this.#mapMemo, input.mapCount).fill(0, 0, input.mapCount);
    this.#locMemo = fit(this.#locMemo, input.locCount).fill(0, 0, input.locCount);
    this.#mapShift.length = 0;
    if (this.mappings.list.length === 0 && input.mapCount > 0) this.#mapMapping(0);
  }

  /** Merged index + 1 of the input's location `local` (memoised). */
  location(local: number): number {
    const known = this.#locMemo[local];
    if (known !== 0) return known;
    return this.#locMemo[local] = this.#mapLocation(local) + 1;
  }

  /** merge.ts `#mapLocation` on tables: mapping, then functions, then the location key. */
  #mapLocation(local: number): number {
    const input = this.#input!;
    const addrLo = input.locAddrLo[local], addrHi = input.locAddrHi[local];
    let mapping = 0, relLo = addrLo, relHi = addrHi, outLo = addrLo, outHi = addrHi;
    const srcMapping = input.locMapping[local];
    if (srcMapping !== 0) {
      mapping = this.#mapMapping(srcMapping - 1) + 1;
      const shift = this.#mapShift[srcMapping - 1];
      // address − source mapping start, mod 2^64
      let lo = addrLo - shift.startLo, borrow = 0;
      if (lo < 0) {
        lo += TWO_32;
        borrow = 1;
      }
      relLo = lo;
      relHi = (addrHi - shift.startHi - borrow) >>> 0;
      if (shift.lo !== 0 || shift.hi !== 0) {
        // address + (merged start − source start), mod 2^64
        let sum = addrLo + shift.lo, carry = 0;
        if (sum >= TWO_32) {
          sum -= TWO_32;
          carry = 1;
        }
        outLo = sum;
        outHi = (addrHi + shift.hi + carry) >>> 0;
      }
    }
    const from = input.locLineStart[local], n = input.locLineStart[local + 1] - from;
    this.#lineFns = fit(this.#lineFns, n);
    const fns = this.#lineFns;
    for (let j = 0; j < n; j++) fns[j] = this.#mapFunction(input.lineFn[from + j]);
    return this.locations.intern(
      mapping,
      relLo,
      relHi,
      input.locFolded[local],
      fns,
      input.lineNumber,
      input.lineColumn,
      from,
      n,
      outLo,
      outHi,
    );
  }

  /** Merged index of local mapping `local`; records its address shift. */
  #mapMapping(local: number): number {
    const known = this.#mapMemo[local];
    if (known !== 0) return known - 1;
    const input = this.#input!, strings = this.#strings;
    const before = this.mappings.list.length;
    const merged = this.mappings.intern({
      memoryStart: input.mapStart[local],
      memoryLimit: input.mapLimit[local],
      fileOffset: input.mapOffset[local],
      file: input.string(input.mapFile[local], strings, "mapping filename"),
      buildId: input.string(input.mapBuildId[local], strings, "mapping build_id"),
      flags: input.mapFlags[local],
    });
    const srcStart = input.mapStart[local];
    const shift = merged < before ? BigInt.asUintN(64, this.mappings.list[merged].memoryStart - srcStart) : 0n;
    this.#mapShift[local] = {
      lo: Number(shift & 0xffffffffn),
      hi: Number(shift >> 32n),
      startLo: Number(srcStart & 0xffffffffn),
      startHi: Number(srcStart >> 32n),
    };
    this.#mapMemo[local] = merged + 1;
    return merged;
  }

  /** Merged index of local function `local`. */
  #mapFunction(local: number): number {
    const known = this.#fnMemo[local];
    if (known !== 0) return known - 1;
    const input = this.#input!, strings = this.#strings;
    const merged = this.functions.intern(
      input.string(input.fnName[local], strings, "function name"),
      input.string(input.fnSystemName[local], strings, "function system_name"),
      input.string(input.fnFilename[local], strings, "function filename"),
      input.fnStartLine[local],
    );
    this.#fnMemo[local] = merged + 1;
    return merged;
  }
}
