/**
 * Decode limits for uploaded profiles: a budget proportional to the upload, far below the
 * generous defaults the CLI applies to local files (core/pprof/limits.ts). The server and the
 * worker derive them from the same upload size limit, so they agree on what is acceptable.
 *
 * Sizing, with measured figures: real gzip'd Go CPU profiles inflate about 2× (1.6–2.1× for the
 * committed fixtures; string-heavy ones up to ~5×), so an upload may inflate at most
 * {@link MAX_INFLATION_RATIO}× (a gzip bomb stops after inflating 16× its size, not at 512 MiB).
 * Sample-level work may reach 16 inline frames and 128 referenced string characters per uploaded
 * byte (real profiles: under 0.5 and 2). The entity counts cap the decoded model at a few hundred MiB whatever the
 * upload size: a million samples, locations or functions is ten times the largest real CPU
 * profile's, a 4,096-frame stack is 32 times Go's 128-frame unwinding limit, and 512 inlined
 * lines per location is far past Go's inlining depth.
 *
 * @module
 */

import type { DecodeLimits } from "../pprof/limits.ts";

/** Largest accepted inflation ratio of an upload (inflated ÷ uploaded bytes). */
export const MAX_INFLATION_RATIO = 16;

/** Largest raw (inflated) size of any upload, whatever `--max-upload-size` allows. */
export const MAX_UPLOAD_RAW_BYTES = 256 * 1024 * 1024;

/** The decode limits applied to an upload when uploads may be at most `maxUploadBytes`. */
export function uploadDecodeLimits(maxUploadBytes: number): DecodeLimits {
  return {
    maxCompressedBytes: maxUploadBytes,
    maxDecompressedBytes: Math.min(MAX_UPLOAD_RAW_BYTES, maxUploadBytes * MAX_INFLATION_RATIO),
    maxInflationRatio: MAX_INFLATION_RATIO,
    maxSamples: 1_000_000,
    maxLocations: 1_000_000,
    maxFunctions: 1_000_000,
    maxMappings: 65_536,
    maxStrings: 2_000_000,
    maxStackDepth: 4_096,
    maxLinesPerLocation: 512,
    maxLabelsPerSample: 1_024,
    maxValuesPerSample: 256,
    maxTotalFrames: 32_000_000,
    maxTotalInlineFrames: 64_000_000,
    maxTotalLabels: 4_000_000,
    maxReferencedChars: 256_000_000,
    maxInlineFramesPerByte: 16,
    maxCharsPerByte: 128,
  };
}
