/**
 * UploadBudget (upload_budget.ts): what it counts and refuses, and that a body read it refuses
 * (http_body.ts) holds nothing afterwards, whether the refusal comes before a declared body is
 * read (Deno.serve's byte streams) or while a chunked one grows.
 *
 * @module
 */

import assert from "node:assert/strict";
import { readBodyLimited } from "./http_body.ts";
import { budgetMeter, UploadBudget, UploadBudgetError } from "./upload_budget.ts";
import { PeakMeter } from "./upload_meter.ts";

Deno.test("UploadBudget: counts body bytes, refuses a growth past the maximum without counting it", () => {
  const budget = new UploadBudget(100);
  budget.held("body", 60);
  budget.held("tables", 1_000); // only body buffers count
  budget.held("chunk", 1_000);
  assert.equal(budget.bytesHeld, 60);
  assert.throws(
    () => budget.held("body", 41),
    (e) => e instanceof UploadBudgetError && /60 of the 100 bytes/.test(e.message),
  );
  assert.equal(budget.bytesHeld, 60);
  budget.held("body", 40);
  assert.equal(budget.bytesHeld, 100);
  budget.held("body", -100);
  assert.equal(budget.bytesHeld, 0);
  for (const bad of [0, -1, 1.5, NaN]) assert.throws(() => new UploadBudget(bad), RangeError);
});

Deno.test("budgetMeter: the budget refuses before the other meter is told", () => {
  const budget = new UploadBudget(10);
  const peak = new PeakMeter();
  const meter = budgetMeter(budget, peak);
  meter.held("body", 8);
  assert.throws(() => meter.held("body", 3), UploadBudgetError);
  meter.held("body", -8);
  assert.deepEqual([budget.bytesHeld, peak.live.body, peak.peak], [0, 0, 8]);
});

/** A request whose body arrives as `chunks` (a stream built in JS), with `contentLength` when given. */
function request(chunks: Uint8Array[], contentLength?: number): Request {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
  const headers: Record<string, string> = contentLength === undefined
    ? {}
    : { "content-length": String(contentLength) };
  return new Request("http://x/api/profile/app", { method: "POST", body, headers });
}

Deno.test("readBodyLimited: a chunked body the budget refuses leaves nothing held", async () => {
  const budget = new UploadBudget(200 * 1024);
  budget.held("body", 100 * 1024); // another upload holds half of it
  const meter = budgetMeter(budget);
  const signal = AbortSignal.timeout(5_000);
  const chunk = new Uint8Array(48 * 1024).fill(7);
  // Chunked: the buffer grows in 64 KiB steps; the second step passes the budget.
  await assert.rejects(
    () => readBodyLimited(request([chunk, chunk, chunk]), 1 << 20, signal, { meter }),
    UploadBudgetError,
  );
  assert.equal(budget.bytesHeld, 100 * 1024);
  // A chunked body within the budget is read, and held until the caller lets it go.
  const fits = await readBodyLimited(request([chunk]), 1 << 20, signal, { meter });
  assert.equal(fits.byteLength, chunk.byteLength);
  assert.equal(budget.bytesHeld, 100 * 1024 + chunk.byteLength);
  meter.held("body", -fits.byteLength);
  assert.equal(budget.bytesHeld, 100 * 1024);
});

Deno.test("readBodyLimited: a declared body the budget cannot hold is refused before it is read", async () => {
  const budget = new UploadBudget(200 * 1024);
  budget.held("body", 100 * 1024);
  const meter = budgetMeter(budget);
  const outcomes: string[] = [];
  // Deno.serve's request bodies are byte streams: a Content-Length body is read by the BYOB path.
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    try {
      const body = await readBodyLimited(req, 1 << 20, AbortSignal.timeout(5_000), { meter });
      meter.held("body", -body.byteLength);
      outcomes.push(`read ${body.byteLength}`);
    } catch (error) {
      outcomes.push((error as Error).name);
    }
    return new Response("done");
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/`;
    for (const size of [150 * 1024, 90 * 1024]) {
      const response = await fetch(url, { method: "POST", body: new Uint8Array(size) });
      await response.body?.cancel();
    }
  } finally {
    await server.shutdown();
  }
  assert.deepEqual(outcomes, ["UploadBudgetError", `read ${90 * 1024}`]);
  assert.equal(budget.bytesHeld, 100 * 1024);
});
