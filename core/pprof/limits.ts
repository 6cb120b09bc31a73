/**
 * Resource limits for decoding untrusted profiles.
 *
 * Every limit is enforced while decoding (a gzip bomb stops at `maxDecompressedBytes`
 * without inflating further, a sample count is checked as samples are counted), so
 * hostile input fails fast with bounded memory and a `ProfileError` of kind "too-large".
 * The defaults are generous: far beyond any real Go profile, small enough to keep a
 * single decode within a few GiB of memory.
 *
 * @module
 */

/** Upper bounds applied by `decodeProfile`. All are inclusive maxima. */
export interface DecodeLimits {
  /** Size of the input as given (gzip or raw protobuf), in bytes. */
  maxCompressedBytes: number;
  /** Size of the raw protobuf after inflation (or of raw input), in bytes. */
  maxDecompressedBytes: number;
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
}

/** Default limits: 64 MiB compressed, 512 MiB decompressed, millions of entities. */
export const DEFAULT_DECODE_LIMITS: Readonly<DecodeLimits> = Object.freeze({
  maxCompressedBytes: 64 * 1024 * 1024,
  maxDecompressedBytes: 512 * 1024 * 1024,
  maxSamples: 10_000_000,
  maxLocations: 10_000_000,
  maxFunctions: 5_000_000,
  maxMappings: 1_000_000,
  maxStrings: 10_000_000,
  maxStackDepth: 65_536,
  maxLinesPerLocation: 4_096,
  maxLabelsPerSample: 4_096,
  maxValuesPerSample: 1_024,
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
