/**
 * Encoding the fused merge's tables (fast_merge.ts) as profile.proto, byte for byte what
 * encode.ts writes for the object path's merged profile.
 *
 * Samples whose values summed to all zeros are dropped here; like the object path's re-merge
 * (merge.ts `result()`), ids are then assigned in first-use order over the kept samples:
 * locations as the stacks reference them, the first mapping first and other mappings and
 * functions as those locations reference them (without dropped samples this is exactly the
 * merge's creation order). Strings get output indexes in encode.ts's first-use order, and
 * labels are written string labels first, then numeric, keys in UTF-8 byte order.
 *
 * @module
 */

import { optionalBig, optionalBool, optionalInt, writeInt64s, writeLabel, writeValueType } from "./encode.ts";
import { type LabelSetTable, numericValue } from "./fast_merge_labels.ts";
import type { StringInterner } from "./fast_merge_strings.ts";
import type { FunctionTable, LocationTable, MappingTable } from "./fast_merge_tables.ts";
import type { SampleIndex, StackTable } from "./fast_merge_samples.ts";
import { WIRE_BYTES, WIRE_VARINT } from "./wire.ts";
import { WireWriter } from "./wire_writer.ts";

/** Merged header fields; strings as merged string ids. */
export interface FusedHeader {
  /** Sample types: type, unit, type, unit, … */
  sampleTypes: number[];
  periodType: [number, number];
  dropFrames: number;
  keepFrames: number;
  timeNanos: bigint;
  durationNanos: bigint;
  period: number;
  comments: number[];
  defaultSampleType: number;
  docUrl: number;
}

/** Everything the fused merger holds. */
export interface FusedState {
  strings: StringInterner;
  labels: LabelSetTable;
  functions: FunctionTable;
  mappings: MappingTable;
  locations: LocationTable;
  stacks: StackTable;
  samples: SampleIndex;
  /** Values of merged sample i at `[i·types, (i+1)·types)`. */
  values: Float64Array;
  /** Label set of merged sample i + 1 (0 = none). */
  sampleLabels: Int32Array;
  header: FusedHeader;
}

/** Output string indexes in first-use order (and the label key orders, see {@link KeyRuns}). */
class OutputStrings {
  readonly index: Int32Array;
  readonly order: number[] = [0];
  readonly stringKeys: KeyRuns;
  readonly numericKeys: KeyRuns;
  constructor(strings: StringInterner) {
    this.stringKeys = new KeyRuns(strings, 2);
    this.numericKeys = new KeyRuns(strings, 4);
    const count = strings.count;
    this.index = new Int32Array(count).fill(-1);
    this.index[0] = 0;
  }
  add(id: number): number {
    let i = this.index[id];
    if (i < 0) {
      i = this.index[id] = this.order.length;
      this.order.push(id);
    }
    return i;
  }
}

/** Output ids (merged index → id, 0 = dropped) and emission orders of the kept entities. */
interface Numbering {
  locOut: Int32Array;
  locOrder: number[];
  mapOut: Int32Array;
  mapOrder: number[];
  fnOut: Int32Array;
  fnOrder: number[];
  /** Exact size of the Sample messages. */
  samplesSize: number;
  /** Per kept sample: the size of its message body and of its location ids' varints. */
  bodySize: Int32Array;
  frameSize: Int32Array;
}

/** Encodes the merged profile held in `s` (uncompressed profile.proto). */
export function encodeFused(s: FusedState): Uint8Array {
  const h = s.header;
  const kept = keptSamples(s);
  const str = new OutputStrings(s.strings);
  for (const id of h.sampleTypes) str.add(id); // first in pprof's string order
  const n = numberEntities(s, kept, str);
  const loc = s.locations;
  let size = n.samplesSize + s.strings.starts[s.strings.count] + 4 * s.strings.count;
  size += 64 * 1024 + 96 * n.mapOrder.length + 32 * n.fnOrder.length;
  for (const l of n.locOrder) size += 24 + 24 * (loc.lineStart[l + 1] - loc.lineStart[l]);
  const w = new WireWriter(size); // a close upper bound: no growth, no final copy
  for (let t = 0; t < h.sampleTypes.length; t += 2) {
    writeValueType(w, 1, str.add(h.sampleTypes[t]), str.add(h.sampleTypes[t + 1]));
  }
  writeSamples(w, s, kept, n, str);
  writeMappings(w, s, n, str);
  writeLocations(w, s, n);
  writeFunctions(w, s, n, str);
  const dropFrames = str.add(h.dropFrames), keepFrames = str.add(h.keepFrames);
  const periodType = [str.add(h.periodType[0]), str.add(h.periodType[1])];
  const comments = h.comments.map((c) => str.add(c));
  const defaultSampleType = str.add(h.defaultSampleType), docUrl = str.add(h.docUrl);
  writeStrings(w, s.strings, str.order);
  optionalInt(w, 7, dropFrames);
  optionalInt(w, 8, keepFrames);
  optionalBig(w, 9, h.timeNanos);
  optionalBig(w, 10, h.durationNanos);
  if (periodType[0] !== 0 || periodType[1] !== 0) writeValueType(w, 11, periodType[0], periodType[1]);
  optionalInt(w, 12, h.period);
  writeInt64s(w, 13, comments);
  w.tag(14, WIRE_VARINT);
  w.varint(defaultSampleType);
  optionalInt(w, 15, docUrl);
  return w.finish();
}

/** Indexes of the merged samples with a non-zero value (sums of zero are dropped, like pprof). */
function keptSamples(s: FusedState): Int32Array {
  const types = s.header.sampleTypes.length / 2, count = s.samples.count, values = s.values;
  const kept = new Int32Array(count);
  let n = 0;
  for (let i = 0; i < count; i++) {
    for (let t = i * types; t < (i + 1) * types; t++) {
      if (values[t] !== 0) {
        kept[n++] = i;
        break;
      }
    }
  }
  return kept.subarray(0, n);
}

/**
 * Numbers locations as the kept stacks use them, then the first mapping, mappings and functions
 * as those locations use them. In the same pass over the stacks: the exact size of the Sample
 * messages, assigning label strings their output indexes in the order the writing pass uses them
 * (so call it right after adding the sample types' strings).
 */
function numberEntities(s: FusedState, kept: Int32Array, str: OutputStrings): Numbering {
  const frames = s.stacks.frames, starts = s.stacks.starts, sampleStack = s.samples.stack, loc = s.locations;
  const types = s.header.sampleTypes.length / 2, values = s.values;
  const locOut = new Int32Array(loc.count), locOrder: number[] = [];
  const bodySize = new Int32Array(kept.length), frameSize = new Int32Array(kept.length);
  let samplesSize = 0;
  for (let k = 0; k < kept.length; k++) {
    const i = kept[k];
    const from = starts[sampleStack[i]], to = starts[sampleStack[i] + 1], n = to - from;
    let frameBytes = 0;
    for (let j = from; j < to; j++) {
      const l = frames[j];
      let id = locOut[l];
      if (id === 0) id = locOut[l] = locOrder.push(l);
      frameBytes += id < 0x80 ? 1 : id < 0x4000 ? 2 : varintSize(id);
    }
    let body = n > 2 ? 1 + varintSize(frameBytes) + frameBytes : n + frameBytes;
    let valueBytes = 0;
    for (let t = i * types; t < (i + 1) * types; t++) valueBytes += varintSize(values[t]);
    body += types > 2 ? 1 + varintSize(valueBytes) + valueBytes : types + valueBytes;
    const set = s.sampleLabels[i] - 1;
    if (set >= 0) body += writeLabels(undefined, s, set, str);
    bodySize[k] = body;
    frameSize[k] = frameBytes;
    samplesSize += 1 + varintSize(body) + body;
  }
  const mapOut = new Int32Array(s.mappings.list.length), mapOrder: number[] = [];
  if (mapOut.length > 0) mapOut[0] = mapOrder.push(0);
  const fnOut = new Int32Array(s.functions.count), fnOrder: number[] = [];
  for (const l of locOrder) {
    const m = loc.mapping[l] - 1;
    if (m >= 0 && mapOut[m] === 0) mapOut[m] = mapOrder.push(m);
    for (let j = loc.lineStart[l]; j < loc.lineStart[l + 1]; j++) {
      const f = loc.lineFn[j];
      if (fnOut[f] === 0) fnOut[f] = fnOrder.push(f);
    }
  }
  return { locOut, locOrder, mapOut, mapOrder, fnOut, fnOrder, samplesSize, bodySize, frameSize };
}

/**
 * Field 2: the kept samples (location ids leaf first, values, labels). Message and packed-id
 * lengths come from {@link numberEntities}, so no body is shifted after the fact.
 */
function writeSamples(w: WireWriter, s: FusedState, kept: Int32Array, n: Numbering, str: OutputStrings): void {
  const types = s.header.sampleTypes.length / 2, frames = s.stacks.frames, starts = s.stacks.starts;
  const sampleStack = s.samples.stack, locOut = n.locOut;
  for (let k = 0; k < kept.length; k++) {
    const i = kept[k];
    w.tag(2, WIRE_BYTES);
    w.varint(n.bodySize[k]);
    const from = starts[sampleStack[i]], to = starts[sampleStack[i] + 1];
    if (to - from > 2) {
      // more than two frames: packed, its length known from numberEntities
      const frameBytes = n.frameSize[k];
      w.tag(1, WIRE_BYTES);
      w.varint(frameBytes);
      w.ensure(frameBytes);
      const buf = w.buf;
      let pos = w.pos;
      for (let j = from; j < to; j++) {
        let id = locOut[frames[j]];
        while (id > 0x7f) {
          buf[pos++] = (id & 0x7f) | 0x80;
          id >>>= 7;
        }
        buf[pos++] = id;
      }
      w.pos = pos;
    } else {
      for (let j = from; j < to; j++) {
        w.tag(1, WIRE_VARINT);
        w.varint(locOut[frames[j]]);
      }
    }
    writeInt64s(w, 2, s.values, i * types, (i + 1) * types);
    const set = s.sampleLabels[i] - 1;
    if (set >= 0) writeLabels(w, s, set, str);
  }
}

/** Field 3: the kept mappings. */
function writeMappings(w: WireWriter, s: FusedState, n: Numbering, str: OutputStrings): void {
  for (const m of n.mapOrder) {
    const mapping = s.mappings.list[m];
    const at = w.startDelimited(3);
    optionalInt(w, 1, n.mapOut[m]);
    optionalBig(w, 2, mapping.memoryStart);
    optionalBig(w, 3, mapping.memoryLimit);
    optionalBig(w, 4, mapping.fileOffset);
    optionalInt(w, 5, str.add(mapping.file));
    optionalInt(w, 6, str.add(mapping.buildId));
    for (let bit = 0; bit < 4; bit++) optionalBool(w, 7 + bit, (mapping.flags & (1 << bit)) !== 0);
    w.finishDelimited(at);
  }
}

/** Field 4: the kept locations with their lines. */
function writeLocations(w: WireWriter, s: FusedState, n: Numbering): void {
  const loc = s.locations;
  for (const l of n.locOrder) {
    const at = w.startDelimited(4);
    optionalInt(w, 1, n.locOut[l]);
    optionalInt(w, 2, loc.mapping[l] === 0 ? 0 : n.mapOut[loc.mapping[l] - 1]);
    const lo = loc.addrLo[l], hi = loc.addrHi[l];
    if (lo !== 0 || hi !== 0) {
      w.tag(3, WIRE_VARINT);
      w.varint64(lo, hi);
    }
    for (let j = loc.lineStart[l]; j < loc.lineStart[l + 1]; j++) {
      const lineAt = w.startDelimited(4);
      optionalInt(w, 1, n.fnOut[loc.lineFn[j]]);
      optionalInt(w, 2, loc.lineNumber[j]);
      optionalInt(w, 3, loc.lineColumn[j]);
      w.finishDelimited(lineAt);
    }
    optionalBool(w, 5, loc.folded[l] !== 0);
    w.finishDelimited(at);
  }
}

/** Field 5: the kept functions. */
function writeFunctions(w: WireWriter, s: FusedState, n: Numbering, str: OutputStrings): void {
  const fns = s.functions;
  for (const f of n.fnOrder) {
    const at = w.startDelimited(5);
    optionalInt(w, 1, n.fnOut[f]);
    optionalInt(w, 2, str.add(fns.name[f]));
    optionalInt(w, 3, str.add(fns.systemName[f]));
    optionalInt(w, 4, str.add(fns.filename[f]));
    optionalInt(w, 5, fns.startLine[f]);
    w.finishDelimited(at);
  }
}

/** Bytes of a varint of the non-negative integer `n` (10 for negatives). */
function varintSize(n: number): number {
  if (n < 0) return 10;
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Field 6: the strings in output order, copied from the interner's byte pool. */
function writeStrings(w: WireWriter, strings: StringInterner, order: readonly number[]): void {
  const pool = strings.bytes, starts = strings.starts;
  for (let k = 0; k < order.length; k++) {
    const id = order[k], start = starts[id], length = starts[id + 1] - start;
    w.tag(6, WIRE_BYTES);
    w.varint(length);
    w.ensure(length);
    const buf = w.buf, at = w.pos;
    if (length <= 64) { for (let i = 0; i < length; i++) buf[at + i] = pool[start + i]; }
    else buf.set(pool.subarray(start, start + length), at);
    w.pos = at + length;
  }
}

/**
 * Starts of the runs of equal keys among the records of a label set (sorted by key id), in key
 * byte order. Remembers the last key sequence: label sets mostly repeat the same keys.
 */
class KeyRuns {
  #keys: number[] = [];
  #runs: number[] = [];
  constructor(private readonly strings: StringInterner, private readonly width: number) {}

  /** Runs of the `n` records at `pool[base…]`. */
  of(pool: Int32Array, base: number, n: number): number[] {
    const width = this.width, keys = this.#keys;
    if (n === keys.length) {
      let i = 0;
      while (i < n && pool[base + i * width] === keys[i]) i++;
      if (i === n) return this.#runs;
    }
    const runs: number[] = [];
    keys.length = 0;
    for (let i = 0; i < n; i++) {
      const key = pool[base + i * width];
      keys.push(key);
      if (i === 0 || key !== keys[i - 1]) {
        let j = runs.length;
        while (j > 0 && this.strings.compare(pool[base + runs[j - 1] * width], key) > 0) j--;
        runs.splice(j, 0, i);
      }
    }
    return this.#runs = runs;
  }
}

/** Bytes of a Label message as field 3 (zero fields omitted, as writeLabel writes it). */
function labelSize(key: number, value: number, num: number, unit: number): number {
  const inner = fieldSize(key) + fieldSize(value) + fieldSize(num) + fieldSize(unit);
  return 1 + varintSize(inner) + inner;
}

/** Bytes of an optional varint field with a one-byte key (0 when the value is 0 and omitted). */
function fieldSize(v: number): number {
  return v === 0 ? 0 : 1 + varintSize(v);
}

/**
 * Writes the Label messages of label set `set` as encode.ts does for the object form, or with no
 * writer only assigns their strings' output indexes; returns their size in bytes.
 */
function writeLabels(w: WireWriter | undefined, s: FusedState, set: number, str: OutputStrings): number {
  let size = 0;
  const pool = s.labels.pool, at = s.labels.starts[set];
  const ns = pool[at], nn = pool[at + 1];
  const pairs = at + 2, triples = pairs + 2 * ns;
  if (ns > 0) {
    // Index loops, not for-of: called twice per sample, an iterator each time was most of the merge's garbage.
    const runs = str.stringKeys.of(pool, pairs, ns);
    for (let r = 0; r < runs.length; r++) {
      const run = runs[r], key = pool[pairs + 2 * run];
      for (let i = run; i < ns && pool[pairs + 2 * i] === key; i++) {
        const keyIndex = str.add(key), valueIndex = str.add(pool[pairs + 2 * i + 1]);
        if (w) writeLabel(w, keyIndex, valueIndex, 0, 0);
        else size += labelSize(keyIndex, valueIndex, 0, 0);
      }
    }
  }
  if (nn > 0) {
    const runs = str.numericKeys.of(pool, triples, nn);
    for (let r = 0; r < runs.length; r++) {
      const run = runs[r], key = pool[triples + 4 * run];
      const keyIndex = str.add(key);
      for (let i = run; i < nn && pool[triples + 4 * i] === key; i++) {
        const unit = pool[triples + 4 * i + 3];
        const num = numericValue(pool, triples + 4 * i + 1), unitIndex = unit === 0 ? 0 : str.add(unit - 1);
        if (w) writeLabel(w, keyIndex, 0, num, unitIndex);
        else size += labelSize(keyIndex, 0, num, unitIndex);
      }
    }
  }
  return size;
}
