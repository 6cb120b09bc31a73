/**
 * In-process tests of the pipeline logic (core/pipeline/*) on the mem:// blob store: exactly-once
 * merging under duplicates and races, poison handling, deletion without resurrection, the
 * reconcile sweep and the pruning file. The process-level tests are in pipeline_*_test.ts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { openMemBlobStore } from "../adapters/blob/mem_blob.ts";
import type { BlobStore } from "../core/blob.ts";
import { decodeEnvelope, encodeEnvelope, makeEnvelope } from "../core/events.ts";
import { deleteApp } from "../core/pipeline/app_admin.ts";
import { readBaseState } from "../core/pipeline/base_state.ts";
import { baseKey, stagingKey } from "../core/pipeline/keys.ts";
import { loadBase, type MergeOutcome, mergeUpload } from "../core/pipeline/merge_upload.ts";
import { parsePruneConfig, PruneConfigError } from "../core/pipeline/prune_config.ts";
import type { EventPublisher, PayloadOf } from "../core/pipeline/publisher.ts";
import { listBases, readBase } from "../core/pipeline/profiles_view.ts";
import { reconcileStaging } from "../core/pipeline/reconcile.ts";
import { handleEvent, processUpload, type WorkerDeps } from "../core/pipeline/worker.ts";
import { decodeProfile } from "../core/pprof/decode.ts";
import { mergeProfiles } from "../core/pprof/merge.ts";
import { committedProfiles } from "./support/fixtures.ts";
import { assertSameSamples } from "./support/samples.ts";
import { delegatingStore } from "./support/delegating_store.ts";

const profiles = committedProfiles();
const cpuBytes = await Promise.all([...profiles.cpu, ...profiles.cpuLabelled].map((p) => Deno.readFile(p)));
const heapBytes = await Deno.readFile(profiles.heap);

interface Published {
  type: string;
  payload: unknown;
}

function recordingPublisher(sent: Published[] = []): EventPublisher & { sent: Published[] } {
  return {
    sent,
    publish<T extends keyof PayloadOf>(type: T, payload: PayloadOf[T]) {
      sent.push({ type, payload });
      return Promise.resolve();
    },
  };
}

async function setup(compaction: "pgo" | "none" = "none") {
  const store = await openMemBlobStore("mem://");
  const publisher = recordingPublisher();
  const deps: WorkerDeps = {
    store,
    publisher,
    pruneConfig: [],
    compaction,
    sleep: () => Promise.resolve(),
    random: () => 0.5,
    retryBaseMs: 100,
  };
  return { store, publisher, deps };
}

let seq = 0;
async function stage(
  store: BlobStore,
  app: string,
  data: Uint8Array,
  nanos = 1_700_000_000_000_000_000n,
): Promise<string> {
  const key = stagingKey(app, nanos + BigInt(seq++), `r${seq}`);
  await store.write(key, data, { ifAbsent: true });
  return key;
}

function uploadedEvent(app: string, profileKey: string, timestamp = new Date()): Uint8Array {
  return encodeEnvelope(makeEnvelope("profile.uploaded", { app, profileKey }, crypto.randomUUID(), timestamp));
}

async function baseProfile(store: BlobStore, app: string) {
  const base = await readBase(store, app);
  assert.ok(base, `base of ${app} exists`);
  return decodeProfile(base.data);
}

Deno.test("duplicated and concurrent uploaded events merge every upload exactly once", async () => {
  const { store, deps } = await setup();
  const keys = await Promise.all(cpuBytes.map((b) => stage(store, "app", b)));
  // Three "workers" each handle every event, all at once: conflicts and duplicates everywhere.
  const outcomes: MergeOutcome[] = await Promise.all(
    [0, 1, 2].flatMap(() => keys.map((k) => mergeUpload(deps, "app", k))),
  );
  assert.equal(outcomes.filter((o) => o.kind === "merged").length, keys.length, JSON.stringify(outcomes));
  const expected = mergeProfiles(cpuBytes.map((b) => decodeProfile(b)));
  const actual = await baseProfile(store, "app");
  assertSameSamples(actual, expected, "base after concurrent duplicated merges");
  assert.deepEqual(readBaseState(actual.comments).absorbed.sort(), [...keys].sort());
  // Redelivery after everything: still no double counting.
  for (const k of keys) assert.equal((await mergeUpload(deps, "app", k)).kind, "already-absorbed");
});

Deno.test("processUpload cleans staging, publishes profile.merged and trims absorbed keys", async () => {
  const { store, deps, publisher } = await setup();
  const [k1, k2] = [await stage(store, "svc", cpuBytes[0]), await stage(store, "svc", cpuBytes[1])];
  await processUpload(deps, "svc", k1);
  assert.equal(await store.stat(k1), undefined);
  assert.deepEqual(publisher.sent.map((e) => e.type), ["profile.merged"]);
  assert.deepEqual(publisher.sent[0].payload, { app: "svc", profileKey: k1, mergedKey: "svc/default.pgo" });
  await processUpload(deps, "svc", k2);
  const state = readBaseState((await baseProfile(store, "svc")).comments);
  assert.deepEqual(state.absorbed, [k2], "k1's staging blob is gone, so its record was trimmed");
  assert.match(await processUpload(deps, "svc", k1), /gone/);
});

Deno.test("poison uploads are moved aside with a reason and never block later uploads", async () => {
  const { store, deps } = await setup();
  const junk = await stage(store, "p", new TextEncoder().encode("definitely not a profile"));
  const heap = await stage(store, "p", heapBytes);
  const good = await stage(store, "p", cpuBytes[0]);
  for (const key of [junk, heap, good]) {
    // The good one as the worker loop passes it: its envelope, already decoded.
    const event = key === good ? decodeEnvelope(uploadedEvent("p", key)) : uploadedEvent("p", key);
    const d = await handleEvent(deps, event, 1);
    assert.equal(d.action, "ack", d.note);
  }
  const rejected = [];
  for await (const info of store.list("p/rejected/")) rejected.push(info.key);
  assert.equal(rejected.length, 4, rejected.join(","));
  const reason = new TextDecoder().decode((await store.read(`${heap.replace("staging", "rejected")}.reason`)).data);
  assert.match(reason, /not a CPU profile/);
  assertSameSamples(await baseProfile(store, "p"), decodeProfile(cpuBytes[0]));
});

Deno.test("bad envelopes and payloads are acked without touching the store", async () => {
  const { store, deps } = await setup();
  const other = await stage(store, "victim", cpuBytes[0]);
  const bodies = [
    new TextEncoder().encode("{not json"),
    new TextEncoder().encode(JSON.stringify({ id: "x", timestamp: "t", type: "profile.uploaded", payload: [] })),
    encodeEnvelope(makeEnvelope("profile.uploaded", { app: "Bad_App", profileKey: "x" }, "id", new Date())),
    encodeEnvelope(makeEnvelope("profile.uploaded", { app: "thief", profileKey: other }, "id", new Date())),
    encodeEnvelope(
      makeEnvelope("profile.merged", { app: "thief", profileKey: other, mergedKey: "x" }, "id", new Date()),
    ),
    encodeEnvelope({ id: "1", timestamp: new Date().toISOString(), type: "profile.exploded", payload: {} }),
  ];
  for (const body of bodies) assert.equal((await handleEvent(deps, body, 1)).action, "ack");
  assert.ok(await store.stat(other), "another app's staged upload is untouched");
  assert.equal(await store.stat(baseKey("thief")), undefined);
});

Deno.test("transient failures are nacked with growing backoff, then left to the sweep", async () => {
  const { store, deps } = await setup();
  const key = await stage(store, "t", cpuBytes[0]);
  const failing = delegatingStore(store, { read: () => Promise.reject(new Error("connection reset")) });
  const flaky = { ...deps, store: failing, maxDeliveryAttempts: 4 };
  const d1 = await handleEvent(flaky, uploadedEvent("t", key), 1);
  const d2 = await handleEvent(flaky, uploadedEvent("t", key), 2);
  assert.ok(d1.action === "nack" && d2.action === "nack" && d2.delayMs > d1.delayMs, JSON.stringify([d1, d2]));
  assert.equal((await handleEvent(flaky, uploadedEvent("t", key), 4)).action, "ack");
  assert.ok(await store.stat(key), "the staged upload survives for the sweep");
  const report = await reconcileStaging(
    store,
    new Date(Date.now() + 120_000),
    60_000,
    (a, k) => processUpload(deps, a, k),
  );
  assert.deepEqual(report, { examined: 1, failed: 0 });
  assertSameSamples(await baseProfile(store, "t"), decodeProfile(cpuBytes[0]));
});

Deno.test("deletion drops everything staged before it, even when merged later or racing a merge", async () => {
  const { store, deps } = await setup();
  const before = 1_000_000_000_000_000_000n;
  const merged = await stage(store, "d", cpuBytes[0], before);
  await processUpload(deps, "d", merged);
  const late = await stage(store, "d", cpuBytes[1], before + 10n);
  // A merge that read the old base and the staged upload, racing the deletion.
  let raced = false;
  const racing = delegatingStore(store, {
    read: async (key, signal) => {
      const object = await store.read(key, signal);
      if (key === late && !raced) {
        raced = true;
        await deleteApp(store, "d", before + 100n);
      }
      return object;
    },
  });
  assert.equal((await mergeUpload({ ...deps, store: racing }, "d", late)).kind, "dropped-deleted");
  assert.equal(await readBase(store, "d"), undefined, "GET sees no profile after deletion");
  assert.deepEqual(await listBases(store), []);
  // An upload after the deletion starts a fresh base that remembers the cut-off.
  const fresh = await stage(store, "d", cpuBytes[2], before + 1000n);
  await processUpload(deps, "d", fresh);
  const base = await baseProfile(store, "d");
  assertSameSamples(base, decodeProfile(cpuBytes[2]));
  assert.equal(readBaseState(base.comments).deletedBefore, before + 100n);
  const listed = await listBases(store);
  assert.deepEqual(listed.map((e) => e.key), ["d"]);
});

Deno.test("profile.deleted events use the envelope time as cut-off", async () => {
  const { store, deps } = await setup();
  const t = new Date("2026-01-01T00:00:00.000Z");
  const key = await stage(store, "e", cpuBytes[0], BigInt(t.getTime()) * 1_000_000n - 5n);
  await processUpload(deps, "e", key);
  const pending = await stage(store, "e", cpuBytes[1], BigInt(t.getTime()) * 1_000_000n + 5n);
  const body = encodeEnvelope(makeEnvelope("profile.deleted", { app: "e" }, "id", t));
  assert.equal((await handleEvent(deps, body, 1)).action, "ack");
  assert.equal(await store.stat(pending), undefined, "staged in the same millisecond as the DELETE: dropped");
  assert.equal((await loadBase(store, "e")).data, undefined);
});

Deno.test("compaction pgo stores a compacted base with the same samples for the compiler", async () => {
  const { store, deps } = await setup("pgo");
  for (const b of cpuBytes.slice(0, 3)) await processUpload(deps, "c", await stage(store, "c", b));
  const stored = (await store.read(baseKey("c"))).data.byteLength;
  const full = await setup("none");
  for (const b of cpuBytes.slice(0, 3)) await processUpload(full.deps, "c", await stage(full.store, "c", b));
  const fullSize = (await full.store.read(baseKey("c"))).data.byteLength;
  assert.ok(stored < fullSize, `compacted ${stored} < full ${fullSize}`);
});

Deno.test("prune rules apply per app and bad pruning files are one-line errors", async () => {
  const config = parsePruneConfig('[{"app":"x","rules":[{"drop":"main\\\\.sortRecords"}]}]', "p.json");
  const { store, deps } = await setup();
  await processUpload({ ...deps, pruneConfig: config }, "x", await stage(store, "x", cpuBytes[0]));
  const pruned = await baseProfile(store, "x");
  const names = (l: { line: { function?: { name: string } }[] }) => l.line.map((ln) => ln.function?.name);
  const through = pruned.sample.filter((s) => s.location.some((l) => names(l).includes("main.sortRecords")));
  const original = decodeProfile(cpuBytes[0]).sample.filter((s) =>
    s.location.some((l) => names(l).includes("main.sortRecords"))
  );
  assert.ok(original.length > 0, "the fixture runs main.sortRecords");
  assert.equal(through.length, 0, "pprof Prune removes the matching frame and everything it called");
  assert.ok(pruned.sample.length > 0);
  for (
    const [text, pattern] of [
      ["{", /not valid JSON/],
      ['{"app":"x"}', /JSON array/],
      ['[{"app":"x","rules":[{"keep":"a"}]}]', /"drop" is required/],
      ['[{"app":"x","rules":[{"drop":"("}]}]', /not a valid regular expression/],
      ['[{"rules":[]}]', /"app" must be/],
    ] as const
  ) {
    assert.throws(
      () => parsePruneConfig(text, "p.json"),
      (e: Error) => e instanceof PruneConfigError && pattern.test(e.message) && !e.message.includes("\n"),
    );
  }
});
