import assert from "node:assert/strict";
import { compactProfile, mergeProfiles, ProfileMerger } from "./merge.ts";
import { ProfileError } from "./errors.ts";
import { assertSameProfile, assertSameSamples, canonicalSamples } from "../../tests/support/samples.ts";
import { cpuProfile, fn, loc, mapping, sample, smallProfile } from "../../tests/support/build_profiles.ts";

function assertProfileError(f: () => unknown, kind: string, pattern: RegExp): void {
  assert.throws(f, (e: unknown) => e instanceof ProfileError && e.kind === kind && pattern.test(e.message));
}

Deno.test("merge: no inputs is an error", () => {
  assertProfileError(() => mergeProfiles([]), "empty", /no profiles to merge/);
});

Deno.test("merge: sample types must match in order", () => {
  const a = smallProfile();
  const b = smallProfile();
  b.sampleType = [b.sampleType[1], b.sampleType[0]];
  assertProfileError(
    () => mergeProfiles([a, b]),
    "incompatible",
    /^incompatible sample types \[samples\/count cpu\/nanoseconds\] and \[cpu\/nanoseconds samples\/count\]$/,
  );
  const heap = smallProfile();
  heap.sampleType = [{ type: "alloc_objects", unit: "count" }, { type: "alloc_space", unit: "bytes" }];
  assertProfileError(() => mergeProfiles([a, heap]), "incompatible", /alloc_objects\/count alloc_space\/bytes/);
  const fewer = smallProfile();
  fewer.sampleType = [fewer.sampleType[0]];
  assertProfileError(() => mergeProfiles([a, fewer]), "incompatible", /incompatible sample types/);
});

Deno.test("merge: period types must match", () => {
  const a = smallProfile();
  const b = smallProfile();
  b.periodType = { type: "space", unit: "bytes" };
  assertProfileError(
    () => mergeProfiles([a, b]),
    "incompatible",
    /^incompatible period types cpu\/nanoseconds and space\/bytes$/,
  );
});

Deno.test("merge: header rules (period max, duration sum, time quirk, comments, defaults)", () => {
  const mk = (h: Parameters<typeof cpuProfile>[0]["header"]) => cpuProfile({ header: h });
  const a = mk({
    period: 5,
    durationNanos: 10n,
    timeNanos: 300n,
    comments: ["x", "y"],
    dropFrames: "d1",
    keepFrames: "k1",
  });
  const b = mk({ period: 9, durationNanos: 20n, timeNanos: 100n, comments: ["y", "z"], defaultSampleType: "cpu" });
  const c = mk({ period: 7, durationNanos: 30n, timeNanos: 200n, docUrl: "https://d", defaultSampleType: "samples" });
  const m = mergeProfiles([a, b, c]);
  assert.equal(m.period, 9);
  assert.equal(m.durationNanos, 60n);
  assert.equal(m.timeNanos, 100n);
  assert.deepEqual(m.comments, ["x", "y", "z"]);
  assert.equal(m.defaultSampleType, "cpu");
  assert.equal(m.docUrl, "https://d");
  assert.equal(m.dropFrames, "d1");
  assert.equal(m.keepFrames, "k1");
  assert.deepEqual(m.sampleType, a.sampleType);
  // pprof's TimeNanos loop: a zero time resets the running minimum.
  const z = mk({ timeNanos: 0n });
  assert.equal(mergeProfiles([a, z, b, c]).timeNanos, 100n);
  assert.equal(mergeProfiles([a, b, z]).timeNanos, 0n);
  assert.equal(mergeProfiles([z, c, b]).timeNanos, 100n);
  // period: a zero period is replaced by the next one, even a smaller one.
  assert.equal(mergeProfiles([mk({ period: 0 }), mk({ period: -3 })]).period, -3);
});

Deno.test("merge: samples with the same stack and labels are summed, values copied", () => {
  const a = smallProfile();
  const b = smallProfile(0x400000n, [[4, 40], [5, 50], [6, 60]]);
  const m = mergeProfiles([a, b]);
  assert.equal(m.sample.length, 3);
  assert.deepEqual(m.sample.map((s) => s.value), [[5, 50], [7, 70], [9, 90]]);
  assert.deepEqual(m.sample[2].label, { worker: ["a"] });
  assert.deepEqual(a.sample[0].value, [1, 10], "inputs are not modified");
  assert.notEqual(m.sample[2].label, a.sample[2].label);
});

Deno.test("merge: label identity (string values in order, numeric labels with units)", () => {
  const base = smallProfile();
  const [l1, l2] = [base.location[1], base.location[0]];
  base.sample = [
    sample([l1, l2], [1, 1], { label: { k: ["a", "b"] } }),
    sample([l1, l2], [1, 1], { label: { k: ["b", "a"] } }),
    sample([l1, l2], [1, 1], { label: { k: ["a", "b"] } }),
    sample([l1, l2], [1, 1], { numLabel: { n: [1] }, numUnit: { n: ["bytes"] } }),
    sample([l1, l2], [1, 1], { numLabel: { n: [1] }, numUnit: { n: [""] } }),
    sample([l1, l2], [1, 1], { numLabel: { n: [1] }, numUnit: { n: ["bytes"] } }),
    sample([l1, l2], [1, 1], { label: { x: ["1"], a: ["2"] } }),
    sample([l1, l2], [1, 1], { label: { a: ["2"], x: ["1"] } }),
    sample([l1, l2], [1, 1], { numLabel: { n: [-1] }, numUnit: { n: [] } }),
    sample([l1, l2], [1, 1], { label: { "é": ["ü"] } }),
    sample([l1, l2], [1, 1], { label: { "é": ["ü"] } }),
    sample([l1, l2], [1, 1], { label: {} }),
    sample([l1, l2], [1, 1]),
  ];
  const m = compactProfile(base);
  assert.deepEqual(m.sample.map((s) => s.value[0]), [2, 1, 2, 1, 2, 1, 2, 2]);
  assert.deepEqual(m.sample[4].label, { x: ["1"], a: ["2"] });
  assert.equal(m.sample[7].label, undefined);
});

Deno.test("merge: mapping key rounds size to 4 KiB and shifts addresses (ASLR)", () => {
  const a = smallProfile(0x400000n);
  const b = smallProfile(0x800000n);
  b.mapping[0].memoryLimit -= 0x10n; // still the same 4 KiB-rounded size
  const m = mergeProfiles([a, b]);
  assert.equal(m.mapping.length, 1);
  assert.equal(m.location.length, 3);
  assert.deepEqual(m.location.map((l) => l.address), [0x400200n, 0x400100n, 0x400300n]);
  assert.deepEqual(m.sample.map((s) => s.value[0]), [2, 4, 6]);
  // A different build id (or, without build ids, a different file) is a different mapping.
  const c = smallProfile(0x800000n);
  c.mapping[0].buildId = "other";
  const m2 = mergeProfiles([a, c]);
  assert.equal(m2.mapping.length, 2);
  assert.equal(m2.location.length, 6);
  assert.equal(m2.sample.length, 6);
  // Same build id, different file: same mapping; first-seen fields are kept.
  const d = smallProfile(0x400000n);
  const e = smallProfile(0x400000n);
  d.mapping[0].buildId = e.mapping[0].buildId = "B";
  e.mapping[0].file = "/other/path";
  e.mapping[0].hasInlineFrames = false;
  const m3 = mergeProfiles([d, e]);
  assert.equal(m3.mapping.length, 1);
  assert.equal(m3.mapping[0].file, "/bin/app");
  assert.equal(m3.mapping[0].hasInlineFrames, true);
});

Deno.test("merge: the first mapping of the first input comes first, even unreferenced", () => {
  const p = smallProfile();
  const lib = mapping(7, 0x7f0000n, 0x7f1000n, { file: "/lib/libc.so" });
  const unused = mapping(9, 0x100n, 0x200n, { file: "/unused" });
  p.mapping = [unused, p.mapping[0], lib];
  p.location[0].mapping = lib;
  const m = compactProfile(p);
  assert.deepEqual(m.mapping.map((x) => [x.id, x.file]), [[1, "/unused"], [2, "/bin/app"], [3, "/lib/libc.so"]]);
  assert.equal(m.location.find((l) => l.address === p.location[0].address)?.mapping?.id, 3);
});

Deno.test("merge: location key reproduces pprof's lines-string quirk", () => {
  const m = mapping(1, 0x1000n, 0x2000n);
  const f1 = fn(1, "a"), f2 = fn(2, "b"), f3 = fn(3, "c");
  // Differ only in line 0's column: overwritten by line 1's function id in pprof's key ⇒ one location.
  const l1 = loc(1, m, 0x1100n, [[f1, 5, 7], [f2, 6, 0]]);
  const l2 = loc(2, m, 0x1100n, [[f1, 5, 9], [f2, 6, 0]]);
  // Differ in the last column: kept apart.
  const l3 = loc(3, m, 0x1100n, [[f1, 5, 7], [f2, 6, 1]]);
  // Single-line locations differ in column: kept apart.
  const l4 = loc(4, m, 0x1200n, [[f3, 1, 1]]);
  const l5 = loc(5, m, 0x1200n, [[f3, 1, 2]]);
  const p = cpuProfile({
    mappings: [m],
    functions: [f1, f2, f3],
    locations: [l1, l2, l3, l4, l5],
    samples: [l1, l2, l3, l4, l5].map((l) => sample([l], [1, 1])),
  });
  const c = compactProfile(p);
  assert.equal(c.location.length, 4);
  assert.deepEqual(c.sample.map((s) => [s.location[0].id, s.value[0]]), [[1, 2], [2, 1], [3, 1], [4, 1]]);
  assert.equal(c.location[0].line[0].column, 7, "first-seen location is kept");
});

Deno.test("merge: function key is (start line, name, system name, file)", () => {
  const m = mapping(1, 0x1000n, 0x2000n);
  const fA = fn(1, "f", 10), fB = fn(2, "f", 10), fC = fn(3, "f", 11), fD = fn(4, "f", 10, "y.go");
  const locs = [fA, fB, fC, fD].map((f, i) => loc(i + 1, m, 0x1000n + BigInt(i), [[f, 12]]));
  const p = cpuProfile({
    mappings: [m],
    functions: [fA, fB, fC, fD],
    locations: locs,
    samples: locs.map((l) => sample([l], [1, 1])),
  });
  const c = compactProfile(p);
  assert.deepEqual(c.function.map((f) => [f.id, f.startLine, f.filename]), [[1, 10, "x.go"], [2, 11, "x.go"], [
    3,
    10,
    "y.go",
  ]]);
  assert.deepEqual(c.location.map((l) => l.line[0].function?.id), [1, 1, 2, 3]);
});

Deno.test("merge: zero samples are dropped, also when sums cancel (re-merge)", () => {
  const a = smallProfile(0x400000n, [[0, 0], [2, 20], [3, 30]]);
  const c = compactProfile(a);
  assert.equal(c.sample.length, 2);
  const b = smallProfile(0x400000n, [[1, 1], [-2, -20], [1, 1]]);
  const m = mergeProfiles([a, b]);
  // [lWork, lMain] unlabelled: 0+1; [lWork2,lMain]: cancels ⇒ dropped with its now-unused location.
  assert.deepEqual(m.sample.map((s) => s.value), [[4, 31], [1, 1]]);
  assert.deepEqual(m.location.map((l) => l.id), [1, 2]);
  assert.equal(m.location.some((l) => l.address === 0x400300n), false);
  assert.deepEqual(m.function.map((f) => f.name), ["main.leaf", "main.work", "main.main"]);
});

Deno.test("merge: ids renumbered 1..n in first-use order, unreferenced entities dropped", () => {
  const p = smallProfile();
  for (const x of [...p.location, ...p.function]) x.id += 100;
  p.location.reverse();
  p.function.push(fn(999, "unused"));
  const c = compactProfile(p);
  assert.deepEqual(c.location.map((l) => [l.id, l.address]), [[1, 0x400200n], [2, 0x400100n], [3, 0x400300n]]);
  assert.deepEqual(c.function.map((f) => [f.id, f.name]), [[1, "main.leaf"], [2, "main.work"], [3, "main.main"]]);
  assertSameSamples(c, p);
});

Deno.test("merge: a sum beyond 2^53 is an error, never rounded", () => {
  const big = Number.MAX_SAFE_INTEGER;
  const a = smallProfile(0x400000n, [[big, 1], [1, 1], [1, 1]]);
  const b = smallProfile(0x400000n, [[1, 1], [1, 1], [1, 1]]);
  assertProfileError(() => mergeProfiles([a, b]), "unsupported", /exceeds 2\^53/);
  const c = smallProfile(0x400000n, [[-big, 1], [1, 1], [1, 1]]);
  const d = smallProfile(0x400000n, [[-1, 1], [1, 1], [1, 1]]);
  assertProfileError(() => mergeProfiles([c, d]), "unsupported", /exceeds 2\^53/);
});

Deno.test("ProfileMerger: streaming equals mergeProfiles; incompatible add leaves it intact", () => {
  const inputs = [smallProfile(0x400000n), smallProfile(0x500000n), smallProfile(0x600000n, [[7, 7], [0, 0], [1, 2]])];
  const merger = new ProfileMerger();
  merger.add(inputs[0]);
  const heap = smallProfile();
  heap.sampleType = [{ type: "alloc_objects", unit: "count" }, { type: "alloc_space", unit: "bytes" }];
  assertProfileError(() => merger.add(heap), "incompatible", /incompatible sample types/);
  merger.add(inputs[1]);
  merger.add(inputs[2]);
  assert.equal(merger.count, 3);
  assertSameProfile(merger.result(), mergeProfiles(inputs));
  assert.throws(() => merger.add(inputs[0]), /after result/);
  assertProfileError(() => new ProfileMerger().result(), "empty", /no profiles/);
});

Deno.test("merge: many distinct samples (hash table growth) keep their identity", () => {
  const m = mapping(1, 0x1000n, 0x100000n);
  const fns = Array.from({ length: 50 }, (_, i) => fn(i + 1, `f${i}`, i + 1));
  const locs = fns.map((f, i) => loc(i + 1, m, 0x1000n + BigInt(i * 16), [[f, i + 2]]));
  const samples = [];
  for (let i = 0; i < 50; i++) for (let j = 0; j < 50; j++) samples.push(sample([locs[i], locs[j]], [1, i * 50 + j]));
  const p = cpuProfile({ mappings: [m], functions: fns, locations: locs, samples });
  const merged = mergeProfiles([p, p, p]);
  assert.equal(merged.sample.length, 2500);
  const expected = canonicalSamples(p);
  for (const v of expected.values()) v.forEach((x, i) => v[i] = x * 3);
  const actual = canonicalSamples(merged);
  assert.deepEqual([...actual.entries()].sort(), [...expected.entries()].sort());
});

Deno.test("merge: labels are identified by pprof's byte encoding (string/numeric collision included)", () => {
  const p = smallProfile();
  const [a, b] = [p.location[1], p.location[0]];
  p.sample = [
    sample([a, b], [1, 1], { label: { k: ["\x00"] } }),
    sample([a, b], [2, 2], { numLabel: { k: [1] } }),
    sample([a, b], [4, 4], { numLabel: { k: [2] } }),
    sample([a, b], [8, 8], { label: Object.defineProperty({}, "__proto__", { value: ["x"], enumerable: true }) }),
  ];
  const c = compactProfile(p);
  assert.deepEqual(c.sample.map((s) => s.value[0]), [3, 4, 8]);
  assert.deepEqual(c.sample[0].label, { k: ["\x00"] }, "first occurrence's labels are kept");
  assert.equal(c.sample[0].numLabel, undefined);
  assert.deepEqual(c.sample[1].numLabel, { k: [2] });
  assert.deepEqual(Object.getOwnPropertyDescriptor(c.sample[2].label, "__proto__")?.value, ["x"]);
  assert.equal(Object.getPrototypeOf(c.sample[2].label), Object.prototype);
  // Numeric first, then the colliding string set: still one sample, numeric labels kept.
  p.sample = [p.sample[1], p.sample[0], p.sample[2]];
  const r = compactProfile(p);
  assert.deepEqual(r.sample.map((s) => [s.value[0], s.label, s.numLabel]), [[3, undefined, { k: [1] }], [
    4,
    undefined,
    { k: [2] },
  ]]);
});

Deno.test("ProfileMerger({ adoptInputs }) gives the same result and shares label sets", () => {
  const make =
    () => [smallProfile(0x400000n), smallProfile(0x500000n), smallProfile(0x600000n, [[7, 7], [1, 1], [1, 2]])];
  const merger = new ProfileMerger({ adoptInputs: true });
  const inputs = make();
  for (const p of inputs) merger.add(p);
  const adopted = merger.result();
  assertSameProfile(adopted, mergeProfiles(make()));
  assert.equal(adopted.sample[2].label, inputs[0].sample[2].label, "label object taken over");
  const copied = mergeProfiles(make());
  assert.notEqual(copied.sample[2].label, make()[0].sample[2].label);
});

Deno.test("compactProfile({ adoptInput }) equals the copying compaction", () => {
  const make = () => {
    const p = smallProfile(0x400000n, [[1, 1], [0, 0], [2, 2]]);
    p.sample.push(sample(p.sample[0].location.slice(), [5, 5]));
    return p;
  };
  const input = make();
  const copied = compactProfile(input);
  assert.equal(input.sample.length, 4, "input untouched");
  assert.deepEqual(input.sample[0].value, [1, 1]);
  assert.deepEqual(copied.sample.map((s) => s.value), [[6, 6], [2, 2]]);
  assertSameProfile(compactProfile(make(), { adoptInput: true }), copied);
});
