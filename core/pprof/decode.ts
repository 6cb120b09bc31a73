/**
 * Decoding profile.proto bytes (gzip or raw) into the {@link Profile} model, accepting
 * exactly what google/pprof's `profile.ParseData` accepts for protobuf input.
 *
 * Two passes over the bytes: the first walks the top-level Profile message, reads the
 * scalar headers and records where each string and each sample/mapping/location/function
 * message lies; then the string table is decoded in one go and the messages are decoded
 * with every string index and id resolved on the spot (functions, then mappings, locations
 * and samples), so each entity is built once, in its final shape. Quirks kept from pprof: unknown fields (and field 0)
 * are skipped, packed and unpacked repeated scalars are both accepted, a repeated
 * `time_nanos` after a non-zero one means concatenated profiles, a location's dangling
 * `mapping_id` resolves to no mapping, and label decoding follows pprof's str/num/unit rule.
 * Limits from {@link DecodeLimits} are checked while counting, before entities are built; the
 * decode budget's totals (frames, inline frames and labels over all samples, characters of every
 * resolved string reference) as samples and strings are resolved, so a crafted input stops after
 * work proportional to its size (limits.ts).
 *
 * @module
 */

import { ProfileError } from "./errors.ts";
import { rawProfileBytes } from "./inflate.ts";
import { type DecodeLimits, resolveDecodeLimits, workBudget } from "./limits.ts";
import type { Function, Location, Mapping, Profile } from "./profile.ts";
import {
  countCheck,
  decodeFunction,
  decodeLocation,
  decodeMapping,
  decodeSample,
  type DecodeTotals,
  fieldOf,
  IdTable,
  newScratch,
  readValueType,
  resolveValueType,
  type SampleContext,
} from "./decode_messages.ts";
import { checkValid } from "./validate.ts";
import { decodeStrings, WIRE_BYTES, WIRE_VARINT, WireReader } from "./wire.ts";

export { isGzip } from "./inflate.ts";

/**
 * Decodes a profile from gzip-compressed or raw profile.proto bytes and validates it with
 * {@link checkValid}. Throws only {@link ProfileError}: "empty", "decompress", "too-large",
 * "malformed", "invalid" or "unsupported" (values beyond ±2^53, legacy text formats).
 * `onInflated` is told the size of the inflated bytes of a gzip input (the server's upload meter).
 */
export function decodeProfile(
  data: Uint8Array,
  limits?: Partial<DecodeLimits>,
  onInflated?: (bytes: number) => void,
): Profile {
  const lim = resolveDecodeLimits(limits);
  const raw = rawProfileBytes(data, lim);
  if (raw !== data) onInflated?.(raw.byteLength);
  let profile: Profile;
  try {
    profile = decodeUncompressed(raw, lim, data.length);
  } catch (error) {
    throw parseFailure(error, raw);
  }
  try {
    checkValid(profile);
  } catch (error) {
    throw error instanceof ProfileError ? error.withContext("malformed profile") : error;
  }
  return profile;
}

/**
 * The error to report for `error` thrown while parsing `raw`: a malformed input that looks like a
 * legacy text/binary format becomes kind "unsupported" naming it; other ProfileErrors get the
 * "parsing profile" context. Shared with fast_merge.ts.
 */
export function parseFailure(error: unknown, raw: Uint8Array): unknown {
  if (error instanceof ProfileError && error.kind === "malformed") {
    const other = otherFormatProblem(raw);
    if (other) return new ProfileError("unsupported", other);
    const legacy = legacyFormatName(raw);
    if (legacy) {
      return new ProfileError(
        "unsupported",
        `legacy ${legacy} profile format is not supported: send profile.proto (net/http/pprof with debug=0, ` +
          `or convert with "go tool pprof -proto")`,
      );
    }
  }
  return error instanceof ProfileError ? error.withContext("parsing profile") : error;
}

/**
 * What else `raw` is, when it is one of the files met where a profile is expected (the output of
 * `go tool preprofile`, a Go execution trace, a goroutine dump, a web page), as one line saying
 * so and what to give instead.
 */
export function otherFormatProblem(raw: Uint8Array): string | undefined {
  const head = String.fromCharCode(...raw.subarray(0, 64));
  const instead = "take a CPU profile from /debug/pprof/profile";
  let what: string | undefined;
  if (head.startsWith("GO PREPROFILE V1")) {
    return "go tool preprofile output is not a pprof profile: give the CPU profile it was made from (go build reads both)";
  }
  if (/^go 1\.\d+ trace\0/.test(head)) what = "a Go execution trace (/debug/pprof/trace)";
  else if (/^goroutine \d+ \[/.test(head)) what = "a goroutine dump (/debug/pprof/goroutine?debug=2)";
  else if (/^\s*<(!doctype html|html)/i.test(head)) what = "an HTML page";
  else if (raw[0] === 0x1f && raw[1] === 0x8b) {
    // `raw` is already inflated: a gzip stream inside the gzip stream (e.g. a gzip'd profile sent
    // with `Content-Encoding: gzip` by a client that compresses request bodies itself).
    return "the profile is gzip-compressed twice: compress it once (as net/http/pprof serves it), " +
      "or send it uncompressed";
  }
  return what && `${what} is not a pprof profile: ${instead}`;
}

/** Names a legacy (pre-profile.proto) format google/pprof would fall back to, if `raw` looks like one. */
export function legacyFormatName(raw: Uint8Array): string | undefined {
  if (raw.length >= 16) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (const little of [true, false]) {
      // binary CPU profile header: words 0, 3, 0|1 (32- or 64-bit words)
      const w32 = [0, 4, 8].map((at) => view.getUint32(at, little));
      if (w32[0] === 0 && w32[1] === 3 && w32[2] <= 1) return "binary CPU";
      if (raw.length >= 24) {
        const w64 = [0, 8, 16].map((at) => view.getBigUint64(at, little));
        if (w64[0] === 0n && w64[1] === 3n && w64[2] <= 1n) return "binary CPU";
      }
    }
  }
  const head = String.fromCharCode(...raw.subarray(0, 200));
  const match =
    /^\s*(?:(heap) profile:|(heap_v2)\/|--- (threadz|contentionz|contention|mutex|heapz|growthz|fragmentationz)\b|(\w+) profile: total \d+)/
      .exec(head);
  if (!match) return undefined;
  return `text ${match[1] ?? match[2] ?? match[3] ?? match[4]}`;
}

/** Byte ranges `[start, end)` of repeated top-level messages, flattened pairs. */
type Spans = number[];

/** Everything the top-level pass collects (shared with fast_merge_input.ts). */
export interface TopLevel {
  strings: Spans;
  sampleTypes: Spans;
  samples: Spans;
  mappings: Spans;
  locations: Spans;
  functions: Spans;
  periodType: Spans;
  dropFrames: number;
  keepFrames: number;
  timeNanos: bigint;
  durationNanos: bigint;
  period: number;
  comments: number[];
  defaultSampleType: number;
  docUrl: number;
}

/** Reads a repeated int64/uint64 field value (packed or not) into `out` with `read`. */
function readRepeated(
  r: WireReader,
  field: number,
  wireType: number,
  out: number[],
  read: () => number,
  what: string,
): void {
  if (wireType === WIRE_VARINT) {
    out.push(read());
    return;
  }
  if (wireType !== WIRE_BYTES) r.mismatch(what, field, wireType);
  const end = r.delimited();
  const outerEnd = r.end;
  r.end = end;
  while (r.pos < end) out.push(read());
  r.end = outerEnd;
}

/**
 * Walks the top-level Profile message: reads the scalar headers, records the byte spans of strings and
 * repeated messages, and enforces the count limits (shared with fast_merge_input.ts).
 */
export function scanProfile(r: WireReader, lim: DecodeLimits): TopLevel {
  const top: TopLevel = {
    strings: [],
    sampleTypes: [],
    samples: [],
    mappings: [],
    locations: [],
    functions: [],
    periodType: [],
    dropFrames: 0,
    keepFrames: 0,
    timeNanos: 0n,
    durationNanos: 0n,
    period: 0,
    comments: [],
    defaultSampleType: 0,
    docUrl: 0,
  };
  const spansByField = [undefined, top.sampleTypes, top.samples, top.mappings, top.locations, top.functions];
  const limitByField = [0, lim.maxValuesPerSample, lim.maxSamples, lim.maxMappings, lim.maxLocations, lim.maxFunctions];
  const nameByField = ["", "sample types", "samples", "mappings", "locations", "functions"];
  const end = r.end;
  while (r.pos < end) {
    const tag = r.tag();
    const field = fieldOf(tag), wireType = tag & 7;
    switch (field) {
      case 1:
      case 2:
      case 3:
      case 4:
      case 5: {
        if (wireType !== WIRE_BYTES) r.mismatch("Profile", field, wireType);
        const spans = spansByField[field]!;
        const stop = r.delimited();
        spans.push(r.pos, stop);
        r.pos = stop;
        countCheck(spans.length / 2, limitByField[field], nameByField[field]);
        break;
      }
      case 6: {
        if (wireType !== WIRE_BYTES) r.mismatch("Profile", field, wireType);
        const stop = r.delimited();
        if (top.strings.length === 0 && stop !== r.pos) {
          r.fail(`string_table[0] must be "" but is ${JSON.stringify(r.string(r.pos, Math.min(stop, r.pos + 40)))}`);
        }
        top.strings.push(r.pos, stop);
        r.pos = stop;
        countCheck(top.strings.length / 2, lim.maxStrings, "strings");
        break;
      }
      case 9:
        if (top.timeNanos !== 0n) r.fail("concatenated profiles detected (time_nanos set twice)");
        if (wireType !== WIRE_VARINT) r.mismatch("Profile", field, wireType);
        top.timeNanos = r.bigInt();
        break;
      case 10:
        if (wireType !== WIRE_VARINT) r.mismatch("Profile", field, wireType);
        top.durationNanos = r.bigInt();
        break;
      case 11: {
        if (wireType !== WIRE_BYTES) r.mismatch("Profile", field, wireType);
        const stop = r.delimited();
        top.periodType.push(r.pos, stop);
        r.pos = stop;
        break;
      }
      case 12:
        if (wireType !== WIRE_VARINT) r.mismatch("Profile", field, wireType);
        top.period = r.int("period");
        break;
      case 13:
        readRepeated(r, field, wireType, top.comments, () => r.index(), "Profile");
        break;
      case 7:
      case 8:
      case 14:
      case 15: {
        if (wireType !== WIRE_VARINT) r.mismatch("Profile", field, wireType);
        const index = r.index();
        if (field === 7) top.dropFrames = index;
        else if (field === 8) top.keepFrames = index;
        else if (field === 14) top.defaultSampleType = index;
        else top.docUrl = index;
        break;
      }
      default:
        r.skip(wireType);
    }
  }
  return top;
}

/**
 * Decodes raw (uncompressed) profile.proto bytes without running {@link checkValid}; the per-byte
 * budgets of `limits` are measured against `inputBytes` (the size the profile arrived with).
 */
export function decodeUncompressed(
  raw: Uint8Array,
  limits?: Partial<DecodeLimits>,
  inputBytes: number = raw.length,
): Profile {
  if (raw.length === 0) throw new ProfileError("empty", "empty input file");
  const lim = resolveDecodeLimits(limits);
  const r = new WireReader(raw);
  const top = scanProfile(r, lim);
  const strings = decodeStrings(raw, top.strings);
  if (strings.length === 0) {
    throw new ProfileError("malformed", `profile has no string table (string_table[0] must be "")`);
  }
  const budget = workBudget(lim, inputBytes);
  let chars = 0;
  const str = (index: number, what: string): string => {
    if (index >= 0 && index < strings.length) {
      const s = strings[index];
      chars += s.length;
      if (chars > budget.chars) tooManyChars(budget.chars);
      return s;
    }
    throw new ProfileError(
      "malformed",
      `${what} refers to string ${index}, outside the string table of ${strings.length}`,
    );
  };
  const scratch = newScratch();
  const functions = decodeAll(r, top.functions, "function", () => decodeFunction(r, str));
  const functionById = new IdTable<Function>(functions.length);
  for (const f of functions) functionById.set(f.id, f);
  const mappings = decodeAll(r, top.mappings, "mapping", () => decodeMapping(r, str));
  const mappingById = new IdTable<Mapping>(mappings.length);
  for (const m of mappings) mappingById.set(m.id, m);
  const locations = decodeAll(
    r,
    top.locations,
    "location",
    () => decodeLocation(r, functionById, mappingById, lim, scratch),
  );
  const locationById = new IdTable<Location>(locations.length);
  for (const l of locations) locationById.set(l.id, l);
  const sampleType = decodeAll(
    r,
    top.sampleTypes,
    "sample type",
    () => resolveValueType(readValueType(r), str, "sample type"),
  );
  const totals: DecodeTotals = { frames: 0, inlineFrames: 0, labels: 0, maxInlineFrames: budget.inlineFrames };
  const ctx: SampleContext = { r, str, locationById, lim, scratch, totals };
  const sample = decodeAll(r, top.samples, "sample", () => decodeSample(ctx));
  // pprof keeps the last period_type; earlier ones must still be well-formed protobuf.
  const periodTypes = decodeAll(r, top.periodType, "period type", () => readValueType(r));
  const periodType = resolveValueType(periodTypes.at(-1) ?? [0, 0], str, "period type");
  return {
    sampleType,
    defaultSampleType: str(top.defaultSampleType, "default_sample_type"),
    sample,
    mapping: mappings,
    location: locations,
    function: functions,
    dropFrames: str(top.dropFrames, "drop_frames"),
    keepFrames: str(top.keepFrames, "keep_frames"),
    timeNanos: top.timeNanos,
    durationNanos: top.durationNanos,
    periodType,
    period: top.period,
    comments: top.comments.map((index) => str(index, "comment")),
    docUrl: str(top.docUrl, "doc_url"),
  };
}

function tooManyChars(max: number): never {
  throw new ProfileError(
    "too-large",
    `profile refers to more than ${Math.floor(max)} characters of strings (names, labels; limit for its size)`,
  );
}

/** Decodes every span with `decodeOne`, adding `what i:` context to errors. */
function decodeAll<T>(r: WireReader, spans: Spans, what: string, decodeOne: (i: number) => T): T[] {
  const out: T[] = []; // filled by push: a packed array, cheaper for every later reader than a holey one
  const count = spans.length / 2;
  let i = 0;
  try {
    for (; i < count; i++) {
      r.pos = spans[2 * i];
      r.end = spans[2 * i + 1];
      out.push(decodeOne(i));
    }
  } catch (error) {
    throw error instanceof ProfileError ? error.withContext(`${what} ${i}`) : error;
  }
  return out;
}
