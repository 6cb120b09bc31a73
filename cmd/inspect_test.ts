import assert from "node:assert/strict";
import { gunzipSync, gzipSync } from "node:zlib";
import { formatTopTable, type InspectReport, runInspect, uploadVerdict } from "./inspect.ts";
import { decodeProfile } from "../core/pprof/decode.ts";
import { encodeProfile } from "../core/pprof/encode.ts";
import { CliError } from "./cli_error.ts";
import { committedProfiles } from "../tests/support/fixtures.ts";

Deno.test("inspect: JSON report of a real CPU profile", async () => {
  const [path] = committedProfiles().cpuLabelled;
  const r = JSON.parse(await runInspect(path, { json: true, top: 3 })) as InspectReport;
  assert.equal(r.file, path);
  assert.equal(r.bytes, Deno.statSync(path).size);
  assert.deepEqual(r.sampleTypes, ["samples/count", "cpu/nanoseconds"]);
  assert.equal(r.periodType, "cpu/nanoseconds");
  assert.ok(r.counts.samples > 0 && r.counts.functions > 0 && r.counts.strings > 0);
  assert.equal(r.topFlat.length, 3);
  assert.ok(r.topFlat[0].flat >= r.topFlat[1].flat);
  assert.ok(r.topCum[0].cum >= r.topFlat[0].flat);
  assert.deepEqual(r.pgo, { usable: true, reasons: [], sampleIndex: 0 });
});

Deno.test("inspect: human table, and a heap profile is reported as not usable for PGO", async () => {
  const text = await runInspect(committedProfiles().cpu[0], { top: 5 });
  assert.match(text, /^File: +.*cpu-000\.pb\.gz \([\d.]+ KiB\)$/m);
  assert.match(text, /^Sample types: +samples\/count, cpu\/nanoseconds$/m);
  assert.match(text, /^PGO: +usable \(weights from samples\/count\)$/m);
  assert.match(text, /^Showing top 5 functions by flat \(cpu\/nanoseconds\), flat [\d.]+m?s of [\d.]+m?s total/m);
  assert.doesNotMatch(text, /^Compacted:/m);
  const heap = await runInspect(committedProfiles().heap, { top: 5 });
  assert.match(heap, /^PGO: +NOT usable: not a CPU profile: sample types are \[alloc_objects\/count, /m);
});

Deno.test("formatTopTable: pprof -top columns in human units with a running sum", () => {
  const rows = [{ name: "a", flat: 500e6, cum: 600e6 }, { name: "b", flat: 250e6, cum: 1.2e9 }];
  assert.deepEqual(formatTopTable(rows, 1.2e9, "nanoseconds"), [
    "   flat  flat%   sum%   cum    cum%",
    "  500ms 41.67% 41.67% 600ms  50.00%  a",
    "  250ms 20.83% 62.50%  1.2s 100.00%  b",
  ]);
});

Deno.test("inspect: a compacted profile says that cum covers only the frames the compiler reads", async () => {
  const dir = await Deno.makeTempDir({ prefix: "autopgo-inspect-test-" });
  try {
    const { compactForPgo } = await import("../core/pprof/compact_pgo.ts");
    const { encodeProfile } = await import("../core/pprof/encode.ts");
    const { decodeProfile } = await import("../core/pprof/decode.ts");
    const full = decodeProfile(Deno.readFileSync(committedProfiles().cpu[0]));
    Deno.writeFileSync(`${dir}/c.pgo`, encodeProfile(compactForPgo(full)));
    const text = await runInspect(`${dir}/c.pgo`, { top: 3, cum: true });
    assert.match(text, /^Compacted: +yes: stacks keep only the leaf and its caller, .*cum values cover only/m);
    assert.match(text, /^Showing top 3 functions by cum /m);
    const json = JSON.parse(await runInspect(`${dir}/c.pgo`, { top: 3, json: true })) as InspectReport;
    assert.equal(json.compacted, true);
    assert.ok(json.maxStackDepth <= 2);
    assert.equal(typeof json.totals[0].total, "number", "--json keeps raw numbers");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Asserts that `runInspect` either succeeds or fails with a one-line CliError naming the file. */
async function assertGraceful(path: string, what: string): Promise<"ok" | "error"> {
  try {
    await runInspect(path, { json: true, top: 5 });
    return "ok";
  } catch (e) {
    assert.ok(e instanceof CliError, `${what}: expected CliError, got ${e instanceof Error ? e.stack : e}`);
    assert.ok(e.message.startsWith(`inspect ${JSON.stringify(path)}: `), `${what}: ${e.message}`);
    assert.ok(!e.message.includes("\n"), `${what}: multi-line message`);
    return "error";
  }
}

Deno.test("inspect: no input crashes it (missing, directory, empty, garbage, mutations)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "autopgo-inspect-test-" });
  try {
    assert.equal(await assertGraceful(`${dir}/missing`, "missing"), "error");
    assert.equal(await assertGraceful(dir, "directory"), "error");
    const write = (name: string, data: Uint8Array) => (Deno.writeFileSync(`${dir}/${name}`, data), `${dir}/${name}`);
    assert.equal(await assertGraceful(write("empty", new Uint8Array()), "empty"), "error");
    assert.equal(await assertGraceful(write("text", new TextEncoder().encode("hello\n")), "text"), "error");
    const original = Deno.readFileSync(committedProfiles().cpuLabelled[0]);
    const raw = new Uint8Array(gunzipSync(original));
    let seed = 42;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const outcomes = { ok: 0, error: 0 };
    for (let i = 0; i < 150; i++) {
      const base = i % 3 === 0 ? original : raw;
      const bytes = base.slice(0, i % 5 === 0 ? Math.floor(random() * base.length) : base.length);
      for (let k = 0; k < 1 + Math.floor(random() * 4); k++) {
        if (bytes.length > 0) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      }
      const data = i % 3 === 1 ? new Uint8Array(gzipSync(bytes)) : bytes;
      outcomes[await assertGraceful(write(`m${i}`, data), `mutation ${i}`)]++;
    }
    assert.ok(outcomes.error > 0, "some mutations must be rejected");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("inspect: what the server answers to an upload, and a diff profile's percentages of its base", async () => {
  const [path] = committedProfiles().cpu;
  const profile = decodeProfile(Deno.readFileSync(path));
  assert.equal(uploadVerdict(profile), "accepted by autopgo server");
  // A diff as go tool pprof -diff_base writes it: the base's samples negated and labelled.
  const base = profile.sample.map((s) => ({
    ...s,
    value: s.value.map((v) => -v),
    label: { "pprof::base": ["true"] },
  }));
  const diff = {
    ...profile,
    sample: [...profile.sample.map((s) => ({ ...s, value: [2 * s.value[0], 2 * s.value[1]] })), ...base],
  };
  const dir = await Deno.makeTempDir({ prefix: "inspect-diff-" });
  try {
    await Deno.writeFile(`${dir}/diff.pb.gz`, encodeProfile(diff));
    const r = JSON.parse(await runInspect(`${dir}/diff.pb.gz`, { json: true, top: 3 })) as InspectReport;
    const cpu = profile.sample.reduce((sum, s) => sum + s.value[1], 0);
    assert.equal(r.rankedBy, "cpu/nanoseconds");
    assert.equal(r.rankedTotal, cpu, "the base's total, as go tool pprof -top shows it");
    assert.match(r.upload, /^refused by autopgo server \(422\): profile cannot be merged: sample \d+ has a negative/);
    assert.equal(uploadVerdict(profile), "accepted by autopgo server", "the copy was checked, not the profile");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
