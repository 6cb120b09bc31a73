/**
 * Tests of retention windows (windows.ts, window_rebuild.ts, worker_windows.ts) on the mem:// store,
 * under the same concurrency as worker_batch_test.ts: three workers handling every event twice,
 * uploads spread over several windows; a worker killed between the window write and the rebuild;
 * a deletion racing a window merge; expiry (windows deleted, late uploads dropped, every guarantee
 * kept while two workers rebuild at once); decay weights; and the sweep's rebuild.
 */

import assert from "node:assert/strict";
import { openMemBlobStore } from "../../adapters/blob/mem_blob.ts";
import { committedProfiles } from "../../tests/support/fixtures.ts";
import { assertSameSamples } from "../../tests/support/samples.ts";
import { delegatingStore } from "../../tests/support/delegating_store.ts";
import type { BlobStore } from "../blob.ts";
import { type MergeOutcomeLabel, NO_METRICS } from "../metrics.ts";
import { decodeProfile } from "../pprof/decode.ts";
import { mergeProfiles } from "../pprof/merge.ts";
import type { Profile } from "../pprof/profile.ts";
import { deleteApp } from "./app_admin.ts";
import { DecodePool } from "./decode_pool.ts";
import { readBaseState } from "./base_state.ts";
import { stagingKey, windowKey } from "./keys.ts";
import { mergeBatch } from "./merge_batch.ts";
import { readBase } from "./profiles_view.ts";
import { rebuildDefault } from "./window_rebuild.ts";
import { type WindowConfig, windowConfigProblem, windowTarget } from "./windows.ts";
import { processUpload, type WorkerDeps } from "./worker_events.ts";
import { rebuildAllApps } from "./worker_windows.ts";

const profiles = committedProfiles();
const real = [...profiles.cpu, ...profiles.cpuLabelled].map((p) => Deno.readFileSync(p));
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 0, 10); // a window boundary
const nanosAt = (ms: number) => BigInt(ms) * 1_000_000n;

function setup(store: BlobStore, clock: { now: number }, extra: Partial<WindowConfig> = {}, batch = 64) {
  const outcomes: MergeOutcomeLabel[] = [];
  const windows: WindowConfig = { windowMs: HOUR, clock: () => new Date(clock.now), ...extra };
  const deps: WorkerDeps = {
    store,
    pruneConfig: [],
    compaction: "none",
    batch: { maxUploads: batch, maxBytes: 16 << 20 },
    windows,
    sleep: () => Promise.resolve(),
    random: Math.random,
    metrics: { ...NO_METRICS, merge: (outcome) => outcomes.push(outcome) },
    publisher: { publish: () => Promise.resolve() },
  };
  const count = (label: MergeOutcomeLabel) => outcomes.filter((o) => o === label).length;
  return { deps, count };
}

let n = 0;
async function stage(store: BlobStore, app: string, data: Uint8Array, atMs: number): Promise<string> {
  const key = stagingKey(app, nanosAt(atMs) + BigInt(n++), `w${n}`);
  await store.write(key, data, { ifAbsent: true });
  return key;
}

async function list(store: BlobStore, prefix: string): Promise<string[]> {
  const keys = [];
  for await (const info of store.list(prefix)) keys.push(info.key);
  return keys;
}

async function base(store: BlobStore, app: string): Promise<Profile> {
  return decodeProfile((await readBase(store, app))!.data);
}

const expected = (inputs: Uint8Array[]) => mergeProfiles(inputs.map((d) => decodeProfile(d)));

Deno.test("windows: three concurrent workers handling every event twice merge each upload exactly once into its window", async () => {
  const store = await openMemBlobStore("mem://");
  const clock = { now: T0 + 3 * HOUR };
  const inputs = [...real, ...real, ...real];
  const keys = await Promise.all(inputs.map((d, i) => stage(store, "x", d, T0 + (i % 3) * HOUR + 60_000)));
  const workers = [0, 1, 2].map(() => setup(delegatingStore(store), clock));
  const notes = await Promise.all(
    workers.flatMap((w) => [...keys, ...keys].map((k) => processUpload(w.deps, "x", k))),
  );
  assert.equal(workers.reduce((sum, w) => sum + w.count("merged"), 0), keys.length, notes.join("\n"));
  assert.deepEqual(await list(store, "x/staging/"), []);
  assert.deepEqual(await list(store, "x/windows/"), [0, 1, 2].map((h) => windowKey("x", (T0 + h * HOUR) / 1000)));
  for (const h of [0, 1, 2]) {
    const window = decodeProfile((await store.read(windowKey("x", (T0 + h * HOUR) / 1000))).data);
    assertSameSamples(window, expected(inputs.filter((_, i) => i % 3 === h)), `window ${h}`);
  }
  const merged = await base(store, "x");
  assertSameSamples(merged, expected(inputs), "default.pgo vs one merge of every upload");
  const state = readBaseState(merged.comments);
  assert.deepEqual(state.coverage, {
    first: T0 / 1000,
    last: T0 / 1000 + 7200,
    count: 3,
    windowSeconds: 3600,
    decayScale: 1,
  });
  assert.equal(state.merged, keys.length);
  assert.equal(state.samplesFrom, nanosAt(T0 + 60_000));
  assert.equal(state.absorbed.length, 0, "absorbed keys live in the windows");
  for (const k of keys) assert.match(await processUpload(workers[0].deps, "x", k), /is gone/);
  assertSameSamples(await base(store, "x"), expected(inputs));
});

Deno.test("windows: a worker killed between the window write and the rebuild: the redelivered event rebuilds default.pgo", async () => {
  const store = await openMemBlobStore("mem://");
  const clock = { now: T0 + HOUR };
  const { deps, count } = setup(store, clock);
  const key = await stage(store, "k", real[0], T0 + 1000);
  // The crash: the window is written, default.pgo is not, the staged upload is still there.
  const target = windowTarget(store, "k", deps.windows!, key);
  const outcome = await mergeBatch(deps, "k", [key], undefined, target);
  assert.deepEqual(outcome.merged, [key]);
  assert.equal(await readBase(store, "k"), undefined);
  assert.match(await processUpload(deps, "k", key), /already merged/);
  assert.equal(count("duplicate"), 1);
  assertSameSamples(await base(store, "k"), expected([real[0]]), "merged once");
  assert.deepEqual(await list(store, "k/staging/"), []);
});

Deno.test("windows: a deletion racing a window merge wins; the stale window is ignored and later uploads start afresh", async () => {
  const store = await openMemBlobStore("mem://");
  const clock = { now: T0 + HOUR };
  const early = [await stage(store, "d", real[0], T0 + 1000), await stage(store, "d", real[1], T0 + 2000)];
  let raced = false;
  const racing = delegatingStore(store, {
    read: async (key, signal) => {
      const object = await store.read(key, signal);
      if (key === early[1] && !raced) {
        raced = true; // the members are read; the deletion lands before the window's write
        await deleteApp(store, "d", nanosAt(T0 + 3000));
      }
      return object;
    },
  });
  const { deps } = setup(racing, clock);
  await processUpload(deps, "d", early[0]);
  assert.ok(raced);
  assert.equal(await readBase(store, "d"), undefined, "no profile after the deletion");
  const late = await stage(store, "d", real[2], T0 + 5000);
  await processUpload(deps, "d", late);
  const fresh = await base(store, "d");
  assertSameSamples(fresh, expected([real[2]]), "only the upload staged after the deletion");
  assert.equal(readBaseState(fresh.comments).deletedBefore, nanosAt(T0 + 3000));
});

Deno.test("windows: expired windows leave default.pgo and the store; a late upload of one is dropped, under concurrent rebuilds", async () => {
  const store = await openMemBlobStore("mem://");
  const clock = { now: T0 + HOUR };
  const retention = { retentionMs: 2 * DAY };
  const old = await stage(store, "r", real[0], T0 + 1000);
  const workers = [0, 1].map(() => setup(delegatingStore(store), clock, retention));
  await processUpload(workers[0].deps, "r", old);
  clock.now = T0 + 3 * DAY;
  const recent = await stage(store, "r", real[1], clock.now - 1000);
  const lateOld = await stage(store, "r", real[2], T0 + 2000); // staged into the expired window
  await Promise.all([
    processUpload(workers[0].deps, "r", recent),
    processUpload(workers[1].deps, "r", recent),
    rebuildAllApps(workers[1].deps),
  ]);
  assert.match(await processUpload(workers[1].deps, "r", lateOld), /out of retention: dropped/);
  assert.equal(workers[1].count("dropped"), 1);
  assert.deepEqual(await list(store, "r/windows/"), [windowKey("r", (T0 + 3 * DAY - HOUR) / 1000)]);
  assert.deepEqual(await list(store, "r/staging/"), []);
  assertSameSamples(await base(store, "r"), expected([real[1]]), "only the window inside retention");
  // Everything expires: default.pgo becomes a tombstone, the app lists no profile.
  clock.now += 3 * DAY;
  assert.equal(await rebuildAllApps(workers[0].deps), 1);
  assert.equal(await readBase(store, "r"), undefined);
  assert.deepEqual(await list(store, "r/windows/"), []);
});

Deno.test("windows: decay multiplies each window by round(S·2^(−age/D)/w_max), recorded in default.pgo", async () => {
  const store = await openMemBlobStore("mem://");
  const clock = { now: T0 + 2 * DAY + HOUR };
  const { deps } = setup(store, clock, { halfLifeMs: DAY });
  const a = await stage(store, "h", real[0], T0 + 1000); // window ends T0+1h: age 2 days, weight 1/4
  const b = await stage(store, "h", real[0], clock.now - 1000); // the window still filling: weight 1
  await processUpload(deps, "h", a);
  await processUpload(deps, "h", b);
  const merged = await base(store, "h");
  const state = readBaseState(merged.comments);
  assert.equal(state.coverage?.decayScale, 4000);
  assert.equal(state.coverage?.halfLifeSeconds, 86_400);
  const one = decodeProfile(real[0]);
  const total = (p: Profile) => p.sample.reduce((sum, s) => sum + s.value[0], 0);
  assert.equal(total(merged), total(one) * (4000 + 1000));
});

Deno.test("windows: a rebuild never overwrites a tombstone with windows written before the deletion", async () => {
  const store = await openMemBlobStore("mem://");
  const clock = { now: T0 + HOUR };
  const { deps } = setup(store, clock);
  await processUpload(deps, "t", await stage(store, "t", real[0], T0 + 1000));
  const window = windowKey("t", T0 / 1000);
  const before = await store.read(window);
  await deleteApp(store, "t", nanosAt(T0 + 2000));
  await store.write(window, before.data); // a racing merge wrote the old window back
  const outcome = await rebuildDefault(store, "t", deps.windows!);
  assert.deepEqual(outcome.stale, [T0 / 1000]);
  assert.equal(await readBase(store, "t"), undefined, "still deleted");
  assert.deepEqual(await list(store, "t/windows/"), [], "the stale window is deleted");
});

Deno.test("windows: the rebuild runs in the decode pool and writes the same default.pgo as on this thread", async () => {
  const stores = [await openMemBlobStore("mem://"), await openMemBlobStore("mem://")];
  const clock = { now: T0 + 2 * DAY + HOUR };
  const pool = new DecodePool({ size: 1 });
  try {
    for (const [i, store] of stores.entries()) {
      const { deps } = setup(store, clock, { halfLifeMs: DAY });
      if (i === 1) deps.jobs = pool;
      await processUpload(deps, "p", await stage(store, "p", real[0], T0 + 1000));
      await processUpload(deps, "p", await stage(store, "p", real[1], clock.now - 1000));
    }
    const [inThread, pooled] = await Promise.all(stores.map((store) => base(store, "p")));
    assertSameSamples(pooled, inThread, "pool vs this thread");
    assert.deepEqual(readBaseState(pooled.comments).coverage, readBaseState(inThread.comments).coverage);
  } finally {
    await pool.close();
  }
});

Deno.test("windowConfigProblem: a window longer than the retention is refused in one line", () => {
  assert.match(
    windowConfigProblem({ windowMs: DAY, retentionMs: HOUR })!,
    /--window .* must not be longer than --retention/,
  );
  assert.match(windowConfigProblem({ windowMs: 1500 })!, /whole number of seconds/);
  assert.equal(windowConfigProblem({ windowMs: HOUR, retentionMs: 7 * DAY, halfLifeMs: DAY }), undefined);
});
