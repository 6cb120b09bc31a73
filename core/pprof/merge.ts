/**
 * Merging and compaction of profiles with google/pprof `profile.Merge` semantics.
 *
 * The merged profile holds exactly the samples, locations, functions and mappings that
 * pprof's `Merge` produces for the same inputs (same identity keys, same first-use id
 * order, same header rules), so `go tool pprof -proto a b …` and `autopgo merge a b …`
 * agree sample for sample. {@link ProfileMerger} streams: inputs are added one at a time and
 * may be discarded after `add`, so memory is bounded by the merged result.
 *
 * Speed: per input, entity lookups are memoised in arrays indexed by the input's ids; a
 * sample's identity is hashed from its merged location ids and label-set identity (no
 * per-sample key strings) and looked up in a typed open-addressing table (merge_samples.ts);
 * string label sets are interned (merge_labels.ts) and the merged samples that carry the same
 * set share one label object: treat `Sample.label` of a merged profile as immutable (replace
 * it rather than editing it in place). Streaming callers that drop their inputs pass
 * `adoptInputs` so input samples and their arrays become the merged ones (no copies).
 *
 * @module
 */

import { ProfileError } from "./errors.ts";
import type { Function, Line, Location, Mapping, Profile, Sample } from "./profile.ts";
import { emptyProfile } from "./profile.ts";
import { checkCompatible, fillLineSlots, type LineSlot, mappingKey, sameLineSlots } from "./merge_keys.ts";
import { copyAllLabels, hasKeys, LabelInterner, type LabelSet } from "./merge_labels.ts";
import { IdToIndex, mixHash, mixNumber, SampleTable } from "./merge_samples.ts";
import { finalMix, HASH_SEED, hashFloodError, MAX_ALIKE } from "./hash_seed.ts";

export { checkCompatible };

const MAX_VALUE = Number.MAX_SAFE_INTEGER;
const MAX_SAFE_BIGINT = BigInt(MAX_VALUE);

/** A mapping of the merged profile and the address shift for locations of one input mapping. */
interface MappingInfo {
  mapping: Mapping;
  offset: bigint;
  /** The input mapping's start as a number (NaN beyond 2^53): fast relative addresses. */
  srcStart: number;
}

/** id → entity memo for one input profile: dense array for small ids, Map for the rest. */
class IdMemo<T> {
  readonly #dense: (T | undefined)[];
  readonly #sparse = new Map<number, T>();

  constructor(count: number) {
    this.#dense = new Array(count + 1);
  }

  get(id: number): T | undefined {
    return id < this.#dense.length ? this.#dense[id] : this.#sparse.get(id);
  }

  set(id: number, value: T): void {
    if (id < this.#dense.length) this.#dense[id] = value;
    else this.#sparse.set(id, value);
  }
}

/** `v` as a number when exact (≤ 2^53), else NaN. */
function safeNumber(v: bigint): number {
  return v <= MAX_SAFE_BIGINT ? Number(v) : NaN;
}

/**
 * The address part of pprof's location key (address − mapping start, mod 2^64) as a Map key:
 * a number on the fast path (no BigInt allocation), a decimal string beyond 2^53.
 */
function relativeAddressKey(src: Location, info: MappingInfo | undefined): number | string {
  const address = Number(src.address);
  if (address <= MAX_VALUE) {
    if (!info) return address;
    if (address >= info.srcStart) return address - info.srcStart; // false for NaN
  }
  let rel = src.mapping ? src.address - src.mapping.memoryStart : src.address;
  if (rel < 0n) rel = BigInt.asUintN(64, rel);
  return rel <= MAX_SAFE_BIGINT ? Number(rel) : rel.toString();
}

/**
 * A seeded hash of a location's merge key (see `#mapLocation`): the relative address, mapping,
 * folding and lines as `#sameLines` compares them (one line: function, line and column; more:
 * the line slots `slots` holds). Equal keys hash alike.
 */
function locationHash(
  rel: number | string,
  mapping: Mapping | undefined,
  folded: boolean,
  fns: readonly (Function | undefined)[],
  lines: readonly Line[],
  slots: readonly LineSlot[],
): number {
  let h = mixHash(HASH_SEED, typeof rel === "number" ? rel | 0 : rel.length);
  h = mixHash(
    mixHash(h, typeof rel === "number" ? (rel / 4294967296) | 0 : rel.charCodeAt(rel.length - 1)),
    lines.length,
  );
  h = mixHash(mixHash(h, mapping?.id ?? 0), folded ? 1 : 0);
  if (lines.length === 1) {
    return finalMix(mixNumber(mixNumber(mixHash(h, fns[0]?.id ?? 0), lines[0].line), lines[0].column));
  }
  if (lines.length >= 2) { for (const slot of slots) h = slot === undefined ? mixHash(h, -1) : mixNumber(h, slot); }
  return finalMix(h);
}

function isZeroSample(s: Sample): boolean {
  const value = s.value;
  for (let i = 0; i < value.length; i++) if (value[i] !== 0) return false;
  return true;
}

function overflow(): never {
  throw new ProfileError(
    "unsupported",
    `merged sample value exceeds 2^53 (${MAX_VALUE}): cannot be represented exactly`,
  );
}

/**
 * Streaming pprof merge: `add` inputs one at a time (each may be dropped by the caller
 * afterwards), then `result()` once. Headers are specialised on the first added profile
 * exactly as pprof's `Merge` specialises on `srcs[0]`; the result equals
 * `mergeProfiles([all added])`. An incompatible input throws `ProfileError("incompatible")`
 * (an inconsistent one `"invalid"`) and leaves the merger unchanged; a summed value beyond
 * 2^53 throws `ProfileError("unsupported")`, after which the merger must be discarded.
 */
export class ProfileMerger {
  #out: Profile = emptyProfile();
  #count = 0;
  #done = false;
  readonly #comments = new Set<string>();
  readonly #mappings = new Map<string, Mapping>();
  readonly #functions = new Map<string, Function>();
  /** Locations by a seeded hash of their key (hash_seed.ts), each with its relative address. */
  readonly #locations = new Map<number, { loc: Location; rel: number | string }[]>();
  readonly #lineSlots = new Map<Location, LineSlot[]>();
  #fnScratch: (Function | undefined)[] = [];
  #slotScratch: LineSlot[] = [];
  #table = new SampleTable();
  #ids = new Int32Array(64);
  readonly #labels: LabelInterner;
  readonly #adopt: boolean;
  // Per-input memo tables (reset on every add).
  #mapMemo = new IdMemo<MappingInfo>(0);
  #fnMemo = new IdMemo<Function>(0);
  #locMemo = new IdToIndex(0);

  /**
   * With `adoptInputs`, the merged profile takes over sample objects, their arrays and label
   * objects of the added profiles instead of copying them (fewer allocations, less memory):
   * only for callers that drop each input after `add` (streaming from files or blobs) and
   * never use it again. Inputs must not share arrays between samples (decoded ones never do).
   */
  constructor(opts: { adoptInputs?: boolean } = {}) {
    this.#adopt = opts.adoptInputs ?? false;
    this.#labels = new LabelInterner(this.#adopt);
  }

  /** Number of profiles added so far. */
  get count(): number {
    return this.#count;
  }

  /** Merges one more profile into the result. */
  add(src: Profile): void {
    if (this.#done) throw new Error("ProfileMerger: add() after result()");
    if (this.#count > 0) checkCompatible(this.#out, src);
    const types = src.sampleType.length;
    for (const s of src.sample) {
      if (s.value.length !== types) {
        throw new ProfileError("invalid", `mismatch: sample has ${s.value.length} values vs. ${types} types`);
      }
    }
    this.#combineHeader(src);
    this.#count++;
    this.#mapMemo = new IdMemo(src.mapping.length);
    this.#fnMemo = new IdMemo(src.function.length);
    this.#locMemo = new IdToIndex(src.location.length);
    if (this.#out.mapping.length === 0 && src.mapping.length > 0) {
      // The first mapping stands for the main binary: keep it first, as pprof does.
      this.#mapMapping(src.mapping[0]);
    }
    for (const s of src.sample) {
      if (!isZeroSample(s)) this.#mapSample(s);
    }
    this.#mapMemo = new IdMemo(0);
    this.#fnMemo = new IdMemo(0);
    this.#locMemo = new IdToIndex(0);
  }

  /**
   * Returns the merged profile and ends the merger. Samples whose values summed to all
   * zeros are dropped by merging the result once more, like pprof.
   */
  result(): Profile {
    if (this.#count === 0) throw new ProfileError("empty", "no profiles to merge");
    this.#done = true;
    const out = this.#out;
    this.#table = new SampleTable();
    this.#locations.clear();
    this.#lineSlots.clear();
    this.#functions.clear();
    this.#mappings.clear();
    if (out.sample.some(isZeroSample)) return mergeProfiles([out]);
    return out;
  }

  #combineHeader(src: Profile): void {
    const out = this.#out;
    if (this.#count === 0) {
      out.sampleType = src.sampleType.map((t) => ({ type: t.type, unit: t.unit }));
      out.periodType = { type: src.periodType.type, unit: src.periodType.unit };
      out.dropFrames = src.dropFrames;
      out.keepFrames = src.keepFrames;
    }
    // pprof's loop: a zero TimeNanos resets the minimum (not "earliest non-zero").
    if (out.timeNanos === 0n || src.timeNanos < out.timeNanos) out.timeNanos = src.timeNanos;
    out.durationNanos = BigInt.asIntN(64, out.durationNanos + src.durationNanos);
    if (out.period === 0 || out.period < src.period) out.period = src.period;
    for (const c of src.comments) {
      if (!this.#comments.has(c)) {
        this.#comments.add(c);
        out.comments.push(c);
      }
    }
    if (out.defaultSampleType === "") out.defaultSampleType = src.defaultSampleType;
    if (out.docUrl === "") out.docUrl = src.docUrl;
  }

  #mapSample(src: Sample): void {
    const locs = src.location;
    const n = locs.length;
    if (n > this.#ids.length) this.#ids = new Int32Array(Math.max(n, this.#ids.length * 2));
    const ids = this.#ids;
    const memo = this.#locMemo;
    let h = 0x9747b28c ^ HASH_SEED ^ n;
    for (let i = 0; i < n; i++) {
      const l = locs[i];
      let id = memo.get(l.id);
      if (id === 0) id = this.#mapLocation(l).id;
      ids[i] = id;
      h = mixHash(h, id);
    }
    // Label identity (pprof's label encoding); string-only sets are interned without strings.
    let labelId = 0;
    let labelSet: LabelSet | undefined;
    const numeric = src.numLabel !== undefined && hasKeys(src.numLabel);
    if (numeric) labelId = this.#labels.numericLabels(src);
    else if (src.label) labelId = (labelSet = this.#labels.stringLabels(src.label))?.identity ?? 0;
    if (labelId !== 0) h = mixHash(h, labelId);
    h = finalMix(h);

    const samples = this.#out.sample;
    const idx = this.#table.find(ids, n, labelId, h);
    if (idx >= 0) {
      const tv = samples[idx].value;
      const sv = src.value;
      for (let i = 0; i < tv.length; i++) {
        const v = tv[i] + sv[i];
        if (v > MAX_VALUE || v < -MAX_VALUE) overflow();
        tv[i] = v;
      }
      return;
    }
    for (const v of src.value) if (v > MAX_VALUE || v < -MAX_VALUE) overflow();
    const all = this.#out.location;
    let sample: Sample;
    if (this.#adopt) {
      // The input is ours: reuse its sample object and arrays, pointing at merged locations.
      sample = src;
      for (let i = 0; i < n; i++) locs[i] = all[ids[i] - 1];
      if (!numeric) sample.label = labelSet?.label;
    } else {
      const location: Location[] = []; // packed (push), not holey (new Array(n))
      for (let i = 0; i < n; i++) location.push(all[ids[i] - 1]);
      sample = { location, value: src.value.slice() };
      if (numeric) copyAllLabels(src, sample);
      else if (labelSet) sample.label = labelSet.label;
    }
    samples.push(sample);
    this.#table.insert(ids, n, labelId, h);
  }

  #mapLocation(src: Location): Location {
    const info = src.mapping ? this.#mapMapping(src.mapping) : undefined;
    const mapping = info?.mapping;
    // Functions are registered before the location lookup, as pprof does.
    const srcLines = src.line;
    const n = srcLines.length;
    const fns = this.#fnScratch;
    fns.length = n;
    for (let i = 0; i < n; i++) {
      const f = srcLines[i].function;
      fns[i] = f ? this.#mapFunction(f) : undefined;
    }
    // Location key: (address − mapping start, mapping, lines slots, is_folded), with the relative
    // address = src.address − src mapping start, mod 2^64. Candidates are found by a seeded hash
    // of the whole key: compacted profiles have every address 0 (hash_seed.ts says why seeded).
    const rel = relativeAddressKey(src, info);
    if (n >= 2) fillLineSlots(this.#slotScratch, fns, srcLines);
    const hash = locationHash(rel, mapping, src.isFolded, fns, srcLines, this.#slotScratch);
    let bucket = this.#locations.get(hash);
    if (bucket) {
      for (const cand of bucket) {
        const loc = cand.loc;
        if (
          cand.rel === rel && loc.mapping === mapping && loc.isFolded === src.isFolded &&
          this.#sameLines(loc, fns, srcLines)
        ) {
          this.#locMemo.set(src.id, loc.id);
          return loc;
        }
      }
      if (bucket.length >= MAX_ALIKE) throw hashFloodError("locations");
    } else {
      bucket = [];
      this.#locations.set(hash, bucket);
    }
    const line: Line[] = new Array(n);
    for (let i = 0; i < n; i++) line[i] = { function: fns[i], line: srcLines[i].line, column: srcLines[i].column };
    const address = info && info.offset !== 0n ? BigInt.asUintN(64, src.address + info.offset) : src.address;
    const loc: Location = { id: this.#out.location.length + 1, mapping, address, line, isFolded: src.isFolded };
    if (n >= 2) this.#lineSlots.set(loc, this.#slotScratch.slice());
    bucket.push({ loc, rel });
    this.#out.location.push(loc);
    this.#locMemo.set(src.id, loc.id);
    return loc;
  }

  /** pprof location-key equality of the lines (see fillLineSlots); slot scratch is filled for n ≥ 2. */
  #sameLines(cand: Location, fns: readonly (Function | undefined)[], lines: readonly Line[]): boolean {
    const n = lines.length;
    if (cand.line.length !== n) return false;
    if (n === 0) return true;
    if (n === 1) {
      const a = cand.line[0];
      return a.function === fns[0] && a.line === lines[0].line && a.column === lines[0].column;
    }
    return sameLineSlots(this.#lineSlots.get(cand)!, this.#slotScratch);
  }

  #mapMapping(src: Mapping): MappingInfo {
    const known = this.#mapMemo.get(src.id);
    if (known) return known;
    const key = mappingKey(src);
    const existing = this.#mappings.get(key);
    let info: MappingInfo;
    if (existing) {
      info = {
        mapping: existing,
        offset: existing.memoryStart - src.memoryStart,
        srcStart: safeNumber(src.memoryStart),
      };
    } else {
      const mapping: Mapping = {
        id: this.#out.mapping.length + 1,
        memoryStart: src.memoryStart,
        memoryLimit: src.memoryLimit,
        fileOffset: src.fileOffset,
        file: src.file,
        buildId: src.buildId,
        hasFunctions: src.hasFunctions,
        hasFilenames: src.hasFilenames,
        hasLineNumbers: src.hasLineNumbers,
        hasInlineFrames: src.hasInlineFrames,
      };
      this.#out.mapping.push(mapping);
      this.#mappings.set(key, mapping);
      info = { mapping, offset: 0n, srcStart: safeNumber(src.memoryStart) };
    }
    this.#mapMemo.set(src.id, info);
    return info;
  }

  #mapFunction(src: Function): Function {
    const known = this.#fnMemo.get(src.id);
    if (known) return known;
    // Function key: (start line, name, system name, file name), as one unambiguous string (the
    // lengths make it so): bucketing by name alone made many same-named functions quadratic.
    const key =
      `${src.startLine}:${src.name.length}:${src.systemName.length}:${src.name}${src.systemName}${src.filename}`;
    let fn = this.#functions.get(key);
    if (!fn) {
      fn = {
        id: this.#out.function.length + 1,
        name: src.name,
        systemName: src.systemName,
        filename: src.filename,
        startLine: src.startLine,
      };
      this.#functions.set(key, fn);
      this.#out.function.push(fn);
    }
    this.#fnMemo.set(src.id, fn);
    return fn;
  }
}

/**
 * Merges profiles with google/pprof `Merge` semantics. The result is a fresh, compacted
 * profile independent of the inputs (ids renumbered 1..n in first-use order, only referenced
 * entities kept plus the first input's main mapping). Throws `ProfileError("empty")` for no
 * inputs, `"incompatible"` for differing sample/period types, `"unsupported"` when a summed
 * value exceeds 2^53.
 */
export function mergeProfiles(ps: readonly Profile[]): Profile {
  if (ps.length === 0) throw new ProfileError("empty", "no profiles to merge");
  for (let i = 1; i < ps.length; i++) checkCompatible(ps[0], ps[i]);
  const merger = new ProfileMerger();
  for (const p of ps) merger.add(p);
  return merger.result();
}

/**
 * pprof `Compact` (= `Merge([p])`): renumbers ids, deduplicates identical mappings,
 * locations and functions, aggregates samples with the same stack and labels, drops
 * zero-valued samples and unreferenced entities. Returns a new profile; `p` is unchanged
 * unless `adoptInput` is set (then its samples are reused and `p` must not be used again:
 * cheaper, e.g. right after decoding and pruning).
 */
export function compactProfile(p: Profile, opts: { adoptInput?: boolean } = {}): Profile {
  const merger = new ProfileMerger({ adoptInputs: opts.adoptInput });
  merger.add(p);
  return merger.result();
}
