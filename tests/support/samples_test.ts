import assert from "node:assert/strict";
import { assertSameProfile, assertSameSamples, canonicalSamples } from "./samples.ts";
import { sample, smallProfile } from "./build_profiles.ts";

Deno.test("canonicalSamples ignores ids and order and sums duplicates", () => {
  const a = smallProfile();
  const b = smallProfile(0x900000n); // other load address: same frames relative to the mapping
  b.sample.reverse();
  for (const l of b.location) l.id += 50;
  b.sample.push(sample(b.sample[0].location, [0, 0], { label: b.sample[0].label }));
  assertSameSamples(b, a);
  assert.equal(canonicalSamples(a).size, 3);
});

Deno.test("assertSameSamples fails with a readable diff", () => {
  const a = smallProfile();
  const b = smallProfile(0x400000n, [[1, 10], [2, 21], [3, 30]]);
  b.sample[2].label = { worker: ["b"] };
  assert.throws(() => assertSameSamples(b, a, "demo"), (e: Error) => {
    assert.match(e.message, /^demo: 3 difference\(s\)/);
    assert.match(e.message, /values +\[2,21\] != expected \[2,20\] +main\.work x\.go:25:0 s20 @\/bin\/app\+0x300/);
    assert.match(e.message, /missing +\[3,30\] .* \| worker=\["a"\]/);
    assert.match(e.message, /extra +\[3,30\] .* \| worker=\["b"\]/);
    return true;
  });
});

Deno.test("assertSameProfile reports the first differing table entry", () => {
  const a = smallProfile();
  const b = smallProfile();
  b.function[1].startLine = 99;
  assert.throws(() => assertSameProfile(b, a), /function: lengths 3 vs 3; first difference at \[1\]/);
  assertSameProfile(smallProfile(), smallProfile());
});
