/**
 * Counting a profile's samples without decoding them: inflate, walk the top-level message (nested
 * messages skipped by length) and count the `sample` fields. What the scraper needs to tell an idle
 * target (a CPU profile with no samples, not worth uploading) from a busy one, at the cost of one
 * inflation and one linear scan.
 *
 * @module
 */

import { scanProfile } from "./decode.ts";
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
