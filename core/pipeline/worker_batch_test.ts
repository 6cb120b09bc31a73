/**
 * Tests of the worker's batched handling (worker_batch.ts) on the mem:// store: exactly once under
 * concurrent workers and duplicated events, a poison upload inside a batch, a deletion racing a
 * batch, the count and byte bounds, a crash between the write and the clean-up, the answer for an
 * upload an earlier batch took, and `maxUploads: 1` keeping the unbatched path. Process-level
 * tests (real workers on the file:// bus) are in tests/pipeline_batch_test.ts.
 */

import assert from "node:assert/strict";
import { openMemBlobStore } from "../../adapters/blob/mem_blob.ts";
import { committedProfiles } from "../../tests/support/fixtures.ts";
import { assertSameSamples } from "../../tests/support/samples.ts";
import type { BlobStore } from "../blob.ts";
import { encodeEnvelope, makeEnvelope } from "../events.ts";
import { type MergeOutcomeLabel, NO_METRICS } from "../metrics.ts";
import { decodeProfile } from "../pprof/decode.ts";
import { mergeProfiles } from "../pprof/merge.ts";
import { deleteApp } from "./app_admin.ts";
import { readBaseState } from "./base_state.ts";
import { baseKey, stagingKey } from "./keys.ts";
import type { BatchLimits } from "./merge_batch.ts";
import { readBase } from "./profiles_view.ts";
import { handleEvent, processUpload, type WorkerDeps } from "./worker_events.ts";
import { delegatingStore } from "../../tests/support/delegating_store.ts";

const profiles = committedProfiles();
const real = [...profiles.cpu, ...profiles.cpuLabelled].map((p) => Deno.readFileSync(p));
const BATCH: BatchLimits = { maxUploads: 64, maxBytes: 16 << 20 };

function setup(store: BlobStore, batch: BatchLimits = BATCH) {
  const outcomes: MergeOutcomeLabel[] = [];
  const published: string[] = [];
  const deps: WorkerDeps = {
    store,
    pruneConfig: [],
    compaction: "none",
    batch,
    sleep: () => Promise.resolve(),
    random: Math.random,
    metrics: { ...NO_METRICS, merge: (outcome) => outcomes.push(outcome) },
    publisher: {
      publish(_type, payload) {
        published.push((payload as { profileKey: string }).profileKey);
        return Promise.resolve();
      },
    },
  };
  const count = (label: MergeOutcomeLabel) => outcomes.filter((o) => o === label).length;
  return { deps, published, count };
}

let n = 0;
async function stage(store: BlobStore, app: string, data: Uint8Array, nanos = 1_700_000_000_000_000_000n) {
  const key = stagingKey(app, nanos + BigInt(n++), `w${n}`);
  await store.write(key, data, { ifAbsent: true });
  return key;
}

async function staged(store: BlobStore, app: string): Promise<string[]> {
  const keys = [];
  for await (const info of store.list(`${app}/staging/`)) keys.push(info.key);
  return keys;
}

async function base(store: BlobStore, app: string) {
  return decodeProfile((await readBase(store, app))!.data);
}

const expected = (inputs: Uint8Array[]) => mergeProfiles(inputs.map((d) => decodeProfile(d)));

Deno.test("processBatch: three concurrent workers handling every event twice merge each upload exactly once", async () => {
  const store = await openMemBlobStore("mem://");
  const inputs = [...real, ...real, ...real];
  const keys = await Promise.all(inputs.map((d) => stage(store, "x", d)));
  const workers = [0, 1, 2].map(() => setup(delegatingStore(store)));
  const notes = await Promise.all(
    workers.flatMap((w) => [...keys, ...keys].map((k) => processUpload(w.deps, "x", k))),
  );
  assert.equal(workers.reduce((sum, w) => sum + w.count("merged"), 0), keys.length, notes.join("\n"));
  assertSameSamples(await base(store, "x"), expected(inputs), "base vs one merge of every upload");
  assert.deepEqual(await staged(store, "x"), []);
  const everyPublished = new Set(workers.flatMap((w) => w.published));
  assert.deepEqual([...everyPublished].sort(), [...keys].sort(), "profile.merged for every upload");
  // Redelivered after everything: nothing changes.
  for (const k of keys) assert.match(await processUpload(workers[0].deps, "x", k), /is gone/);
  assertSameSamples(await base(store, "x"), expected(inputs));
});

Deno.test("processBatch: a poison upload inside a batch is moved aside, the rest merged and the event acked", async () => {
  const store = await openMemBlobStore("mem://");
  const { deps, count } = setup(store);
  const good = await stage(store, "p", real[0]);
  const junk = await stage(store, "p", new TextEncoder().encode("definitely not a profile"));
  const last = await stage(store, "p", real[1]);
  const body = encodeEnvelope(makeEnvelope("profile.uploaded", { app: "p", profileKey: last }, "id", new Date()));
  const disposition = await handleEvent(deps, body, 1);
  assert.deepEqual(disposition.action, "ack", disposition.note);
  assert.match(disposition.note, /merged .* with 1 other uploads in one write/);
  assert.deepEqual([count("merged"), count("rejected")], [2, 1]);
  assertSameSamples(await base(store, "p"), expected([real[0], real[1]]));
  const rejected = [];
  for await (const info of store.list("p/rejected/")) rejected.push(info.key);
  assert.deepEqual(rejected, [junk.replace("staging", "rejected"), `${junk.replace("staging", "rejected")}.reason`]);
  assert.deepEqual(await staged(store, "p"), []);
  assert.match(await processUpload(deps, "p", good), /is gone/);
});

Deno.test("processBatch: a deletion racing a batch wins: nothing staged before it is merged, later uploads start afresh", async () => {
  const store = await openMemBlobStore("mem://");
  const t0 = 1_000_000_000_000_000_000n;
  const early = [await stage(store, "d", real[0], t0), await stage(store, "d", real[1], t0)];
  let raced = false;
  const racing = delegatingStore(store, {
    read: async (key, signal) => {
      const object = await store.read(key, signal);
      if (key === early[1] && !raced) {
        raced = true; // the members are read; the deletion lands before the batch's write
        await deleteApp(store, "d", t0 + 1000n);
      }
      return object;
    },
  });
  const { deps, count } = setup(racing);
  assert.match(await processUpload(deps, "d", early[0]), /staged before app "d" was deleted: dropped/);
  assert.ok(raced);
  assert.deepEqual([count("merged"), count("dropped")], [0, 2]);
  assert.equal(await readBase(store, "d"), undefined, "no profile after the deletion");
  const late = await stage(store, "d", real[2], t0 + 5000n);
  await processUpload(deps, "d", late);
  const fresh = await base(store, "d");
  assertSameSamples(fresh, expected([real[2]]));
  assert.equal(readBaseState(fresh.comments).deletedBefore, t0 + 1000n);
});

Deno.test("processBatch: batches respect the count and byte bounds", async () => {
  const store = await openMemBlobStore("mem://");
  let writes = 0;
  const counting = delegatingStore(store, {
    write: (k, d, c, s) => {
      if (k === baseKey("b")) writes++;
      return store.write(k, d, c, s);
    },
  });
  const keys = [];
  for (let i = 0; i < 10; i++) keys.push(await stage(store, "b", real[i % real.length]));
  const { deps, count } = setup(counting, { maxUploads: 4, maxBytes: 16 << 20 });
  for (const k of keys) await processUpload(deps, "b", k);
  assert.deepEqual([writes, count("merged"), count("gone")], [3, 10, 7], "4 + 4 + 2");
  for (let i = 0; i < 4; i++) keys.push(await stage(store, "b", real[i]));
  const small = setup(counting, { maxUploads: 64, maxBytes: real[0].length + real[1].length });
  await processUpload(small.deps, "b", keys[10]);
  assert.equal(small.count("merged"), 2, "two uploads fit the byte bound");
  assertSameSamples(
    await base(store, "b"),
    expected([...keys.slice(0, 10).map((_, i) => real[i % real.length]), real[0], real[1]]),
  );
});

Deno.test("processBatch: a crash between the write and the clean-up is finished by a retry, never merged twice", async () => {
  const store = await openMemBlobStore("mem://");
  const keys = [await stage(store, "c", real[0]), await stage(store, "c", real[1]), await stage(store, "c", real[2])];
  let failDeletes = true;
  const crashing = delegatingStore(store, {
    delete: (k, c, s) => failDeletes ? Promise.reject(new Error("connection reset")) : store.delete(k, c, s),
  });
  const { deps, count } = setup(crashing);
  const body = (k: string) =>
    encodeEnvelope(makeEnvelope("profile.uploaded", { app: "c", profileKey: k }, crypto.randomUUID(), new Date()));
  const first = await handleEvent(deps, body(keys[0]), 1);
  assert.equal(first.action, "nack", "nothing acked before the clean-up succeeded");
  assert.equal(count("merged"), 3);
  failDeletes = false;
  assert.equal((await handleEvent(deps, body(keys[1]), 1)).action, "ack");
  assert.deepEqual([count("merged"), count("duplicate")], [3, 3]);
  assert.deepEqual(await staged(store, "c"), []);
  assertSameSamples(await base(store, "c"), expected(real.slice(0, 3)));
});

Deno.test("processBatch: an upload an earlier batch took is answered without reading the base", async () => {
  const store = await openMemBlobStore("mem://");
  const keys = [await stage(store, "f", real[0]), await stage(store, "f", real[1])];
  let baseReads = 0;
  const counting = delegatingStore(store, {
    read: (k, s) => {
      if (k === baseKey("f")) baseReads++;
      return store.read(k, s);
    },
  });
  const { deps } = setup(counting);
  await processUpload(deps, "f", keys[1]);
  const before = baseReads;
  assert.match(await processUpload(deps, "f", keys[0]), /is gone/);
  assert.equal(baseReads, before);
});

Deno.test("processUpload: batch.maxUploads 1 keeps one merge per upload", async () => {
  const store = await openMemBlobStore("mem://");
  const keys = [await stage(store, "one", real[0]), await stage(store, "one", real[1])];
  const { deps, count } = setup(store, { maxUploads: 1, maxBytes: 16 << 20 });
  assert.match(await processUpload(deps, "one", keys[0]), /^merged \S+ into one\/default\.pgo \(0 write conflicts\)$/);
  assert.deepEqual(await staged(store, "one"), [keys[1]]);
  await processUpload(deps, "one", keys[1]);
  assert.equal(count("merged"), 2);
  assertSameSamples(await base(store, "one"), expected(real.slice(0, 2)));
});

Deno.test("events of uploads this worker merged (merged, or uploaded and kept) are answered without a stat; another worker stats", async () => {
  const store = await openMemBlobStore("mem://");
  const stats: string[] = [];
  const counting = (inner: BlobStore) => delegatingStore(inner, { stat: (k, s) => (stats.push(k), inner.stat(k, s)) });
  const merging = setup(counting(store));
  const other = setup(counting(store)); // another process: its own store object, its own memory
  const keys = await Promise.all(real.slice(0, 3).map((d) => stage(store, "m", d)));
  await processUpload(merging.deps, "m", keys[0]);
  assert.deepEqual([...merging.published].sort(), [...keys].sort());
  const merged = (k: string) =>
    encodeEnvelope(
      makeEnvelope("profile.merged", { app: "m", profileKey: k, mergedKey: baseKey("m") }, "id", new Date()),
    );
  stats.length = 0;
  for (const k of keys) {
    const { action, note } = await handleEvent(merging.deps, merged(k), 1);
    assert.equal(action, "ack");
    assert.match(note, /already cleaned up/);
  }
  assert.deepEqual(stats, [], "the announcing worker knows its uploads are gone");
  const { note } = await handleEvent(other.deps, merged(keys[0]), 1);
  assert.match(note, /already cleaned up/);
  assert.deepEqual(stats, [keys[0]], "another worker asks the store");
  // The uploaded events of those uploads too (as when they come back after being kept for a busy app).
  stats.length = 0;
  for (const k of keys) assert.match(await processUpload(merging.deps, "m", k), /is gone/);
  assert.deepEqual(stats, [], "no stat for uploads this worker merged");
  assert.match(await processUpload(other.deps, "m", keys[1]), /is gone/);
  assert.deepEqual(stats, [keys[1]]);
});
