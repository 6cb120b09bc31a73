/** Tests of the base bookkeeping (base_state.ts): the merged-upload count, read, written and kept by merges. */

import assert from "node:assert/strict";
import { openMemBlobStore } from "../../adapters/blob/mem_blob.ts";
import { committedProfiles } from "../../tests/support/fixtures.ts";
import { decodeComments } from "../pprof/comments.ts";
import { deletionCutoff, tombstoneApp } from "./app_admin.ts";
import { MERGED_COMMENT, readBaseState, writeBaseState } from "./base_state.ts";
import { baseKey, stagingKey } from "./keys.ts";
import { mergeUpload } from "./merge_upload.ts";
import { readBase } from "./profiles_view.ts";

Deno.test("readBaseState: the merged-upload count round-trips and stays absent when never written", () => {
  const comments = writeBaseState(["kept"], { absorbed: ["a/staging/1-x"], deletedBefore: 5n, merged: 42 });
  assert.ok(comments.includes(`${MERGED_COMMENT}42`));
  assert.deepEqual(readBaseState(comments), { absorbed: ["a/staging/1-x"], deletedBefore: 5n, merged: 42 });
  assert.deepEqual(readBaseState(["kept"]), { absorbed: [], deletedBefore: 0n });
  assert.equal(readBaseState([`${MERGED_COMMENT}junk`]).merged, undefined);
  const rewritten = writeBaseState(comments, { absorbed: [], deletedBefore: 0n });
  assert.deepEqual(rewritten, ["kept"], "an absent count removes the old one");
});

Deno.test("mergeUpload: counts the uploads a base holds, from 1 again after a deletion", async () => {
  const store = await openMemBlobStore("mem://");
  const bytes = await Promise.all(committedProfiles().cpu.map((p) => Deno.readFile(p)));
  const deps = { store, pruneConfig: [], compaction: "pgo" as const, sleep: () => Promise.resolve(), random: () => 0 };
  const count = async () => readBaseState(decodeComments((await readBase(store, "svc"))!.data)).merged;
  let n = 0;
  const upload = async (data: Uint8Array) => {
    const key = stagingKey("svc", BigInt(Date.now()) * 1_000_000n + BigInt(n++), `r${n}`);
    await store.write(key, data, { ifAbsent: true });
    assert.equal((await mergeUpload(deps, "svc", key)).kind, "merged");
  };
  for (const data of bytes) await upload(data);
  assert.equal(await count(), bytes.length);
  await tombstoneApp(store, "svc", deletionCutoff(new Date()));
  assert.ok(await store.stat(baseKey("svc")), "the tombstone stands in for the base");
  await new Promise((resolve) => setTimeout(resolve, 2));
  await upload(bytes[0]);
  assert.equal(await count(), 1);
});
