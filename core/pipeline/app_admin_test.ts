/**
 * rejectUpload (app_admin.ts): a rejected upload is moved aside with its reason, its idempotency
 * key stays taken (a retry finds the record, not a listing of `rejected/`), and at most
 * MAX_REJECTED_UPLOADS of an app are kept, the oldest removed first; set-aside bases stay.
 *
 * @module
 */

import assert from "node:assert/strict";
import { openMemBlobStore } from "../../adapters/blob/mem_blob.ts";
import { MAX_REJECTED_UPLOADS, rejectUpload } from "./app_admin.ts";
import { findEarlierUpload, idempotencyHash, idempotentSuffix } from "./idempotency.ts";
import { rejectedPrefix, stagingKey } from "./keys.ts";

Deno.test("rejectUpload: the upload's key stays taken, and only the newest rejected uploads are kept", async () => {
  const store = await openMemBlobStore("mem://");
  const hash = await idempotencyHash("retry-me");
  const first = stagingKey("app", 1n, idempotentSuffix("r0", hash));
  await store.write(first, new Uint8Array([1]));
  assert.equal(
    await rejectUpload(store, "app", first, "bad profile"),
    `${rejectedPrefix("app")}${first.split("/")[2]}`,
  );
  assert.equal(await store.stat(first), undefined, "no longer staged");
  assert.deepEqual(await findEarlierUpload(store, "app", hash), { key: first, staged: false });

  await store.write(`${rejectedPrefix("app")}base-0123`, new Uint8Array([9])); // a set-aside base
  for (let i = 2n; i <= BigInt(MAX_REJECTED_UPLOADS) + 5n; i++) {
    const key = stagingKey("app", i, `r${i}`);
    await store.write(key, new Uint8Array([2]));
    await rejectUpload(store, "app", key, "bad profile");
  }
  const kept: string[] = [];
  for await (const info of store.list(rejectedPrefix("app"))) kept.push(info.key.slice(rejectedPrefix("app").length));
  const uploads = kept.filter((name) => !name.endsWith(".reason") && !name.startsWith("base-"));
  assert.equal(uploads.length, MAX_REJECTED_UPLOADS);
  assert.equal(kept.filter((name) => name.endsWith(".reason")).length, MAX_REJECTED_UPLOADS, "reasons go with them");
  assert.ok(kept.includes("base-0123"), "a set-aside base is not counted nor removed");
  assert.equal(uploads.sort()[0], `${(6n).toString().padStart(19, "0")}-r6`, "the oldest went first");
  // The first upload's record outlives its rejected copy: a retry is still answered with it.
  assert.deepEqual(await findEarlierUpload(store, "app", hash), { key: first, staged: false });
});
