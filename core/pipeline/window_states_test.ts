/**
 * WindowStates (window_states.ts): bounded and keyed by version; and what it saves a rebuild
 * (window_rebuild.ts): a rebuild reads and decodes again only the windows that changed, and finds
 * an unchanged `default.pgo` without reading any window. Its results are those of a process that
 * remembers nothing.
 *
 * @module
 */

import assert from "node:assert/strict";
import { openMemBlobStore } from "../../adapters/blob/mem_blob.ts";
import { committedProfiles } from "../../tests/support/fixtures.ts";
import { delegatingStore } from "../../tests/support/delegating_store.ts";
import type { BlobStore } from "../blob.ts";
import type { BaseState } from "./base_state.ts";
import { stagingKey } from "./keys.ts";
import { IN_THREAD_JOBS, type ProfileJobs } from "./profile_jobs.ts";
import { rebuildDefault } from "./window_rebuild.ts";
import { WindowStates } from "./window_states.ts";
import type { WindowConfig } from "./windows.ts";
import { processUpload, type WorkerDeps } from "./worker_events.ts";
import { NO_METRICS } from "../metrics.ts";

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 10);

Deno.test("WindowStates: a state is known only at its version, and the oldest are forgotten first", () => {
  const state = (merged: number): BaseState => ({ absorbed: [], deletedBefore: 0n, merged });
  const states = new WindowStates(2);
  states.set("a", "v1", state(1));
  assert.deepEqual(states.get("a", "v1"), state(1));
  assert.equal(states.get("a", "v2"), undefined);
  states.set("a", "v2", state(2));
  assert.equal(states.get("a", "v1"), undefined, "a new version replaces the old one");
  states.set("b", "v1", state(3));
  states.set("c", "v1", state(4));
  assert.equal(states.get("a", "v2"), undefined, "forgotten: the oldest of three");
  assert.deepEqual([states.get("b", "v1"), states.get("c", "v1")], [state(3), state(4)]);
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

Deno.test("window rebuild: only windows that changed are decoded again; an unchanged default.pgo reads no window", async () => {
  const inner = await openMemBlobStore("mem://");
  const { counted, jobs, counts } = counting(inner);
  const clock = { now: T0 };
  const windows: WindowConfig = { windowMs: HOUR, retentionMs: 7 * 24 * HOUR, clock: () => new Date(clock.now) };
  // The windows are written through another store object: another process, as far as `counted` knows.
  const deps: WorkerDeps = {
    store: inner,
    pruneConfig: [],
    compaction: "pgo",
    windows,
    sleep: () => Promise.resolve(),
    random: Math.random,
    metrics: NO_METRICS,
    publisher: { publish: () => Promise.resolve() },
  };
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
  // One more upload into the newest window: that window's state is decoded again, the others' bytes only read.
  clock.now += 60_000;
  await upload();
  const written = await rebuild();
  assert.equal(written.kind, "written");
  assert.deepEqual(counts, { windowReads: 10, statesDecoded: 1 });
  // A process that remembers nothing writes the same default.pgo.
  const remembered = (await inner.read("app/default.pgo")).data;
  await inner.delete("app/default.pgo");
  assert.deepEqual(await rebuildDefault(delegatingStore(inner), "app", windows), written);
  assert.deepEqual((await inner.read("app/default.pgo")).data, remembered);
});
