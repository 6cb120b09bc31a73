/**
 * ProfileViews: requests that miss the views cache for one app at once share one read of its base
 * (and one computation), a new version is read again, and the JSON the routes stream is the views'.
 *
 * @module
 */

import assert from "node:assert/strict";
import { openMemBlobStore } from "../../adapters/blob/mem_blob.ts";
import { committedProfiles } from "../../tests/support/fixtures.ts";
import { recordingStore } from "../../tests/support/delegating_store.ts";
import { ProfileViews } from "./profile_views.ts";

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
  // The JSON every request streams is serialised once, from the same views.
  const decode = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes));
  assert.deepEqual(decode(all[0]!.json.report), JSON.parse(JSON.stringify(all[0]!.report)));
  assert.deepEqual(decode(all[0]!.json.flame), JSON.parse(JSON.stringify(all[0]!.flame)));
  await inner.write("app/default.pgo", second);
  const next = await views.get("app");
  assert.notEqual(next, all[0]);
  assert.equal(reads(), 2);
  assert.equal(await views.get("nosuch"), undefined);
});
