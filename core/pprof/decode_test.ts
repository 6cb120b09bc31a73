import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { decodeProfile } from "./decode.ts";
import { ProfileError } from "./errors.ts";
import { oracleBinary, runOracle } from "../../tests/support/oracle.ts";

// --- a tiny protobuf builder for hand-made inputs (independent of wire.ts) ---
type Bytes = number[];
function varint(value: number | bigint): Bytes {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: Bytes = [];
  while (v >= 0x80n) out.push(Number(v & 0x7fn) | 0x80), v >>= 7n;
  out.push(Number(v));
  return out;
}
/** Varint field. */
const V = (field: number, value: number | bigint): Bytes => [...varint(field * 8), ...varint(value)];
/** Length-delimited field holding `body`. */
const L = (field: number, ...body: Bytes[]): Bytes => {
  const flat = body.flat();
  return [...varint(field * 8 + 2), ...varint(flat.length), ...flat];
};
/** String field. */
const S = (field: number, s: string): Bytes => L(field, Array.from(new TextEncoder().encode(s)));
/** Packed repeated varints. */
const P = (field: number, values: (number | bigint)[]): Bytes => L(field, values.flatMap((v) => varint(v)));
const bytes = (...parts: Bytes[]) => new Uint8Array(parts.flat());

const STRINGS = ["", "samples", "count", "cpu", "nanoseconds", "main.main", "main.go", "/bin/app", "b1", "k", "v", "u"];
const strings = () => STRINGS.map((s) => S(6, s)).flat();
// string indexes
const [SAMPLES, COUNT, CPU, NANOS, MAIN, MAIN_GO, APP, B1, K, VAL, U] = STRINGS.map((_, i) => i).slice(1);
const valueType = (field: number, type: number, unit: number) => L(field, V(1, type), V(2, unit));
const fn = (id: number, ...extra: Bytes[]) => L(5, V(1, id), V(2, MAIN), V(4, MAIN_GO), V(5, 3), ...extra);
const mapping = (id: number, ...extra: Bytes[]) => L(3, V(1, id), V(2, 0x400000), V(3, 0x500000), V(5, APP), ...extra);
const line = (fid: number, ln = 10, ...extra: Bytes[]) => L(4, V(1, fid), V(2, ln), ...extra);
const loc = (id: number, ...body: Bytes[]) => L(4, V(1, id), V(2, 1), V(3, 0x401000 + id), ...body);
const sample = (...body: Bytes[]) => L(2, ...body);
/** A minimal valid profile; `extra` parts are appended at the end. */
const profile = (...extra: Bytes[]) =>
  bytes(
    valueType(1, SAMPLES, COUNT),
    sample(V(1, 1), V(2, 5)),
    mapping(1),
    loc(1, line(1)),
    fn(1),
    strings(),
    ...extra,
  );

function kindOf(data: Uint8Array): string {
  try {
    decodeProfile(data);
    return "ok";
  } catch (error) {
    if (!(error instanceof ProfileError)) throw error;
    assert.ok(!error.message.includes("\n"));
    return error.kind;
  }
}

Deno.test("decodes every profile.proto field", () => {
  const data = bytes(
    valueType(1, SAMPLES, COUNT),
    valueType(1, CPU, NANOS),
    sample(P(1, [2, 1]), P(2, [7, -3]), L(3, V(1, K), V(2, VAL)), L(3, V(1, K), V(3, 42), V(4, U))),
    mapping(1, V(4, 0x1000), V(6, B1), V(7, 1), V(8, 1), V(9, 1), V(10, 1)),
    mapping(2, V(7, 0)),
    loc(1, line(1, 10, V(3, 4)), line(2, 20), V(5, 1)),
    L(4, V(1, 2), V(3, 0xffffffffffffffffn)),
    fn(1, V(3, MAIN)),
    L(5, V(1, 2), V(2, MAIN_GO), V(5, -7)),
    strings(),
    V(7, MAIN),
    V(8, MAIN_GO),
    V(9, -5n),
    V(10, 2n ** 62n),
    valueType(11, CPU, NANOS),
    V(12, 10_000_000),
    V(13, K),
    V(13, VAL),
    V(14, CPU),
    V(15, U),
  );
  const p = decodeProfile(data);
  assert.deepEqual(p.sampleType, [{ type: "samples", unit: "count" }, { type: "cpu", unit: "nanoseconds" }]);
  assert.equal(p.sample.length, 1);
  const s = p.sample[0];
  assert.deepEqual(s.location.map((l) => l.id), [2, 1]);
  assert.equal(s.location[1], p.location[0], "ids resolve to the location objects");
  assert.deepEqual(s.value, [7, -3]);
  assert.deepEqual(s.label, { k: ["v"] });
  assert.deepEqual(s.numLabel, { k: [42] });
  assert.deepEqual(s.numUnit, { k: ["u"] });
  const [m1, m2] = p.mapping;
  assert.deepEqual(m1, {
    id: 1,
    memoryStart: 0x400000n,
    memoryLimit: 0x500000n,
    fileOffset: 0x1000n,
    file: "/bin/app",
    buildId: "b1",
    hasFunctions: true,
    hasFilenames: true,
    hasLineNumbers: true,
    hasInlineFrames: true,
  });
  assert.equal(m2.hasFunctions, false);
  const [l1, l2] = p.location;
  assert.equal(l1.mapping, m1);
  assert.equal(l1.address, 0x401001n);
  assert.equal(l1.isFolded, true);
  assert.equal(l1.line.length, 2);
  assert.equal(l1.line[0].function, p.function[0]);
  assert.deepEqual([l1.line[0].line, l1.line[0].column, l1.line[1].line, l1.line[1].column], [10, 4, 20, 0]);
  assert.equal(l2.mapping, undefined);
  assert.equal(l2.address, 2n ** 64n - 1n, "uint64 address is exact");
  assert.deepEqual(p.function[0], {
    id: 1,
    name: "main.main",
    systemName: "main.main",
    filename: "main.go",
    startLine: 3,
  });
  assert.equal(p.function[1].startLine, -7);
  assert.equal(p.dropFrames, "main.main");
  assert.equal(p.keepFrames, "main.go");
  assert.equal(p.timeNanos, -5n, "negative int64 time is exact");
  assert.equal(p.durationNanos, 2n ** 62n);
  assert.deepEqual(p.periodType, { type: "cpu", unit: "nanoseconds" });
  assert.equal(p.period, 10_000_000);
  assert.deepEqual(p.comments, ["k", "v"]);
  assert.equal(p.defaultSampleType, "cpu");
  assert.equal(p.docUrl, "u");
});

Deno.test("packed and unpacked repeated scalars decode alike, also mixed", () => {
  const unpacked = decodeProfile(profile()).sample;
  const build = (...body: Bytes[]) =>
    decodeProfile(
      bytes(
        valueType(1, SAMPLES, COUNT),
        valueType(1, CPU, NANOS),
        sample(...body),
        loc(1, line(1)),
        loc(2, line(1)),
        loc(3, line(1)),
        fn(1),
        mapping(1),
        strings(),
      ),
    );
  const a = build(P(1, [1, 2, 3]), P(2, [4, 5]), V(13, 0));
  const b = build(V(1, 1), V(1, 2), V(1, 3), V(2, 4), V(2, 5));
  const c = build(V(1, 1), P(1, [2]), P(1, []), V(1, 3), P(2, [4]), V(2, 5));
  for (const p of [a, b, c]) {
    assert.deepEqual(p.sample[0].location.map((l) => l.id), [1, 2, 3]);
    assert.deepEqual(p.sample[0].value, [4, 5]);
  }
  assert.deepEqual(unpacked[0].value, [5]);
  const comments = decodeProfile(profile(P(13, [K, VAL]), V(13, U))).comments;
  assert.deepEqual(comments, ["k", "v", "u"]);
});

Deno.test("unknown fields of every wire type are skipped at every level, field 0 too", () => {
  const junk = [V(99, 1), L(100, [1, 2, 3]), [...varint(101 * 8 + 1), 1, 2, 3, 4, 5, 6, 7, 8], [
    ...varint(102 * 8 + 5),
    1,
    2,
    3,
    4,
  ], V(0, 7)].flat();
  const data = bytes(
    junk,
    L(1, junk, V(1, SAMPLES), V(2, COUNT)),
    sample(junk, V(1, 1), V(2, 5), L(3, junk, V(1, K), V(2, VAL))),
    mapping(1, junk),
    loc(1, junk, L(4, junk, V(1, 1))),
    fn(1, junk),
    strings(),
    L(11, junk),
    V(16, 3),
  );
  const p = decodeProfile(data);
  assert.equal(p.sample[0].value[0], 5);
  assert.deepEqual(p.sample[0].label, { k: ["v"] });
  assert.equal(p.location[0].line[0].function, p.function[0]);
});

Deno.test("label rules: str wins, then num or unit make a numeric label, else dropped; units aligned", () => {
  const p = decodeProfile(profile(
    sample(
      V(1, 1),
      V(2, 1),
      L(3, V(1, K), V(2, VAL), V(3, 9)), // string label, num ignored
      L(3, V(1, K)), // dropped
      L(3, V(1, SAMPLES), V(3, 1)), // numeric, no unit
      L(3, V(1, SAMPLES), V(3, 2), V(4, U)), // numeric with unit
      L(3, V(1, SAMPLES), V(3, 3)), // numeric, no unit
      L(3, V(1, COUNT), V(4, U)), // numeric 0 with unit
      L(3, V(1, CPU), V(3, -4)), // numeric, no units at all
      L(3, V(1, K), V(2, VAL), V(3, 2n ** 60n), V(4, 999)), // string label: huge num and bad unit ignored
    ),
  ));
  const s = p.sample[1];
  assert.deepEqual(s.label, { k: ["v", "v"] });
  assert.deepEqual(s.numLabel, { samples: [1, 2, 3], count: [0], cpu: [-4] });
  assert.deepEqual(s.numUnit, { samples: ["", "u", ""], count: ["u"] });
  assert.equal(p.sample[0].label, undefined);
  assert.equal(p.sample[0].numLabel, undefined);
});

Deno.test("label keys that are Object.prototype names stay own properties", () => {
  const data = bytes(
    valueType(1, 1, 2),
    sample(V(1, 1), V(2, 1), L(3, V(1, 3), V(2, 4)), L(3, V(1, 5), V(3, 1))),
    loc(1, line(1)),
    fn(1),
    mapping(1),
    [
      "",
      "samples",
      "count",
      "__proto__",
      "x",
      "constructor",
      "main.main",
      "main.go",
      "/bin/app",
    ].map((s) => S(6, s)).flat(),
  );
  const s = decodeProfile(data).sample[0];
  assert.deepEqual(Object.keys(s.label!), ["__proto__"]);
  assert.deepEqual(Object.getOwnPropertyDescriptor(s.label!, "__proto__")?.value, ["x"]);
  assert.deepEqual(Object.getOwnPropertyDescriptor(s.numLabel!, "constructor")?.value, [1]);
});

Deno.test("defaults: absent period type decodes as empty strings; time_nanos 0 then set is fine", () => {
  const p = decodeProfile(profile(V(9, 0), V(9, 5)));
  assert.deepEqual(p.periodType, { type: "", unit: "" });
  assert.equal(p.timeNanos, 5n);
  assert.equal(p.defaultSampleType, "");
});

/** Inputs that must be rejected (kind) or accepted ("ok"); `pprof` is what google/pprof's Parse does. */
const REJECTION_CASES: { name: string; data: Uint8Array; kind: string; pprof: "ok" | "error" }[] = [
  { name: "valid", data: profile(), kind: "ok", pprof: "ok" },
  { name: "empty input", data: new Uint8Array(), kind: "empty", pprof: "error" },
  { name: "gzip of nothing", data: new Uint8Array(gzipSync(new Uint8Array())), kind: "empty", pprof: "error" },
  { name: "corrupt gzip", data: new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0]), kind: "decompress", pprof: "error" },
  { name: "wrong wire type (sample as varint)", data: profile(V(2, 1)), kind: "malformed", pprof: "error" },
  {
    name: "wrong wire type (period fixed64)",
    data: profile([...varint(12 * 8 + 1), 1, 0, 0, 0, 0, 0, 0, 0]),
    kind: "malformed",
    pprof: "error",
  },
  { name: "wrong wire type (string as varint)", data: profile(V(6, 1)), kind: "malformed", pprof: "error" },
  {
    name: "wrong wire type in Line",
    data: bytes(loc(1, L(4, L(1, [1]))), fn(1), strings()),
    kind: "malformed",
    pprof: "error",
  },
  {
    name: "wrong wire type in Mapping bool",
    data: bytes(mapping(1, L(7, [1])), strings()),
    kind: "malformed",
    pprof: "error",
  },
  { name: "group wire type 3", data: profile(varint(50 * 8 + 3)), kind: "malformed", pprof: "error" },
  { name: "group wire type 4", data: profile(varint(50 * 8 + 4)), kind: "malformed", pprof: "error" },
  { name: "wire type 6 in a sample", data: profile(sample(varint(9 * 8 + 6))), kind: "malformed", pprof: "error" },
  { name: "truncated varint", data: profile([0x60, 0x80]), kind: "malformed", pprof: "error" },
  { name: "length past end", data: profile([0x12, 0x05, 0x08]), kind: "malformed", pprof: "error" },
  { name: "bad string index", data: profile(V(7, 99)), kind: "malformed", pprof: "error" },
  { name: "negative string index", data: profile(V(14, -1)), kind: "malformed", pprof: "error" },
  {
    name: "bad label key index (dropped label)",
    data: profile(sample(V(1, 1), V(2, 1), L(3, V(1, 99)))),
    kind: "malformed",
    pprof: "error",
  },
  { name: "string_table[0] not empty", data: bytes(S(6, "x"), S(6, "")), kind: "malformed", pprof: "error" },
  { name: "no string table", data: bytes(V(12, 1)), kind: "malformed", pprof: "error" },
  { name: "concatenated profiles", data: profile(V(9, 5), V(9, 6)), kind: "malformed", pprof: "error" },
  {
    name: "sample/value count mismatch",
    data: profile(sample(V(1, 1), V(2, 1), V(2, 2))),
    kind: "invalid",
    pprof: "error",
  },
  {
    name: "samples without sample types",
    data: bytes(sample(V(1, 1), V(2, 1)), loc(1, line(1)), fn(1), mapping(1), strings()),
    kind: "invalid",
    pprof: "error",
  },
  { name: "dangling location id", data: profile(sample(V(1, 9), V(2, 1))), kind: "invalid", pprof: "error" },
  { name: "dangling function id", data: profile(loc(2, line(9))), kind: "invalid", pprof: "error" },
  { name: "line without function", data: profile(loc(2, L(4, V(2, 3)))), kind: "invalid", pprof: "error" },
  {
    name: "period type twice, the first malformed",
    data: profile(L(11, L(1, [1])), valueType(11, CPU, NANOS)),
    kind: "malformed",
    pprof: "error",
  },
  {
    name: "period type twice, the first with a bad string index (discarded, so fine)",
    data: profile(valueType(11, 99, 99), valueType(11, CPU, NANOS)),
    kind: "ok",
    pprof: "ok",
  },
  { name: "dangling mapping id (allowed)", data: profile(L(4, V(1, 2), V(2, 9))), kind: "ok", pprof: "ok" },
  { name: "duplicate location id", data: profile(loc(1, line(1))), kind: "invalid", pprof: "error" },
  { name: "duplicate function id", data: profile(fn(1)), kind: "invalid", pprof: "error" },
  { name: "duplicate mapping id", data: profile(mapping(1)), kind: "invalid", pprof: "error" },
  { name: "location id 0", data: profile(L(4, V(3, 5))), kind: "invalid", pprof: "error" },
  { name: "function id 0", data: profile(L(5, V(2, 1))), kind: "invalid", pprof: "error" },
  { name: "mapping id 0", data: profile(L(3, V(2, 1))), kind: "invalid", pprof: "error" },
  {
    name: "sample value beyond 2^53",
    data: profile(sample(V(1, 1), V(2, 2n ** 60n))),
    kind: "unsupported",
    pprof: "ok",
  },
  {
    name: "negative sample value beyond -2^53",
    data: profile(sample(V(1, 1), V(2, -(2n ** 60n)))),
    kind: "unsupported",
    pprof: "ok",
  },
  {
    name: "numeric label beyond 2^53",
    data: profile(sample(V(1, 1), V(2, 1), L(3, V(1, K), V(3, 2n ** 55n)))),
    kind: "unsupported",
    pprof: "ok",
  },
  { name: "function id beyond 2^53", data: profile(L(5, V(1, 2n ** 54n))), kind: "unsupported", pprof: "ok" },
  {
    name: "legacy binary CPU profile",
    data: new Uint8Array([
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      3,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0x10,
      0x27,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
    ]),
    kind: "unsupported",
    pprof: "ok",
  },
  {
    name: "legacy text profile",
    data: new TextEncoder().encode("goroutine profile: total 1\n1 @ 0x1\n"),
    kind: "unsupported",
    pprof: "ok",
  },
];

Deno.test("each rejection rule maps to its ProfileError kind", () => {
  for (const c of REJECTION_CASES) assert.equal(kindOf(c.data), c.kind, c.name);
});

Deno.test("google/pprof accepts and rejects the same hand-built inputs (oracle check)", async () => {
  if (!await oracleBinary()) return;
  const dir = await Deno.makeTempDir({ prefix: "decode-oracle-" });
  try {
    for (const [i, c] of REJECTION_CASES.entries()) {
      const path = `${dir}/case-${i}.pb`;
      await Deno.writeFile(path, c.data);
      const verdict = new TextDecoder().decode(await runOracle(["check", path])).trim();
      assert.equal(verdict === "ok" ? "ok" : "error", c.pprof, `${c.name}: pprof says ${verdict}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a real legacy text profile (goroutine debug=1) gets a clear one-line unsupported error", async () => {
  if (!await oracleBinary()) return;
  const dir = await Deno.makeTempDir({ prefix: "decode-legacy-" });
  try {
    await runOracle(["runtime-profiles", dir]);
    const text = await Deno.readFile(`${dir}/goroutine.txt`);
    assert.throws(() => decodeProfile(text), (e) =>
      e instanceof ProfileError && e.kind === "unsupported" &&
      /^legacy text goroutine profile format is not supported/.test(e.message) && !e.message.includes("\n"));
    assert.equal(decodeProfile(await Deno.readFile(`${dir}/goroutine.pb.gz`)).sampleType[0].type, "goroutine");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("count limits are enforced while decoding", () => {
  const two = bytes(
    valueType(1, SAMPLES, COUNT),
    sample(V(1, 1), V(2, 1)),
    sample(P(1, [1, 1, 1]), V(2, 1)),
    loc(1, line(1), line(1)),
    fn(1),
    mapping(1),
    strings(),
  );
  const limited = (limits: Record<string, number>) => {
    try {
      decodeProfile(two, limits);
      return "ok";
    } catch (error) {
      return (error as ProfileError).kind;
    }
  };
  assert.equal(limited({}), "ok");
  assert.equal(limited({ maxSamples: 1 }), "too-large");
  assert.equal(limited({ maxStackDepth: 2 }), "too-large");
  assert.equal(limited({ maxLinesPerLocation: 1 }), "too-large");
  assert.equal(limited({ maxLocations: 0 }), "too-large");
  assert.equal(limited({ maxFunctions: 0 }), "too-large");
  assert.equal(limited({ maxMappings: 0 }), "too-large");
  assert.equal(limited({ maxStrings: 5 }), "too-large");
  assert.equal(limited({ maxValuesPerSample: 0 }), "too-large");
  assert.equal(limited({ maxCompressedBytes: 10 }), "too-large");
  assert.equal(limited({ maxDecompressedBytes: 10 }), "too-large");
  assert.equal(limited({ maxSamples: 2, maxStackDepth: 3 }), "ok");
  const labelled = bytes(
    valueType(1, SAMPLES, COUNT),
    sample(V(1, 1), V(2, 1), L(3, V(1, K), V(2, VAL)), L(3, V(1, K), V(2, VAL))),
    loc(1, line(1)),
    fn(1),
    mapping(1),
    strings(),
  );
  assert.equal(kindOf(labelled), "ok");
  assert.throws(
    () => decodeProfile(labelled, { maxLabelsPerSample: 1 }),
    (e) => (e as ProfileError).kind === "too-large",
  );
});

Deno.test("files met where a profile is expected are named, with what to give instead", () => {
  const cases: [string, RegExp][] = [
    ["GO PREPROFILE V1\nmain.a\nmain.b\n1 2\n", /^go tool preprofile output is not a pprof profile: give the CPU/],
    ["go 1.23 trace\0\0\0\x01\x02\x03", /^a Go execution trace \(\/debug\/pprof\/trace\) is not a pprof profile: take/],
    ["goroutine 1 [running]:\nmain.main()\n", /^a goroutine dump .* is not a pprof profile: take a CPU profile from/],
    ["<!DOCTYPE html><html><body>/debug/pprof/</body></html>", /^an HTML page is not a pprof profile: take/],
  ];
  for (const [text, expected] of cases) {
    const raw = new TextEncoder().encode(text);
    for (const input of [raw, new Uint8Array(gzipSync(raw))]) {
      assert.throws(() => decodeProfile(input), (e: unknown) => {
        assert.ok(e instanceof ProfileError && e.kind === "unsupported", String(e));
        assert.match(e.message, expected);
        return true;
      });
    }
  }
  // A gzip'd profile compressed again (a request body compressed by its client): named as such.
  const fixture = Deno.readFileSync(new URL("../../tests/fixtures/profiles/cpu-000.pb.gz", import.meta.url));
  const twice = new Uint8Array(gzipSync(fixture));
  assert.throws(() => decodeProfile(twice), (e: unknown) => {
    assert.ok(e instanceof ProfileError && e.kind === "unsupported", String(e));
    assert.match(e.message, /^the profile is gzip-compressed twice: compress it once/);
    return true;
  });
});
