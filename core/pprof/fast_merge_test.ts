/**
 * Differential tests of the fused merge (fast_merge.ts) against the object path: for real and
 * hand-built profiles the fused bytes must equal `encodeProfile(mergeProfiles(decoded))`, and
 * for hostile inputs (seeded mutations of real profiles) it must accept exactly what
 * `decodeProfile` accepts, failing only with ProfileError.
 *
 * @module
 */

import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { decodeProfile } from "./decode.ts";
import { encodeProfile } from "./encode.ts";
import { ProfileError } from "./errors.ts";
import { EncodedProfileMerger, mergeEncodedProfiles } from "./fast_merge.ts";
import type { DecodeLimits } from "./limits.ts";
import { mergeProfiles } from "./merge.ts";
import type { Profile } from "./profile.ts";
import { WireWriter } from "./wire_writer.ts";
import { cpuProfile, fn, loc, mapping, sample, smallProfile } from "../../tests/support/build_profiles.ts";
import { randomMutation, seededRandom } from "../../tests/support/mutations.ts";
import { committedProfiles, generateProfiles } from "../../tests/support/fixtures.ts";
import { skipUnlessGo } from "../../tests/support/go.ts";

/** The object path: decode each input, merge, encode. Returns bytes or the thrown ProfileError. */
function objectPath(inputs: Uint8Array[], compress = false, limits?: Partial<DecodeLimits>): Uint8Array | ProfileError {
  try {
    return encodeProfile(mergeProfiles(inputs.map((d) => decodeProfile(d, limits))), { compress });
  } catch (error) {
    if (error instanceof ProfileError) return error;
    throw error;
  }
}

/** The fused path; returns bytes or the thrown ProfileError (anything else fails the test). */
function fusedPath(inputs: Uint8Array[], compress = false, limits?: Partial<DecodeLimits>): Uint8Array | ProfileError {
  try {
    return mergeEncodedProfiles(inputs, { compress, limits });
  } catch (error) {
    if (error instanceof ProfileError) return error;
    throw new Error(`fused path threw a non-ProfileError: ${error instanceof Error ? error.stack : error}`);
  }
}

/** Options of {@link assertSame}. */
interface SameOptions {
  compress?: boolean;
  limits?: Partial<DecodeLimits>;
  /** Also require the same error kind (default true; hostile inputs with several problems may report another first). */
  sameKind?: boolean;
}

/** Asserts both paths give identical bytes (or both reject, by default with the same kind). */
function assertSame(inputs: Uint8Array[], what: string, opts: SameOptions = {}) {
  const want = objectPath(inputs, opts.compress, opts.limits);
  const got = fusedPath(inputs, opts.compress, opts.limits);
  if (want instanceof ProfileError || got instanceof ProfileError) {
    assert.ok(
      want instanceof ProfileError,
      `${what}: fused rejected (${(got as ProfileError).message}), object accepted`,
    );
    assert.ok(got instanceof ProfileError, `${what}: object rejected (${want.message}), fused accepted`);
    assert.ok(!got.message.includes("\n"), `${what}: one-line message`);
    if (opts.sameKind !== false) {
      assert.equal(got.kind, want.kind, `${what}: error kinds (${got.message} vs ${want.message})`);
    }
    return;
  }
  if (got.length !== want.length || got.some((b, i) => b !== want[i])) {
    const first = got.findIndex((b, i) => b !== want[i]);
    assert.fail(`${what}: fused output differs (${got.length} vs ${want.length} bytes, first difference at ${first})`);
  }
}

const raw = (p: Profile) => encodeProfile(p, { compress: false });
const read = (paths: string[]) => paths.map((path) => Deno.readFileSync(path));

Deno.test("fused merge: committed real profiles give the object path's exact bytes", () => {
  const c = committedProfiles();
  const cpu = read(c.cpu), labelled = read(c.cpuLabelled), heap = read([c.heap]);
  assert.ok(cpu.length >= 2 && labelled.length >= 2, "committed profiles present");
  for (const [i, one] of [...cpu, ...labelled, ...heap].entries()) assertSame([one], `single ${i}`);
  assertSame(cpu, "unlabelled cpu");
  assertSame(labelled, "labelled cpu");
  assertSame([...labelled, ...cpu], "labelled then unlabelled");
  assertSame([...cpu, ...labelled].reverse(), "reversed", { compress: true });
  assertSame([cpu[0], cpu[0], cpu[0]], "same profile thrice");
  assertSame([cpu[0], heap[0]], "cpu + heap (incompatible)");
  // raw (uncompressed) inputs are accepted too
  assertSame(cpu.map((d) => new Uint8Array(gunzipSync(d))), "raw inputs");
});

Deno.test("fused merge: expectedBytes only sizes the tables — exact, too small, far too large: the same bytes", () => {
  const c = committedProfiles();
  const inputs = [...read(c.cpuLabelled), ...read(c.cpu), ...read(c.cpuLabelled)];
  const total = inputs.reduce((sum, d) => sum + d.length, 0);
  const merge = (expectedBytes?: number) => {
    const merger = new EncodedProfileMerger({ expectedBytes });
    for (const d of inputs) merger.add(d);
    return merger.finish({ compress: false });
  };
  const want = merge();
  assert.deepEqual(want, objectPath(inputs, false));
  for (const hint of [total, 1, inputs[0].length, 1e12]) assert.deepEqual(merge(hint), want, `expectedBytes ${hint}`);
});

Deno.test("fused merge: finish({ comments }) gives the object path's bytes with its comments replaced", () => {
  const c = committedProfiles();
  const inputs = read(c.cpu.slice(0, 2));
  const merged = mergeProfiles(inputs.map((d) => decodeProfile(d)));
  const seen: string[][] = [];
  const rewrite = (comments: string[]) => {
    seen.push(comments);
    return [...comments.filter((x) => !x.startsWith("drop")), "autopgo.merged=2", "a second ☃ comment"];
  };
  merged.comments = rewrite(merged.comments);
  const want = encodeProfile(merged, { compress: false });
  const merger = new EncodedProfileMerger();
  for (const d of inputs) merger.add(d);
  const got = merger.finish({ compress: false, comments: rewrite });
  assert.deepEqual(seen[1], seen[0], "the callback sees the merged comments the object path has");
  assert.deepEqual(got, want);
  assert.deepEqual(decodeProfile(got).comments.slice(-2), ["autopgo.merged=2", "a second ☃ comment"]);
});

Deno.test("fused merge: generated real profiles (labelled and not) give the object path's exact bytes", async () => {
  if (!skipUnlessGo("fused merge vs object path on generated profiles")) return;
  const plain = read(await generateProfiles({ count: 4, durationMs: 300, seed: 21 }));
  const labelled = read(await generateProfiles({ count: 6, durationMs: 300, labels: true, seed: 22 }));
  assertSame(plain, "generated unlabelled");
  assertSame(labelled, "generated labelled", { compress: true });
  assertSame([...plain, ...labelled], "generated mixed");
  // merge-into: an upload into a base that is itself a merge
  const base = objectPath(labelled, true) as Uint8Array;
  assertSame([plain[0], base], "upload into base");
});

Deno.test("fused merge: zero-sum samples are dropped and ids renumbered over what is left", () => {
  const a = smallProfile(0x400000n, [[1, 10], [2, 20], [3, 30]]);
  const b = smallProfile(0x400000n, [[-1, -10], [5, 50], [-3, -30]]); // samples 0 and 2 of a cancel out
  assertSame([raw(a), raw(b)], "cancelling samples");
  const c = smallProfile(0x400000n, [[0, 0], [0, 0], [1, 0]]); // all-zero samples skipped on input
  assertSame([raw(c)], "zero samples");
  assertSame([raw(a), raw(smallProfile(0x400000n, [[-1, -10], [-2, -20], [-3, -30]]))], "everything cancels");
});

Deno.test("fused merge: mappings with offsets, inline lines, columns and the lines-slot quirk", () => {
  const f1 = fn(1, "main.a", 3), f2 = fn(2, "main.b", 7), f3 = fn(3, "lib.c", 1, "lib.go");
  const build = (base: bigint, libBase: bigint, column: number) => {
    const main = mapping(1, base, base + 0x5000n, { buildId: "abc" });
    const lib = mapping(2, libBase, libBase + 0x2000n, {
      file: "/lib/x.so",
      fileOffset: 0x1000n,
      hasInlineFrames: false,
    });
    const unused = mapping(3, 0x9000000n, 0x9001000n, { file: "/unused" });
    const inline = loc(1, main, base + 0x10n, [[f1, 4, column], [f2, 9, 2]]); // column of a non-last line: not in pprof's key
    const plain = loc(2, main, base + 0x20n, [[f2, 8, 1]]);
    const library = loc(3, lib, libBase + 0x40n, [[f3, 2]]);
    const noMapping = loc(4, undefined, 0x77n, [[f3, 5]], true);
    return cpuProfile({
      mappings: [unused, main, lib],
      functions: [f1, f2, f3],
      locations: [inline, plain, library, noMapping],
      samples: [
        sample([inline, plain], [1, 100]),
        sample([library, plain], [2, 200]),
        sample([noMapping, inline], [3, 300]),
      ],
    });
  };
  const a = build(0x400000n, 0x7f0000n, 5), b = build(0x500000n, 0x7f8000n, 6), c = build(0x400000n, 0x7f0000n, 5);
  c.location[0].line[1].column = 3; // the last line's column is part of the key: a new location
  assertSame([raw(a), raw(b)], "shifted mappings");
  assertSame([raw(a), raw(b), raw(c)], "last column differs");
  const noMappings = cpuProfile({
    functions: [f1],
    locations: [loc(1, undefined, 0x10n, [[f1, 1]])],
    samples: [sample([loc(1, undefined, 0x10n, [[f1, 1]])], [1, 1])],
  });
  noMappings.sample[0].location = [noMappings.location[0]];
  assertSame([raw(noMappings), raw(b)], "first input without mappings");
});

Deno.test("fused merge: string and numeric labels, units, pprof's key collisions, prototype-named keys", () => {
  const f = fn(1, "main.f"), m = mapping(1, 0x1000n, 0x2000n);
  const l = loc(1, m, 0x1100n, [[f, 2]]);
  const withLabels = (labels: Pick<Profile["sample"][0], "label" | "numLabel" | "numUnit">[]) =>
    raw(cpuProfile({
      mappings: [m],
      functions: [f],
      locations: [l],
      samples: labels.map((lab, i) => sample([l], [i + 1, 10], lab)),
    }));
  const a = withLabels([
    { label: { z: ["1"], a: ["x", "y"], "\u00e9": ["e"], B: ["b"] } },
    { label: { a: ["x", "y"], B: ["b"], z: ["1"], "\u00e9": ["e"] } }, // same set, other order: aggregates
    { label: { a: ["y", "x"] } }, // value order matters
    { numLabel: { bytes: [1024, -5], n: [3] }, numUnit: { bytes: ["bytes", ""] } },
    { label: { k: ["v"] }, numLabel: { n: [0] }, numUnit: { n: ["count"] } },
    { label: { k: ["\u0000"] } }, // pprof's byte key equals that of {k: [1]} without units
  ]);
  const b = withLabels([
    { numLabel: { k: [1] } },
    { numLabel: { bytes: [1024, -5], n: [3] }, numUnit: { bytes: ["bytes", ""] } },
    { label: { "__proto__": ["p"], constructor: ["c"] } },
    // Numeric keys named like Object.prototype's members (these crashed both engines).
    { numLabel: { constructor: [7] } },
    { numLabel: { toString: [7], b: [1] }, numUnit: { b: ["u"] } },
    {},
  ]);
  assertSame([a], "labels a");
  assertSame([a, b], "labels a+b");
  assertSame([b, a], "labels b+a");
});

Deno.test("fused merge: header rules (period, duration, time, comments, defaults, frames)", () => {
  const header = (h: Partial<Profile>) => raw(Object.assign(smallProfile(), h));
  const inputs = [
    header({
      period: 5,
      durationNanos: 10n,
      timeNanos: 300n,
      comments: ["x", "y"],
      dropFrames: "drop",
      keepFrames: "k",
    }),
    header({
      period: 9,
      durationNanos: 7n,
      timeNanos: 0n,
      comments: ["y", "z"],
      defaultSampleType: "cpu",
      docUrl: "u",
    }),
    header({ period: 2, durationNanos: -3n, timeNanos: 200n, comments: ["x"], defaultSampleType: "samples" }),
  ];
  assertSame(inputs, "headers");
  assertSame(inputs.slice().reverse(), "headers reversed");
  assertSame([header({ period: -4 }), header({ period: -9 })], "negative periods");
});

Deno.test("fused merge: incompatible inputs, overflow and limits fail like the object path", () => {
  const small = raw(smallProfile());
  const other = smallProfile();
  other.sampleType = [{ type: "alloc", unit: "bytes" }, { type: "cpu", unit: "nanoseconds" }];
  assertSame([small, raw(other)], "incompatible sample types");
  const big = raw(smallProfile(0x400000n, [[2 ** 52, 1], [1, 1], [1, 1]]));
  assertSame([big, big], "sum beyond 2^53");
  const labelled = read(committedProfiles().cpuLabelled);
  for (
    const limits of [
      { maxSamples: 5 },
      { maxStackDepth: 3 },
      { maxLabelsPerSample: 1 },
      { maxLocations: 10 },
      { maxFunctions: 10 },
      { maxStrings: 10 },
      { maxDecompressedBytes: 1000 },
      { maxCompressedBytes: 100 },
    ]
  ) {
    assertSame(labelled, `limits ${JSON.stringify(limits)}`, { limits });
    assert.ok(fusedPath(labelled, false, limits) instanceof ProfileError, `limits ${JSON.stringify(limits)} reject`);
  }
  assert.throws(() => new EncodedProfileMerger().finish(), (e) => e instanceof ProfileError && e.kind === "empty");
  assert.throws(
    () => mergeEncodedProfiles([new Uint8Array(0)]),
    (e) => e instanceof ProfileError && e.kind === "empty",
  );
});

Deno.test("fused merge: an incompatible input leaves the merger usable; a failed sample pass does not", () => {
  const small = raw(smallProfile());
  const other = smallProfile();
  other.periodType = { type: "space", unit: "bytes" };
  const merger = new EncodedProfileMerger();
  merger.add(small);
  assert.throws(() => merger.add(raw(other)), (e) => e instanceof ProfileError && e.kind === "incompatible");
  merger.add(small);
  assert.deepEqual(merger.finish({ compress: false }), objectPath([small, small]));
  const big = raw(smallProfile(0x400000n, [[2 ** 52, 1], [1, 1], [1, 1]]));
  const broken = new EncodedProfileMerger();
  broken.add(big);
  assert.throws(() => broken.add(big), (e) => e instanceof ProfileError && e.kind === "unsupported");
  assert.throws(() => broken.add(small), (e) => e instanceof ProfileError && /unusable/.test(e.message));
});

Deno.test("fused merge: 600 seeded mutations are accepted or rejected exactly as decodeProfile does", () => {
  const c = committedProfiles();
  const gz = read([...c.cpu, ...c.cpuLabelled, c.heap]);
  const raws = gz.map((d) => new Uint8Array(gunzipSync(d)));
  const rand = seededRandom(20261126);
  const outcomes = new Map<string, number>();
  for (let i = 0; i < 600; i++) {
    const source = i % 5 === 4 ? gz : raws; // mostly raw (reaches the protobuf), some gzip streams
    const j = i % source.length;
    const { mutant } = randomMutation(source[j], rand);
    const what = `mutant ${i} of input ${j}`;
    const loose = { sameKind: false };
    assertSame([mutant], what, loose);
    if (!(objectPath([mutant]) instanceof ProfileError)) {
      assertSame([raws[j], mutant], `${what} merged after its original`, loose);
      assertSame([mutant, raws[(j + 1) % raws.length]], `${what} merged before another`, loose);
    }
    const result = fusedPath([mutant]);
    const key = result instanceof ProfileError ? result.kind : "ok";
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  }
  assert.ok((outcomes.get("ok") ?? 0) > 20, `some mutants decode: ${JSON.stringify([...outcomes])}`);
  assert.ok((outcomes.get("malformed") ?? 0) > 20, `some mutants are malformed: ${JSON.stringify([...outcomes])}`);
});

/** A raw profile: sample type samples/count, the given sample bodies and extra strings after ["", "samples", "count"]. */
function rawProfile(samples: number[][], strings: Uint8Array[] = [], extra: number[] = []): Uint8Array {
  const w = new WireWriter();
  const st = w.startDelimited(1);
  w.buf.set([0x08, 0x01, 0x10, 0x02], w.pos);
  w.pos += 4;
  w.finishDelimited(st);
  for (const body of samples) {
    const at = w.startDelimited(2);
    w.ensure(body.length);
    w.buf.set(body, w.pos);
    w.pos += body.length;
    w.finishDelimited(at);
  }
  w.ensure(extra.length);
  w.buf.set(extra, w.pos);
  w.pos += extra.length;
  for (const s of [new Uint8Array(0), ...["samples", "count"].map((t) => new TextEncoder().encode(t)), ...strings]) {
    w.tag(6, 2);
    w.varint(s.length);
    w.ensure(s.length);
    w.buf.set(s, w.pos);
    w.pos += s.length;
  }
  return w.finish().slice();
}

Deno.test("fused merge: wire edge cases (empty packed fields, truncated values, duplicate and invalid strings)", () => {
  const bytes = (...b: number[]) => new Uint8Array(b);
  const label = (key: number, str: number, num = 0, unit = 0) => {
    const fields = [0x08, key, ...(str ? [0x10, str] : []), ...(num ? [0x18, num] : []), ...(unit ? [0x20, unit] : [])];
    return [0x1a, fields.length, ...fields];
  };
  // strings 3.. : "" (a second empty string), "k", 0xff, 0xfe (both invalid UTF-8: U+FFFD to the object path)
  const strings = [bytes(), new TextEncoder().encode("k"), bytes(0xff), bytes(0xfe)];
  const cases: [string, number[][]][] = [
    ["empty packed locations", [[0x0a, 0x00, 0x10, 0x01]]],
    ["empty packed values", [[0x12, 0x00, 0x10, 0x01]]],
    ["location tag without value", [[0x10, 0x01, 0x08]]],
    ["value tag without value", [[0x10]]],
    ["empty label", [[0x10, 0x01, 0x1a, 0x00]]],
    ["label value naming a second empty string", [[0x10, 0x01, ...label(4, 3)], [0x10, 0x02, ...label(4, 0, 7)]]],
    ["numeric unit naming a second empty string", [[0x10, 0x01, ...label(4, 0, 5, 3)], [
      0x10,
      0x02,
      ...label(4, 0, 5),
    ]]],
    ["invalid UTF-8 label values", [[0x10, 0x01, ...label(4, 5)], [0x10, 0x02, ...label(4, 6)], [
      0x10,
      0x03,
      ...label(5, 6),
    ]]],
    ["label string index out of range", [[0x10, 0x01, ...label(4, 9)]]],
    ["zero sample with a bad label", [[0x10, 0x00, ...label(9, 1)]]],
  ];
  for (const [what, samples] of cases) {
    const input = rawProfile(samples, strings);
    assertSame([input], what);
    assertSame([input, input], `${what} (twice)`);
  }
  const noStringTable = rawProfile([[0x10, 0x01]]).subarray(0, 8);
  assertSame([noStringTable], "no string table");
});

Deno.test("fused merge: valueFactor merges an input as if each of its values were multiplied", () => {
  const c = committedProfiles();
  const inputs = [...c.cpu, ...c.cpuLabelled].map((p) => Deno.readFileSync(p));
  const factors = inputs.map((_, i) => [1, 3, 1000, 4321][i % 4]);
  const scaled = inputs.map((d, i) => {
    const p = decodeProfile(d);
    return encodeProfile({ ...p, sample: p.sample.map((s) => ({ ...s, value: s.value.map((v) => v * factors[i]) })) });
  });
  const merger = new EncodedProfileMerger();
  inputs.forEach((d, i) => merger.add(d, { valueFactor: factors[i] }));
  assert.deepEqual(merger.finish(), objectPath(scaled, true));
  for (const bad of [0, -2, 1.5, NaN, 2 ** 53]) {
    assert.throws(() => new EncodedProfileMerger().add(inputs[0], { valueFactor: bad }), RangeError, `factor ${bad}`);
  }
  // A product beyond 2^53 is refused as a sum beyond it is.
  const big = encodeProfile(smallProfile(0x400000n, [[2 ** 51, 1], [1, 1], [1, 1]]));
  assert.throws(
    () => new EncodedProfileMerger().add(big, { valueFactor: 8 }),
    (e) => e instanceof ProfileError && e.kind === "unsupported",
  );
});
