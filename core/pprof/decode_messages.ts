/**
 * Decoders of the nested profile.proto messages (ValueType, Function, Mapping, Location with
 * its Lines, Sample with its Labels) for decode.ts: string indexes and ids are resolved while
 * decoding, so each message becomes its final model object in one step. The Function, Mapping,
 * Line and Label field loops are readers into plain field records, shared with the fused merge
 * (fast_merge_input.ts, fast_merge_sample_labels.ts), so both engines read these messages with
 * the same code.
 *
 * @module
 */

import { ProfileError } from "./errors.ts";
import type { DecodeLimits } from "./limits.ts";
import type { Function, Line, Location, Mapping, Sample, ValueType } from "./profile.ts";
import type { WireReader } from "./wire.ts";

/** Ids to entities with pprof's "last one wins" rule: a dense array for small ids, a map for the rest. */
export class IdTable<T> {
  private readonly dense: (T | undefined)[];
  private readonly sparse = new Map<number, T>();
  /** Sized for `count` entities with ids 1..count stored densely. */
  constructor(count: number) {
    this.dense = new Array(count + 1).fill(undefined);
  }
  /** Registers `value` under `id`, replacing an earlier one (as pprof's postDecode does). */
  set(id: number, value: T): void {
    if (id >= 0 && id < this.dense.length) this.dense[id] = value;
    else this.sparse.set(id, value);
  }
  /** The entity registered under `id`, if any. */
  get(id: number): T | undefined {
    return id >= 0 && id < this.dense.length ? this.dense[id] : this.sparse.get(id);
  }
}

/** Throws kind "too-large" when `count` exceeds `max` (`what` names the counted things). */
export function countCheck(count: number, max: number, what: string): void {
  if (count > max) throw new ProfileError("too-large", `profile has more than ${max} ${what} (limit)`);
}

/** The field number of a key returned by `WireReader.tag()`. */
export function fieldOf(tag: number): number {
  return tag < 0x80000000 ? tag >>> 3 : Math.floor(tag / 8);
}

/** Skips an unknown field, or fails with "type mismatch" for a known one (1..known) with the wrong wire type. */
export function skipField(r: WireReader, tag: number, known: number, message: string): void {
  const field = fieldOf(tag);
  const wireType = tag & 7;
  if (field >= 1 && field <= known && wireType !== 3 && wireType !== 4) r.mismatch(message, field, wireType);
  r.skip(wireType);
}

/** Resolves a string-table index, throwing kind "malformed" (naming `what`) when out of range. */
export type StringLookup = (index: number, what: string) => string;

/** Reads a ValueType message at the reader's current span as its `[type, unit]` string indexes. */
export function readValueType(r: WireReader): [number, number] {
  let type = 0, unit = 0;
  while (r.pos < r.end) {
    const tag = r.tag();
    if (tag === 8) type = r.index();
    else if (tag === 16) unit = r.index();
    else skipField(r, tag, 2, "ValueType");
  }
  return [type, unit];
}

/** Resolves `[type, unit]` string indexes (from {@link readValueType}) to a ValueType. */
export function resolveValueType([type, unit]: [number, number], str: StringLookup, what: string): ValueType {
  return { type: str(type, `${what} type`), unit: str(unit, `${what} unit`) };
}

/**
 * The fields of a Function message as on the wire (string-table indexes not yet resolved): one
 * reader for both engines (decode.ts builds a {@link Function}, fast_merge_input.ts fills tables).
 */
export interface FunctionFields {
  id: number;
  name: number;
  systemName: number;
  filename: number;
  startLine: number;
}

/** Reads the Function message at the reader's current span into `f` (fields absent on the wire are 0). */
export function readFunction(r: WireReader, f: FunctionFields): void {
  let id = 0, name = 0, systemName = 0, filename = 0, startLine = 0;
  while (r.pos < r.end) {
    const tag = r.tag();
    switch (tag) {
      case 8:
        id = r.uint("function id");
        break;
      case 16:
        name = r.index();
        break;
      case 24:
        systemName = r.index();
        break;
      case 32:
        filename = r.index();
        break;
      case 40:
        startLine = r.int("function start_line");
        break;
      default:
        skipField(r, tag, 5, "Function");
    }
  }
  f.id = id;
  f.name = name;
  f.systemName = systemName;
  f.filename = filename;
  f.startLine = startLine;
}

/** Fresh {@link FunctionFields} to read into. */
export function newFunctionFields(): FunctionFields {
  return { id: 0, name: 0, systemName: 0, filename: 0, startLine: 0 };
}

/** Mapping flag bits of {@link MappingFields}: has_functions, has_filenames, has_line_numbers, has_inline_frames. */
export const HAS_FUNCTIONS = 1, HAS_FILENAMES = 2, HAS_LINE_NUMBERS = 4, HAS_INLINE_FRAMES = 8;

/** The fields of a Mapping message as on the wire (string-table indexes not yet resolved; see {@link FunctionFields}). */
export interface MappingFields {
  id: number;
  memoryStart: bigint;
  memoryLimit: bigint;
  fileOffset: bigint;
  file: number;
  buildId: number;
  /** The `has_*` bools as bits ({@link HAS_FUNCTIONS} …); the last occurrence of a field wins, as in pprof. */
  flags: number;
}

/** Reads the Mapping message at the reader's current span into `m`. */
export function readMapping(r: WireReader, m: MappingFields): void {
  let id = 0, start = 0n, limit = 0n, offset = 0n, file = 0, buildId = 0, flags = 0;
  while (r.pos < r.end) {
    const tag = r.tag();
    switch (tag) {
      case 8:
        id = r.uint("mapping id");
        break;
      case 16:
        start = r.bigUint();
        break;
      case 24:
        limit = r.bigUint();
        break;
      case 32:
        offset = r.bigUint();
        break;
      case 40:
        file = r.index();
        break;
      case 48:
        buildId = r.index();
        break;
      case 56:
      case 64:
      case 72:
      case 80: {
        const bit = 1 << ((tag >>> 3) - 7);
        flags = r.bool() ? flags | bit : flags & ~bit;
        break;
      }
      default:
        skipField(r, tag, 10, "Mapping");
    }
  }
  m.id = id;
  m.memoryStart = start;
  m.memoryLimit = limit;
  m.fileOffset = offset;
  m.file = file;
  m.buildId = buildId;
  m.flags = flags;
}

/** Fresh {@link MappingFields} to read into. */
export function newMappingFields(): MappingFields {
  return { id: 0, memoryStart: 0n, memoryLimit: 0n, fileOffset: 0n, file: 0, buildId: 0, flags: 0 };
}

/** The fields of a Line message (function id as on the wire). */
export interface LineFields {
  functionId: number;
  line: number;
  column: number;
}

/** Reads the Line message of a Location that ends at `stop` into `l`; the reader's `end` is left at `stop`. */
export function readLine(r: WireReader, stop: number, l: LineFields): void {
  r.end = stop;
  let functionId = 0, lineNumber = 0, column = 0;
  while (r.pos < stop) {
    const tag = r.tag();
    if (tag === 8) functionId = r.index();
    else if (tag === 16) lineNumber = r.int("line number");
    else if (tag === 24) column = r.int("line column");
    else skipField(r, tag, 3, "Line");
  }
  l.functionId = functionId;
  l.line = lineNumber;
  l.column = column;
}

/** Fresh {@link LineFields} to read into. */
export function newLineFields(): LineFields {
  return { functionId: 0, line: 0, column: 0 };
}

const functionFields = newFunctionFields();

/** Decodes a Function message at the reader's current span. */
export function decodeFunction(r: WireReader, str: StringLookup): Function {
  const f = functionFields;
  readFunction(r, f);
  return {
    id: f.id,
    name: str(f.name, "function name"),
    systemName: str(f.systemName, "function system_name"),
    filename: str(f.filename, "function filename"),
    startLine: f.startLine,
  };
}

const mappingFields = newMappingFields();

/** Decodes a Mapping message at the reader's current span. */
export function decodeMapping(r: WireReader, str: StringLookup): Mapping {
  const m = mappingFields;
  readMapping(r, m);
  return {
    id: m.id,
    memoryStart: m.memoryStart,
    memoryLimit: m.memoryLimit,
    fileOffset: m.fileOffset,
    file: str(m.file, "mapping filename"),
    buildId: str(m.buildId, "mapping build_id"),
    hasFunctions: (m.flags & HAS_FUNCTIONS) !== 0,
    hasFilenames: (m.flags & HAS_FILENAMES) !== 0,
    hasLineNumbers: (m.flags & HAS_LINE_NUMBERS) !== 0,
    hasInlineFrames: (m.flags & HAS_INLINE_FRAMES) !== 0,
  };
}

/**
 * Reusable per-decode buffers: entities collect their repeated fields here and are then
 * given exact-size arrays (a `[]` grown by push reserves 17 slots; measured, the garbage of
 * those over-allocations made GC ~40% of decode time).
 */
export interface Scratch {
  /** Lines of the location being decoded. */
  lines: Line[];
  /** Locations of the sample being decoded. */
  locations: Location[];
  /** Values of the sample being decoded. */
  values: number[];
  /** Flattened (key, str, num, unit) label fields; NaN num = beyond 2^53. */
  labels: number[];
}

/** Fresh scratch buffers for one decode. */
export function newScratch(): Scratch {
  return { lines: [], locations: [], values: [], labels: [] };
}

const lineFields = newLineFields();

/** Decodes a Location message with its lines; a line's unknown function id is kind "invalid", an unknown mapping id means no mapping. */
export function decodeLocation(
  r: WireReader,
  functionById: IdTable<Function>,
  mappingById: IdTable<Mapping>,
  lim: DecodeLimits,
  scratch: Scratch,
): Location {
  let id = 0, mapping: Mapping | undefined, address = 0n, isFolded = false;
  const lines = scratch.lines, lf = lineFields;
  let lineCount = 0;
  let missingFunction = -1;
  const end = r.end;
  while (r.pos < end) {
    const tag = r.tag();
    switch (tag) {
      case 8:
        id = r.uint("location id");
        break;
      case 16:
        mapping = mappingById.get(r.index());
        break;
      case 24:
        address = r.bigUint();
        break;
      case 34: {
        readLine(r, r.delimited(), lf);
        r.end = end;
        const fn = functionById.get(lf.functionId);
        if (fn === undefined && missingFunction < 0) missingFunction = lf.functionId;
        lines[lineCount++] = { function: fn, line: lf.line, column: lf.column };
        if (lineCount > lim.maxLinesPerLocation) countCheck(lineCount, lim.maxLinesPerLocation, "lines");
        break;
      }
      case 40:
        isFolded = r.bool();
        break;
      default:
        skipField(r, tag, 5, "Location");
    }
  }
  if (missingFunction >= 0) {
    throw new ProfileError(
      "invalid",
      `location id ${id} has a line with function id ${missingFunction}, which is not in the profile`,
    );
  }
  const line = lineCount === 1 ? [lines[0]] : lines.slice(0, lineCount);
  return { id, mapping, address, line, isFolded };
}

/** Running totals of the sample-level work a decode admits, with their limits (see limits.ts). */
export interface DecodeTotals {
  /** Location ids over all samples so far. */
  frames: number;
  /** Lines (at least 1) of every location of every sample so far. */
  inlineFrames: number;
  /** Labels over all samples so far. */
  labels: number;
  /** Limit of `inlineFrames` (the smaller of the absolute and the per-byte budget). */
  maxInlineFrames: number;
}

/** What sample decoding needs besides the reader. */
export interface SampleContext {
  /** Reader positioned on the sample's span. */
  r: WireReader;
  /** String-table lookup. */
  str: StringLookup;
  /** Locations by id. */
  locationById: IdTable<Location>;
  /** Count limits. */
  lim: DecodeLimits;
  /** Reused buffers. */
  scratch: Scratch;
  /** Budget accounting across samples. */
  totals: DecodeTotals;
}

/** Decodes a Sample message: locations resolved (unknown ids are kind "invalid"), values, labels by pprof's rules. */
export function decodeSample(ctx: SampleContext): Sample {
  const { r, locationById, lim } = ctx;
  const { locations, values, labels } = ctx.scratch;
  let locationCount = 0, valueCount = 0, labelFields = 0;
  const end = r.end;
  while (r.pos < end) {
    const tag = r.tag();
    switch (tag) {
      case 8:
        locations[locationCount++] = resolveLocation(r.index(), locationById);
        if (locationCount > lim.maxStackDepth) countCheck(locationCount, lim.maxStackDepth, "frames in a sample");
        break;
      case 10: {
        const stop = r.delimited();
        r.end = stop;
        while (r.pos < stop) locations[locationCount++] = resolveLocation(r.index(), locationById);
        r.end = end;
        if (locationCount > lim.maxStackDepth) countCheck(locationCount, lim.maxStackDepth, "frames in a sample");
        break;
      }
      case 16:
        values[valueCount++] = r.int("sample value");
        if (valueCount > lim.maxValuesPerSample) countCheck(valueCount, lim.maxValuesPerSample, "values in a sample");
        break;
      case 18: {
        const stop = r.delimited();
        r.end = stop;
        while (r.pos < stop) values[valueCount++] = r.int("sample value");
        r.end = end;
        if (valueCount > lim.maxValuesPerSample) countCheck(valueCount, lim.maxValuesPerSample, "values in a sample");
        break;
      }
      case 26:
        labelFields = decodeLabel(r, labels, labelFields);
        r.end = end;
        if (labelFields > 4 * lim.maxLabelsPerSample) countCheck(labelFields / 4, lim.maxLabelsPerSample, "labels");
        break;
      default:
        skipField(r, tag, 3, "Sample");
    }
  }
  countTotals(ctx, locations, locationCount, labelFields / 4);
  const value = valueCount === 2 ? [values[0], values[1]] : values.slice(0, valueCount);
  const sample: Sample = { location: locations.slice(0, locationCount), value };
  if (labelFields !== 0) resolveLabels(sample, labels, labelFields, ctx.str);
  return sample;
}

/** Adds one sample's frames, inline frames and labels to the totals; kind "too-large" past a limit. */
function countTotals(ctx: SampleContext, locations: Location[], locationCount: number, labelCount: number): void {
  const totals = ctx.totals, lim = ctx.lim;
  let inline = 0;
  for (let i = 0; i < locationCount; i++) inline += locations[i].line.length || 1;
  totals.frames += locationCount;
  totals.inlineFrames += inline;
  totals.labels += labelCount;
  if (totals.frames > lim.maxTotalFrames) {
    throw new ProfileError("too-large", `profile has more than ${lim.maxTotalFrames} frames in all samples (limit)`);
  }
  if (totals.inlineFrames > totals.maxInlineFrames) {
    throw new ProfileError(
      "too-large",
      `profile has more than ${Math.floor(totals.maxInlineFrames)} inlined frames in all samples (limit for its size)`,
    );
  }
  if (totals.labels > lim.maxTotalLabels) {
    throw new ProfileError("too-large", `profile has more than ${lim.maxTotalLabels} labels in all samples (limit)`);
  }
}

function resolveLocation(id: number, locationById: IdTable<Location>): Location {
  const loc = locationById.get(id);
  if (loc === undefined) {
    throw new ProfileError("invalid", `sample refers to location id ${id}, which is not in the profile`);
  }
  return loc;
}

/** The fields of a Label message: key, str and unit as string indexes, num (NaN beyond ±2^53). */
export interface LabelFields {
  key: number;
  str: number;
  num: number;
  unit: number;
}

/** Fresh {@link LabelFields} to read into. */
export function newLabelFields(): LabelFields {
  return { key: 0, str: 0, num: 0, unit: 0 };
}

/**
 * Reads the Label message at the reader's position (a length-delimited field value) into `l`;
 * the reader's `end` is left at the message's end. Shared with the fused merge.
 */
export function readLabel(r: WireReader, l: LabelFields): void {
  const stop = r.delimited();
  r.end = stop;
  let key = 0, str = 0, num = 0, unit = 0;
  while (r.pos < stop) {
    const tag = r.tag();
    if (tag === 8) key = r.index();
    else if (tag === 16) str = r.index();
    else if (tag === 24) num = r.intOrNaN();
    else if (tag === 32) unit = r.index();
    else skipField(r, tag, 4, "Label");
  }
  l.key = key;
  l.str = str;
  l.num = num;
  l.unit = unit;
}

const labelFields = newLabelFields();

/** Reads one Label message into `out[at, at + 4)`; returns `at + 4`. */
function decodeLabel(r: WireReader, out: number[], at: number): number {
  const l = labelFields;
  readLabel(r, l);
  out[at] = l.key;
  out[at + 1] = l.str;
  out[at + 2] = l.num;
  out[at + 3] = l.unit;
  return at + 4;
}

/** Applies pprof's label rules: str≠0 → string label; else num≠0 or unit≠0 → numeric label; else dropped. */
function resolveLabels(sample: Sample, labels: number[], fields: number, str: StringLookup): void {
  let label: Record<string, string[]> | undefined;
  let numLabel: Record<string, number[]> | undefined;
  let numUnit: Record<string, string[]> | undefined;
  for (let i = 0; i < fields; i += 4) {
    const key = str(labels[i], "label key");
    const strIndex = labels[i + 1], num = labels[i + 2], unitIndex = labels[i + 3];
    if (strIndex !== 0) {
      const value = str(strIndex, "label value");
      if (label === undefined) setOwn(label = {}, key, [value]);
      else appendOwn(label, key, value);
    } else if (num !== 0 || unitIndex !== 0) {
      if (Number.isNaN(num)) {
        throw new ProfileError("unsupported", `numeric label ${JSON.stringify(key.slice(0, 40))} is beyond ±2^53`);
      }
      numLabel ??= {};
      const count = appendOwn(numLabel, key, num);
      if (unitIndex !== 0) {
        numUnit ??= {};
        let units: string[];
        if (Object.hasOwn(numUnit, key)) units = numUnit[key];
        else setOwn(numUnit, key, units = []);
        while (units.length < count - 1) units.push(""); // pprof's padStringArray
        units.push(str(unitIndex, "label unit"));
      }
    }
  }
  if (label) sample.label = label;
  if (numLabel) {
    sample.numLabel = numLabel;
    if (numUnit) {
      for (const key of Object.keys(numUnit)) {
        const units = numUnit[key], count = numLabel[key].length;
        while (units.length < count) units.push("");
      }
      sample.numUnit = numUnit;
    }
  }
}

/** Appends `value` to the own list `record[key]` (created if missing); returns the list's new length. */
function appendOwn<T>(record: Record<string, T[]>, key: string, value: T): number {
  if (Object.hasOwn(record, key)) return record[key].push(value);
  setOwn(record, key, [value]);
  return 1;
}

/** `record[key] = list` as an own data property, also for "__proto__" (whose assignment would set the prototype). */
function setOwn<T>(record: Record<string, T[]>, key: string, list: T[]): void {
  if (key === "__proto__") {
    Object.defineProperty(record, key, { value: list, writable: true, enumerable: true, configurable: true });
  } else {
    record[key] = list;
  }
}
