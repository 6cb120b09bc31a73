/**
 * Hostile-input robustness of the decoder: thousands of seeded random mutations of real
 * profiles (raw protobuf and gzip streams) must each decode to a valid profile or throw a
 * one-line ProfileError — never another exception, never a hang — and gzip bombs must
 * fail with bounded memory. A small seeded run of the `deno task fuzz` harness adds the upload
 * budget and the upload route (tests/support/fuzz.ts).
 *
 * @module
 */

import assert from "node:assert/strict";
import * as zlib from "node:zlib";
import { decodeProfile } from "../core/pprof/decode.ts";
import { encodeProfile } from "../core/pprof/encode.ts";
import { ProfileError } from "../core/pprof/errors.ts";
import type { Profile } from "../core/pprof/profile.ts";
import { checkValid } from "../core/pprof/validate.ts";
import { committedProfiles } from "./support/fixtures.ts";
import { oracleBinary, runOracle } from "./support/oracle.ts";
import { randomMutation, seededRandom } from "./support/mutations.ts";
import { zeroGzipBomb } from "./support/crafted_profiles.ts";
import { runFuzz } from "./support/fuzz.ts";

/** Decodes one mutant; returns "ok" or the error kind, failing on anything but a one-line ProfileError. */
function survive(data: Uint8Array, context: string): string {
  let p;
  try {
    p = decodeProfile(data);
  } catch (error) {
    if (!(error instanceof ProfileError)) {
      throw new Error(`${context}: decode threw ${error instanceof Error ? error.stack : error}`);
    }
    assert.ok(!error.message.includes("\n"), `${context}: multi-line message`);
    return error.kind;
  }
  checkValid(p);
  // anything accepted must survive a round trip
  const again = decodeProfile(encodeProfile(p, { compress: false }));
  assert.equal(again.sample.length, p.sample.length, `${context}: round trip`);
  return "ok";
}

function mutateAll(inputs: Uint8Array[], count: number, seed: number, label: string): Map<string, number> {
  const rand = seededRandom(seed);
  const outcomes = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const { name, mutant } = randomMutation(inputs[i % inputs.length], rand);
    const kind = survive(mutant, `${label} seed ${seed} case ${i} (${name})`);
    outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
  }
  return outcomes;
}

function realInputs(): { gz: Uint8Array[]; raw: Uint8Array[] } {
  const committed = committedProfiles();
  const gz = [...committed.cpu, ...committed.cpuLabelled, committed.heap].map((path) => Deno.readFileSync(path));
  return { gz, raw: gz.map((data) => new Uint8Array(zlib.gunzipSync(data))) };
}

Deno.test("2500 random mutations of raw real profiles decode or throw ProfileError", () => {
  const { raw } = realInputs();
  const outcomes = mutateAll(raw, 2500, 20260701, "raw");
  console.log("raw outcomes", Object.fromEntries(outcomes));
  assert.ok((outcomes.get("malformed") ?? 0) > 0, "some mutants are malformed");
  assert.ok((outcomes.get("ok") ?? 0) > 0, "some mutants still decode");
});

Deno.test("1000 random mutations of gzip streams (and 500 re-gzipped raw mutants) are handled", () => {
  const { gz, raw } = realInputs();
  const outcomes = mutateAll(gz, 1000, 7, "gzip");
  console.log("gzip outcomes", Object.fromEntries(outcomes));
  assert.ok((outcomes.get("decompress") ?? 0) > 0, "corrupt gzip is reported as decompress");
  // valid gzip around a corrupt payload: the protobuf layer behind inflation
  const rand = seededRandom(99);
  for (let i = 0; i < 500; i++) {
    const { name, mutant } = randomMutation(raw[i % raw.length], rand);
    survive(new Uint8Array(zlib.gzipSync(mutant, { level: 1 })), `regzip seed 99 case ${i} (${name})`);
  }
});

Deno.test("every truncation of a real profile is handled", () => {
  const { raw, gz } = realInputs();
  for (const data of [raw[0], gz[0]]) {
    for (let end = 0; end < data.length; end += Math.max(1, Math.floor(data.length / 400))) {
      survive(data.subarray(0, end), `truncate at ${end}`);
    }
  }
});

Deno.test("google/pprof accepts exactly the mutants we accept (1000 mutants, oracle check)", async () => {
  if (!await oracleBinary()) return;
  const { raw, gz } = realInputs();
  const rand = seededRandom(4242);
  const dir = await Deno.makeTempDir({ prefix: "robustness-oracle-" });
  try {
    const cases: { path: string; ours: string; what: string }[] = [];
    for (let i = 0; i < 1000; i++) {
      const inputs = i % 3 === 0 ? gz : raw;
      const { name, mutant } = randomMutation(inputs[i % inputs.length], rand);
      const path = `${dir}/m${i}`;
      await Deno.writeFile(path, mutant);
      cases.push({ path, ours: survive(mutant, `oracle case ${i}`), what: `case ${i} (${name})` });
    }
    const verdicts = new TextDecoder().decode(await runOracle(["check", ...cases.map((c) => c.path)])).trim().split(
      "\n",
    );
    assert.equal(verdicts.length, cases.length);
    let compared = 0;
    for (const [i, c] of cases.entries()) {
      if (c.ours === "unsupported") continue; // beyond 2^53 or legacy formats: pprof may accept, we refuse loudly
      compared++;
      assert.equal(c.ours === "ok", verdicts[i] === "ok", `${c.what}: ours ${c.ours}, pprof ${verdicts[i]}`);
    }
    assert.ok(compared > 900, `compared ${compared}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Model-level damage (dangling, zero, duplicate or foreign ids; value counts) re-encoded as protobuf. */
const MODEL_MUTATIONS: ((p: Profile, rand: () => number) => void)[] = [
  (p, rand) => void (pick(p.function, rand).id = pick([0, 1, 2, 5, 1e6], rand)),
  (p, rand) => void (pick(p.location, rand).id = pick([0, 1, 2, 5, 1e6], rand)),
  (p, rand) => void (pick(p.mapping, rand).id = pick([0, 1, 2, 7], rand)),
  (p, rand) => void p.function.splice(Math.floor(rand() * p.function.length), 1),
  (p, rand) => void p.location.splice(Math.floor(rand() * p.location.length), 1),
  (p, rand) => void p.mapping.splice(Math.floor(rand() * p.mapping.length), 1),
  (p, rand) => void pick(p.sample, rand).value.push(1),
  (p, rand) => void pick(p.sample, rand).value.pop(),
  (p) => void p.sampleType.pop(),
  (p, rand) => {
    const l = pick(p.location, rand);
    if (l.line.length && l.line[0].function) l.line[0].function = { ...l.line[0].function };
  },
  (p, rand) => void pick(p.location, rand).line.push({ function: undefined, line: 1, column: 0 }),
  (p, rand) => {
    const missing = { id: pick([0, 99999], rand), mapping: undefined, address: 0n, line: [], isFolded: false };
    pick(p.sample, rand).location.push(missing);
  },
  (p) => void p.sample.push({ location: [], value: p.sampleType.map(() => 1) }),
];

function pick<T>(items: T[], rand: () => number): T {
  return items[Math.floor(rand() * items.length)];
}

Deno.test("google/pprof agrees on 400 model-level mutants (ids, references, value counts)", async () => {
  if (!await oracleBinary()) return;
  const source = Deno.readFileSync(committedProfiles().cpuLabelled[0]);
  const rand = seededRandom(2024);
  const dir = await Deno.makeTempDir({ prefix: "robustness-model-" });
  try {
    const cases: { path: string; ours: string }[] = [];
    for (let i = 0; i < 400; i++) {
      const p = decodeProfile(source);
      for (let k = 1 + Math.floor(rand() * 3); k > 0; k--) pick(MODEL_MUTATIONS, rand)(p, rand);
      const data = encodeProfile(p);
      const path = `${dir}/m${i}.pb.gz`;
      await Deno.writeFile(path, data);
      cases.push({ path, ours: survive(data, `model case ${i}`) });
    }
    const verdicts = new TextDecoder().decode(await runOracle(["check", ...cases.map((c) => c.path)])).trim().split(
      "\n",
    );
    for (const [i, c] of cases.entries()) {
      assert.equal(c.ours === "ok", verdicts[i] === "ok", `model case ${i}: ours ${c.ours}, pprof ${verdicts[i]}`);
    }
    assert.ok(cases.some((c) => c.ours === "invalid") && cases.some((c) => c.ours === "ok"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gzip bombs (1 GiB expanding, single and multi-member) fail with bounded memory", () => {
  const bomb = zeroGzipBomb(1024);
  assert.ok(bomb.length < 2 << 20, "the bomb is about 1 MiB");
  assert.equal(zlib.gunzipSync(zeroGzipBomb(2)).length, 2 << 20, "the bomb construction is valid gzip");
  const members = new Uint8Array(zlib.gzipSync(new Uint8Array(1 << 20), { level: 9 }));
  const multi = new Uint8Array(members.length * 1024);
  for (let i = 0; i < 1024; i++) multi.set(members, i * members.length);
  for (const [name, data] of [["single member", bomb], ["1024 members", multi]] as const) {
    const before = Deno.memoryUsage().rss;
    assert.throws(
      () => decodeProfile(data, { maxDecompressedBytes: 32 << 20 }),
      (e) => e instanceof ProfileError && e.kind === "too-large",
      name,
    );
    const grown = Deno.memoryUsage().rss - before;
    console.log(`${name}: RSS grew ${(grown / 2 ** 20).toFixed(1)} MiB at a 32 MiB limit`);
    assert.ok(grown < 160 << 20, `${name}: RSS grew ${grown >> 20} MiB`);
  }
});

Deno.test("fuzz harness (seeded, 3000 stacked mutants): within the upload budget, 300 through the upload route", async () => {
  const report = await runFuzz({ seed: 20261201, inputs: 3_000, routeEvery: 10, slowMs: 5_000 });
  console.log(`fuzz: ${report.inputs} inputs in ${report.seconds.toFixed(1)} s`, report.outcomes, report.routeStatuses);
  assert.deepEqual(report.failures, []);
  assert.equal(report.routed, 300);
  for (const kind of ["usable", "malformed", "decompress", "too-large"]) {
    assert.ok((report.outcomes[kind] ?? 0) > 0, `some inputs end ${kind}: ${JSON.stringify(report.outcomes)}`);
  }
  assert.ok((report.routeStatuses[201] ?? 0) > 0 && (report.routeStatuses[400] ?? 0) > 0);
});
