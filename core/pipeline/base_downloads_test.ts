/**
 * BaseDownloads (base_downloads.ts): downloads of one version share one read and one buffer, a new
 * version is read again, deleted and absent bases are not found, memory is bounded by the bytes
 * remembered.
 *
 * @module
 */

import assert from "node:assert/strict";
import { openMemBlobStore } from "../../adapters/blob/mem_blob.ts";
import { recordingStore } from "../../tests/support/delegating_store.ts";
import { encodeTombstone } from "./base_state.ts";
import { BaseDownloads } from "./base_downloads.ts";

async function countingStore() {
  const inner = await openMemBlobStore("mem://");
  const { store, calls } = recordingStore(inner, ["read"]);
  return { inner, store, reads: () => calls.map((c) => c.key) };
}

Deno.test("BaseDownloads: one read per version, shared by concurrent and later downloads", async () => {
  const { inner, store, reads } = await countingStore();
  const v1 = new Uint8Array(4096).fill(1);
  await inner.write("app/default.pgo", v1);
  const downloads = new BaseDownloads(store, 5_000);
  const objects = await Promise.all(Array.from({ length: 10 }, () => downloads.current("app")));
  assert.equal(reads().length, 1);
  for (const object of objects) assert.equal(object?.data, objects[0]?.data, "the same buffer");
  assert.deepEqual((await downloads.current("app"))?.data, v1);
  assert.equal(reads().length, 1, "remembered");
  const v2 = new Uint8Array(4096).fill(2);
  await inner.write("app/default.pgo", v2);
  assert.deepEqual((await downloads.current("app"))?.data, v2, "a new version is read again");
  assert.equal(reads().length, 2);
  await inner.write("app/default.pgo", encodeTombstone(1n));
  assert.equal(await downloads.current("app"), undefined, "a deleted app has no base");
  assert.equal(await downloads.current("nosuch"), undefined);
});

Deno.test("BaseDownloads: at most maxBytes of versions are remembered, the least recently used forgotten", async () => {
  const { inner, store, reads } = await countingStore();
  for (const app of ["a", "b", "c"]) await inner.write(`${app}/default.pgo`, new Uint8Array(1000).fill(7));
  const downloads = new BaseDownloads(store, 5_000, 2500);
  for (const app of ["a", "b", "a", "c", "a"]) await downloads.current(app);
  // a, b, then c pushed b out (a was used more recently); a stays remembered throughout.
  assert.deepEqual(reads(), ["a/default.pgo", "b/default.pgo", "c/default.pgo"]);
  await downloads.current("b");
  assert.equal(reads().at(-1), "b/default.pgo", "b was forgotten and is read again");
});
