/**
 * Decode limits for uploaded profiles, derived from the upload size limit so the server and the
 * worker agree: the compressed size is the upload limit, and the decompressed size is at most
 * 64 times that (real gzip'd CPU profiles inflate 3–10×; a gzip bomb inflates ~1000×), capped by
 * the engine default.
 *
 * @module
 */

import { type DecodeLimits, DEFAULT_DECODE_LIMITS } from "../pprof/limits.ts";

/** Largest accepted inflation ratio of an upload. */
export const MAX_INFLATION_RATIO = 64;

/** The decode limits applied to an upload when uploads may be at most `maxUploadBytes`. */
export function uploadDecodeLimits(maxUploadBytes: number): Partial<DecodeLimits> {
  return {
    maxCompressedBytes: maxUploadBytes,
    maxDecompressedBytes: Math.min(DEFAULT_DECODE_LIMITS.maxDecompressedBytes, maxUploadBytes * MAX_INFLATION_RATIO),
  };
}
