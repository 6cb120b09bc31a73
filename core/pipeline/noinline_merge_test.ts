/**
 * Tests of the no-inline guards in the worker's merges (core/pprof/noinline.ts through
 * profile_jobs.ts and batch_job.ts): both engines, the object path of one merge per upload and the
 * fused batch path, store the same samples as an unguarded merge with the guarded functions renamed
 * and record the guards; a base written under another guard list is rewritten at its next merge;
 * a `default.pgo` rebuilt from retention windows follows the current guard list.
 */

import assert from "node:assert/strict";
import { openMemBlobStore } from "../../adapters/blob/mem_blob.ts";
import { committedProfiles } from "../../tests/support/fixtures.ts";
import { assertSameSamples } from "../../tests/support/samples.ts";
import type { BlobStore } from "../blob.ts";
import { decodeProfile } from "../pprof/decode.ts";
import { edgeMap } from "../pprof/edges.ts";
import {
  applyNoInlineGuards,
  NO_NOINLINE_GUARDS,
  NOINLINE_PREFIX,
  type NoInlineGuards,
  noInlineGuards,
  noInlineReport,
} from "../pprof/noinline.ts";
import type { Profile } from "../pprof/profile.ts";
import { stagingKey } from "./keys.ts";
import { mergeBatch } from "./merge_batch.ts";
import { type CompactionMode, mergeUpload } from "./merge_upload.ts";
import { readBase } from "./profiles_view.ts";
import { rebuildDefault } from "./window_rebuild.ts";
import { NO_METRICS } from "../metrics.ts";
import { processUpload, type WorkerDeps } from "./worker_events.ts";

const profiles = committedProfiles();
const real = [...profiles.cpu, ...profiles.cpuLabelled].map((p) => Deno.readFileSync(p));
const SORT = String.raw`^main\.sortRecords$`;
const GUARDS = noInlineGuards({ patterns: [SORT] });

function deps(store: BlobStore, compaction: CompactionMode, noinline?: NoInlineGuards) {
  return { store, pruneConfig: [], compaction, noinline, sleep: () => Promise.resolve(), random: () => 0 };
}

let n = 0;
async function stage(store: BlobStore, app: string, data: Uint8Array): Promise<string> {
  const key = stagingKey(app, 1_700_000_000_000_000_000n + BigInt(n++), `g${n}`);
  await store.write(key, data, { ifAbsent: true });
  return key;
}

async function base(store: BlobStore, app: string): Promise<Profile> {
  return decodeProfile((await readBase(store, app))!.data);
}

function totals(p: Profile): number[] {
  return p.sampleType.map((_, i) => p.sample.reduce((sum, s) => sum + s.value[i], 0));
}

Deno.test("worker merges with no-inline guards: both engines store the unguarded samples renamed, totals unchanged", async () => {
  for (const compaction of ["none", "pgo"] as const) {
    const plain = await openMemBlobStore("mem://");
    const single = await openMemBlobStore("mem://");
    const batched = await openMemBlobStore("mem://");
    const keys = [];
    for (const data of real) {
      await mergeUpload(deps(plain, compaction), "a", await stage(plain, "a", data));
      await mergeUpload(deps(single, compaction, GUARDS), "a", await stage(single, "a", data));
      keys.push(await stage(batched, "a", data));
    }
    assert.deepEqual((await mergeBatch(deps(batched, compaction, GUARDS), "a", keys)).merged, keys);
    const unguarded = await base(plain, "a");
    const objectPath = await base(single, "a"), fused = await base(batched, "a");
    assertSameSamples(objectPath, applyNoInlineGuards(unguarded, GUARDS), `object path, ${compaction}`);
    assertSameSamples(fused, objectPath, `fused path, ${compaction}`);
    for (const guarded of [objectPath, fused]) {
      assert.deepEqual(noInlineReport(guarded), {
        guards: GUARDS.patterns.map((p) => p.source),
        functions: ["main.sortRecords"],
      });
      assert.deepEqual(totals(guarded), totals(unguarded));
      const edges = edgeMap(guarded), before = edgeMap(unguarded);
      assert.equal(edges.totalWeight, before.totalWeight);
      assert.ok(!edges.byWeight.some((e) => e.caller === "main.sortRecords" || e.callee === "main.sortRecords"));
      assert.ok(edges.byWeight.some((e) => e.callee === `${NOINLINE_PREFIX}main.sortRecords`));
    }
  }
});

Deno.test("worker merges with no-inline guards: a base written under other guards is rewritten at its next merge", async () => {
  const single = await openMemBlobStore("mem://");
  const batched = await openMemBlobStore("mem://");
  const plain = await openMemBlobStore("mem://");
  const steps: (NoInlineGuards | undefined)[] = [undefined, GUARDS, GUARDS, NO_NOINLINE_GUARDS, GUARDS];
  for (const [i, guards] of steps.entries()) {
    const data = real[i % real.length];
    await mergeUpload(deps(plain, "pgo"), "r", await stage(plain, "r", data));
    await mergeUpload(deps(single, "pgo", guards), "r", await stage(single, "r", data));
    await mergeBatch(deps(batched, "pgo", guards), "r", [await stage(batched, "r", data)]);
    const want = guards ? applyNoInlineGuards(await base(plain, "r"), guards) : await base(plain, "r");
    const objectPath = await base(single, "r"), fused = await base(batched, "r");
    assertSameSamples(objectPath, want, `step ${i}, object path`);
    assertSameSamples(fused, want, `step ${i}, fused path`);
    const expected = guards === GUARDS
      ? { guards: GUARDS.patterns.map((p) => p.source), functions: ["main.sortRecords"] }
      : { guards: [], functions: [] };
    assert.deepEqual(noInlineReport(objectPath), expected, `step ${i}`);
    assert.deepEqual(noInlineReport(fused), expected, `step ${i}`);
  }
});

Deno.test("worker merges with no-inline guards: default.pgo rebuilt from retention windows follows the guard list", async () => {
  const store = await openMemBlobStore("mem://");
  const plain = await openMemBlobStore("mem://");
  const clock = () => new Date(Date.UTC(2026, 0, 10, 1));
  const deps = (s: BlobStore, noinline?: NoInlineGuards): WorkerDeps => ({
    store: s,
    pruneConfig: [],
    compaction: "pgo",
    noinline,
    batch: { maxUploads: 64, maxBytes: 16 << 20 },
    windows: { windowMs: 3_600_000, clock },
    sleep: () => Promise.resolve(),
    random: () => 0,
    metrics: NO_METRICS,
    publisher: { publish: () => Promise.resolve() },
  });
  const at = BigInt(Date.UTC(2026, 0, 10, 0, 30)) * 1_000_000n;
  for (const [i, data] of real.slice(0, 2).entries()) {
    for (const [s, guards] of [[store, GUARDS], [plain, undefined]] as const) {
      const key = stagingKey("w", at + BigInt(i), `w${i}`);
      await s.write(key, data, { ifAbsent: true });
      await processUpload(deps(s, guards), "w", key);
    }
  }
  const unguarded = await base(plain, "w");
  assertSameSamples(await base(store, "w"), applyNoInlineGuards(unguarded, GUARDS));
  assert.deepEqual(noInlineReport(await base(store, "w")).functions, ["main.sortRecords"]);
  // The guard list changes: the next rebuild renames by the new list although no window changed.
  const other = noInlineGuards({ patterns: [String.raw`^main\.parseRows$`], defaults: false });
  const outcome = await rebuildDefault(store, "w", deps(store).windows!, undefined, undefined, other);
  assert.equal(outcome.kind, "written");
  const rebuilt = await base(store, "w");
  assertSameSamples(rebuilt, applyNoInlineGuards(unguarded, other));
  assert.deepEqual(noInlineReport(rebuilt), { guards: [String.raw`^main\.parseRows$`], functions: ["main.parseRows"] });
  assert.equal(
    (await rebuildDefault(store, "w", deps(store).windows!, undefined, undefined, other)).kind,
    "unchanged",
  );
});
