/**
 * One input of the fused merge (fast_merge.ts), decoded into flat typed arrays instead of a
 * {@link Profile} object graph: the top-level scan of decode.ts, then every function, mapping
 * and location message read by decode_messages.ts's message readers (the object path's own) and
 * validated exactly as decode.ts + validate.ts do (same string-index ranges, id rules, limits),
 * with ids resolved to local indexes. Strings
 * are range-checked here and interned into the merged table only when the merge uses them.
 * The arrays are reused from one input to the next.
 *
 * @module
 */

import { scanProfile, type TopLevel } from "./decode.ts";
import {
  countCheck,
  newFunctionFields,
  newLineFields,
  newMappingFields,
  readFunction,
  readLine,
  readMapping,
  readValueType,
  skipField,
} from "./decode_messages.ts";
import { ProfileError } from "./errors.ts";
import type { StringInterner } from "./fast_merge_strings.ts";
import { checkStringSpans } from "./fast_merge_strings.ts";
import type { DecodeLimits } from "./limits.ts";
import { IdToIndex } from "./merge_samples.ts";
import { WireReader } from "./wire.ts";

function invalid(message: string): never {
  throw new ProfileError("invalid", message);
}

/** Returns `a` if it holds `n` entries, else a larger fresh array of the same kind. */
function fit<T extends Int32Array | Uint32Array | Float64Array | Uint8Array>(a: T, n: number): T {
  if (a.length >= n) return a;
  const Ctor = a.constructor as new (n: number) => T;
  const b = new Ctor(Math.max(n, 2 * a.length));
  b.set(a);
  return b;
}

/** The tables of one decoded input; see the module doc. Indexes are local (0-based message order). */
export class InputTables {
  /** Raw (inflated) protobuf bytes. */
  raw: Uint8Array = new Uint8Array(0);
  /** Reader over `raw` (positioned by callers). */
  r: WireReader = new WireReader(this.raw);
  /** Top-level scan (spans and scalar headers). */
  top!: TopLevel;
  /** Number of strings in the string table. */
  stringCount = 0;
  /** Input string index → merged string id + 1 (0 = not interned yet). */
  stringIds: Int32Array = new Int32Array(256);
  /** Sample types as merged string ids: type, unit, type, unit, … */
  sampleTypes: number[] = [];
  /** Period type as merged string ids `[type, unit]` (the last period_type, as pprof). */
  periodType: [number, number] = [0, 0];

  /** Functions: string indexes (input) and start lines. */
  fnCount = 0;
  fnName: Int32Array = new Int32Array(64);
  fnSystemName: Int32Array = new Int32Array(64);
  fnFilename: Int32Array = new Int32Array(64);
  fnStartLine: Float64Array = new Float64Array(64);
  /** Function id → local index + 1. */
  fnById: IdToIndex = new IdToIndex(0);

  /** Mappings: bounds (bigint), string indexes, has_* flags (bit 0..3). */
  mapCount = 0;
  mapStart: bigint[] = [];
  mapLimit: bigint[] = [];
  mapOffset: bigint[] = [];
  mapFile: Int32Array = new Int32Array(8);
  mapBuildId: Int32Array = new Int32Array(8);
  mapFlags: Uint8Array = new Uint8Array(8);
  /** Mapping id → local index + 1. */
  mapById: IdToIndex = new IdToIndex(0);

  /** Locations: mapping (local index + 1, 0 = none), address halves, folded flag, lines `[lineStart[i], lineStart[i+1])`. */
  locCount = 0;
  locMapping: Int32Array = new Int32Array(256);
  locAddrLo: Uint32Array = new Uint32Array(256);
  locAddrHi: Uint32Array = new Uint32Array(256);
  locFolded: Uint8Array = new Uint8Array(256);
  locLineStart: Int32Array = new Int32Array(257);
  /** Lines: function (local index), line number, column. */
  lineFn: Int32Array = new Int32Array(512);
  lineNumber: Float64Array = new Float64Array(512);
  lineColumn: Float64Array = new Float64Array(512);
  /** Location id → local index + 1. */
  locById: IdToIndex = new IdToIndex(0);
  // Messages are read into these by decode_messages.ts's readers, shared with the object path.
  readonly #fn = newFunctionFields();
  readonly #mapping = newMappingFields();
  readonly #line = newLineFields();

  /**
   * Decodes everything but the samples of `raw` (uncompressed profile.proto) and validates
   * it; header strings and sample/period types are interned into `strings`.
   */
  load(raw: Uint8Array, lim: DecodeLimits, strings: StringInterner): void {
    this.raw = raw;
    const r = this.r = new WireReader(raw);
    const top = this.top = scanProfile(r, lim);
    checkStringSpans(top.strings);
    this.stringCount = top.strings.length / 2;
    if (this.stringCount === 0) {
      throw new ProfileError("malformed", `profile has no string table (string_table[0] must be "")`);
    }
    this.stringIds = fit(this.stringIds, this.stringCount);
    this.stringIds.fill(0, 0, this.stringCount);
    this.#functions(r, top.functions);
    this.#mappings(r, top.mappings);
    this.#locations(r, top.locations, lim);
    this.sampleTypes = [];
    for (let i = 0; i < top.sampleTypes.length; i += 2) {
      r.pos = top.sampleTypes[i];
      r.end = top.sampleTypes[i + 1];
      const [type, unit] = readValueType(r);
      this.sampleTypes.push(
        this.string(type, strings, "sample type type"),
        this.string(unit, strings, "sample type unit"),
      );
    }
    let period: [number, number] = [0, 0];
    for (let i = 0; i < top.periodType.length; i += 2) {
      r.pos = top.periodType[i];
      r.end = top.periodType[i + 1];
      period = readValueType(r);
    }
    this.periodType = [
      this.string(period[0], strings, "period type type"),
      this.string(period[1], strings, "period type unit"),
    ];
    if (this.sampleTypes.length === 0 && top.samples.length !== 0) {
      invalid(`missing sample type information: ${top.samples.length / 2} samples`);
    }
  }

  /** Drops the references to the input's bytes and scan (called after each merge, so they can be collected). */
  release(): void {
    this.raw = new Uint8Array(0);
    this.r = new WireReader(this.raw);
    this.top = undefined as unknown as TopLevel;
  }

  /** Range-checks input string `index` (kind "malformed" naming `what`). */
  check(index: number, what: string): void {
    if (!(index >= 0 && index < this.stringCount)) {
      throw new ProfileError(
        "malformed",
        `${what} refers to string ${index}, outside the string table of ${this.stringCount}`,
      );
    }
  }

  /** Merged string id of input string `index` (range-checked, interned on first use). */
  string(index: number, strings: StringInterner, what: string): number {
    this.check(index, what);
    const known = this.stringIds[index];
    if (known !== 0) return known - 1;
    const spans = this.top.strings;
    const id = strings.intern(this.raw, spans[2 * index], spans[2 * index + 1]);
    this.stringIds[index] = id + 1;
    return id;
  }

  #functions(r: WireReader, spans: readonly number[]): void {
    const n = this.fnCount = spans.length / 2;
    this.fnName = fit(this.fnName, n);
    this.fnSystemName = fit(this.fnSystemName, n);
    this.fnFilename = fit(this.fnFilename, n);
    this.fnStartLine = fit(this.fnStartLine, n);
    const byId = this.fnById = new IdToIndex(n), f = this.#fn;
    for (let i = 0; i < n; i++) {
      r.pos = spans[2 * i];
      r.end = spans[2 * i + 1];
      readFunction(r, f);
      this.check(f.name, "function name");
      this.check(f.systemName, "function system_name");
      this.check(f.filename, "function filename");
      if (f.id === 0) invalid(`function ${i} has the reserved id 0`);
      if (byId.get(f.id) !== 0) invalid(`multiple functions with id ${f.id}`);
      byId.set(f.id, i + 1);
      this.fnName[i] = f.name;
      this.fnSystemName[i] = f.systemName;
      this.fnFilename[i] = f.filename;
      this.fnStartLine[i] = f.startLine;
    }
  }

  #mappings(r: WireReader, spans: readonly number[]): void {
    const n = this.mapCount = spans.length / 2;
    this.mapFile = fit(this.mapFile, n);
    this.mapBuildId = fit(this.mapBuildId, n);
    this.mapFlags = fit(this.mapFlags, n);
    this.mapStart = [];
    this.mapLimit = [];
    this.mapOffset = [];
    const byId = this.mapById = new IdToIndex(n), m = this.#mapping;
    for (let i = 0; i < n; i++) {
      r.pos = spans[2 * i];
      r.end = spans[2 * i + 1];
      readMapping(r, m);
      this.check(m.file, "mapping filename");
      this.check(m.buildId, "mapping build_id");
      if (m.id === 0) invalid(`mapping ${i} has the reserved id 0`);
      if (byId.get(m.id) !== 0) invalid(`multiple mappings with id ${m.id}`);
      byId.set(m.id, i + 1);
      this.mapStart.push(m.memoryStart);
      this.mapLimit.push(m.memoryLimit);
      this.mapOffset.push(m.fileOffset);
      this.mapFile[i] = m.file;
      this.mapBuildId[i] = m.buildId;
      this.mapFlags[i] = m.flags;
    }
  }

  #locations(r: WireReader, spans: readonly number[], lim: DecodeLimits): void {
    const n = this.locCount = spans.length / 2;
    this.locMapping = fit(this.locMapping, n);
    this.locAddrLo = fit(this.locAddrLo, n);
    this.locAddrHi = fit(this.locAddrHi, n);
    this.locFolded = fit(this.locFolded, n);
    this.locLineStart = fit(this.locLineStart, n + 1);
    const byId = this.locById = new IdToIndex(n);
    const fnById = this.fnById, mapById = this.mapById, lf = this.#line;
    let lineCount = 0;
    this.locLineStart[0] = 0;
    for (let i = 0; i < n; i++) {
      r.pos = spans[2 * i];
      const end = r.end = spans[2 * i + 1];
      let id = 0, mapping = 0, lo = 0, hi = 0, folded = 0, missingFunction = -1;
      const first = lineCount;
      while (r.pos < end) {
        const tag = r.tag();
        switch (tag) {
          case 8:
            id = r.uint("location id");
            break;
          case 16: {
            const mappingId = r.index();
            mapping = mappingId >= 0 ? mapById.get(mappingId) : 0;
            break;
          }
          case 24:
            lo = r.varint64();
            hi = r.hi;
            break;
          case 34: {
            readLine(r, r.delimited(), lf);
            r.end = end;
            const functionId = lf.functionId, fn = functionId >= 0 ? fnById.get(functionId) : 0;
            if (fn === 0 && missingFunction < 0) missingFunction = functionId;
            if (lineCount + 1 > this.lineFn.length) this.#growLines(lineCount + 1);
            this.lineFn[lineCount] = fn - 1;
            this.lineNumber[lineCount] = lf.line;
            this.lineColumn[lineCount] = lf.column;
            lineCount++;
            if (lineCount - first > lim.maxLinesPerLocation) {
              countCheck(lineCount - first, lim.maxLinesPerLocation, "lines");
            }
            break;
          }
          case 40:
            folded = r.bool() ? 1 : 0;
            break;
          default:
            skipField(r, tag, 5, "Location");
        }
      }
      if (missingFunction >= 0) {
        invalid(`location id ${id} has a line with function id ${missingFunction}, which is not in the profile`);
      }
      if (id === 0) invalid(`location ${i} has the reserved id 0`);
      if (byId.get(id) !== 0) invalid(`multiple locations with id ${id}`);
      byId.set(id, i + 1);
      this.locMapping[i] = mapping;
      this.locAddrLo[i] = lo;
      this.locAddrHi[i] = hi;
      this.locFolded[i] = folded;
      this.locLineStart[i + 1] = lineCount;
    }
  }

  #growLines(min: number): void {
    this.lineFn = fit(this.lineFn, min);
    this.lineNumber = fit(this.lineNumber, min);
    this.lineColumn = fit(this.lineColumn, min);
  }
}
