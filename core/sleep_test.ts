/**
 * abortable: the work's result, or the signal's reason as soon as it aborts (at once when it
 * already has), the work going on; abortableSleep: ends early on abort, never rejects.
 *
 * @module
 */

import assert from "node:assert/strict";
import { abortable, abortableSleep } from "./sleep.ts";

Deno.test("abortable: the work's result, or the signal's reason first", async () => {
  assert.equal(await abortable(Promise.resolve(1)), 1);
  assert.equal(await abortable(Promise.resolve(2), new AbortController().signal), 2);
  await assert.rejects(
    () => abortable(Promise.reject(new Error("work failed")), AbortSignal.timeout(5_000)),
    /work failed/,
  );
  await assert.rejects(() => abortable(Promise.resolve(3), AbortSignal.abort(new Error("already"))), /already/);
  const controller = new AbortController();
  let finish!: (v: number) => void;
  const work = new Promise<number>((resolve) => finish = resolve);
  const waiting = abortable(work, controller.signal);
  controller.abort(new Error("gave up"));
  await assert.rejects(() => waiting, /gave up/);
  finish(4);
  assert.equal(await work, 4, "the work itself goes on");
});

Deno.test("abortableSleep: resolves early when the signal aborts", async () => {
  const controller = new AbortController();
  const started = performance.now();
  const sleeping = abortableSleep(10_000, controller.signal);
  controller.abort();
  await sleeping;
  assert.ok(performance.now() - started < 1_000);
  await abortableSleep(10_000, AbortSignal.abort());
});
