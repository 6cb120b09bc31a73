/**
 * In-process tests of the Hono server app (core/pipeline/server_app.ts) for behaviour that is
 * hard to provoke in a real process: a failing event bus (the staged blob must not be orphaned),
 * a trickling upload hitting the request deadline (408), a dependency going down (503 health),
 * collision-free staging keys under a frozen clock, concurrent list requests sharing one walk
 * of the store, a DELETE whose event the worker handles after a later upload's, and idempotent
 * uploads that list the staged uploads only when a request with their key may have staged one.
 *
 * @module
 */

import assert from "node:assert/strict";
import { openMemBlobStore } from "../adapters/blob/mem_blob.ts";
import type { BlobStore } from "../core/blob.ts";
import { type EventPublisher, eventPublisher } from "../core/pipeline/publisher.ts";
import { decodeEnvelope } from "../core/events.ts";
import { handleEvent, type WorkerDeps } from "../core/pipeline/worker_events.ts";
import { readBase } from "../core/pipeline/profiles_view.ts";
import { decodeProfile } from "../core/pprof/decode.ts";
import { assertSameSamples } from "./support/samples.ts";
import { idempotencyHash, idempotentSuffix, stagingMarkKey } from "../core/pipeline/idempotency.ts";
import { stagingKey } from "../core/pipeline/keys.ts";
import { createServerApp, type ServerAppDeps } from "../core/pipeline/server_app.ts";
import { committedProfiles } from "./support/fixtures.ts";
import { recordingStore } from "./support/delegating_store.ts";

const good = await Deno.readFile(committedProfiles().cpu[0]);

async function keys(store: BlobStore): Promise<string[]> {
  const out: string[] = [];
  for await (const info of store.list("")) out.push(info.key);
  return out;
}

async function app(overrides: Partial<ServerAppDeps> = {}) {
  const store = await openMemBlobStore("mem://");
  const published: unknown[] = [];
  const publisher: EventPublisher = {
    publish(type, payload) {
      published.push({ type, payload });
      return Promise.resolve();
    },
  };
  let n = 0;
  const deps: ServerAppDeps = {
    store,
    publisher,
    clock: () => new Date("2026-01-01T00:00:00Z"),
    randomSuffix: () => `r${Math.floor(n++ / 2)}`, // every suffix is drawn twice: only-if-absent must retry
    healthChecks: [{ name: "blob", check: (s) => store.check(s) }],
    ...overrides,
  };
  return { store, published, hono: createServerApp(deps) };
}

const post = (body: BodyInit) => new Request("http://x/api/profile/svc", { method: "POST", body });

Deno.test("uploads under a frozen clock and colliding random suffixes still get distinct keys", async () => {
  const { store, published, hono } = await app();
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await hono.fetch(post(good as BodyInit))).status);
  assert.deepEqual(statuses, [201, 201, 201, 201]);
  const stored = await keys(store);
  assert.equal(new Set(stored).size, 4);
  assert.equal(published.length, 4);
  assert.deepEqual((published[0] as { type: string }).type, "profile.uploaded");
});

Deno.test("an upload with a Content-Encoding other than gzip or identity is refused 415, and nothing is stored", async () => {
  const { store, published, hono } = await app();
  const upload = (coding: string) =>
    hono.fetch(
      new Request("http://x/api/profile/svc", { method: "POST", body: good, headers: { "content-encoding": coding } }),
    );
  for (const coding of ["br", "deflate", "zstd", "gzip, br", "compress"]) {
    const response = await upload(coding);
    assert.equal(response.status, 415, coding);
    assert.match((await response.json()).message, /^unsupported Content-Encoding ".*": send the profile as it is/);
  }
  assert.deepEqual(await keys(store), []);
  // A pprof profile is gzip itself: these are stored as sent.
  for (const coding of ["gzip", "x-gzip", "identity", "GZIP", "identity, gzip"]) {
    assert.equal((await upload(coding)).status, 201, coding);
  }
  assert.equal(published.length, 5);
});

Deno.test("a publish failure still accepts the staged upload: it is durable and the sweep merges it", async () => {
  const { store, hono } = await app({
    publisher: { publish: () => Promise.reject(new Error("bus down")) },
  });
  const response = await hono.fetch(post(good as BodyInit));
  assert.equal(response.status, 201);
  const { key } = await response.json();
  assert.deepEqual(await keys(store), [key], "the staged upload stays for the sweep (a batch may already hold it)");
});

Deno.test("an upload that trickles past the request deadline gets 408 and stores nothing", async () => {
  const { store, hono } = await app({ requestTimeoutMs: 200 });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(good.slice(0, 10));
      timer = setTimeout(() => controller.close(), 5_000);
    },
    cancel() {
      clearTimeout(timer);
    },
  });
  const started = Date.now();
  const response = await hono.fetch(post(body));
  clearTimeout(timer);
  assert.equal(response.status, 408);
  assert.ok(Date.now() - started < 3_000, "answered at the deadline, not when the client finished");
  assert.deepEqual(await keys(store), []);
});

Deno.test("health reports each dependency and answers 503 when one is down", async () => {
  const { hono } = await app({
    healthChecks: [
      { name: "blob", check: () => Promise.resolve() },
      { name: "event-writer", check: () => Promise.reject(new Error("connection refused")) },
    ],
  });
  const response = await hono.fetch(new Request("http://x/api/health"));
  assert.equal(response.status, 503);
  const report = await response.json();
  assert.equal(report.status, "unhealthy");
  assert.deepEqual(report.dependencies, [
    { name: "blob", status: "healthy" },
    { name: "event-writer", status: "unhealthy", message: "connection refused" },
  ]);
});

Deno.test("concurrent list requests share one walk of the store, and each gets the whole answer", async () => {
  const inner = await openMemBlobStore("mem://");
  const { store, calls } = recordingStore(inner, ["listPrefixes"]);
  for (const app of ["one", "two", "three"]) await inner.write(`${app}/default.pgo`, good);
  const { hono } = await app({ store });
  const answers = await Promise.all(
    Array.from({ length: 20 }, async () => await (await hono.fetch(new Request("http://x/api/profile"))).json()),
  );
  for (const answer of answers) {
    assert.deepEqual(answer.profiles.map((p: { key: string }) => p.key), ["one", "three", "two"]);
  }
  const walks = calls.filter((c) => c.key === "").length;
  assert.ok(walks <= 4, `20 concurrent requests walked the store ${walks} times (2 walks per listing)`);
  // A request after the shared walk finished sees what changed since.
  await inner.write("four/default.pgo", good);
  const later = await (await hono.fetch(new Request("http://x/api/profile"))).json();
  assert.deepEqual(later.profiles.map((p: { key: string }) => p.key), ["four", "one", "three", "two"]);
});

Deno.test("an upload accepted after a DELETE survives the worker's handling of that DELETE, however late", async () => {
  // The clock moves 7 ms a call, as time passes while the server writes the tombstone: the
  // deletion event was stamped later than the tombstone's cut-off, and the worker, taking its
  // cut-off from the stamp, wrote a newer tombstone over a base that had already merged an upload
  // accepted after the DELETE (tests/pipeline_batch_test.ts lost four of six that way once in CI).
  let now = Date.parse("2026-01-01T00:00:00Z");
  const clock = () => new Date(now += 7);
  const sent: Uint8Array[] = [];
  const writer = {
    send: (m: { body: Uint8Array }) => (sent.push(m.body), Promise.resolve()),
    check: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  const { store, hono } = await app({
    clock,
    publisher: eventPublisher({ writer, clock, newEventId: () => crypto.randomUUID() }),
  });
  const [before, after] = committedProfiles().cpu.map((p) => Deno.readFileSync(p));
  const upload = (body: Uint8Array) =>
    hono.fetch(new Request("http://x/api/profile/svc", { method: "POST", body: body as BodyInit }));
  assert.equal((await upload(before)).status, 201);
  assert.equal((await hono.fetch(new Request("http://x/api/profile/svc", { method: "DELETE" }))).status, 200);
  assert.equal((await upload(after)).status, 201);
  const [, deleted, uploaded] = sent.map((body) => decodeEnvelope(body));
  assert.deepEqual([deleted.type, uploaded.type], ["profile.deleted", "profile.uploaded"]);
  const deps: WorkerDeps = {
    store,
    pruneConfig: [],
    compaction: "none",
    sleep: () => Promise.resolve(),
    random: Math.random,
    publisher: { publish: () => Promise.resolve() },
  };
  // The upload after the DELETE is merged first, then the DELETE's event arrives.
  assert.equal((await handleEvent(deps, uploaded, 1)).action, "ack");
  assert.equal((await handleEvent(deps, deleted, 1)).action, "ack");
  const base = await readBase(store, "svc");
  assert.ok(base, "the base of the upload after the DELETE is still there");
  assertSameSamples(decodeProfile(base.data), decodeProfile(after), "only the upload after the DELETE");
});

Deno.test("an upload with an Idempotency-Key lists the staged uploads only when a request with that key was about to stage", async () => {
  const inner = await openMemBlobStore("mem://");
  const { store, calls } = recordingStore(inner, ["list"]);
  const { hono } = await app({ store, randomSuffix: () => crypto.randomUUID().slice(0, 8) });
  const send = (key: string) =>
    hono.fetch(
      new Request("http://x/api/profile/svc", {
        method: "POST",
        body: good as BodyInit,
        headers: { "idempotency-key": key },
      }),
    );
  const stagingLists = () => calls.filter((c) => c.method === "list" && c.key === "svc/staging/").length;
  for (let i = 0; i < 5; i++) assert.equal((await send(`fresh-${i}`)).status, 201);
  assert.equal(stagingLists(), 0, "new keys: no listing, however many uploads wait");
  const retried = await send("fresh-0");
  assert.equal(retried.status, 201);
  assert.equal(retried.headers.get("idempotent-replayed"), "true", "the record answers a retry");
  assert.equal(stagingLists(), 0);
  // A request that died after staging and before recording its key: its mark and staged upload
  // are there, its record is not. The retry finds the staged upload by listing.
  const hash = await idempotencyHash("died");
  const orphan = stagingKey("svc", 1_700_000_000_000_000_000n, idempotentSuffix("r0", hash));
  await inner.write(stagingMarkKey("svc", hash), new Uint8Array(0));
  await inner.write(orphan, good);
  const retry = await send("died");
  assert.deepEqual([retry.status, (await retry.json()).key], [201, orphan]);
  assert.equal(stagingLists(), 1);
});
