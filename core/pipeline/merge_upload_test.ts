/**
 * Tests of mergeUpload (merge_upload.ts) with bases that are not canonical: a mappable one is
 * normalised by the next merge, an unmappable one is set aside (listed with its reason) and the
 * upload starts a new base that keeps the bookkeeping; normalised variant uploads merge exactly.
 */

import assert from "node:assert/strict";
import { openMemBlobStore } from "../../adapters/blob/mem_blob.ts";
import { committedProfiles } from "../../tests/support/fixtures.ts";
import { MAPPABLE_VARIANTS, UNMAPPABLE_VARIANTS, variantBytes } from "../../tests/support/profile_variants.ts";
import { assertSameSamples } from "../../tests/support/samples.ts";
import type { BlobStore } from "../blob.ts";
import { isCanonical } from "../pprof/canonical.ts";
import { decodeProfile } from "../pprof/decode.ts";
import { encodeProfile } from "../pprof/encode.ts";
import { gunzipSync } from "node:zlib";
import { mergeProfiles } from "../pprof/merge.ts";
import { readBaseState, writeBaseState } from "./base_state.ts";
import { baseKey, stagingKey } from "./keys.ts";
import { NO_METRICS, type PoisonReason } from "../metrics.ts";
import { DecodePool } from "./decode_pool.ts";
import { loadBase, mergeUpload } from "./merge_upload.ts";
import { listRejected, readBase } from "./profiles_view.ts";
import { processUpload } from "./worker_events.ts";

const real = () => committedProfiles().cpu.map((p) => Deno.readFileSync(p));

function depsFor(store: BlobStore) {
  return { store, pruneConfig: [], compaction: "none" as const, sleep: () => Promise.resolve(), random: () => 0 };
}

let n = 0;
async function stage(store: BlobStore, app: string, data: Uint8Array): Promise<string> {
  const key = stagingKey(app, BigInt(Date.now()) * 1_000_000n + BigInt(n++), `k${n}`);
  await store.write(key, data, { ifAbsent: true });
  return key;
}

async function base(store: BlobStore, app: string) {
  return decodeProfile((await readBase(store, app))!.data);
}

Deno.test("mergeUpload: a non-canonical base (the renamed-type trap) is normalised by the next merge", async () => {
  const store = await openMemBlobStore("mem://");
  const [a, b, c] = real();
  // As written before normalisation existed: the odd upload alone, with its bookkeeping.
  const odd = decodeProfile(variantBytes(a, MAPPABLE_VARIANTS.renamed));
  odd.comments = writeBaseState([], { absorbed: [], deletedBefore: 0n, merged: 1 });
  await store.write(baseKey("victim"), encodeProfile(odd), { ifAbsent: true });
  const first = await mergeUpload(depsFor(store), "victim", await stage(store, "victim", b));
  assert.deepEqual(first, { kind: "merged", conflicts: 0, baseNormalized: true });
  assert.deepEqual(await mergeUpload(depsFor(store), "victim", await stage(store, "victim", c)), {
    kind: "merged",
    conflicts: 0,
  });
  const merged = await base(store, "victim");
  assert.ok(isCanonical(merged));
  assertSameSamples(merged, mergeProfiles([a, b, c].map((d) => decodeProfile(d))), "odd + b + c == a + b + c");
  assert.equal(readBaseState(merged.comments).merged, 3);
  assert.deepEqual(await listRejected(store), []);
});

Deno.test("mergeUpload: variant uploads of every mappable kind merge into one canonical base exactly", async () => {
  const store = await openMemBlobStore("mem://");
  const bytes = real();
  const sources = [];
  for (const [i, variant] of Object.values(MAPPABLE_VARIANTS).entries()) {
    const source = bytes[i % bytes.length];
    sources.push(decodeProfile(source));
    const outcome = await mergeUpload(
      depsFor(store),
      "mixed",
      await stage(store, "mixed", variantBytes(source, variant)),
    );
    assert.equal(outcome.kind, "merged");
  }
  assertSameSamples(await base(store, "mixed"), mergeProfiles(sources), "variants merge like their sources");
});

Deno.test("mergeUpload: an unmappable base is set aside with its reason and the upload starts a new base", async () => {
  const store = await openMemBlobStore("mem://");
  const [a, b] = real();
  const broken = decodeProfile(variantBytes(a, UNMAPPABLE_VARIANTS.cpuOnlyWithoutPeriod.variant));
  broken.comments = writeBaseState([], { absorbed: [], deletedBefore: 123n, merged: 7 });
  await store.write(baseKey("stuck"), encodeProfile(broken), { ifAbsent: true });
  const brokenBytes = (await store.read(baseKey("stuck"))).data;
  const outcome = await mergeUpload(depsFor(store), "stuck", await stage(store, "stuck", b));
  assert.equal(outcome.kind, "merged");
  assert.ok(outcome.kind === "merged" && outcome.baseSetAside);
  assert.match(outcome.baseSetAside.movedTo, /^stuck\/rejected\/base-[0-9a-f]{16}$/);
  assert.match(outcome.baseSetAside.reason, /cannot derive samples\/count/);
  assert.deepEqual((await store.read(outcome.baseSetAside.movedTo)).data, brokenBytes, "the old base is kept aside");
  const fresh = await base(store, "stuck");
  assertSameSamples(fresh, decodeProfile(b), "the new base holds the upload alone");
  const state = readBaseState(fresh.comments);
  assert.equal(state.merged, 1);
  assert.equal(state.deletedBefore, 123n, "the deletion cut-off survives");
  const [entry] = await listRejected(store);
  assert.deepEqual({ ...entry, lastRejectedAt: "" }, {
    key: "stuck",
    count: 0,
    bases: 1,
    lastReason: outcome.baseSetAside.reason,
    lastRejectedAt: "",
  });
  // Later uploads merge normally.
  assert.deepEqual(await mergeUpload(depsFor(store), "stuck", await stage(store, "stuck", a)), {
    kind: "merged",
    conflicts: 0,
  });
});

Deno.test("mergeUpload: in a decode pool (buffers transferred), a base is normalised or set aside the same way", async () => {
  const pool = new DecodePool({ size: 1 });
  try {
    const store = await openMemBlobStore("mem://");
    const deps = { ...depsFor(store), jobs: pool };
    const [a, b, c] = real();
    await store.write(baseKey("odd"), variantBytes(a, MAPPABLE_VARIANTS.reordered), { ifAbsent: true });
    const normalized = await mergeUpload(deps, "odd", await stage(store, "odd", b));
    assert.ok(normalized.kind === "merged" && normalized.baseNormalized);
    await store.write(baseKey("stuck"), variantBytes(a, UNMAPPABLE_VARIANTS.wallPeriod.variant), { ifAbsent: true });
    const replaced = await mergeUpload(deps, "stuck", await stage(store, "stuck", c));
    assert.ok(replaced.kind === "merged" && replaced.baseSetAside);
    assertSameSamples(await base(store, "odd"), mergeProfiles([decodeProfile(a), decodeProfile(b)]));
    assertSameSamples(await base(store, "stuck"), decodeProfile(c));
  } finally {
    pool.close();
  }
});

Deno.test("processUpload: a base set aside is counted as poison unmappable_base, a normalised one is not", async () => {
  const store = await openMemBlobStore("mem://");
  const poison: PoisonReason[] = [];
  const deps = {
    ...depsFor(store),
    publisher: { publish: () => Promise.resolve() },
    metrics: { ...NO_METRICS, poison: (reason: PoisonReason) => void poison.push(reason) },
  };
  const [a, b] = real();
  await store.write(baseKey("odd"), variantBytes(a, MAPPABLE_VARIANTS.cpuOnly), { ifAbsent: true });
  await store.write(baseKey("stuck"), variantBytes(a, UNMAPPABLE_VARIANTS.wallPeriod.variant), { ifAbsent: true });
  assert.match(await processUpload(deps, "odd", await stage(store, "odd", b)), /^merged /);
  assert.deepEqual(poison, []);
  assert.match(await processUpload(deps, "stuck", await stage(store, "stuck", b)), /^merged /);
  assert.deepEqual(poison, ["unmappable_base"]);
});

Deno.test("loadBase: the inflated base comes back only for a merge that asks for it", async () => {
  const store = await openMemBlobStore("mem://");
  const [a] = real();
  await mergeUpload(depsFor(store), "app", await stage(store, "app", a));
  const stored = (await readBase(store, "app"))!.data;
  const stateOnly = await loadBase(store, "app");
  assert.equal(stateOnly.raw, undefined);
  assert.equal(stateOnly.state.merged, 1);
  const forMerge = await loadBase(store, "app", undefined, undefined, { inflated: true });
  assert.deepEqual(forMerge.state, stateOnly.state);
  assert.deepEqual(forMerge.raw, new Uint8Array(gunzipSync(stored)));
});
