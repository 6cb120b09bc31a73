/**
 * countSamples: the sample count of gzip and raw profiles, 0 for an idle profile, undefined for
 * bytes that are no profile. sampleValueTotals: the per-column totals decodeProfile gives.
 *
 * @module
 */

import assert from "node:assert/strict";
import { gunzipSync, gzipSync } from "node:zlib";
import { countSamples, IDLE_PROFILE_PROBE_BYTES, isIdleProfile, sampleValueTotals } from "./sample_count.ts";
import { decodeProfile } from "./decode.ts";
import { encodeProfile, encodeUncompressed } from "./encode.ts";
import { ProfileError } from "./errors.ts";
import { smallProfile } from "../../tests/support/build_profiles.ts";
import { committedProfiles } from "../../tests/support/fixtures.ts";
import { randomMutation, seededRandom } from "../../tests/support/mutations.ts";

Deno.test("countSamples: gzip and raw inputs, idle profiles and junk", () => {
  const data = Deno.readFileSync(committedProfiles().cpu[0]);
  const profile = decodeProfile(data);
  assert.equal(countSamples(data), profile.sample.length);
  assert.equal(countSamples(new Uint8Array(gunzipSync(data))), profile.sample.length);
  assert.equal(countSamples(encodeProfile({ ...profile, sample: [] })), 0);
  assert.equal(countSamples(new TextEncoder().encode("not a profile")), undefined);
  assert.equal(countSamples(new Uint8Array()), undefined);
});

Deno.test("isIdleProfile: true only for a valid profile without samples, within a bounded inflation", () => {
  const data = Deno.readFileSync(committedProfiles().cpu[0]);
  const profile = decodeProfile(data);
  const idle = encodeProfile({ ...profile, sample: [] });
  assert.equal(isIdleProfile(idle), true);
  assert.equal(isIdleProfile(new Uint8Array(gunzipSync(idle))), true);
  assert.equal(isIdleProfile(data), false);
  assert.equal(isIdleProfile(new TextEncoder().encode("not a profile")), false);
  assert.equal(isIdleProfile(new Uint8Array()), false);
  // An idle profile padded past the probe with an unknown top-level field (field 100, 8 MiB) is
  // not called idle: the probe stops inflating there (the server's answer says what it holds).
  const raw = new Uint8Array(gunzipSync(idle));
  const padding = IDLE_PROFILE_PROBE_BYTES * 2;
  const field = [0xa2, 0x06, ...varint(padding)];
  const padded = new Uint8Array(raw.length + field.length + padding);
  padded.set(raw);
  padded.set(field, raw.length);
  assert.equal(countSamples(padded), 0, "the padded profile is valid and idle");
  assert.equal(isIdleProfile(new Uint8Array(gzipSync(padded))), false);
  // A gzip bomb: 256 MiB of zeros in ~256 KiB.
  assert.equal(isIdleProfile(new Uint8Array(gzipSync(new Uint8Array(256 * 1024 * 1024)))), false);
});

Deno.test("isIdleProfile: 400 seeded mutations agree with countSamples(...) === 0", () => {
  const data = Deno.readFileSync(committedProfiles().cpu[0]);
  const idleRaw = new Uint8Array(gunzipSync(encodeProfile({ ...decodeProfile(data), sample: [] })));
  const inputs = [idleRaw, new Uint8Array(gunzipSync(data))];
  const rand = seededRandom(13);
  for (let i = 0; i < 400; i++) {
    const { name, mutant } = randomMutation(inputs[i % inputs.length], rand);
    assert.equal(isIdleProfile(mutant), countSamples(mutant) === 0, `mutation ${i} (${name})`);
  }
});

function varint(n: number): number[] {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return out;
}

/** The totals `decodeProfile` gives: per sample type, the sum of the absolute sample values. */
function decodedTotals(data: Uint8Array): number[] {
  const p = decodeProfile(data);
  const totals = p.sampleType.map(() => 0);
  for (const s of p.sample) for (const [i, v] of s.value.entries()) totals[i] += Math.abs(v);
  return totals;
}

Deno.test("sampleValueTotals: the decoded totals, from packed, unpacked and negative values", () => {
  const c = committedProfiles();
  for (const path of [...c.cpu, ...c.cpuLabelled, c.heap]) {
    const raw = new Uint8Array(gunzipSync(Deno.readFileSync(path)));
    assert.deepEqual(sampleValueTotals(raw), decodedTotals(raw), path);
  }
  const negative = encodeUncompressed(smallProfile(0x400000n, [[-1, 10], [2, -(2 ** 40)], [3, 30]]));
  assert.deepEqual(sampleValueTotals(negative), [6, 2 ** 40 + 40]);
  // Unpacked values (field 2 of a Sample as single varints, tag 0x10) sum as packed ones do.
  const text = (t: string) => [0x32, t.length, ...new TextEncoder().encode(t)];
  const unpacked = new Uint8Array([
    ...[0x0a, 4, 0x08, 1, 0x10, 2, 0x0a, 4, 0x08, 3, 0x10, 4], // sample types samples/count, cpu/nanoseconds
    ...[0x12, 4, 0x10, 7, 0x10, 70], // one sample, values 7 and 70
    ...["", "samples", "count", "cpu", "nanoseconds"].flatMap(text),
  ]);
  assert.deepEqual(sampleValueTotals(unpacked), [7, 70]);
  assert.deepEqual(decodedTotals(unpacked), [7, 70]);
});

Deno.test("sampleValueTotals: a sample with the wrong number of values is refused, as decodeProfile refuses it", () => {
  const bad = encodeUncompressed({ ...smallProfile(), sample: [{ location: [], value: [1, 2, 3] }] });
  assert.throws(
    () => sampleValueTotals(bad),
    (e) => e instanceof ProfileError && /has 3 values, want 2/.test(e.message),
  );
  assert.throws(() => decodeProfile(bad), (e) => e instanceof ProfileError && /has 3 values, want 2/.test(e.message));
});

Deno.test("sampleValueTotals: 400 seeded mutations: decoded ones give the same totals, refused ones are refused by decodeProfile", () => {
  const c = committedProfiles();
  const raws = [...c.cpu, ...c.cpuLabelled, c.heap].map((p) => new Uint8Array(gunzipSync(Deno.readFileSync(p))));
  const rand = seededRandom(20261202);
  let decoded = 0;
  for (let i = 0; i < 400; i++) {
    const { name, mutant } = randomMutation(raws[i % raws.length], rand);
    let totals: number[] | ProfileError;
    try {
      totals = sampleValueTotals(mutant);
    } catch (error) {
      assert.ok(error instanceof ProfileError, `mutant ${i} (${name}): ${error}`);
      totals = error;
    }
    let expected: number[] | undefined;
    try {
      expected = decodedTotals(mutant);
    } catch (error) {
      assert.ok(error instanceof ProfileError, `mutant ${i} (${name}): ${error}`);
    }
    // The scan reads only the samples' values: a problem elsewhere is found by the full decode alone.
    if (totals instanceof ProfileError) assert.equal(expected, undefined, `mutant ${i} (${name}) is refused by both`);
    else if (expected) {
      decoded++;
      assert.deepEqual(totals, expected, `mutant ${i} (${name})`);
    }
  }
  assert.ok(decoded > 20, `some mutants decode (${decoded})`);
});
