/**
 * KnownWindows (known_windows.ts): keyed by version, bounded by count and bytes; and what it saves a
 * rebuild (window_rebuild.ts): a rebuild reads and decodes again only the windows that changed,
 * also when the rebuild runs in the decode pool (which takes the buffers it is given). Its results
 * are those of a process that remembers nothing.
 *
 * @module
 */

import assert from "node:assert/strict";
import { openMemBlobStore } from "../../adapters/blob/mem_blob.ts";
import { committedProfiles } from "../../tests/support/fixtures.ts";
import { delegatingStore } from "../../tests/support/delegating_store.ts";
import { quietWorkerDeps } from "../../tests/support/worker_deps.ts";
import type { BlobStore } from "../blob.ts";
import { stagingKey } from "./keys.ts";
import { DecodePool } from "./decode_pool.ts";
import { IN_THREAD_JOBS, type ProfileJobs } from "./profile_jobs.ts";
import { rebuildDefault } from "./window_rebuild.ts";
import { type KnownWindow, KnownWindows } from "./known_windows.ts";
import type { WindowConfig } from "./windows.ts";
import { processUpload } from "./worker_events.ts";

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 10);

Deno.test("KnownWindows: a window is known only at its version; the least recently used are forgotten first", () => {
  const window = (merged: number, bytes = 10): KnownWindow => ({
    state: { absorbed: [], deletedBefore: 0n, merged },
    data: new Uint8Array(bytes),
  });
  const known = new KnownWindows(2, 100);
  known.set("a", "v1", window(1));
  assert.deepEqual(known.get("a", "v1"), window(1));
  assert.equal(known.get("a", "v2"), undefined);
  known.set("a", "v2", window(2));
  assert.equal(known.get("a", "v1"), undefined, "a new version replaces the old one");
  known.set("b", "v1", window(3));
  assert.ok(known.get("a", "v2"), "a is now the most recently used");
  known.set("c", "v1", window(4));
  assert.equal(known.get("b", "v1"), undefined, "forgotten: the least recently used of three");
  assert.deepEqual([known.get("a", "v2"), known.get("c", "v1")], [window(2), window(4)]);
  known.set("d", "v1", window(5, 95));
  assert.deepEqual([known.get("a", "v2"), known.get("c", "v1")], [undefined, undefined], "over 100 bytes: both go");
  assert.deepEqual(known.get("d", "v1"), window(5, 95));
  known.set("e", "v1", window(6, 101));
  assert.equal(known.get("e", "v1"), undefined, "larger than the whole budget: not remembered");
  assert.ok(known.get("d", "v1"));
});

/** A store counting reads of window objects, and jobs counting the windows' states decoded. */
function counting(store: BlobStore) {
  const counts = { windowReads: 0, statesDecoded: 0 };
  const counted = delegatingStore(store, {
    read: (key, signal) => {
      if (key.includes("/windows/")) counts.windowReads++;
      return store.read(key, signal);
    },
  });
  const jobs: ProfileJobs = {
    ...IN_THREAD_JOBS,
    baseState: (data, opts) => {
      counts.statesDecoded++;
      return IN_THREAD_JOBS.baseState(data, opts);
    },
  };
  return { counted, jobs, counts };
}

Deno.test("window rebuild: only windows that changed are read and decoded again", async () => {
  const inner = await openMemBlobStore("mem://");
  const { counted, jobs, counts } = counting(inner);
  const clock = { now: T0 };
  const windows: WindowConfig = { windowMs: HOUR, retentionMs: 7 * 24 * HOUR, clock: () => new Date(clock.now) };
  // The windows are written through another store object: another process, as far as `counted` knows.
  const deps = quietWorkerDeps(inner, { windows });
  const profiles = committedProfiles().cpu.map((p) => Deno.readFileSync(p));
  let n = 0;
  const upload = async () => {
    const key = stagingKey("app", BigInt(clock.now) * 1_000_000n + BigInt(n), `u${n}`);
    await inner.write(key, profiles[n++ % profiles.length], { ifAbsent: true });
    await processUpload(deps, "app", key);
  };
  for (let i = 0; i < 10; i++) {
    clock.now = T0 + i * HOUR;
    await upload();
  }
  const rebuild = async () => {
    Object.assign(counts, { windowReads: 0, statesDecoded: 0 });
    await inner.delete("app/default.pgo"); // so that each rebuild below writes
    return await rebuildDefault(counted, "app", windows, undefined, jobs);
  };
  // First sight: every window read and decoded.
  assert.equal((await rebuild()).kind, "written");
  assert.deepEqual(counts, { windowReads: 10, statesDecoded: 10 });
  Object.assign(counts, { windowReads: 0, statesDecoded: 0 });
  assert.equal((await rebuildDefault(counted, "app", windows, undefined, jobs)).kind, "unchanged");
  assert.deepEqual(counts, { windowReads: 0, statesDecoded: 1 }, "default.pgo only");
  // One more upload into the newest window: that window is read and decoded again, no other.
  clock.now += 60_000;
  await upload();
  const written = await rebuild();
  assert.equal(written.kind, "written");
  assert.deepEqual(counts, { windowReads: 1, statesDecoded: 1 });
  // A process that remembers nothing writes the same default.pgo.
  const remembered = (await inner.read("app/default.pgo")).data;
  await inner.delete("app/default.pgo");
  assert.deepEqual(await rebuildDefault(delegatingStore(inner), "app", windows), written);
  assert.deepEqual((await inner.read("app/default.pgo")).data, remembered);
});

Deno.test("window rebuild in the decode pool: remembered windows survive the pool taking the job's buffers", async () => {
  const store = await openMemBlobStore("mem://");
  const clock = { now: T0 };
  const windows: WindowConfig = { windowMs: HOUR, retentionMs: 7 * 24 * HOUR, clock: () => new Date(clock.now) };
  const pool = new DecodePool({ size: 1 });
  try {
    const deps = quietWorkerDeps(store, { jobs: pool, windows });
    const profiles = committedProfiles().cpu.map((p) => Deno.readFileSync(p));
    for (let i = 0; i < 8; i++) {
      clock.now = T0 + Math.floor(i / 2) * HOUR + i;
      const key = stagingKey("app", BigInt(clock.now) * 1_000_000n, `u${i}`);
      await store.write(key, profiles[i % profiles.length], { ifAbsent: true });
      await processUpload(deps, "app", key); // each a batch and a rebuild in the pool, from remembered windows
    }
    const pooled = (await store.read("app/default.pgo")).data;
    await store.delete("app/default.pgo");
    assert.equal((await rebuildDefault(delegatingStore(store), "app", windows)).kind, "written");
    assert.deepEqual((await store.read("app/default.pgo")).data, pooled);
  } finally {
    await pool.close();
  }
});
