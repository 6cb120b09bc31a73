/**
 * Counting a profile's samples, and summing their values, without decoding them: inflate, walk the
 * top-level message (nested messages skipped by length) and count the `sample` fields, or read only
 * their value fields. What the scraper needs to tell an idle target (a CPU profile with no samples,
 * not worth uploading) from a busy one, at the cost of one inflation and one linear scan; and what
 * a rebuild from retention windows needs to choose its decay factors (core/pprof/decay.ts) before
 * it merges the windows' bytes.
 *
 * @module
 */

import { parseFailure, scanProfile } from "./decode.ts";
import { skipField } from "./decode_messages.ts";
import { ProfileError } from "./errors.ts";
import { rawProfileBytes } from "./inflate.ts";
import { type DecodeLimits, resolveDecodeLimits } from "./limits.ts";
import { WireReader } from "./wire.ts";

/**
 * The number of samples in a gzip or raw profile.proto input; undefined when the input is no
 * profile at all (whoever receives it reports that).
 */
export function countSamples(data: Uint8Array, limits?: Partial<DecodeLimits>): number | undefined {
  try {
    const lim = resolveDecodeLimits(limits);
    return scanProfile(new WireReader(rawProfileBytes(data, lim)), lim).samples.length / 2;
  } catch {
    return undefined;
  }
}

/** Most bytes {@link isIdleProfile} inflates: an idle Go CPU profile is a few KiB. */
export const IDLE_PROFILE_PROBE_BYTES = 4 * 1024 * 1024;

/**
 * True when a gzip or raw profile.proto input is a valid profile with no samples (a target that did
 * no work), at a cost bounded by {@link IDLE_PROFILE_PROBE_BYTES} whatever the input: what the
 * scraper asks of every profile before uploading it, where {@link countSamples} would inflate a
 * 64 MiB gzip bomb up to the decoder's 512 MiB limit. The top level is walked until its first
 * `sample` field (Go writes them right after the sample types); an input with none is checked by
 * the decoder's own top-level pass. False for everything else: a profile with a sample, one that
 * inflates further than the probe, and bytes that are no profile (whoever receives them says why).
 */
export function isIdleProfile(data: Uint8Array): boolean {
  try {
    const limits = resolveDecodeLimits({ maxDecompressedBytes: IDLE_PROFILE_PROBE_BYTES });
    const raw = rawProfileBytes(data, limits);
    const r = new WireReader(raw);
    while (r.pos < r.end) {
      const tag = r.tag();
      if (tag === 18) return false; // field 2, `sample`, length-delimited
      r.skip(tag & 7);
    }
    return scanProfile(new WireReader(raw), limits).samples.length === 0;
  } catch {
    return false;
  }
}

/**
 * Per value column (sample type), the sum of the absolute sample values of a raw profile.proto
 * input: the totals `decodeProfile` would give, from the samples' value fields alone. Throws
 * {@link ProfileError} for a wire-format error met on the way and, once the samples are read, for
 * a sample whose value count is not the number of sample types, with `decodeProfile`'s messages
 * (parse errors first, as there); the samples' other fields are skipped unchecked (whoever merges
 * the profile decodes it in full).
 */
export function sampleValueTotals(raw: Uint8Array, limits?: Partial<DecodeLimits>): number[] {
  const r = new WireReader(raw);
  let totals: number[], miscounted: string | undefined;
  try {
    const top = scanProfile(r, resolveDecodeLimits(limits));
    const columns = top.sampleTypes.length / 2, samples = top.samples;
    totals = new Array(columns).fill(0);
    for (let s = 0; s < samples.length; s += 2) {
      r.pos = samples[s];
      const end = r.end = samples[s + 1];
      let values = 0;
      while (r.pos < end) {
        const tag = r.tag();
        if (tag === 16 || tag === 18) {
          const stop = tag === 18 ? r.delimited() : end;
          r.end = stop;
          do {
            if (tag === 18 && r.pos >= stop) break;
            const value = r.int("sample value");
            if (values < columns) totals[values] += Math.abs(value);
            values++;
          } while (tag === 18);
          r.end = end;
        } else if (tag === 8 || tag === 10 || tag === 26) r.skip(tag & 7); // location ids, labels
        else skipField(r, tag, 3, "Sample");
      }
      if (values !== columns && miscounted === undefined) {
        miscounted = `sample ${s / 2} has ${values} values, want ${columns} (one per sample type)`;
      }
    }
  } catch (error) {
    throw parseFailure(error, raw);
  }
  if (miscounted !== undefined) throw new ProfileError("invalid", miscounted).withContext("malformed profile");
  return totals;
}
