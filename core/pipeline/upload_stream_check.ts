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
 * by count. Gzip bodies are not followed (inflating is the decode pool's work); tags or lengths of
 * unusual size (over 4 and 7 bytes) end the walk, leaving the decision to the full check.
 *
 * @module
 */

import { parseFailure, scanProfile } from "../pprof/decode.ts";
import { ProfileError } from "../pprof/errors.ts";
import type { DecodeLimits } from "../pprof/limits.ts";
import { WireReader } from "../pprof/wire.ts";

/** Bytes a verdict waits for, so that the legacy-format naming sees what it would in the whole body. */
export const MIN_PREFIX = 256;

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

  /** A check under the upload's resolved decode limits (those the full check applies). */
  constructor(limits: DecodeLimits) {
    this.#limits = limits;
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
    if (!this.#suspect || received.length < MIN_PREFIX) return undefined;
    this.#suspect = false;
    return this.#verdict(received);
  }

  /** A body starting with the gzip magic is not followed; one byte of it is not known yet. */
  #gzipCandidate(chunk: Uint8Array, received: Uint8Array): void {
    if (chunk.length > 1 ? chunk[1] === 0x8b : received.length < 2) this.#stopped = true;
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
