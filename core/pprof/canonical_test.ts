/** Tests of the canonical form of stored profiles (canonical.ts), on real profiles and their type variants. */

import assert from "node:assert/strict";
import { committedProfiles } from "../../tests/support/fixtures.ts";
import { MAPPABLE_VARIANTS, UNMAPPABLE_VARIANTS } from "../../tests/support/profile_variants.ts";
import { assertSameSamples } from "../../tests/support/samples.ts";
import { canonicalizeProfile, checkUploadValues, derivedCount, isCanonical } from "./canonical.ts";
import { decodeProfile } from "./decode.ts";
import { edgeMap, serializePreprofile } from "./edges.ts";
import { ProfileError } from "./errors.ts";
import { mergeProfiles } from "./merge.ts";

const real = () => decodeProfile(Deno.readFileSync(committedProfiles().cpu[0]));

Deno.test("canonicalizeProfile: a Go runtime CPU profile is already canonical and left untouched", () => {
  const p = real();
  assert.ok(isCanonical(p));
  const values = p.sample.map((s) => s.value);
  assert.equal(canonicalizeProfile(p), p);
  assert.ok(p.sample.every((s, i) => s.value === values[i]), "same value arrays");
  assert.equal(p.period, 4_000_000);
});

Deno.test("canonicalizeProfile: every mappable variant normalises to exactly its source and merges with it", () => {
  for (const [name, variant] of Object.entries(MAPPABLE_VARIANTS)) {
    const p = canonicalizeProfile(variant(real()));
    assert.ok(isCanonical(p), name);
    assert.deepEqual(p.sampleType, [{ type: "samples", unit: "count" }, { type: "cpu", unit: "nanoseconds" }], name);
    assert.deepEqual(p.periodType, { type: "cpu", unit: "nanoseconds" }, name);
    assert.equal(p.period, name === "noPeriodType" ? 0 : 4_000_000, name);
    assertSameSamples(p, real(), name);
    assert.equal(serializePreprofile(edgeMap(p)), serializePreprofile(edgeMap(real())), `${name}: edge map`);
    assertSameSamples(mergeProfiles([real(), p]), mergeProfiles([real(), real()]), `${name}: merged with the source`);
  }
});

Deno.test("canonicalizeProfile: with cpu/nanoseconds first, the stored count follows it, as Go's compiler would read it", () => {
  const p = real();
  const period = p.period;
  // Measured CPU time: values that are not multiples of the period, and counts that disagree.
  p.sampleType = [{ type: "cpu", unit: "nanoseconds" }, { type: "samples", unit: "count" }];
  for (const [i, s] of p.sample.entries()) s.value = [s.value[1] + ((i * 7_919_993) % period) - period / 2, 1];
  const cpu = p.sample.map((s) => s.value[0]);
  canonicalizeProfile(p);
  assert.deepEqual(p.sample.map((s) => s.value), cpu.map((c) => [derivedCount(c, period), c]));
  // Without a period to derive it from, the count column is kept as it is.
  const q = real();
  q.sampleType = [{ type: "cpu", unit: "nanoseconds" }, { type: "samples", unit: "count" }];
  q.periodType = { type: "", unit: "" };
  const swapped = q.sample.map((s) => [s.value[1], s.value[0]]);
  for (const [i, s] of q.sample.entries()) s.value = swapped[i];
  canonicalizeProfile(q);
  assert.deepEqual(q.sample.map((s) => s.value), swapped.map(([c, n]) => [n, c]));
});

Deno.test("canonicalizeProfile: unmappable profiles throw one-line unsupported errors and stay unchanged", () => {
  for (const [name, { variant, reason }] of Object.entries(UNMAPPABLE_VARIANTS)) {
    const p = variant(real());
    const types = JSON.stringify(p.sampleType);
    try {
      checkUploadValues(canonicalizeProfile(p));
      assert.fail(`${name} was accepted`);
    } catch (error) {
      assert.ok(error instanceof ProfileError && error.kind === "unsupported", `${name}: ${error}`);
      assert.match(error.message, reason, name);
      assert.doesNotMatch(error.message, /\n/);
    }
    if (name !== "negative") assert.equal(JSON.stringify(p.sampleType), types, `${name}: types unchanged`);
  }
  const heap = decodeProfile(Deno.readFileSync(committedProfiles().heap));
  assert.throws(() => canonicalizeProfile(heap), /not a CPU profile: sample types are \[alloc_objects\/count/);
});

Deno.test("derivedCount: cpu ÷ period rounded to the nearest integer, never 0 for a non-zero value", () => {
  assert.equal(derivedCount(0, 10), 0);
  assert.equal(derivedCount(40, 10), 4);
  assert.equal(derivedCount(44, 10), 4);
  assert.equal(derivedCount(45, 10), 5);
  assert.equal(derivedCount(3, 10), 1);
  assert.equal(derivedCount(-3, 10), -1);
  assert.equal(derivedCount(-46, 10), -5);
});

Deno.test("canonicalizeProfile: a derived cpu/nanoseconds beyond 2^53 cannot be mapped", () => {
  const p = MAPPABLE_VARIANTS.countOnly(real());
  p.sample[1].value = [2 ** 40];
  assert.throws(() => canonicalizeProfile(p), /sample 1: derived cpu\/nanoseconds \(1099511627776 × period 4000000\)/);
});

Deno.test("checkUploadValues: column totals beyond 2^53 are refused, totals within are accepted", () => {
  const p = real();
  checkUploadValues(p);
  p.sample[0].value = [1, 2 ** 51];
  p.sample[1].value = [1, 2 ** 51];
  checkUploadValues(p);
  p.sample[2].value = [1, 2 ** 52];
  assert.throws(() => checkUploadValues(p), /the cpu\/nanoseconds values of the upload sum beyond 2\^53/);
});
