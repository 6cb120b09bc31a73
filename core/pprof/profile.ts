/**
 * The in-memory pprof profile model (profile.proto, package perftools.profiles).
 *
 * Mirrors google/pprof's `profile.Profile`: entities reference each other by object
 * (a sample holds its locations, a location its mapping, a line its function), ids are
 * kept only for encoding and are renumbered by merge/compact. Strings are resolved.
 *
 * Integer representation:
 * - ids, line numbers, sample values, period: JS `number` (exact up to 2^53; the decoder
 *   rejects larger magnitudes with a ProfileError rather than silently rounding).
 * - addresses, mapping bounds, file offsets, time and duration: `bigint` (full 64 bits:
 *   kernel addresses and Unix nanoseconds do not fit a double).
 *
 * @module
 */

/** A sample type or period type: e.g. `{ type: "cpu", unit: "nanoseconds" }`. */
export interface ValueType {
  type: string;
  unit: string;
}

/** One sampled stack and its values (one per sample type). */
export interface Sample {
  /** Stack, leaf first (index 0 is the innermost frame). */
  location: Location[];
  /** One value per `Profile.sampleType`, same order. */
  value: number[];
  /** String labels by key; each key may carry several values. Absent when the sample has none. */
  label?: Record<string, string[]>;
  /** Numeric labels by key. Absent when the sample has none. */
  numLabel?: Record<string, number[]>;
  /** Units of the numeric labels, aligned with `numLabel[key]` ("" where unset). */
  numUnit?: Record<string, string[]>;
}

/** A binary or library mapped into the profiled process. */
export interface Mapping {
  id: number;
  memoryStart: bigint;
  memoryLimit: bigint;
  fileOffset: bigint;
  file: string;
  buildId: string;
  hasFunctions: boolean;
  hasFilenames: boolean;
  hasLineNumbers: boolean;
  hasInlineFrames: boolean;
}

/** One source line of a location; `line[0]` of a location is the innermost (inlined) frame. */
export interface Line {
  function: Function | undefined;
  line: number;
  column: number;
}

/** A program counter and the (possibly inlined) source lines it stands for. */
export interface Location {
  id: number;
  mapping: Mapping | undefined;
  address: bigint;
  /** Innermost first; the last entry is the outermost (physical) caller frame. */
  line: Line[];
  isFolded: boolean;
}

/** A function referenced by lines. */
export interface Function {
  id: number;
  name: string;
  systemName: string;
  filename: string;
  startLine: number;
}

/** A whole profile. */
export interface Profile {
  sampleType: ValueType[];
  defaultSampleType: string;
  sample: Sample[];
  mapping: Mapping[];
  location: Location[];
  function: Function[];
  dropFrames: string;
  keepFrames: string;
  timeNanos: bigint;
  durationNanos: bigint;
  /** Never undefined after decoding: an absent period type decodes as `{type:"", unit:""}` (as pprof does). */
  periodType: ValueType;
  period: number;
  comments: string[];
  docUrl: string;
}

/** Returns an empty profile with every field at its zero value. */
export function emptyProfile(): Profile {
  return {
    sampleType: [],
    defaultSampleType: "",
    sample: [],
    mapping: [],
    location: [],
    function: [],
    dropFrames: "",
    keepFrames: "",
    timeNanos: 0n,
    durationNanos: 0n,
    periodType: { type: "", unit: "" },
    period: 0,
    comments: [],
    docUrl: "",
  };
}
