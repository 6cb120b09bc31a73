/**
 * Encoding a {@link Profile} as profile.proto, byte for byte what google/pprof's
 * `Profile.WriteUncompressed` writes (and gzip-compressed like `Profile.Write`).
 *
 * pprof's layout rules reproduced here: the string table is built in first-use order
 * ("" first; sample types; per sample its string labels by sorted key, then numeric labels
 * by sorted key; mappings; functions; drop/keep frames; period type; comments; default
 * sample type; doc URL); messages are emitted in field order 1..15 with entities in slice
 * order; repeated integers use packed encoding only when there are more than two; zero
 * scalars and false bools are omitted, except `default_sample_type` (field 14), which is
 * always written; the period type only when its type or unit is non-empty.
 *
 * @module
 */

import { gzipSync } from "node:zlib";
import type { Profile, Sample } from "./profile.ts";
import { unitsOf } from "./merge_labels.ts";
import { WIRE_VARINT } from "./wire.ts";
import { WireWriter } from "./wire_writer.ts";

/**
 * Default gzip level of encoded profiles: 4, not zlib's and Go's 6. Measured on a merge of 100 real
 * labelled CPU profiles (6.2 MB raw) with node:zlib: level 6 2,169,443 bytes in 107 ms, level 5
 * +0.6% in 89 ms, level 4 +1.1% in 71 ms (+1.7% over google/pprof's own level-6 file), level 3 +4%;
 * gzip was the largest single cost of a merge.
 */
export const DEFAULT_GZIP_LEVEL = 4;

/** Options of {@link encodeProfile}. */
export interface EncodeOptions {
  /** Gzip the output (default true), as pprof's `Write` does. */
  compress?: boolean;
  /** Gzip level 1..9 (default {@link DEFAULT_GZIP_LEVEL}). */
  level?: number;
}

/**
 * Serialises `p` to profile.proto bytes: gzip-compressed by default, or exactly pprof's
 * `WriteUncompressed` bytes with `{ compress: false }`.
 */
export function encodeProfile(p: Profile, opts: EncodeOptions = {}): Uint8Array {
  const raw = encodeUncompressed(p);
  if (opts.compress === false) return raw;
  const gz = gzipSync(raw, { level: opts.level ?? DEFAULT_GZIP_LEVEL });
  return new Uint8Array(gz.buffer, gz.byteOffset, gz.length);
}

/** First-use-order string table, as pprof's `addString`. */
class StringTable {
  readonly list: string[] = [""];
  private readonly index = new Map<string, number>([["", 0]]);

  add(s: string): number {
    let i = this.index.get(s);
    if (i === undefined) {
      i = this.list.length;
      this.index.set(s, i);
      this.list.push(s);
    }
    return i;
  }
}

/** Maps a UTF-16 code unit so that code-unit order becomes code-point (= UTF-8 byte) order. */
function codePointRank(unit: number): number {
  return unit >= 0xe000 ? unit - 0x800 : unit >= 0xd800 ? unit + 0x2000 : unit;
}

/** Compares like Go's `sort.Strings` (UTF-8 byte order). */
function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i), y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

function sortedKeys(record: Record<string, unknown>): string[] {
  const keys = Object.keys(record);
  if (keys.length > 1) keys.sort(compareUtf8);
  return keys;
}

/**
 * Encodes `p` exactly as pprof's `WriteUncompressed`, in one pass: the string table goes
 * after samples, mappings and functions (field 6), and pprof's first-use order equals this
 * emission order, so indexes are assigned while writing (headers are added before field 6).
 */
export function encodeUncompressed(p: Profile): Uint8Array {
  const strings = new StringTable();
  const w = new WireWriter(64 * 1024 + 48 * p.sample.length + 32 * p.location.length);
  for (const st of p.sampleType) writeValueType(w, 1, strings.add(st.type), strings.add(st.unit));
  for (const s of p.sample) writeSample(w, s, strings);
  for (const m of p.mapping) {
    const at = w.startDelimited(3);
    optionalInt(w, 1, m.id);
    optionalBig(w, 2, m.memoryStart);
    optionalBig(w, 3, m.memoryLimit);
    optionalBig(w, 4, m.fileOffset);
    optionalInt(w, 5, strings.add(m.file));
    optionalInt(w, 6, strings.add(m.buildId));
    optionalBool(w, 7, m.hasFunctions);
    optionalBool(w, 8, m.hasFilenames);
    optionalBool(w, 9, m.hasLineNumbers);
    optionalBool(w, 10, m.hasInlineFrames);
    w.finishDelimited(at);
  }
  for (const l of p.location) {
    const at = w.startDelimited(4);
    optionalInt(w, 1, l.id);
    optionalInt(w, 2, l.mapping ? l.mapping.id : 0);
    optionalBig(w, 3, l.address);
    for (const line of l.line) {
      const lineAt = w.startDelimited(4);
      optionalInt(w, 1, line.function ? line.function.id : 0);
      optionalInt(w, 2, line.line);
      optionalInt(w, 3, line.column);
      w.finishDelimited(lineAt);
    }
    optionalBool(w, 5, l.isFolded);
    w.finishDelimited(at);
  }
  for (const f of p.function) {
    const at = w.startDelimited(5);
    optionalInt(w, 1, f.id);
    optionalInt(w, 2, strings.add(f.name));
    optionalInt(w, 3, strings.add(f.systemName));
    optionalInt(w, 4, strings.add(f.filename));
    optionalInt(w, 5, f.startLine);
    w.finishDelimited(at);
  }
  const dropFrames = strings.add(p.dropFrames);
  const keepFrames = strings.add(p.keepFrames);
  const periodType = p.periodType ? [strings.add(p.periodType.type), strings.add(p.periodType.unit)] : [0, 0];
  const comments = p.comments.map((c) => strings.add(c));
  const defaultSampleType = strings.add(p.defaultSampleType);
  const docUrl = strings.add(p.docUrl);
  for (const s of strings.list) w.stringField(6, s);
  optionalInt(w, 7, dropFrames);
  optionalInt(w, 8, keepFrames);
  optionalBig(w, 9, p.timeNanos);
  optionalBig(w, 10, p.durationNanos);
  if (periodType[0] !== 0 || periodType[1] !== 0) writeValueType(w, 11, periodType[0], periodType[1]);
  optionalInt(w, 12, p.period);
  writeInt64s(w, 13, comments);
  w.tag(14, WIRE_VARINT);
  w.varint(defaultSampleType);
  optionalInt(w, 15, docUrl);
  return w.finish();
}

/** Writes one Sample message: location ids, values, then labels (string labels, then numeric, keys sorted). */
function writeSample(w: WireWriter, s: Sample, strings: StringTable): void {
  const at = w.startDelimited(2);
  const locations = s.location;
  if (locations.length > 2) {
    const packed = w.startDelimited(1);
    w.idVarints(locations);
    w.finishDelimited(packed);
  } else {
    for (let i = 0; i < locations.length; i++) {
      w.tag(1, WIRE_VARINT);
      w.varint(locations[i].id);
    }
  }
  writeInt64s(w, 2, s.value);
  if (s.label) {
    for (const key of sortedKeys(s.label)) {
      for (const v of s.label[key]) writeLabel(w, strings.add(key), strings.add(v), 0, 0);
    }
  }
  if (s.numLabel) {
    for (const key of sortedKeys(s.numLabel)) {
      const keyIndex = strings.add(key);
      const units = unitsOf(s, key);
      const values = s.numLabel[key];
      for (let j = 0; j < values.length; j++) {
        const unit = units && units.length !== 0 ? strings.add(units[j] ?? "") : 0;
        writeLabel(w, keyIndex, 0, values[j], unit);
      }
    }
  }
  w.finishDelimited(at);
}

/** Writes one Label message (field 3 of a Sample): zero fields omitted. Shared with fast_merge_encode.ts. */
export function writeLabel(w: WireWriter, key: number, str: number, num: number, unit: number): void {
  const at = w.startDelimited(3);
  optionalInt(w, 1, key);
  optionalInt(w, 2, str);
  optionalInt(w, 3, num);
  optionalInt(w, 4, unit);
  w.finishDelimited(at);
}

/** Writes a ValueType message as field `field`. Shared with fast_merge_encode.ts. */
export function writeValueType(w: WireWriter, field: number, type: number, unit: number): void {
  const at = w.startDelimited(field);
  optionalInt(w, 1, type);
  optionalInt(w, 2, unit);
  w.finishDelimited(at);
}

/**
 * pprof's encodeInt64s of `values[from, to)`: packed when more than two values, else one tag per
 * value. Shared with fast_merge_encode.ts.
 */
export function writeInt64s(
  w: WireWriter,
  field: number,
  values: ArrayLike<number>,
  from = 0,
  to: number = values.length,
): void {
  if (to - from > 2) {
    const at = w.startDelimited(field);
    for (let i = from; i < to; i++) w.varint(values[i]);
    w.finishDelimited(at);
    return;
  }
  for (let i = from; i < to; i++) {
    w.tag(field, WIRE_VARINT);
    w.varint(values[i]);
  }
}

/** Writes an int64/uint64 field unless it is 0. */
export function optionalInt(w: WireWriter, field: number, value: number): void {
  if (value === 0) return;
  w.tag(field, WIRE_VARINT);
  w.varint(value);
}

/** Writes a 64-bit field given as a bigint unless it is 0. */
export function optionalBig(w: WireWriter, field: number, value: bigint): void {
  if (value === 0n) return;
  w.tag(field, WIRE_VARINT);
  w.bigVarint(value);
}

/** Writes a bool field only when true. */
export function optionalBool(w: WireWriter, field: number, value: boolean): void {
  if (!value) return;
  w.tag(field, WIRE_VARINT);
  w.varint(1);
}
