/**
 * Resource limits for decoding untrusted profiles: a decode budget.
 *
 * Every limit is enforced while decoding (a gzip bomb stops at `maxDecompressedBytes` or at
 * `maxInflationRatio` times its own size without inflating further, a count is checked as
 * entities are counted), so hostile input fails fast with bounded memory and a `ProfileError`
 * of kind "too-large".
 *
 * Why totals and per-byte budgets, not only per-message limits: what made small crafted inputs
 * cost minutes and gigabytes was amplification. One sample of ~8 bytes can name a location of
 * 4,096 inlined lines twice, and every sample-level pass (the PGO check, compaction, merge keys)
 * then walks 8,192 frames for it; one function of ~10 bytes can name a 100 KB string that every
 * key built from it hashes again. Entity counts are bounded by the input's size anyway (each
 * costs at least a byte or two on the wire); the two amplified quantities are not, so they get
 * totals, also capped per byte of the input AS GIVEN (compressed when gzip: padding that
 * compresses away buys no budget):
 * - inline frames: for each sample, the lines of each location in its stack (at least 1 each),
 *   at most `maxInlineFramesPerByte` per input byte;
 * - referenced characters: the lengths of the strings each decoded reference resolves to
 *   (function and mapping names, label keys and values, comments), counted per reference, at
 *   most `maxCharsPerByte` per input byte.
 * Real Go CPU profiles have 0.1–0.5 inline frames and 0.9–1.8 referenced characters per gzip'd
 * byte (measured on tests/fixtures/profiles).

 * The defaults here are generous, for local files (`autopgo merge`, `inspect`): far beyond any
 * real Go profile. Uploads get far smaller ones (core/pipeline/upload_limits.ts).
 *
 * @module
 */

/** Upper bounds applied by `decodeProfile`. All are inclusive maxima. */
export interface DecodeLimits {
  /** Size of the input as given (gzip or raw protobuf), in bytes. */
  maxCompressedBytes: number;
  /** Size of the raw protobuf after inflation (or of raw input), in bytes. */
  maxDecompressedBytes: number;
  /** Inflated size ÷ input size of gzip input (checked while inflating). */
  maxInflationRatio: number;
  /** Number of samples in a profile. */
  maxSamples: number;
  /** Number of locations in a profile. */
  maxLocations: number;
  /** Number of functions in a profile. */
  maxFunctions: number;
  /** Number of mappings in a profile. */
  maxMappings: number;
  /** Number of entries in the string table. */
  maxStrings: number;
  /** Number of locations (frames) in one sample's stack. */
  maxStackDepth: number;
  /** Number of lines (inlined frames) in one location. */
  maxLinesPerLocation: number;
  /** Number of labels on one sample. */
  maxLabelsPerSample: number;
  /** Number of values in one sample (and so the number of sample types). */
  maxValuesPerSample: number;
  /** Sum over all samples of their stack depth (location ids). */
  maxTotalFrames: number;
  /** Sum over all samples, over each location of the stack, of its lines (at least 1). */
  maxTotalInlineFrames: number;
  /** Sum over all samples of their labels. */
  maxTotalLabels: number;
  /** Sum of the lengths (UTF-16 units) of the strings resolved by every string reference decoded. */
  maxReferencedChars: number;
  /** Per input byte: `maxTotalInlineFrames` is also capped at this × input bytes + `WORK_SLACK`. */
  maxInlineFramesPerByte: number;
  /** Per input byte: `maxReferencedChars` is also capped at this × input bytes + `WORK_SLACK`. */
  maxCharsPerByte: number;
}

/** Work every input may cause regardless of its size (a tiny profile still gets a useful budget). */
export const WORK_SLACK = 65_536;

/** Default limits (local files): 64 MiB compressed, 512 MiB decompressed, millions of entities, no ratio. */
export const DEFAULT_DECODE_LIMITS: Readonly<DecodeLimits> = Object.freeze({
  maxCompressedBytes: 64 * 1024 * 1024,
  maxDecompressedBytes: 512 * 1024 * 1024,
  maxInflationRatio: Infinity,
  maxSamples: 10_000_000,
  maxLocations: 10_000_000,
  maxFunctions: 5_000_000,
  maxMappings: 1_000_000,
  maxStrings: 10_000_000,
  maxStackDepth: 65_536,
  maxLinesPerLocation: 4_096,
  maxLabelsPerSample: 4_096,
  maxValuesPerSample: 1_024,
  maxTotalFrames: 1_000_000_000,
  maxTotalInlineFrames: 2_000_000_000,
  maxTotalLabels: 1_000_000_000,
  maxReferencedChars: 2 ** 40,
  maxInlineFramesPerByte: Infinity,
  maxCharsPerByte: Infinity,
});

/** Returns `DEFAULT_DECODE_LIMITS` overridden by the defined entries of `overrides`. */
export function resolveDecodeLimits(overrides?: Partial<DecodeLimits>): DecodeLimits {
  const limits: DecodeLimits = { ...DEFAULT_DECODE_LIMITS };
  if (!overrides) return limits;
  for (const key of Object.keys(limits) as (keyof DecodeLimits)[]) {
    const value = overrides[key];
    if (value !== undefined) {
      if (!(value >= 0)) throw new RangeError(`decode limit ${key} must be a non-negative number, got ${value}`);
      limits[key] = value;
    }
  }
  return limits;
}

/**
 * The amplified totals allowed for an input of `inputBytes` bytes (as given, before inflation)
 * under `lim`: each the smaller of its absolute limit and its per-byte budget + `WORK_SLACK`.
 */
export function workBudget(lim: DecodeLimits, inputBytes: number): { inlineFrames: number; chars: number } {
  const perByte = (factor: number) => factor === Infinity ? Infinity : factor * inputBytes + WORK_SLACK;
  return {
    inlineFrames: Math.min(lim.maxTotalInlineFrames, perByte(lim.maxInlineFramesPerByte)),
    chars: Math.min(lim.maxReferencedChars, perByte(lim.maxCharsPerByte)),
  };
}
