/**
 * ProfileViews: requests that miss the views cache for one app at once share one read of its base
 * (and one computation), a new version is read again, the JSON the routes stream is computed once
 * per version, and the computation runs as a job of the decode pool, not on the calling thread.
 *
 * @module
 */

import assert from "node:assert/strict";
import { openMemBlobStore } from "../../adapters/blob/mem_blob.ts";
import { committedProfiles } from "../../tests/support/fixtures.ts";
import { recordingStore } from "../../tests/support/delegating_store.ts";
import { ProfileViews } from "./profile_views.ts";
import { DecodePool } from "../pipeline/decode_pool.ts";
import { IN_THREAD_JOBS } from "../pipeline/profile_jobs.ts";

Deno.test("ProfileViews: concurrent requests for an app share one read of its base", async () => {
  const inner = await openMemBlobStore("mem://");
  const { store, calls } = recordingStore(inner, ["read"]);
  const reads = () => calls.filter((c) => c.key === "app/default.pgo").length;
  const [first, second] = committedProfiles().cpu.map((p) => Deno.readFileSync(p));
  await inner.write("app/default.pgo", first);
  const views = new ProfileViews(store);
  const all = await Promise.all(Array.from({ length: 10 }, () => views.get("app")));
  assert.equal(reads(), 1);
  assert.ok(all.every((v) => v !== undefined && v === all[0]), "the same views for every request");
  assert.equal(await views.get("app"), all[0], "cached by version");
  // The JSON every request streams is serialised once per version.
  const decode = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes));
  assert.equal(decode(all[0]!.json.report).app, "app");
  assert.equal(decode(all[0]!.json.report).bytes, first.byteLength);
  assert.ok(decode(all[0]!.json.flame).total > 0);
  await inner.write("app/default.pgo", second);
  const next = await views.get("app");
  assert.notEqual(next, all[0]);
  assert.equal(reads(), 2);
  assert.equal(await views.get("nosuch"), undefined);
});

Deno.test("ProfileViews: the views are computed in the decode pool and match the in-thread ones; a base that does not decode is a ProfileError", async () => {
  const store = await openMemBlobStore("mem://");
  const [first] = committedProfiles().cpuLabelled.map((p) => Deno.readFileSync(p));
  await store.write("app/default.pgo", first);
  await store.write("junk/default.pgo", new TextEncoder().encode("not a profile"));
  const pool = new DecodePool({ size: 1 });
  try {
    let jobs = 0;
    const counted = {
      ...IN_THREAD_JOBS,
      views: (...args: Parameters<DecodePool["views"]>) => (jobs++, pool.views(...args)),
    };
    const pooled = await new ProfileViews(store, { jobs: counted }).get("app");
    const inThread = await new ProfileViews(store).get("app");
    assert.equal(jobs, 1);
    assert.deepEqual(pooled!.json, inThread!.json, "the same JSON bytes from a worker and from this thread");
    await assert.rejects(new ProfileViews(store, { jobs: pool }).get("junk"), { name: "ProfileError" });
  } finally {
    pool.close();
  }
});
