/**
 * singleFlight (and per key): concurrent callers share one run, a later caller starts a new one, a failure is
 * shared and then forgotten, and one caller's deadline fails that caller only.
 *
 * @module
 */

import assert from "node:assert/strict";
import { singleFlight, singleFlightByKey } from "./single_flight.ts";

Deno.test("singleFlight: concurrent callers share one run; a caller after it starts another", async () => {
  let runs = 0;
  let release!: () => void;
  const list = singleFlight(async () => {
    const n = ++runs;
    await new Promise<void>((resolve) => release = resolve);
    return n;
  }, 5_000);
  const callers = [list(), list(), list()];
  release();
  assert.deepEqual(await Promise.all(callers), [1, 1, 1]);
  const later = list();
  release();
  assert.equal(await later, 2);
  assert.equal(runs, 2);
});

Deno.test("singleFlight: a failed run fails its callers and is not reused", async () => {
  let runs = 0;
  const list = singleFlight((): Promise<number> => {
    runs++;
    return runs === 1 ? Promise.reject(new Error("store down")) : Promise.resolve(runs);
  }, 5_000);
  await assert.rejects(() => Promise.all([list(), list()]), /store down/);
  assert.equal(await list(), 2);
});

Deno.test("singleFlight: one caller's deadline fails that caller, not the shared run", async () => {
  let release!: () => void;
  let runSignal: AbortSignal | undefined;
  const list = singleFlight(async (signal) => {
    runSignal = signal;
    await new Promise<void>((resolve) => release = resolve);
    return "listed";
  }, 5_000);
  const impatient = new AbortController();
  const first = list(impatient.signal);
  const second = list(AbortSignal.timeout(5_000));
  impatient.abort(new DOMException("deadline", "TimeoutError"));
  await assert.rejects(first, (e) => e instanceof DOMException && e.name === "TimeoutError");
  assert.equal(runSignal?.aborted, false);
  release();
  assert.equal(await second, "listed");
  await assert.rejects(() => list(AbortSignal.abort(new Error("already late"))), /already late/);
  release();
});

Deno.test("singleFlightByKey: calls for the same key share a run, other keys run on their own", async () => {
  const runs: string[] = [];
  const releases: (() => void)[] = [];
  const read = singleFlightByKey(async (key: string) => {
    runs.push(key);
    await new Promise<void>((resolve) => releases.push(resolve));
    return `${key}!`;
  }, 5_000);
  const calls = [read("a"), read("b"), read("a")];
  for (const release of releases) release();
  assert.deepEqual(await Promise.all(calls), ["a!", "b!", "a!"]);
  assert.deepEqual(runs, ["a", "b"]);
});
