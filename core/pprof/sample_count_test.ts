/**
 * countSamples: the sample count of gzip and raw profiles, 0 for an idle profile, undefined for
 * bytes that are no profile.
 *
 * @module
 */

import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { countSamples } from "./sample_count.ts";
import { decodeProfile } from "./decode.ts";
import { encodeProfile } from "./encode.ts";
import { committedProfiles } from "../../tests/support/fixtures.ts";

Deno.test("countSamples: gzip and raw inputs, idle profiles and junk", () => {
  const data = Deno.readFileSync(committedProfiles().cpu[0]);
  const profile = decodeProfile(data);
  assert.equal(countSamples(data), profile.sample.length);
  assert.equal(countSamples(new Uint8Array(gunzipSync(data))), profile.sample.length);
  assert.equal(countSamples(encodeProfile({ ...profile, sample: [] })), 0);
  assert.equal(countSamples(new TextEncoder().encode("not a profile")), undefined);
  assert.equal(countSamples(new Uint8Array()), undefined);
});
