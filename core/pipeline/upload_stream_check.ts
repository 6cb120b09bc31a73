/**
 * Validation of an upload while it streams: the top level of a raw (not gzip) profile.proto body
 * is followed chunk by chunk, and as soon as a field arrives that the decoder will refuse (a known
 * Profile field with the wrong wire type, a group or an unknown wire type), the upload is refused
 * without reading the rest of it. A 64 MiB body of junk stops after its first bytes.
 *
 * Exactly the decoder's verdict, never a second opinion: once the walk finds such a field, every
 * top-level field before it is complete in the bytes received, and the decoder's own top-level
 * pass (core/pprof/decode.ts `scanProfile`) is run on those bytes. It reads the same fields in the
 * same order, so it stops at the same first problem the full decode would report (an earlier one
 * included: a count limit, a string table that does not start with ""), and its message, with
 * the same context and legacy-format naming (`parseFailure`, which looks at the first 200 bytes:
 * the verdict waits for {@link MIN_PREFIX} bytes), is the answer. If the pass finds nothing (the
 * walk and the decoder disagree: a bug), the upload streams on and the full check decides.
 *
 * Cheap enough for the HTTP thread: one step per top-level tag and length prefix, payloads skipped
 * by count; tags or lengths of unusual size (over 4 and 7 bytes) end the walk, leaving the decision
 * to the full check.
 *
 * Gzip bodies (most uploads: net/http/pprof sends gzip) are looked at once, when their first
 * {@link GZIP_PREFIX_BYTES} have arrived and more are coming: that prefix is inflated (at most
 * {@link GZIP_PREFIX_OUTPUT_BYTES} out, and never more than the upload's own inflation limit
 * allows; inflating the whole body is the decode pool's work) and its top level walked as above.
 * - Corrupt gzip data in the prefix is refused with exactly the full check's message (inflation
 *   is sequential: the whole body meets the same problem first).
 * - A bad field in the inflated prefix is refused with the message the full check gives when the
 *   rest of the gzip stream is sound. The upload is invalid either way; if the stream is also
 *   corrupt later on, the full check, which inflates everything first, would have named that.
 * - A body whose `Content-Length` says it has all arrived is not looked at: the full check comes
 *   next anyway, so only bodies still streaming pay for the inflation.
 *
 * @module
 */

import { parseFailure, scanProfile } from "../pprof/decode.ts";
import { ProfileError } from "../pprof/errors.ts";
import type { DecodeLimits } from "../pprof/limits.ts";
import { WireReader } from "../pprof/wire.ts";
import { inflateGzipPrefix } from "../pprof/inflate.ts";

/** Bytes a verdict waits for, so that the legacy-format naming sees what it would in the whole body. */
export const MIN_PREFIX = 256;
/** Compressed bytes of a gzip body inflated and walked while it streams (module doc). */
export const GZIP_PREFIX_BYTES = 8 * 1024;
/** Most bytes inflated from that prefix: a prefix that inflates further (a bomb?) is left to the full check. */
export const GZIP_PREFIX_OUTPUT_BYTES = 1024 * 1024;

const TAG = 0, VARINT = 1, LENGTH = 2, SKIP = 3;

/** The wire types the decoder accepts for Profile field `field` (undefined: unknown field, skipped). */
function acceptedWireTypes(field: number): readonly number[] | undefined {
  if ((field >= 1 && field <= 6) || field === 11) return [2];
  if ((field >= 7 && field <= 10) || field === 12 || field === 14 || field === 15) return [0];
  if (field === 13) return [0, 2];
  return undefined;
}

/** Follows one upload's body; see the module doc. */
export class UploadStreamCheck {
  readonly #limits: DecodeLimits;
  #state = TAG;
  #value = 0;
  #bytes = 0;
  #skip = 0;
  #seen = 0;
  /** Walking stopped: undecidable here, or a problem found (then {@link #suspect}). */
  #stopped = false;
  #suspect = false;

  /** Gzip body still to be looked at; undefined while its second byte is not known. */
  #gzip: boolean | undefined = false;
  readonly #expectedBytes: number;

  /**
   * A check under the upload's resolved decode limits (those the full check applies);
   * `expectedBytes` is the body's declared length, when there is one.
   */
  constructor(limits: DecodeLimits, expectedBytes?: number) {
    this.#limits = limits;
    this.#expectedBytes = expectedBytes !== undefined && expectedBytes >= 0 ? expectedBytes : Infinity;
  }

  /**
   * Follows `chunk`, the bytes just received; `received` views everything received so far (chunk
   * included). Returns the decoder's one-line reason the upload is invalid, once it is certain.
   */
  push(chunk: Uint8Array, received: Uint8Array): string | undefined {
    if (!this.#stopped) {
      if (this.#seen === 0 && chunk.length > 0 && chunk[0] === 0x1f) this.#gzipCandidate(chunk, received);
      if (!this.#stopped) this.#walk(chunk);
      this.#seen += chunk.length;
    }
    if (this.#gzip === undefined && received.length >= 2) this.#gzip = received[1] === 0x8b;
    if (this.#gzip) return this.#gzipPrefix(received);
    if (!this.#suspect || received.length < MIN_PREFIX) return undefined;
    this.#suspect = false;
    return this.#verdict(received);
  }

  /**
   * A body starting with the gzip magic is not walked as protobuf but looked at as gzip; while its
   * second byte is not known yet, it is neither (a body starting with 1f alone is left to the full check).
   */
  #gzipCandidate(chunk: Uint8Array, received: Uint8Array): void {
    if (chunk.length > 1 ? chunk[1] === 0x8b : received.length < 2) {
      this.#stopped = true;
      this.#gzip = undefined;
    }
  }

  /** Once {@link GZIP_PREFIX_BYTES} of a gzip body are here and more are coming: inflate and walk them (module doc). */
  #gzipPrefix(received: Uint8Array): string | undefined {
    if (!this.#gzip || received.length < GZIP_PREFIX_BYTES || received.length >= this.#expectedBytes) return undefined;
    this.#gzip = false; // once
    const prefix = received.subarray(0, GZIP_PREFIX_BYTES);
    const lim = this.#limits;
    // Within the whole body's own inflation limit, so that limit cannot be met first (inflate.ts).
    const most = Math.min(
      GZIP_PREFIX_OUTPUT_BYTES,
      lim.maxDecompressedBytes,
      Math.floor(lim.maxInflationRatio * prefix.length),
    );
    let raw: Uint8Array | undefined;
    try {
      raw = inflateGzipPrefix(prefix, most);
    } catch (error) {
      if (error instanceof ProfileError) return error.message;
      throw error;
    }
    if (raw === undefined) return undefined;
    this.#stopped = false;
    this.#walk(raw);
    this.#stopped = true;
    const suspect = this.#suspect;
    this.#suspect = false; // a verdict is about the inflated bytes, never the compressed ones
    if (!suspect || raw.length < MIN_PREFIX) return undefined;
    return this.#verdict(raw);
  }

  #walk(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length && !this.#stopped;) {
      if (this.#state === SKIP) {
        const n = Math.min(this.#skip, chunk.length - i);
        this.#skip -= n;
        i += n;
        if (this.#skip === 0) this.#state = TAG;
        continue;
      }
      const b = chunk[i++];
      this.#value += (b & 0x7f) * 2 ** (7 * this.#bytes);
      this.#bytes++;
      if (b >= 0x80) {
        const most = this.#state === TAG ? 4 : this.#state === LENGTH ? 7 : 10;
        if (this.#bytes >= most) this.#stopped = true; // unusual: the full check decides
        continue;
      }
      const value = this.#value;
      this.#value = 0;
      this.#bytes = 0;
      if (this.#state === TAG) this.#tag(value);
      else if (this.#state === VARINT) this.#state = TAG;
      else if (value > 0) {
        this.#skip = value;
        this.#state = SKIP;
      } else this.#state = TAG;
    }
  }

  #tag(tag: number): void {
    const field = Math.floor(tag / 8), wireType = tag % 8;
    const accepted = acceptedWireTypes(field);
    if (accepted ? !accepted.includes(wireType) : wireType === 3 || wireType === 4 || wireType > 5) {
      this.#stopped = true;
      this.#suspect = true;
      return;
    }
    if (wireType === 0) this.#state = VARINT;
    else if (wireType === 2) this.#state = LENGTH;
    else {
      this.#skip = wireType === 1 ? 8 : 4;
      this.#state = SKIP;
    }
  }

  #verdict(received: Uint8Array): string | undefined {
    try {
      scanProfile(new WireReader(received), this.#limits);
    } catch (error) {
      if (error instanceof ProfileError) return (parseFailure(error, received) as ProfileError).message;
      throw error;
    }
    return undefined;
  }
}
