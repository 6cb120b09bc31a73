/**
 * Tests of the worker's parked events (parked_events.ts): an event of a busy app waits in the
 * process until its app is free and is then handled again; only busy nacks are parked, within the
 * count limit; one that stays busy too long is nacked as before; stop hands every parked event
 * back to the bus at once; and in the worker loop, an event of an app whose lease another worker
 * holds is kept, counted, and merged once the lease is free, never nacked.
 */

import assert from "node:assert/strict";
import { openMemBlobStore } from "../../adapters/blob/mem_blob.ts";
import { committedProfiles } from "../../tests/support/fixtures.ts";
import { encodeEnvelope, type EventReader, type IncomingMessage, makeEnvelope } from "../events.ts";
import { NO_METRICS } from "../metrics.ts";
import { appLeaseKey } from "./app_lease.ts";
import { baseKey, stagingKey } from "./keys.ts";
import { ParkedEvents } from "./parked_events.ts";
import { runWorker } from "./worker.ts";
import type { Disposition, WorkerDeps } from "./worker_events.ts";

function message(id: string, settled: string[]): IncomingMessage {
  return {
    id,
    body: new Uint8Array(),
    deliveryAttempt: 1,
    ack: () => Promise.resolve(void settled.push(`${id} ack`)),
    nack: (delayMs?: number) => Promise.resolve(void settled.push(`${id} nack ${delayMs}`)),
  };
}

const busy = (app: string, retryMs: number): Disposition => ({
  action: "nack",
  delayMs: 777,
  note: "deferred",
  busy: { app, retryMs },
});

const until = async (condition: () => boolean, what: string) => {
  for (let i = 0; i < 400 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.ok(condition(), what);
};

Deno.test("ParkedEvents: a busy app's events wait for its rest, then the first merges and the others are acked", async () => {
  const settled: string[] = [];
  const handled: string[] = [];
  let free = false;
  const parked = new ParkedEvents((m) => {
    handled.push(m.id);
    if (!free) return Promise.resolve(busy("a", 20));
    return Promise.resolve({ action: "ack", note: m.id === "e1" ? "merged" : "gone" });
  }, (m, d) => d.action === "ack" ? m.ack() : m.nack(d.delayMs));
  const started = Date.now();
  assert.equal(parked.park(message("e1", settled), busy("a", 30)), true);
  assert.equal(parked.park(message("e2", settled), busy("a", 30)), true);
  assert.equal(parked.size, 2);
  await until(() => handled.length >= 1, "looked at again after the rest");
  assert.ok(Date.now() - started >= 25, "not before the rest is over");
  assert.deepEqual(settled, [], "still busy: nothing settled, nothing handed back");
  free = true;
  await until(() => settled.length === 2, "both settled once the app is free");
  assert.deepEqual(settled, ["e1 ack", "e2 ack"]);
  assert.equal(parked.size, 0);
});

Deno.test("ParkedEvents: only busy nacks are parked, within the limit", () => {
  const settled: string[] = [];
  const parked = new ParkedEvents(() => Promise.resolve(busy("a", 10_000)), () => Promise.resolve(), { limit: 2 });
  assert.equal(parked.park(message("ack", settled), { action: "ack", note: "merged" }), false);
  assert.equal(parked.park(message("fail", settled), { action: "nack", delayMs: 500, note: "failed" }), false);
  assert.equal(parked.park(message("b1", settled), busy("b", 10_000)), true);
  assert.equal(parked.park(message("b2", settled), busy("b", 10_000)), true);
  assert.equal(parked.park(message("b3", settled), busy("b", 10_000)), false, "over the limit: the caller nacks");
  return parked.stop();
});

Deno.test("ParkedEvents: an event busy for longer than maxParkMs is nacked with its handler's delay", async () => {
  const settled: string[] = [];
  const parked = new ParkedEvents(
    () => Promise.resolve(busy("a", 0)),
    (m, d) => d.action === "ack" ? m.ack() : m.nack(d.delayMs),
    { maxParkMs: 60, heldRetryMs: 10 },
  );
  parked.park(message("e1", settled), busy("a", 0));
  await until(() => settled.length === 1, "handed back after maxParkMs");
  assert.deepEqual(settled, ["e1 nack 777"]);
  assert.equal(parked.size, 0);
});

Deno.test("ParkedEvents: stop hands every parked event back to the bus at once and parks nothing more", async () => {
  const settled: string[] = [];
  const parked = new ParkedEvents(() => Promise.resolve(busy("a", 60_000)), () => Promise.resolve());
  parked.park(message("a1", settled), busy("a", 60_000));
  parked.park(message("b1", settled), busy("b", 60_000));
  await parked.stop();
  assert.deepEqual(settled.sort(), ["a1 nack 0", "b1 nack 0"]);
  assert.equal(parked.size, 0);
  assert.equal(parked.park(message("late", settled), busy("a", 10)), false);
});

Deno.test("runWorker with a lease: an event of an app another worker holds is kept, counted, and merged once the lease is free", async () => {
  const store = await openMemBlobStore("mem://");
  const key = stagingKey("a", 1_700_000_000_000_000_000n, "k0");
  await store.write(key, Deno.readFileSync(committedProfiles().cpu[0]), { ifAbsent: true });
  // Another worker holds the app's lease for 300 ms more (merging, not resting).
  const lease = { holder: "other", expires: Date.now() + 300 };
  await store.write(appLeaseKey("a"), new TextEncoder().encode(JSON.stringify(lease)), { ifAbsent: true });
  const settled: string[] = [];
  const actions: string[] = [];
  const stop = new AbortController();
  let delivered = false;
  const reader: EventReader = {
    receive: async (signal) => {
      if (!delivered) {
        delivered = true;
        const body = encodeEnvelope(makeEnvelope("profile.uploaded", { app: "a", profileKey: key }, "e0", new Date()));
        return { ...message("e0", settled), body };
      }
      await new Promise((resolve) => signal?.addEventListener("abort", resolve, { once: true }));
      return undefined;
    },
    check: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  const deps: WorkerDeps = {
    store,
    pruneConfig: [],
    compaction: "none",
    batch: { maxUploads: 4, maxBytes: 16 << 20 },
    appLease: { holder: "me" },
    sleep: () => Promise.resolve(),
    random: Math.random,
    metrics: { ...NO_METRICS, busyAppEvent: (action) => void actions.push(action) },
    publisher: { publish: () => Promise.resolve() },
  };
  const running = runWorker(reader, deps, { clock: () => new Date(), sweepIntervalMs: 0 }, stop.signal);
  await until(() => settled.length === 1, "settled once the lease expired");
  stop.abort();
  await running;
  assert.deepEqual(settled, ["e0 ack"], "never handed back to the bus");
  assert.deepEqual(actions, ["kept"]);
  assert.ok(await store.stat(baseKey("a")), "merged into the base");
  assert.equal(await store.stat(key), undefined, "the staged upload is cleaned up");
});
