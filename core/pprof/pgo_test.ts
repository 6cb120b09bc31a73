import assert from "node:assert/strict";
import { checkPgo } from "./pgo.ts";
import { summarizeProfile } from "./summary.ts";
import { cpuProfile, fn, loc, mapping, sample, smallProfile } from "../../tests/support/build_profiles.ts";

Deno.test("checkPgo: a CPU profile with start lines is usable (first matching column)", () => {
  assert.deepEqual(checkPgo(smallProfile()), { usable: true, reasons: [], sampleIndex: 0 });
  const p = smallProfile();
  p.sampleType = [{ type: "wall", unit: "nanoseconds" }, { type: "cpu", unit: "nanoseconds" }];
  assert.equal(checkPgo(p).sampleIndex, 1);
});

Deno.test("checkPgo: non-CPU sample types are rejected with the types listed", () => {
  const p = smallProfile();
  p.sampleType = [{ type: "alloc_objects", unit: "count" }, { type: "alloc_space", unit: "bytes" }];
  const v = checkPgo(p);
  assert.equal(v.usable, false);
  assert.equal(v.sampleIndex, -1);
  assert.deepEqual(v.reasons, [
    "not a CPU profile: sample types are [alloc_objects/count, alloc_space/bytes], need samples/count or cpu/nanoseconds",
  ]);
});

Deno.test("checkPgo: no samples, or only zero weights in the chosen column", () => {
  assert.deepEqual(checkPgo(cpuProfile({})).reasons, ["profile has no samples"]);
  const zero = smallProfile(0x400000n, [[0, 5], [0, 6], [0, 7]]);
  assert.deepEqual(checkPgo(zero), {
    usable: false,
    reasons: ["all 3 samples have zero samples/count"],
    sampleIndex: 0,
  });
});

Deno.test("checkPgo: start lines must be non-zero on frames the compiler's graph reaches", () => {
  const p = smallProfile();
  for (const f of p.function) f.startLine = 0;
  const v = checkPgo(p);
  assert.equal(v.usable, false);
  assert.match(v.reasons[0], /Function\.start_line/);

  // Only the two innermost locations count: a start line on the root frame alone does not help.
  const m = mapping(1, 0x1000n, 0x2000n);
  const [a, b, c] = [fn(1, "a", 0), fn(2, "b", 0), fn(3, "root", 7)];
  const [la, lb, lc] = [loc(1, m, 0x1001n, [[a, 1]]), loc(2, m, 0x1002n, [[b, 2]]), loc(3, m, 0x1003n, [[c, 9]])];
  const q = cpuProfile({ mappings: [m], functions: [a, b, c], locations: [la, lb, lc] });
  q.sample = [sample([la, lb, lc], [1, 1])];
  assert.equal(checkPgo(q).usable, false);
  q.sample.push(sample([lb, lc], [1, 1]));
  assert.equal(checkPgo(q).usable, true);
  // ...unless its weights cancel out (the compiler drops zero-weight nodes).
  q.sample.push(sample([lb, lc], [-1, -1]));
  assert.equal(checkPgo(q).usable, false);
});

Deno.test("summarizeProfile: header, counts, totals, top flat/cum with cum once per sample", () => {
  const p = smallProfile();
  p.durationNanos = 1_500_000_000n;
  p.timeNanos = 1_700_000_000_000_000_000n;
  // Recursive stack: main.main appears twice in one sample but is counted once in cum.
  p.sample.push(sample([p.location[2], p.location[0], p.location[0]], [4, 40]));
  const s = summarizeProfile(p, { top: 2 });
  assert.deepEqual(s.sampleTypes, ["samples/count", "cpu/nanoseconds"]);
  assert.equal(s.periodType, "cpu/nanoseconds");
  assert.equal(s.period, 10_000_000);
  assert.equal(s.durationNanos, 1.5e9);
  assert.equal(s.time, "2023-11-14T22:13:20.000Z");
  assert.deepEqual(s.counts, { samples: 4, locations: 3, functions: 3, mappings: 1, strings: 12 });
  assert.deepEqual(s.totals.map((t) => t.total), [10, 100]);
  assert.equal(s.rankedBy, "cpu/nanoseconds");
  assert.deepEqual(s.topFlat, [{ name: "main.work", flat: 60, cum: 100 }, { name: "main.leaf", flat: 40, cum: 40 }]);
  assert.deepEqual(s.topCum, [{ name: "main.main", flat: 0, cum: 100 }, { name: "main.work", flat: 60, cum: 100 }]);
  assert.equal(s.pgo.usable, true);
  assert.equal(summarizeProfile(p, { sampleIndex: 0 }).topFlat[0].flat, 6);
});
