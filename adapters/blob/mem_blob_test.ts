/**
 * mem:// blob driver: the shared conformance suite plus the mem-specific URL rules
 * (named buckets shared in-process, `mem://` private).
 *
 * @module
 */

import assert from "node:assert/strict";
import { blobConformance } from "../../tests/support/blob_conformance.ts";
import { dropMemBucket, openMemBlobStore } from "./mem_blob.ts";

let bucketCounter = 0;

blobConformance("mem", async () => {
  const name = `conformance-${++bucketCounter}`;
  return { store: await openMemBlobStore(`mem://${name}`), cleanup: () => Promise.resolve(dropMemBucket(name)) };
});

Deno.test("mem blob: the same name shares objects, mem:// is private", async () => {
  const a = await openMemBlobStore("mem://shared-test");
  const b = await openMemBlobStore("mem://shared-test");
  const version = await a.write("k", new TextEncoder().encode("v"));
  assert.equal((await b.stat("k"))?.version, version);
  const p1 = await openMemBlobStore("mem://");
  const p2 = await openMemBlobStore("mem://");
  await p1.write("k", new Uint8Array([1]));
  assert.equal(await p2.stat("k"), undefined);
  dropMemBucket("shared-test");
});

Deno.test("mem blob: URLs with a path or parameters are rejected", async () => {
  await assert.rejects(openMemBlobStore("mem://x/y"), /without a path/);
  await assert.rejects(openMemBlobStore("mem://x?size=1"), /unknown parameter "size"/);
});

Deno.test("mem blob: a closed handle refuses work", async () => {
  const store = await openMemBlobStore("mem://");
  await store.close();
  await assert.rejects(store.read("k"), /closed/);
});

Deno.test("mem blob: modification time comes from the injected clock", async () => {
  const store = await openMemBlobStore("mem://", { now: () => 1_000 });
  await store.write("k", new Uint8Array([1]));
  assert.equal((await store.stat("k"))?.modified.getTime(), 1_000);
});
