import assert from "node:assert/strict";
import { fn, loc, mapping, smallProfile } from "../../tests/support/build_profiles.ts";
import { ProfileError } from "./errors.ts";
import type { Profile } from "./profile.ts";
import { checkValid } from "./validate.ts";

function problem(p: Profile): string {
  try {
    checkValid(p);
    return "ok";
  } catch (error) {
    assert.ok(error instanceof ProfileError);
    assert.equal(error.kind, "invalid");
    assert.ok(!error.message.includes("\n"));
    return error.message;
  }
}

Deno.test("a consistent profile is valid", () => {
  assert.equal(problem(smallProfile()), "ok");
});

Deno.test("samples need sample types and one value per sample type", () => {
  const noTypes = smallProfile();
  noTypes.sampleType = [];
  assert.match(problem(noTypes), /missing sample type information/);
  const noTypesNoSamples = smallProfile();
  noTypesNoSamples.sampleType = [];
  noTypesNoSamples.sample = [];
  assert.equal(problem(noTypesNoSamples), "ok");
  const short = smallProfile();
  short.sample[1].value = [1];
  assert.equal(problem(short), "sample 1 has 1 values, want 2 (one per sample type)");
});

Deno.test("missing entries in samples and tables are rejected", () => {
  const nilLocation = smallProfile();
  // deno-lint-ignore no-explicit-any
  (nilLocation.sample[0].location as any[])[1] = undefined;
  assert.match(problem(nilLocation), /sample 0 has a missing location/);
  const nilSample = smallProfile();
  // deno-lint-ignore no-explicit-any
  (nilSample.sample as any[])[2] = undefined;
  assert.match(problem(nilSample), /sample 2 is missing/);
  const lineWithoutFunction = smallProfile();
  lineWithoutFunction.location[0].line[0].function = undefined;
  assert.match(problem(lineWithoutFunction), /location id 1 has a line without a function/);
});

Deno.test("ids must be non-zero and unique per table", () => {
  const zeroMapping = smallProfile();
  zeroMapping.mapping[0].id = 0;
  assert.match(problem(zeroMapping), /mapping 0 has the reserved id 0/);
  const zeroFunction = smallProfile();
  zeroFunction.function[1].id = 0;
  assert.match(problem(zeroFunction), /function 1 has the reserved id 0/);
  const zeroLocation = smallProfile();
  zeroLocation.location[2].id = 0;
  assert.match(problem(zeroLocation), /location 2 has the reserved id 0/);
  const dupFunction = smallProfile();
  dupFunction.function.push(fn(2, "other"));
  assert.match(problem(dupFunction), /multiple functions with id 2/);
  const dupMapping = smallProfile();
  dupMapping.mapping.push(mapping(1, 0n, 1n));
  assert.match(problem(dupMapping), /multiple mappings with id 1/);
  const dupLocation = smallProfile();
  dupLocation.location.push(loc(3, undefined, 0n, []));
  assert.match(problem(dupLocation), /multiple locations with id 3/);
});

Deno.test("references must be the registered entity with that id", () => {
  const foreignMapping = smallProfile();
  foreignMapping.location[0].mapping = mapping(1, 0n, 1n);
  assert.match(problem(foreignMapping), /location id 1 refers to mapping id 1, which is not the profile's mapping/);
  const unregisteredMapping = smallProfile();
  unregisteredMapping.location[0].mapping = mapping(7, 0n, 1n);
  assert.match(problem(unregisteredMapping), /refers to mapping id 7/);
  const foreignFunction = smallProfile();
  foreignFunction.location[1].line[1].function = fn(2, "main.work");
  assert.match(problem(foreignFunction), /location id 2 refers to function id 2, which is not the profile's function/);
  const noMapping = smallProfile();
  noMapping.location[0].mapping = undefined;
  assert.equal(problem(noMapping), "ok", "a location without mapping is allowed");
});
