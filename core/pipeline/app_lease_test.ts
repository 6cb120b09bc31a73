/**
 * Tests of the per-app merge lease (app_lease.ts) on the mem:// store: one holder at a time, the
 * rest after a batch that its holder keeps too, take-over of an expired lease, a released
 * lease after a failing batch, and four lease-holding workers that see every event twice merging
 * each upload exactly once with no write conflict, handing busy apps' events back to the bus.
 */

import assert from "node:assert/strict";
import { openMemBlobStore } from "../../adapters/blob/mem_blob.ts";
import { committedProfiles } from "../../tests/support/fixtures.ts";
import { delegatingStore } from "../../tests/support/delegating_store.ts";
import { assertSameSamples } from "../../tests/support/samples.ts";
import type { BlobStore } from "../blob.ts";
import { encodeEnvelope, makeEnvelope } from "../events.ts";
import { NO_METRICS } from "../metrics.ts";
import { decodeProfile } from "../pprof/decode.ts";
import { mergeProfiles } from "../pprof/merge.ts";
import {
  AppBusyError,
  appLeaseKey,
  busyRetryMs,
  DEFAULT_APP_LEASE_TTL_MS,
  MAX_REST_MS,
  MIN_REST_MS,
  restRetryMs,
  withAppLease,
} from "./app_lease.ts";
import { stagingKey } from "./keys.ts";
import { readBase } from "./profiles_view.ts";
import { handleEvent, type WorkerDeps } from "./worker_events.ts";

const profiles = committedProfiles();
const real = [...profiles.cpu, ...profiles.cpuLabelled].map((p) => Deno.readFileSync(p));

function clock(start = 1_700_000_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => t += ms };
}

Deno.test("AppBusyError: an answer without a stack trace, and the limit is restored", () => {
  const before = Error.stackTraceLimit;
  const busy = new AppBusyError("x", "worker-a", 250, true);
  assert.equal(busy.stack, 'AppBusyError: app "x" rests after a batch by worker-a');
  assert.equal(Error.stackTraceLimit, before);
  assert.ok((new Error("a bug").stack ?? "").includes("\n    at "));
});

Deno.test("withAppLease: a second holder is refused while the first merges, and the lease is released", async () => {
  const store = await openMemBlobStore("mem://");
  const c = clock();
  const a = { holder: "a", now: c.now };
  const b = { holder: "b", now: c.now };
  const result = await withAppLease(store, "x", a, async () => {
    const refused = await withAppLease(store, "x", b, () => Promise.resolve("ran")).catch((e) => e);
    assert.ok(refused instanceof AppBusyError);
    assert.equal(refused.holder, "a");
    assert.equal(refused.app, "x");
    // Other apps are free.
    assert.equal(await withAppLease(store, "y", b, () => Promise.resolve("y ran")), "y ran");
    return "a ran";
  });
  assert.equal(result, "a ran");
  const lease = JSON.parse(new TextDecoder().decode((await store.read(appLeaseKey("x"))).data));
  assert.equal(lease.released, true);
});

Deno.test("withAppLease: after a batch the app rests, for its holder too, as long as the batch took", async () => {
  const store = await openMemBlobStore("mem://");
  const c = clock();
  const a = { holder: "a", now: c.now };
  const b = { holder: "b", now: c.now };
  await withAppLease(store, "x", a, () => Promise.resolve(c.advance(700)));
  // Rests for as long as the batch took (700 ms): nobody merges, not even a.
  const resting = await withAppLease(store, "x", b, () => Promise.resolve()).catch((e) => e);
  assert.ok(resting instanceof AppBusyError);
  assert.deepEqual([resting.resting, resting.holder, resting.retryMs], [true, "a", 700]);
  const own = await withAppLease(store, "x", a, () => Promise.resolve()).catch((e) => e);
  assert.deepEqual([own instanceof AppBusyError, own.resting], [true, true]);
  c.advance(700);
  assert.equal(await withAppLease(store, "x", b, () => Promise.resolve(c.advance(5_000) && "b")), "b");
  c.advance(MAX_REST_MS - 1); // the longest rest is 1 s
  await assert.rejects(withAppLease(store, "x", a, () => Promise.resolve()), AppBusyError);
  c.advance(1);
  assert.equal(await withAppLease(store, "x", a, () => Promise.resolve("a")), "a");
  // A batch that took no time still rests MIN_REST_MS: a busy app merges at most that often.
  c.advance(MIN_REST_MS - 1);
  await assert.rejects(withAppLease(store, "x", b, () => Promise.resolve()), AppBusyError);
  c.advance(1);
  assert.equal(await withAppLease(store, "x", b, () => Promise.resolve("b")), "b");
});

Deno.test("restRetryMs: an event of a resting app comes back once the rest is over, with up to 25% jitter", () => {
  assert.equal(restRetryMs(400, () => 0), 400);
  assert.equal(restRetryMs(400, () => 0.999), 500);
  assert.equal(restRetryMs(0, () => 0), 10, "never a zero delay");
});

Deno.test("withAppLease: a crashed holder's lease is taken over after its TTL, and a failing batch releases", async () => {
  const store = await openMemBlobStore("mem://");
  const c = clock();
  const crashed = { holder: "crashed", now: c.now };
  const b = { holder: "b", now: c.now };
  // A holder that never releases (killed mid-batch): its lease stays until the TTL.
  const hung = withAppLease(store, "x", crashed, () => new Promise<void>(() => {}));
  await new Promise((resolve) => setTimeout(resolve, 0));
  c.advance(DEFAULT_APP_LEASE_TTL_MS - 1);
  await assert.rejects(withAppLease(store, "x", b, () => Promise.resolve()), AppBusyError);
  c.advance(2);
  await assert.rejects(withAppLease(store, "x", b, () => Promise.reject(new Error("store down"))), /store down/);
  const lease = JSON.parse(new TextDecoder().decode((await store.read(appLeaseKey("x"))).data));
  assert.deepEqual([lease.holder, lease.released], ["b", true]);
  void hung;
});

Deno.test("busyRetryMs: doubles per delivery from about 100 ms up to about 2 s", () => {
  assert.equal(busyRetryMs(1, () => 0.5), 100);
  assert.equal(busyRetryMs(2, () => 0.5), 200);
  assert.equal(busyRetryMs(50, () => 0.5), 2_000);
  assert.equal(busyRetryMs(1, () => 0), 50);
});

function worker(store: BlobStore, holder: string, published: string[]): WorkerDeps {
  return {
    store,
    pruneConfig: [],
    compaction: "none",
    batch: { maxUploads: 4, maxBytes: 16 << 20 },
    appLease: { holder },
    sleep: () => Promise.resolve(),
    random: Math.random,
    metrics: NO_METRICS,
    publisher: {
      publish(_type, payload) {
        published.push((payload as { profileKey: string }).profileKey);
        return Promise.resolve();
      },
    },
  };
}

Deno.test("handleEvent with leases: four workers seeing every event twice merge each upload once, no conflicts", async () => {
  const store = await openMemBlobStore("mem://");
  const inputs = [...real, ...real, ...real];
  const apps = ["p", "q"];
  const keys: { app: string; key: string }[] = [];
  for (const [i, data] of inputs.entries()) {
    const app = apps[i % 2];
    const key = stagingKey(app, 1_700_000_000_000_000_000n + BigInt(i), `k${i}`);
    await store.write(key, data, { ifAbsent: true });
    keys.push({ app, key });
  }
  let conflicts = 0;
  const published: string[] = [];
  // Separate store wrappers: the in-process per-app queue does not apply across these "processes".
  const workers = ["w0", "w1", "w2", "w3"].map((holder) => {
    const own = delegatingStore(store, {
      write: (key, data, conditions, signal) =>
        store.write(key, data, conditions, signal).catch((error) => {
          if (key.endsWith("default.pgo")) conflicts++;
          throw error;
        }),
    });
    return worker(own, holder, published);
  });
  // A bus: every event delivered twice; a nacked one comes back after 5 ms (rests are real time: ≤ 1 s).
  const queue = [...keys, ...keys].map(({ app, key }, i) => ({
    body: encodeEnvelope(makeEnvelope("profile.uploaded", { app, profileKey: key }, `e${i}`, new Date())),
    attempt: 1,
  }));
  let deferred = 0;
  await Promise.all(workers.map(async (deps) => {
    while (queue.length > 0) {
      const event = queue.shift()!;
      const disposition = await handleEvent(deps, event.body, event.attempt);
      if (disposition.action === "nack") {
        assert.match(disposition.note, /^deferred: app "[pq]" (is being merged|rests after a batch) by w\d/);
        deferred++;
        await new Promise((resolve) => setTimeout(resolve, 5));
        queue.push({ body: event.body, attempt: event.attempt + 1 });
      }
    }
  }));
  assert.equal(conflicts, 0, "no lost compare-and-swap write");
  assert.ok(deferred > 0, "some events found their app busy");
  assert.deepEqual([...published].sort(), keys.map((k) => k.key).sort(), "each upload announced once");
  for (const [a, app] of apps.entries()) {
    const mine = inputs.filter((_, i) => i % 2 === a);
    assertSameSamples(
      decodeProfile((await readBase(store, app))!.data),
      mergeProfiles(mine.map((d) => decodeProfile(d))),
      `base of ${app}`,
    );
  }
});
