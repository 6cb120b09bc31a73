/**
 * The fused merge: profile.proto bytes in, merged profile.proto bytes out, with no
 * `Profile` object graph in between. Each input is inflated, scanned and its functions,
 * mappings and locations decoded into flat tables (fast_merge_input.ts); then its samples are
 * decoded one by one straight into the merged tables: strings interned by bytes
 * (fast_merge_strings.ts), functions/mappings/locations by pprof's keys
 * (fast_merge_tables.ts), label sets (fast_merge_labels.ts), stacks in a stack table and
 * samples by (stack, label identity) (fast_merge_samples.ts), values in one typed array. The
 * result is encoded from the tables (fast_merge_encode.ts).
 *
 * Contract: `finish()` returns exactly the bytes of
 * `encodeProfile(mergeProfiles(inputs.map((d) => decodeProfile(d))))`, and `add` accepts
 * exactly the inputs `decodeProfile` accepts (same validation and limits; failures are
 * {@link ProfileError}s), with one exception: the four whole-profile totals of
 * {@link DecodeLimits} (`maxTotalFrames`, `maxTotalInlineFrames`, `maxTotalLabels`,
 * `maxReferencedChars`) are not counted. They bound the memory of the `Profile` objects
 * `decodeProfile` builds (every sample's frames and labels expanded), which this path never
 * builds: a 549 KB input of 65,536-frame stacks that `decodeProfile` refuses for its 2·10⁹ inlined
 * frames merges here in 29 ms. Uploads meet those totals anyway: the server and the worker decode
 * each one with `decodeProfile` before it is merged. Measured on 100 real labelled CPU profiles:
 * see BENCHMARKS.md.
 *
 * @module
 */

import { parseFailure } from "./decode.ts";
import { countCheck, skipField } from "./decode_messages.ts";
import { ProfileError } from "./errors.ts";
import { DEFAULT_GZIP_LEVEL } from "./encode.ts";
import { encodeFused, type FusedHeader } from "./fast_merge_encode.ts";
import { InputTables } from "./fast_merge_input.ts";
import { LabelSetTable } from "./fast_merge_labels.ts";
import { StringInterner } from "./fast_merge_strings.ts";
import { MergedEntities } from "./fast_merge_entities.ts";
import { rawProfileBytes } from "./inflate.ts";
import { type DecodeLimits, resolveDecodeLimits } from "./limits.ts";
import { SampleIndex, StackTable } from "./fast_merge_samples.ts";
import { labelsOf, SampleLabels } from "./fast_merge_sample_labels.ts";
import { gzipSync } from "node:zlib";

const MAX_VALUE = Number.MAX_SAFE_INTEGER;

function invalid(message: string): never {
  throw new ProfileError("invalid", message);
}

function overflow(): never {
  throw new ProfileError(
    "unsupported",
    `merged sample value exceeds 2^53 (${MAX_VALUE}): cannot be represented exactly`,
  );
}

function growInt32(a: Int32Array<ArrayBuffer>, n: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(Math.max(n, 2 * a.length));
  b.set(a);
  return b;
}

function growFloat64(a: Float64Array<ArrayBuffer>, n: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(Math.max(n, 2 * a.length));
  b.set(a);
  return b;
}

/** Returns `a` if it holds `n` entries, else a larger copy. */
function fit<T extends Int32Array | Float64Array>(a: T, n: number): T {
  if (a.length >= n) return a;
  const Ctor = a.constructor as new (n: number) => T;
  const b = new Ctor(Math.max(n, 2 * a.length));
  b.set(a);
  return b;
}

/** The most samples {@link FusedMergerOptions.expectedBytes} sizes the tables for (at most about 30 MB of tables). */
export const MAX_EXPECTED_SAMPLES = 1 << 17;

/** Options of {@link EncodedProfileMerger}. */
export interface FusedMergerOptions {
  /** Decode limits of every input (defaults: `DEFAULT_DECODE_LIMITS`). */
  limits?: Partial<DecodeLimits>;
  /**
   * The bytes of all inputs that will be added, as given to `add` (compressed or not), when known
   * (a merge of files): the merged tables are then sized once, from the first input, for all of
   * them. Only a hint: the tables still grow if the merge outgrows it, and the output is the same.
   */
  expectedBytes?: number;
}

/** Options of {@link EncodedProfileMerger.finish}. */
export interface FusedFinishOptions {
  /** Gzip the output (default true), as `encodeProfile`. */
  compress?: boolean;
  /** Gzip level 1..9 (default {@link DEFAULT_GZIP_LEVEL}, as `encodeProfile`). */
  level?: number;
  /**
   * Replaces the merged comments (deduplicated, in first-seen order) before encoding, as a caller
   * of the object path sets `profile.comments` between merging and encoding (the pipeline rewrites
   * its bookkeeping comments this way).
   */
  comments?: (merged: string[]) => string[];
}

/**
 * Streaming pprof merge over encoded profiles; see the module doc. `add` each input (gzip or
 * raw profile.proto), then `finish()` once. Headers specialise on the first input as pprof's
 * `Merge` does. An input rejected before its samples are merged (decode errors in headers or
 * entities, incompatible types) leaves the merger unchanged; one rejected while its samples
 * are merged (a bad sample, a sum beyond 2^53) makes the merger unusable: later calls throw.
 */
export class EncodedProfileMerger {
  readonly #lim: DecodeLimits;
  readonly #strings = new StringInterner();
  readonly #input = new InputTables();
  readonly #labels = new LabelSetTable(this.#strings);
  readonly #entities = new MergedEntities(this.#strings);
  readonly #stacks = new StackTable();
  readonly #samples = new SampleIndex();
  #values = new Float64Array(8192);
  #sampleLabels = new Int32Array(4096);
  #header: FusedHeader | undefined;
  readonly #comments = new Set<number>();
  #count = 0;
  /** The value factor of the input being added. */
  #factor = 1;
  /** Compressed bytes of all inputs, when the caller knows them ({@link FusedMergerOptions.expectedBytes}). */
  readonly #expectedBytes: number;
  /** Compressed bytes of the input being added. */
  #inputBytes = 0;
  #failure: ProfileError | undefined;
  #done = false;
  // Scratch.
  #frames = new Int32Array(256);
  #ids = new Int32Array(256);
  #sampleValues = new Float64Array(16);
  readonly #labelScratch = new SampleLabels();

  /** A merger decoding inputs under `limits` (defaults: `DEFAULT_DECODE_LIMITS`); see {@link FusedMergerOptions}. */
  constructor(opts: FusedMergerOptions = {}) {
    this.#lim = resolveDecodeLimits(opts.limits);
    this.#expectedBytes = opts.expectedBytes ?? 0;
  }

  /** Number of inputs added so far. */
  get count(): number {
    return this.#count;
  }

  /** The merged comments so far (deduplicated, first-seen order): after the first `add`, that input's own. */
  get comments(): string[] {
    return this.#header ? this.#header.comments.map((id) => this.#strings.text(id)) : [];
  }

  /**
   * Decodes, validates and merges one input (gzip or raw profile.proto bytes). `valueFactor` (a
   * positive safe integer, default 1) multiplies each of its sample values as they are merged: the
   * bytes of merging the input with every value so multiplied (decay weights, rebuild_job.ts).
   */
  add(data: Uint8Array, opts: { valueFactor?: number } = {}): void {
    this.#usable();
    const factor = opts.valueFactor ?? 1;
    if (!Number.isSafeInteger(factor) || factor < 1) {
      throw new RangeError(`valueFactor must be a positive safe integer, got ${factor}`);
    }
    this.#factor = factor;
    this.#inputBytes = data.length;
    const lim = this.#lim;
    const raw = rawProfileBytes(data, lim);
    let header: FusedHeader;
    try {
      this.#input.load(raw, lim, this.#strings);
      header = this.#readHeader();
    } catch (error) {
      this.#input.release();
      throw parseFailure(error, raw);
    }
    if (this.#header) {
      try {
        this.#checkCompatible(header);
      } catch (error) {
        this.#input.release();
        throw error;
      }
    }
    try {
      this.#combineHeader(header);
      this.#count++;
      this.#mergeSamples();
    } catch (error) {
      this.#failure = error instanceof ProfileError ? error : new ProfileError("invalid", String(error));
      throw parseFailure(error, raw);
    } finally {
      this.#input.release();
    }
  }

  /** Encodes the merged profile (gzip by default) and ends the merger. */
  finish(opts: FusedFinishOptions = {}): Uint8Array {
    this.#usable();
    if (this.#count === 0) throw new ProfileError("empty", "no profiles to merge");
    this.#done = true;
    if (opts.comments) {
      const header = this.#header!, strings = this.#strings;
      header.comments = opts.comments(header.comments.map((id) => strings.text(id))).map((c) => strings.internText(c));
    }
    const raw = encodeFused({
      strings: this.#strings,
      labels: this.#labels,
      functions: this.#entities.functions,
      mappings: this.#entities.mappings,
      locations: this.#entities.locations,
      stacks: this.#stacks,
      samples: this.#samples,
      values: this.#values,
      sampleLabels: this.#sampleLabels,
      header: this.#header!,
    });
    if (opts.compress === false) return raw;
    const gz = gzipSync(raw, { level: opts.level ?? DEFAULT_GZIP_LEVEL });
    return new Uint8Array(gz.buffer, gz.byteOffset, gz.length);
  }

  #usable(): void {
    if (this.#done) throw new Error("EncodedProfileMerger: used after finish()");
    if (this.#failure) {
      throw new ProfileError(this.#failure.kind, `merger unusable after an earlier error: ${this.#failure.message}`);
    }
  }

  /** The input's header with strings as merged ids (range-checked like decode.ts). */
  #readHeader(): FusedHeader {
    const input = this.#input, top = input.top, strings = this.#strings;
    return {
      sampleTypes: input.sampleTypes,
      periodType: input.periodType,
      dropFrames: input.string(top.dropFrames, strings, "drop_frames"),
      keepFrames: input.string(top.keepFrames, strings, "keep_frames"),
      timeNanos: top.timeNanos,
      durationNanos: top.durationNanos,
      period: top.period,
      comments: top.comments.map((index) => input.string(index, strings, "comment")),
      defaultSampleType: input.string(top.defaultSampleType, strings, "default_sample_type"),
      docUrl: input.string(top.docUrl, strings, "doc_url"),
    };
  }

  /** merge_keys.ts `checkCompatible` on merged string ids (messages name the types). */
  #checkCompatible(h: FusedHeader): void {
    const out = this.#header!, text = (id: number) => this.#strings.text(id);
    const fmt = (ids: readonly number[]) => {
      const parts: string[] = [];
      for (let i = 0; i < ids.length; i += 2) parts.push(`${text(ids[i])}/${text(ids[i + 1])}`);
      return parts.join(" ");
    };
    if (out.periodType[0] !== h.periodType[0] || out.periodType[1] !== h.periodType[1]) {
      throw new ProfileError(
        "incompatible",
        `incompatible period types ${fmt(out.periodType)} and ${fmt(h.periodType)}`,
      );
    }
    const a = out.sampleTypes, b = h.sampleTypes;
    if (a.length !== b.length || a.some((id, i) => id !== b[i])) {
      throw new ProfileError("incompatible", `incompatible sample types [${fmt(a)}] and [${fmt(b)}]`);
    }
  }

  /** merge.ts's header rules (first input's types and frames, max period, summed duration, …). */
  #combineHeader(src: FusedHeader): void {
    const out = this.#header;
    if (!out) {
      this.#header = { ...src, comments: [] };
      for (const c of src.comments) this.#addComment(c);
      return;
    }
    if (out.timeNanos === 0n || src.timeNanos < out.timeNanos) out.timeNanos = src.timeNanos;
    out.durationNanos = BigInt.asIntN(64, out.durationNanos + src.durationNanos);
    if (out.period === 0 || out.period < src.period) out.period = src.period;
    for (const c of src.comments) this.#addComment(c);
    if (out.defaultSampleType === 0) out.defaultSampleType = src.defaultSampleType;
    if (out.docUrl === 0) out.docUrl = src.docUrl;
  }

  #addComment(c: number): void {
    if (!this.#comments.has(c)) {
      this.#comments.add(c);
      this.#header!.comments.push(c);
    }
  }

  /** Decodes, validates and merges every sample of the loaded input. */
  #mergeSamples(): void {
    const input = this.#input, lim = this.#lim, r = input.r, spans = input.top.samples;
    const types = input.sampleTypes.length / 2;
    this.#entities.begin(input);
    this.#reserve(spans, types);
    const locById = input.locById, factor = this.#factor;
    for (let s = 0; s < spans.length; s += 2) {
      r.pos = spans[s];
      const end = r.end = spans[s + 1];
      let frames = 0, values = 0;
      const labels = this.#labelScratch;
      labels.count = 0;
      while (r.pos < end) {
        const tag = r.tag();
        if (tag === 8 || tag === 10) {
          const packed = tag === 10, stop = packed ? r.delimited() : end;
          if (frames + (packed ? stop - r.pos : 1) > this.#frames.length) {
            this.#frames = growInt32(this.#frames, frames + stop - r.pos);
          }
          const out = this.#frames;
          r.end = stop;
          do { // one id when unpacked (a missing value is then a truncated varint, as in decode.ts)
            if (packed && r.pos >= stop) break;
            const id = r.index();
            const local = id >= 0 ? locById.get(id) : 0;
            if (local === 0) invalid(`sample refers to location id ${id}, which is not in the profile`);
            out[frames++] = local - 1;
          } while (packed);
          r.end = end;
          if (frames > lim.maxStackDepth) countCheck(frames, lim.maxStackDepth, "frames in a sample");
        } else if (tag === 16 || tag === 18) {
          const packed = tag === 18, stop = packed ? r.delimited() : end;
          if (values + (packed ? stop - r.pos : 1) > this.#sampleValues.length) {
            this.#sampleValues = growFloat64(this.#sampleValues, values + stop - r.pos);
          }
          const out = this.#sampleValues;
          r.end = stop;
          do {
            if (packed && r.pos >= stop) break;
            out[values++] = r.int("sample value") * factor;
          } while (packed);
          r.end = end;
          if (values > lim.maxValuesPerSample) countCheck(values, lim.maxValuesPerSample, "values in a sample");
        } else if (tag === 26) {
          labels.read(r);
          r.end = end;
          if (labels.count > lim.maxLabelsPerSample) countCheck(labels.count, lim.maxLabelsPerSample, "labels");
        } else {
          skipField(r, tag, 3, "Sample");
        }
      }
      if (values !== types) invalid(`sample ${s / 2} has ${values} values, want ${types} (one per sample type)`);
      labels.check(input);
      const v = this.#sampleValues;
      let zero = true;
      for (let i = 0; i < types; i++) {
        if (v[i] !== 0) {
          zero = false;
          break;
        }
      }
      if (!zero) this.#mergeSample(frames, types);
    }
  }

  /**
   * Grows the merged tables once for what this input can add (at most one sample, label set and
   * value row per sample message; its strings): no doubling garbage while merging a large base.
   * Label entries are guessed from the first sample. For the first input of a merge whose total
   * size is known, the tables are sized for all inputs at once, as many times this input's samples
   * and strings as the inputs are its size ({@link FusedMergerOptions.expectedBytes}; at most
   * {@link MAX_EXPECTED_SAMPLES}): growing them by doubling rehashed every sample, label set and
   * string several times.
   */
  #reserve(spans: readonly number[], types: number): void {
    const input = this.#input;
    let samples = spans.length / 2, strings = input.stringCount;
    if (samples === 0) return;
    if (this.#count === 1 && this.#expectedBytes > this.#inputBytes && this.#inputBytes > 0) {
      const scale = Math.min(this.#expectedBytes / this.#inputBytes, MAX_EXPECTED_SAMPLES / samples);
      if (scale > 1) [samples, strings] = [Math.ceil(samples * scale), Math.ceil(strings * scale)];
    }
    const total = this.#samples.count + samples;
    this.#samples.reserve(samples);
    this.#stacks.reserve(samples); // at most one new stack per sample; the frame pool grows as needed
    this.#values = fit(this.#values, total * types);
    this.#sampleLabels = fit(this.#sampleLabels, total);
    const offsets = input.top.strings;
    this.#strings.reserve(strings, offsets[offsets.length - 1] - offsets[0]);
    this.#labels.reserve(samples, samples * (2 + 2 * Math.min(labelsOf(input.raw, spans[0], spans[1]), 16)));
  }

  #mergeSample(frames: number, types: number): void {
    this.#ids = fit(this.#ids, frames);
    const ids = this.#ids, locals = this.#frames, entities = this.#entities;
    // Leaf first, as merge.ts maps locations (first-seen mapping/location fields depend on it).
    for (let i = 0; i < frames; i++) ids[i] = entities.location(locals[i]) - 1;
    const stack = this.#stacks.intern(ids, frames);
    const labels = this.#labelScratch;
    const set = labels.count === 0 ? -1 : labels.intern(this.#input, this.#strings, this.#labels);
    const identity = set < 0 ? 0 : this.#labels.identities[set];
    const v = this.#sampleValues;
    const before = this.#samples.count;
    const idx = this.#samples.intern(stack, identity);
    if (idx < before) {
      const out = this.#values, at = idx * types;
      for (let i = 0; i < types; i++) {
        const sum = out[at + i] + v[i];
        if (sum > MAX_VALUE || sum < -MAX_VALUE) overflow();
        out[at + i] = sum;
      }
      return;
    }
    for (let i = 0; i < types; i++) if (v[i] > MAX_VALUE || v[i] < -MAX_VALUE) overflow();
    const n = idx;
    this.#values = fit(this.#values, (n + 1) * types);
    const out = this.#values;
    for (let i = 0; i < types; i++) out[n * types + i] = v[i]; // no subarray view per sample: JS-heap garbage
    this.#sampleLabels = fit(this.#sampleLabels, n + 1);
    this.#sampleLabels[n] = set + 1;
  }
}

/**
 * Merges encoded profiles (gzip or raw profile.proto) with the fused path: the bytes of
 * `encodeProfile(mergeProfiles(inputs.map((d) => decodeProfile(d))), opts)`.
 */
export function mergeEncodedProfiles(
  inputs: Iterable<Uint8Array>,
  opts: FusedFinishOptions & { limits?: Partial<DecodeLimits> } = {},
): Uint8Array {
  const merger = new EncodedProfileMerger({ limits: opts.limits });
  for (const data of inputs) merger.add(data);
  return merger.finish(opts);
}
