/**
 * DownloadBudget and chunkedStream (download_budget.ts): streams yield the bytes in chunks without
 * copying them; the distinct buffers held by open streams are bounded, a shared buffer costs
 * nothing more, the first is always admitted, and a buffer is let go when its last stream ends, is
 * cancelled, runs out of time or is dropped and collected.
 *
 * @module
 */

import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import {
  chunkedStream,
  DownloadBudget,
  DownloadBudgetError,
  downloadDeadlineMs,
  MIN_DOWNLOAD_BYTES_PER_SECOND,
} from "./download_budget.ts";

Deno.test("chunkedStream: the bytes in chunks of views, produced as they are pulled", async () => {
  const data = new Uint8Array(150_000).map((_, i) => i % 251);
  const chunks: Uint8Array[] = [];
  for await (const chunk of chunkedStream(data, { chunkBytes: 64 * 1024 })) chunks.push(chunk);
  assert.deepEqual(chunks.map((c) => c.byteLength), [65536, 65536, 18928]);
  assert.ok(chunks.every((c) => c.buffer === data.buffer), "views of the shared buffer");
  assert.deepEqual(new Uint8Array(await new Response(chunkedStream(data)).arrayBuffer()), data);
  assert.deepEqual(
    new Uint8Array(await new Response(chunkedStream(new Uint8Array(0))).arrayBuffer()),
    new Uint8Array(0),
  );
});

Deno.test("DownloadBudget: distinct buffers of open streams are bounded; shared ones cost nothing", async () => {
  const budget = new DownloadBudget(100);
  const a = new Uint8Array(60);
  const b = new Uint8Array(60);
  const first = budget.stream(a, { chunkBytes: 16 });
  const sameBuffer = budget.stream(a, { chunkBytes: 16 });
  assert.equal(budget.bytesHeld, 60, "two streams of one buffer hold it once");
  assert.throws(
    () => budget.stream(b),
    (e) => e instanceof DownloadBudgetError && /--max-download-memory/.test(e.message),
  );
  assert.equal(budget.bytesHeld, 60, "a refused stream holds nothing");
  // Read to the end: one stream of `a` is done, the other still holds it.
  assert.equal((await new Response(first).arrayBuffer()).byteLength, 60);
  assert.equal(budget.bytesHeld, 60);
  assert.throws(() => budget.stream(b), DownloadBudgetError);
  // A client that goes away cancels its stream: `a` is let go, and `b` fits.
  await sameBuffer.cancel();
  assert.equal(budget.bytesHeld, 0);
  const second = budget.stream(b);
  assert.equal(budget.bytesHeld, 60);
  await second.cancel();
  await second.cancel(); // let go once only
  assert.equal(budget.bytesHeld, 0);
});

Deno.test("DownloadBudget: the first buffer is admitted even when larger than the budget", async () => {
  const budget = new DownloadBudget(10);
  const large = budget.stream(new Uint8Array(50));
  assert.equal(budget.bytesHeld, 50);
  assert.throws(() => budget.stream(new Uint8Array(1)), DownloadBudgetError);
  await large.cancel();
  assert.equal(budget.bytesHeld, 0);
  assert.throws(() => new DownloadBudget(0), RangeError);
});

Deno.test("DownloadBudget: a stream that runs out of time ends early and lets its buffer go", async () => {
  const budget = new DownloadBudget(100);
  const timeout = new AbortController();
  const stalled = budget.stream(new Uint8Array(60), { chunkBytes: 16, signal: timeout.signal });
  const reader = stalled.getReader();
  assert.equal((await reader.read()).value?.byteLength, 16, "read a little, then stall");
  assert.equal(budget.bytesHeld, 60);
  timeout.abort();
  assert.equal(budget.bytesHeld, 0);
  assert.deepEqual(await reader.read(), { done: true, value: undefined }, "cut short after 16 of 60 bytes");
  // A signal that aborted already: nothing is sent, nothing is held.
  const late = budget.stream(new Uint8Array(60), { signal: AbortSignal.abort() });
  assert.equal((await new Response(late).arrayBuffer()).byteLength, 0);
  assert.equal(budget.bytesHeld, 0);
  // The time allowed: the request deadline plus the bytes at the slowest rate.
  assert.equal(downloadDeadlineMs(0, 120_000), 120_000);
  assert.equal(downloadDeadlineMs(10 * MIN_DOWNLOAD_BYTES_PER_SECOND, 120_000), 130_000);
});

Deno.test("DownloadBudget: a stream dropped without ending or cancelling lets its buffer go when collected", async () => {
  const budget = new DownloadBudget(100);
  (() => void budget.stream(new Uint8Array(60)))(); // a response Deno never got to send, dropped
  assert.equal(budget.bytesHeld, 60);
  // V8 exposes `gc` only behind --expose-gc; set at run time, it shows in a new context.
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const held = () => budget.bytesHeld;
  for (let tries = 0; held() !== 0 && tries < 50; tries++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 10)); // finalizers run in a later task
  }
  assert.equal(held(), 0, "the finalizer released the dropped stream's bytes");
});

Deno.test("download stream: timeoutMs ends a stalled stream; one read to its end is not cut", async () => {
  const budget = new DownloadBudget(1024);
  const stalled = budget.stream(new Uint8Array(60), { chunkBytes: 16, timeoutMs: 20 });
  const reader = stalled.getReader();
  assert.equal((await reader.read()).value?.byteLength, 16);
  await new Promise((resolve) => setTimeout(resolve, 40)); // a referenced timer: the stream's own is not
  assert.equal(budget.bytesHeld, 0, "released at the timeout");
  assert.deepEqual(await reader.read(), { done: true, value: undefined });
  const whole = new Uint8Array(
    await new Response(budget.stream(new Uint8Array(60), { timeoutMs: 60_000 })).arrayBuffer(),
  );
  assert.equal(whole.byteLength, 60);
  assert.equal(budget.bytesHeld, 0);
});
