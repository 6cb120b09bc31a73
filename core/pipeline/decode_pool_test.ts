import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { DecodePool } from "./decode_pool.ts";
import { checkUploadBytes, JobDeadlineError, mergeBytes, QueueFullError } from "./profile_jobs.ts";
import { uploadDecodeLimits } from "./upload_limits.ts";
import { DEFAULT_DECODE_LIMITS } from "../pprof/limits.ts";
import { committedProfiles } from "../../tests/support/fixtures.ts";
import { paddedGzipBomb, wideLocationProfile } from "../../tests/support/crafted_profiles.ts";

const committed = committedProfiles();
const good = Deno.readFileSync(committed.cpu[0]);
const limits = uploadDecodeLimits(64 << 20);
/** Runs for about a minute under the CLI's generous limits: only a deadline ends it early. */
const endless = wideLocationProfile({ lines: 4_096, samples: 30_000 });

Deno.test("DecodePool runs upload checks in Workers with the in-thread verdicts, lending the bytes", async () => {
  const pool = new DecodePool({ size: 2 });
  try {
    const inputs = [good, Deno.readFileSync(committed.heap), new Uint8Array([1, 2, 3]), paddedGzipBomb(16)];
    const replies = await Promise.all(inputs.map((data) => {
      const copy = data.slice();
      return pool.checkUpload(copy, limits).then((reply) => ({ reply, copy, data }));
    }));
    for (const { reply, copy, data } of replies) {
      assert.deepEqual(reply.verdict, checkUploadBytes(data, limits));
      assert.equal(copy.byteLength, 0, "the buffer was transferred, not copied");
      assert.deepEqual(reply.data, data, "and handed back intact");
    }
    assert.deepEqual(replies.map((r) => r.reply.verdict.status), ["usable", "unusable", "invalid", "invalid"]);
    assert.equal(pool.stats().started, 2);
  } finally {
    pool.close();
  }
});

Deno.test("DecodePool copies a view of a larger buffer instead of detaching it", async () => {
  const pool = new DecodePool({ size: 1 });
  try {
    const backing = new Uint8Array(good.length + 10);
    backing.set(good, 5);
    const view = backing.subarray(5, 5 + good.length);
    const { verdict, data } = await pool.checkUpload(view, limits);
    assert.equal(verdict.status, "usable");
    assert.equal(backing.byteLength, good.length + 10, "the larger buffer is still usable");
    assert.deepEqual(data, good);
  } finally {
    pool.close();
  }
});

Deno.test("DecodePool merges in a Worker byte for byte as on this thread", async () => {
  const pool = new DecodePool({ size: 1 });
  try {
    const state = { absorbed: ["app/staging/1-a"], deletedBefore: 0n };
    const first = mergeBytes({ staged: good, rules: [], compaction: "pgo", state });
    assert.equal(first.status, "merged");
    const base = (first as { data: Uint8Array }).data;
    const second = Deno.readFileSync(committed.cpu[1]);
    const job = { base, staged: second, rules: [{ drop: /^runtime\./ }], compaction: "pgo" as const, state };
    const expected = mergeBytes({ ...job, base: base.slice(), staged: second.slice() });
    assert.deepEqual(
      await pool.merge({ ...job, base: base.slice(), staged: second.slice(), uploadLimits: limits }),
      expected,
    );
    const state2 = await pool.baseState(base.slice(), { inflated: true });
    assert.equal(state2.result.status, "ok");
    const { state: read, raw } = state2.result as { state: unknown; raw?: Uint8Array };
    assert.deepEqual(read, state);
    assert.ok(raw, "the inflated base comes back with its state when asked for");
    assert.deepEqual(new Uint8Array(raw), new Uint8Array(gunzipSync(base)));
    // Readers of the state alone (web views, windows) get no copy of the inflated base.
    const stateOnly = await pool.baseState(base.slice());
    assert.deepEqual(stateOnly.result, { status: "ok", state });
  } finally {
    pool.close();
  }
});

Deno.test("DecodePool terminates a job at its deadline and replaces the worker", async () => {
  const pool = new DecodePool({ size: 1 });
  try {
    const started = performance.now();
    await assert.rejects(
      pool.checkUpload(endless.slice(), DEFAULT_DECODE_LIMITS, { signal: AbortSignal.timeout(300) }),
      (e) => e instanceof JobDeadlineError && e.running,
    );
    const ms = performance.now() - started;
    assert.ok(ms < 3_000, `stopped after ${ms.toFixed(0)} ms`);
    assert.equal(pool.stats().terminated, 1);
    assert.equal((await pool.checkUpload(good.slice(), limits)).verdict.status, "usable", "a fresh worker serves");
    assert.equal(pool.stats().started, 2);
  } finally {
    pool.close();
  }
});

Deno.test("DecodePool: maxJobMs bounds a job that has no signal", async () => {
  const pool = new DecodePool({ size: 1, maxJobMs: 300 });
  try {
    await assert.rejects(pool.checkUpload(endless.slice(), DEFAULT_DECODE_LIMITS), JobDeadlineError);
    assert.equal(pool.stats().terminated, 1);
  } finally {
    pool.close();
  }
});

Deno.test("DecodePool refuses shed jobs beyond the queue limit; internal jobs and the queue wait", async () => {
  const pool = new DecodePool({ size: 1, queueLimit: 1, retryAfterSeconds: 7 });
  try {
    const stop = new AbortController();
    const running = pool.checkUpload(endless.slice(), DEFAULT_DECODE_LIMITS, { signal: stop.signal, shed: true });
    const queued = pool.checkUpload(good.slice(), limits, { shed: true });
    await assert.rejects(
      pool.checkUpload(good.slice(), limits, { shed: true }),
      (e) => e instanceof QueueFullError && e.retryAfterSeconds === 7,
    );
    const internal = pool.baseState(good.slice()); // not shed: waits beyond the limit
    const late = new AbortController();
    const dropped = pool.checkUpload(good.slice(), limits, { signal: late.signal });
    assert.deepEqual({ ...pool.stats(), started: 0 }, {
      size: 1,
      running: 1,
      queued: 3,
      started: 0,
      terminated: 0,
      refused: 1,
    });
    late.abort();
    await assert.rejects(dropped, (e) => e instanceof JobDeadlineError && !e.running, "dropped from the queue");
    stop.abort();
    await assert.rejects(running, JobDeadlineError);
    assert.equal((await queued).verdict.status, "usable");
    assert.equal((await internal).result.status, "ok");
  } finally {
    pool.close();
  }
});

Deno.test("DecodePool: a worker that crashes fails its job and the process carries on", async () => {
  const pool = new DecodePool({
    size: 1,
    workerUrl: new URL(`data:application/javascript,${encodeURIComponent('throw new Error("boom")')}`),
  });
  try {
    await assert.rejects(pool.checkUpload(good.slice(), limits), /profile worker crashed: .*boom/);
    await assert.rejects(pool.checkUpload(good.slice(), limits), /crashed/, "its replacement is tried");
    assert.equal(pool.stats().started, 2);
  } finally {
    pool.close();
  }
});

Deno.test("DecodePool.close fails running and queued jobs and refuses new ones", async () => {
  const pool = new DecodePool({ size: 1 });
  const running = pool.checkUpload(endless.slice(), DEFAULT_DECODE_LIMITS);
  const queued = pool.checkUpload(good.slice(), limits);
  pool.close();
  await assert.rejects(running, /closed/);
  await assert.rejects(queued, /closed/);
  await assert.rejects(pool.checkUpload(good.slice(), limits), /closed/);
});
