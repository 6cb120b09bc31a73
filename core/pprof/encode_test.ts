import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { committedProfiles, generateProfiles, heapProfile } from "../../tests/support/fixtures.ts";
import { skipUnlessGo } from "../../tests/support/go.ts";
import { oracleBinary, runOracle } from "../../tests/support/oracle.ts";
import { decodeProfile } from "./decode.ts";
import { encodeProfile } from "./encode.ts";
import { emptyProfile, type Profile } from "./profile.ts";
import { WireReader } from "./wire.ts";

/** A profile using every field, odd values and label shapes pprof's encoder treats specially. */
function richProfile(): Profile {
  const p = emptyProfile();
  p.sampleType = [{ type: "samples", unit: "count" }, { type: "cpu", unit: "nanoseconds" }, { type: "x", unit: "" }];
  const m1 = {
    id: 1,
    memoryStart: 0x400000n,
    memoryLimit: 0xffffffffffff0000n,
    fileOffset: 0x1000n,
    file: "/bin/app",
    buildId: "abc",
    hasFunctions: true,
    hasFilenames: false,
    hasLineNumbers: true,
    hasInlineFrames: false,
  };
  const m2 = { ...m1, id: 2, file: "[vdso]", buildId: "", hasFunctions: false, hasLineNumbers: false };
  const f1 = { id: 1, name: "main.main", systemName: "main.main", filename: "main.go", startLine: 3 };
  const f2 = { id: 2, name: "runtime.ünïcode", systemName: "", filename: "", startLine: -1 };
  const f3 = { id: 7, name: "", systemName: "sys", filename: "日本.go", startLine: 0 };
  const l1 = {
    id: 1,
    mapping: m1,
    address: 0x401000n,
    line: [{ function: f2, line: 5, column: 9 }, { function: f1, line: 12, column: 0 }],
    isFolded: true,
  };
  const l2 = { id: 2, mapping: undefined, address: 0xfffffffffffffff0n, line: [], isFolded: false };
  const l3 = { id: 9, mapping: m2, address: 0n, line: [{ function: f3, line: 0, column: -4 }], isFolded: false };
  p.mapping = [m1, m2];
  p.function = [f1, f2, f3];
  p.location = [l1, l2, l3];
  p.sample = [
    { location: [l1], value: [1, 2, 3] },
    { location: [l1, l3], value: [0, -1, 2 ** 53 - 1] },
    { location: [l1, l2, l3], value: [-(2 ** 53 - 1), 0, 0] },
    {
      location: [],
      value: [1, 1, 1],
      label: { "zeta": ["z"], "alpha": ["a1", "a2"], "Ärger": ["u"], "🔥": ["f"], "\uffff": ["ff"], "": ["e"] },
      numLabel: { bytes: [1, 2 ** 40, -5], count: [7], "": [5] },
      numUnit: { bytes: ["B", "", "KiB"] },
    },
  ];
  p.dropFrames = "runtime\\..*";
  p.keepFrames = "main";
  p.timeNanos = -3n;
  p.durationNanos = 2n ** 63n - 1n;
  p.periodType = { type: "cpu", unit: "nanoseconds" };
  p.period = 10_000_000;
  p.comments = ["first", "second", "first", "third"];
  p.defaultSampleType = "cpu";
  p.docUrl = "https://example.test/doc";
  return p;
}

/** Byte offsets of top-level field numbers, for checking pprof's layout rules directly. */
function topLevelFields(raw: Uint8Array): number[] {
  const r = new WireReader(raw);
  const fields: number[] = [];
  while (r.pos < r.end) {
    const tag = r.tag();
    fields.push(tag >>> 3);
    r.skip(tag & 7);
  }
  return fields;
}

Deno.test("round trip decode(encode(p)) reproduces every field", () => {
  const p = richProfile();
  for (const compress of [true, false]) {
    const back = decodeProfile(encodeProfile(p, { compress }));
    assert.deepEqual(back, p);
  }
});

Deno.test("layout rules: field order, string table first, field 14 always, packed only beyond two", () => {
  const p = emptyProfile();
  const raw = encodeProfile(p, { compress: false });
  assert.deepEqual(topLevelFields(raw), [6, 14], 'empty profile: the "" string and default_sample_type 0');
  assert.deepEqual(Array.from(raw), [0x32, 0x00, 0x70, 0x00]);
  const rich = encodeProfile(richProfile(), { compress: false });
  const fields = topLevelFields(rich);
  assert.deepEqual([...new Set(fields)], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
  const sorted = [...fields].sort((a, b) => a - b);
  assert.deepEqual(fields, sorted, "fields in ascending order");
  // comments: 4 entries -> packed (one field 13); 2 entries -> unpacked
  assert.equal(fields.filter((f) => f === 13).length, 1);
  const two = richProfile();
  two.comments = ["a", "b"];
  assert.equal(topLevelFields(encodeProfile(two, { compress: false })).filter((f) => f === 13).length, 2);
});

Deno.test("string table is in pprof's first-use order", () => {
  const p = decodeProfile(encodeProfile(richProfile()));
  // the decoder interns the table; re-read it raw
  const raw = encodeProfile(p, { compress: false });
  const r = new WireReader(raw);
  const table: string[] = [];
  while (r.pos < r.end) {
    const tag = r.tag();
    if (tag === 6 * 8 + 2) {
      const end = r.delimited();
      table.push(r.string(r.pos, end));
      r.pos = end;
    } else r.skip(tag & 7);
  }
  assert.deepEqual(table, [
    ...["", "samples", "count", "cpu", "nanoseconds", "x"],
    // string labels by key in UTF-8 byte order ("" first, "🔥" after "\uffff"), then numeric label keys and units
    ...["e", "alpha", "a1", "a2", "zeta", "z", "Ärger", "u", "\uffff", "ff", "🔥", "f", "bytes", "B", "KiB"],
    ...["/bin/app", "abc", "[vdso]", "main.main", "main.go", "runtime.ünïcode", "sys", "日本.go"],
    ...["runtime\\..*", "main", "first", "second", "third", "https://example.test/doc"],
  ]);
});

Deno.test("gzip output is the same profile and google/pprof accepts it", async () => {
  const gz = encodeProfile(richProfile());
  assert.deepEqual(new Uint8Array(gunzipSync(gz)), encodeProfile(richProfile(), { compress: false }));
  if (!await oracleBinary()) return;
  const path = await Deno.makeTempFile({ suffix: ".pb.gz" });
  try {
    await Deno.writeFile(path, gz);
    assert.equal(new TextDecoder().decode(await runOracle(["check", path])).trim(), "ok");
    // pprof re-encoding our bytes gives our bytes: every field and layout rule agrees
    const theirs = await runOracle(["write-uncompressed", path]);
    assert.deepEqual(theirs, encodeProfile(richProfile(), { compress: false }));
  } finally {
    await Deno.remove(path);
  }
});

/** Committed profiles, fresh CPU/heap profiles of the hotpath fixture and the oracle's own runtime profiles. */
async function realProfiles(dir: string): Promise<string[]> {
  const committed = committedProfiles();
  const paths = [...committed.cpu, ...committed.cpuLabelled, committed.heap];
  if (!skipUnlessGo("encode oracle on generated profiles")) return paths;
  const generated = await generateProfiles({ count: 2, durationMs: 300, labels: true, rate: 500 });
  await runOracle(["runtime-profiles", dir]);
  const runtime = ["heap", "allocs", "goroutine", "mutex", "block", "threadcreate"].map((n) => `${dir}/${n}.pb.gz`);
  return [...paths, ...generated, await heapProfile(), ...runtime];
}

Deno.test("encode(decode(x)) is byte-identical to pprof's WriteUncompressed on real profiles", async () => {
  if (!await oracleBinary()) return;
  const dir = await Deno.makeTempDir({ prefix: "encode-oracle-" });
  try {
    const paths = await realProfiles(dir);
    // a merged profile exercises pprof's own output as input too
    await runOracle(["merge", `${dir}/merged.pb.gz`, ...paths.filter((p) => /\/cpu[^/]*$/.test(p))]);
    for (const path of [...paths, `${dir}/merged.pb.gz`]) {
      const ours = encodeProfile(decodeProfile(await Deno.readFile(path)), { compress: false });
      const theirs = await runOracle(["write-uncompressed", path]);
      assert.equal(ours.length, theirs.length, `${path}: length`);
      assert.deepEqual(ours, theirs, `${path}: bytes`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("round trip on committed real profiles keeps the decoded model", async () => {
  const committed = committedProfiles();
  for (const path of [...committed.cpu, ...committed.cpuLabelled, committed.heap]) {
    const p = decodeProfile(await Deno.readFile(path));
    assert.ok(p.sample.length > 0, `${path} has samples`);
    assert.deepEqual(decodeProfile(encodeProfile(p)), p, path);
  }
});
