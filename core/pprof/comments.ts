/**
 * Reading only the comments of a profile: what the pipeline needs to learn a base profile's
 * bookkeeping (absorbed uploads, deletion cut-off) without decoding its samples.
 *
 * Inflates the input and walks the top-level message only (nested messages are skipped by
 * length), then decodes just the comment strings: for a 10 MB base that is the cost of
 * inflation plus one linear scan, instead of building the whole object model. Structural errors
 * of the top level are reported as by {@link decodeProfile}; the nested messages are not checked
 * (whoever merges the profile decodes it in full).
 *
 * @module
 */

import { parseFailure, scanProfile } from "./decode.ts";
import { ProfileError } from "./errors.ts";
import { rawProfileBytes } from "./inflate.ts";
import { type DecodeLimits, resolveDecodeLimits } from "./limits.ts";
import { decodeStrings, WireReader } from "./wire.ts";

/**
 * The comments of a gzip or raw profile.proto input, in order. Throws {@link ProfileError} for
 * inputs {@link decodeProfile} would reject at the top level (sizes, wire format, string indexes).
 */
export function decodeComments(data: Uint8Array, limits?: Partial<DecodeLimits>): string[] {
  const lim = resolveDecodeLimits(limits);
  const raw = rawProfileBytes(data, lim);
  try {
    const top = scanProfile(new WireReader(raw), lim);
    const count = top.strings.length / 2;
    if (count === 0) throw new ProfileError("malformed", `profile has no string table (string_table[0] must be "")`);
    const spans: number[] = [];
    for (const index of top.comments) {
      if (index < 0 || index >= count) {
        throw new ProfileError("malformed", `comment refers to string ${index}, outside the string table of ${count}`);
      }
      spans.push(top.strings[2 * index], top.strings[2 * index + 1]);
    }
    return decodeStrings(raw, spans);
  } catch (error) {
    throw parseFailure(error, raw);
  }
}
