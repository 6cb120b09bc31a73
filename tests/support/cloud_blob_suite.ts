/**
 * What every cloud blob driver (s3, gs, azblob) must also survive beyond the conformance suite,
 * as one reusable test against a real server (MinIO, fake-gcs-server, Azurite…):
 * `cloudBlobSuite("s3 (MinIO)", harness)` registers one Deno test that starts the server once
 * and runs these steps, each in a fresh bucket:
 * - OS processes race compare-and-swap writes, every round started in all of them at once: per
 *   round exactly one ifVersion and one ifAbsent winner, the losers get a precondition error,
 *   the stored bytes are the winner's;
 * - listings past the service's page size (2,500 keys; 1,250 folders);
 * - a 50 MiB object round-trips byte-identically;
 * - wrong credentials give a one-line `permission` error on check() and on read;
 * - the server is stopped and restarted while an in-process worker merges staged uploads: the
 *   worker nacks, retries, and every upload ends merged exactly once.
 *
 * The harness describes the server generically, so one suite serves every driver: a URL per
 * bucket, the environment that carries credentials (applied to this process for the test and
 * handed to child processes), bucket creation, a restart on the same port and data, and the
 * URL + environment of wrong credentials (or why the server cannot check them).
 *
 * @module
 */

import assert from "node:assert/strict";
import { BlobError, type BlobStore } from "../../core/blob.ts";
import { openBlobStore, openEventReader, openEventWriter } from "../../core/registry.ts";
import { registerBuiltinDrivers } from "../../adapters/mod.ts";
import { encodeEnvelope, makeEnvelope } from "../../core/events.ts";
import { stagingKey, stagingPrefix } from "../../core/pipeline/keys.ts";
import { eventPublisher } from "../../core/pipeline/publisher.ts";
import { readBase } from "../../core/pipeline/profiles_view.ts";
import { runWorker, type WorkerDeps } from "../../core/pipeline/worker.ts";
import { decodeProfile } from "../../core/pprof/decode.ts";
import { mergeProfiles } from "../../core/pprof/merge.ts";
import type { Profile } from "../../core/pprof/profile.ts";
import { committedProfiles } from "./fixtures.ts";
import { type CasResult, nextRound, race, RaceChild } from "./race_process.ts";
import { assertSameSamples } from "./samples.ts";
import { sha256Hex } from "../../core/hex.ts";

/** Credentials the server must refuse, or why it cannot (an emulator that does not check them). */
export type WrongCredentials = { url: string; env: Record<string, string> } | { skip: string };

/** A running server, as {@link CloudBlobHarness.start} returns it. */
export interface CloudBlobServer {
  /** The blob URL of bucket (or container) `bucket` on this server, e.g. `s3://b?endpoint=…`. */
  url(bucket: string): string;
  /** Environment that grants access (credentials, emulator hosts); set in this process and in children. */
  env: Record<string, string>;
  /** Creates an empty bucket (or container) named `bucket` (3–40 chars of `[a-z0-9-]`). */
  createBucket(bucket: string): Promise<void>;
  /** Stops the server, keeps it down for `downtimeMs`, and starts it again on the same port with the same data. */
  restart(downtimeMs: number): Promise<void>;
  /** The URL and environment of credentials the server must refuse for the existing `bucket`. */
  wrongCredentials(bucket: string): WrongCredentials;
  /** Stops the server and removes its data. */
  stop(): Promise<void>;
}

/** How to run a server for {@link cloudBlobSuite}. */
export interface CloudBlobHarness {
  /** Skip reason (from `serviceSkip`), or false when the server is installed. */
  skip: string | false;
  /** Starts a fresh server. */
  start(): Promise<CloudBlobServer>;
}

const enc = (text: string) => new TextEncoder().encode(text);
const dec = (data: Uint8Array) => new TextDecoder().decode(data);
const CHILD_PERMISSIONS = ["--allow-net", "--allow-env", "--allow-read", "--allow-write", "--allow-sys"];

/** Sets `env` in this process and returns a function restoring the previous values. */
function applyEnv(env: Record<string, string>): () => void {
  const previous = Object.keys(env).map((name) => [name, Deno.env.get(name)] as const);
  for (const [name, value] of Object.entries(env)) Deno.env.set(name, value);
  return () => {
    for (const [name, value] of previous) value === undefined ? Deno.env.delete(name) : Deno.env.set(name, value);
  };
}

/** Runs `tasks` with at most `limit` in flight. */
async function pool<T>(items: readonly T[], limit: number, task: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Every sample value of `profile`, summed per sample type. */
function sampleTotals(profile: Profile): number[] {
  const totals = profile.sampleType.map(() => 0);
  for (const sample of profile.sample) sample.value.forEach((v, i) => totals[i] += v);
  return totals;
}

/** `store`, counting in `failures` the errors of its operations by kind (`unavailable`: the server was down). */
function countingFailures(store: BlobStore, failures: Map<string, number>): BlobStore {
  const count = (error: unknown) => {
    const kind = error instanceof BlobError ? error.kind : "other";
    failures.set(kind, (failures.get(kind) ?? 0) + 1);
    return error;
  };
  const counted = <T>(promise: Promise<T>) => promise.catch((error) => Promise.reject(count(error)));
  async function* countedList<T>(items: AsyncIterable<T>) {
    try {
      yield* items;
    } catch (error) {
      throw count(error);
    }
  }
  return {
    read: (k, s) => counted(store.read(k, s)),
    stat: (k, s) => counted(store.stat(k, s)),
    write: (k, d, c, s) => counted(store.write(k, d, c, s)),
    delete: (k, c, s) => counted(store.delete(k, c, s)),
    list: (p, s) => countedList(store.list(p, s)),
    listPrefixes: (p, s) => countedList(store.listPrefixes(p, s)),
    check: (s) => counted(store.check(s)),
    close: () => store.close(),
  };
}

/** Polls `condition` every 100 ms until true; throws with `what` after `timeoutMs`. */
async function waitFor(what: string, timeoutMs: number, condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Registers `cloud blob: <name>`: one real server, one step per guarantee (see the module header). */
export function cloudBlobSuite(name: string, harness: CloudBlobHarness): void {
  Deno.test({
    name: `cloud blob: ${name}`,
    ignore: Boolean(harness.skip),
    // Cloud SDKs keep sockets and timers of their own after close (keep-alive agents, token refresh).
    sanitizeOps: false,
    sanitizeResources: false,
  }, async (t) => {
    registerBuiltinDrivers();
    const server = await harness.start();
    const restoreEnv = applyEnv(server.env);
    let buckets = 0;
    const freshBucket = async (label: string) => {
      const bucket = `cbs-${label}-${++buckets}-${crypto.randomUUID().slice(0, 8)}`;
      await server.createBucket(bucket);
      return { bucket, url: server.url(bucket), store: await openBlobStore(server.url(bucket)) };
    };
    try {
      await t.step(
        "processes racing compare-and-swap writes, rounds started together: one ifVersion and one ifAbsent winner each",
        async () => {
          const { url, store } = await freshBucket("race");
          const rounds = 15;
          let children: RaceChild[] = [];
          try {
            for (let r = 0; r < rounds; r++) await store.write(`cas/${r}`, enc("initial"));
            children = await race(
              Array.from({ length: 3 }, (_, i) => ["cas", url, `p${i}`, String(rounds), "lockstep"]),
              { permissions: CHILD_PERMISSIONS, env: server.env },
            );
            for (let r = 1; r < rounds; r++) await nextRound(children);
            const outputs = await Promise.all(children.map((c) => c.finish<{ id: string; results: CasResult[] }>()));
            for (const kind of ["cas", "absent"] as const) {
              for (let r = 0; r < rounds; r++) {
                const entries = outputs.map((o) => ({
                  id: o.id,
                  ...o.results.find((x) => x.kind === kind && x.round === r)!,
                }));
                const winners = entries.filter((e) => e.won);
                assert.equal(winners.length, 1, `${kind} round ${r}: ${JSON.stringify(entries)}`);
                for (const loser of entries.filter((e) => !e.won)) assert.equal(loser.error, "precondition");
                const stored = await store.read(`${kind}/${r}`);
                assert.equal(dec(stored.data), `${winners[0].id}:${r}`);
                assert.equal(stored.version, winners[0].version);
              }
            }
            const wins = outputs.map((o) => o.results.filter((x) => x.won).length);
            console.log(`${name}: wins per process over ${2 * rounds} contested writes: ${wins.join(", ")}`);
          } finally {
            for (const child of children) await child.kill();
            await store.close();
          }
        },
      );

      await t.step("listing past one page: 2,500 keys in order, 1,250 folders", async () => {
        const { store } = await freshBucket("list");
        try {
          const folders = Array.from({ length: 1_250 }, (_, i) => `big/f${String(i).padStart(4, "0")}/`);
          const keys = folders.flatMap((folder) => [`${folder}a`, `${folder}b`]);
          await store.write("big-sibling", enc("outside the prefix"));
          await pool(keys, 16, (key) => store.write(key, enc(key)));
          const listed = await collect(store.list("big/"));
          assert.equal(listed.length, keys.length);
          assert.deepEqual(listed.map((info) => info.key), [...keys].sort());
          assert.ok(listed.every((info) => info.size === enc(info.key).length));
          assert.equal((await collect(store.list("big/f01"))).length, 200);
          assert.deepEqual(await collect(store.listPrefixes("big/")), folders);
          assert.deepEqual(await collect(store.listPrefixes("")), ["big/"]);
        } finally {
          await store.close();
        }
      });

      await t.step("a 50 MiB object round-trips byte-identically", async () => {
        const { store } = await freshBucket("large");
        try {
          const data = new Uint8Array(50 << 20);
          for (let i = 0; i < data.length; i += 65_536) crypto.getRandomValues(data.subarray(i, i + 65_536));
          const version = await store.write("large/object", data);
          const object = await store.read("large/object");
          assert.equal(object.size, data.length);
          assert.equal(object.data.length, data.length);
          assert.equal(object.version, version);
          assert.equal(await sha256Hex(object.data), await sha256Hex(data));
        } finally {
          await store.close();
        }
      });

      await t.step("wrong credentials: one-line permission errors on check() and read", async (s) => {
        const { bucket, store } = await freshBucket("creds");
        try {
          await store.write("probe/object", enc("secret"));
          const wrong = server.wrongCredentials(bucket);
          if ("skip" in wrong) {
            console.warn(`${name}: wrong credentials not tested: ${wrong.skip}`);
            return void await s.step({ name: `skipped: ${wrong.skip}`, ignore: true, fn: () => {} });
          }
          const child = new RaceChild(["probe", wrong.url, "probe", "probe/object"], {
            permissions: CHILD_PERMISSIONS,
            env: { ...server.env, ...wrong.env },
          });
          type Outcome = { kind: string; message: string };
          const result = await child.finish<{ check: Outcome; read: Outcome }>();
          for (const [operation, outcome] of Object.entries({ check: result.check, read: result.read })) {
            assert.equal(outcome.kind, "permission", `${operation}: ${JSON.stringify(outcome)}`);
            assert.ok(!outcome.message.includes("\n"), `${operation} error is one line: ${outcome.message}`);
            assert.ok(!outcome.message.includes("secret"), `${operation} error shows no secret: ${outcome.message}`);
          }
        } finally {
          await store.close();
        }
      });

      await t.step("server restarted mid-run: the worker retries and merges every upload exactly once", async () => {
        await workerSurvivesRestart(server, await freshBucket("outage"));
      });
    } finally {
      restoreEnv();
      await server.stop();
    }
  });
}

/**
 * Stages uploads, publishes their events one by one on a mem:// bus while an in-process worker
 * merges them, restarts the server in the middle, and checks the merged base: every upload's
 * samples counted once (compared with merging the inputs directly), no staged or rejected
 * object left, and the worker did meet the outage (some store calls failed as `unavailable`).
 */
async function workerSurvivesRestart(
  server: CloudBlobServer,
  { store }: { store: BlobStore },
): Promise<void> {
  const app = "outage";
  const profiles = committedProfiles();
  const inputs = await Promise.all([...profiles.cpu, ...profiles.cpuLabelled].map((p) => Deno.readFile(p)));
  const uploads = Array.from({ length: 24 }, (_, i) => inputs[i % inputs.length]);
  const keys: string[] = [];
  for (const [i, data] of uploads.entries()) {
    const key = stagingKey(app, 1_700_000_000_000_000_000n + BigInt(i), `u${i}`);
    await store.write(key, data, { ifAbsent: true });
    keys.push(key);
  }
  const topic = `mem://cloud-blob-outage-${crypto.randomUUID()}`;
  const writer = await openEventWriter(topic);
  const reader = await openEventReader(topic);
  const failures = new Map<string, number>();
  const deps: WorkerDeps = {
    store: countingFailures(store, failures),
    publisher: eventPublisher({ writer, clock: () => new Date(), newEventId: () => crypto.randomUUID() }),
    pruneConfig: [],
    compaction: "none",
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    random: Math.random,
    retryBaseMs: 250,
    retryMaxMs: 2_000,
    maxDeliveryAttempts: 1_000,
  };
  const stop = new AbortController();
  const worker = runWorker(reader, deps, { concurrency: 2, sweepIntervalMs: 0, clock: () => new Date() }, stop.signal);
  try {
    const publishUploaded = (key: string) =>
      writer.send({
        body: encodeEnvelope(
          makeEnvelope("profile.uploaded", { app, profileKey: key }, crypto.randomUUID(), new Date()),
        ),
        orderingKey: app,
      });
    const half = keys.length / 2;
    for (const key of keys.slice(0, half)) await publishUploaded(key);
    // The outage starts while the first half is being merged; the second half is published during it.
    const outage = server.restart(3_000);
    for (const key of keys.slice(half)) {
      await publishUploaded(key);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await outage;
    await waitFor("every staged upload to be merged and cleaned", 120_000, async () => {
      try {
        return (await collect(store.list(stagingPrefix(app)))).length === 0;
      } catch {
        return false; // the server may still be starting
      }
    });
  } finally {
    stop.abort();
    await worker;
    await reader.close();
    await writer.close();
  }
  const base = await readBase(store, app);
  assert.ok(base, "the merged base exists");
  const merged = decodeProfile(base.data);
  const decoded = uploads.map((data) => decodeProfile(data));
  const inputTotals = decoded.map(sampleTotals).reduce((sum, totals) => sum.map((v, i) => v + totals[i]));
  assert.deepEqual(sampleTotals(merged), inputTotals, "sample totals of the base = sum of the inputs");
  assertSameSamples(merged, mergeProfiles(decoded), "base after a server restart mid-run");
  assert.deepEqual(await collect(store.list(`${app}/rejected/`)), [], "no upload was rejected");
  assert.ok((failures.get("unavailable") ?? 0) > 0, `the worker saw the outage: ${JSON.stringify([...failures])}`);
  console.log(
    `store failures the worker met during the outage, by kind: ${JSON.stringify(Object.fromEntries(failures))}`,
  );
  await store.close();
}
