import assert from "node:assert/strict";
import {
  BodyBuffer,
  BodyLengthError,
  BodyTimeoutError,
  BodyTooLargeError,
  readBodyLimited,
  type ReadBodyOptions,
} from "./http_body.ts";
import { isOwned } from "./job_transfer.ts";
import { PeakMeter } from "./upload_meter.ts";

/** A body of `chunks` chunks of `size` bytes (chunk i filled with i & 0xff); counts the chunks pulled. */
function countingStream(chunks: number, size: number) {
  const state = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (state.pulled >= chunks) return controller.close();
      controller.enqueue(new Uint8Array(size).fill(state.pulled & 0xff));
      state.pulled++;
    },
    cancel() {
      state.cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { stream, state };
}

function post(body: BodyInit | null, headers: Record<string, string> = {}): Request {
  return new Request("http://x/upload", { method: "POST", body, headers });
}

const NEVER = new AbortController().signal;

Deno.test("BodyBuffer grows in place and finishes as a view of its whole buffer", () => {
  const meter = new PeakMeter();
  const buffer = new BodyBuffer(1 << 20, meter);
  for (let i = 0; i < 100; i++) assert.ok(buffer.append(new Uint8Array(1000).fill(i)));
  const body = buffer.finish();
  assert.equal(body.byteLength, 100_000);
  assert.ok(isOwned(body), "transferable without a copy");
  assert.equal(body[0], 0);
  assert.equal(body[99_999], 99);
  assert.equal(meter.live.body, 100_000, "the committed bytes end at the body's size");
  assert.ok(meter.peakByKind.body <= 100_000 + 64 * 1024, `grew to ${meter.peakByKind.body} bytes`);
});

Deno.test("BodyBuffer holds a page, not 64 KiB, for a body that has sent a few bytes", () => {
  const meter = new PeakMeter();
  const buffer = new BodyBuffer(1 << 20, meter);
  assert.ok(buffer.append(new Uint8Array(1)));
  assert.equal(meter.live.body, 4 * 1024, "a stalled upload of one byte");
  assert.ok(buffer.append(new Uint8Array(70_000)));
  assert.equal(meter.live.body, 128 * 1024, "past 64 KiB, steps of 64 KiB");
  buffer.discard();
});

Deno.test("BodyBuffer refuses a chunk that would pass its maximum and keeps what it had", () => {
  const buffer = new BodyBuffer(10);
  assert.ok(buffer.append(new Uint8Array(8)));
  assert.equal(buffer.append(new Uint8Array(3)), false);
  assert.equal(buffer.length, 8);
  buffer.discard();
  assert.equal(buffer.length, 0);
});

Deno.test("readBodyLimited reads a declared body into one buffer of exactly its size", async () => {
  const data = new Uint8Array(300_000).map((_, i) => i % 251);
  const meter = new PeakMeter();
  const request = post(data as BodyInit, { "content-length": String(data.byteLength) });
  const body = await readBodyLimited(request, 1 << 20, NEVER, { meter });
  assert.deepEqual(body, data);
  assert.ok(isOwned(body));
  assert.ok(meter.peakByKind.body <= data.byteLength + 1, `body buffer peaked at ${meter.peakByKind.body}`);
  assert.equal(meter.peakByKind.copy, 0);
});

Deno.test("readBodyLimited reads a chunked body into one buffer, chunks let go as they are copied", async () => {
  const { stream, state } = countingStream(50, 10_000);
  const meter = new PeakMeter();
  const body = await readBodyLimited(post(stream), 1 << 20, NEVER, { meter });
  assert.equal(body.byteLength, 500_000);
  assert.equal(body[499_999], 49);
  assert.equal(state.pulled, 50);
  assert.equal(meter.live.body, 500_000);
  assert.equal(meter.live.chunk, 0);
  assert.equal(meter.peakByKind.chunk, 10_000, "one chunk at a time");
  assert.ok(isOwned(body));
});

Deno.test("readBodyLimited stops a chunked body at the limit without reading the rest", async () => {
  const { stream, state } = countingStream(10_000, 4096); // 40 MiB offered
  const meter = new PeakMeter();
  await assert.rejects(readBodyLimited(post(stream), 64 * 1024, NEVER, { meter }), BodyTooLargeError);
  assert.ok(state.pulled <= 17 + 1, `pulled ${state.pulled} chunks of 4 KiB for a 64 KiB limit`);
  assert.ok(state.cancelled, "the stream is cancelled");
  assert.ok(meter.peakByKind.body <= 64 * 1024, `buffered ${meter.peakByKind.body} bytes`);
  assert.equal(meter.live.body, 0, "the buffer is released");
});

Deno.test("readBodyLimited refuses a declared length over the limit before reading", async () => {
  const { stream, state } = countingStream(100, 1000);
  const request = post(stream, { "content-length": "100000" });
  await assert.rejects(readBodyLimited(request, 50_000, NEVER), /exceeds the limit of 50000 bytes/);
  assert.equal(state.pulled, 0);
});

Deno.test("readBodyLimited fails a body that disagrees with its Content-Length", async () => {
  const short = post(countingStream(2, 100).stream, { "content-length": "500" });
  await assert.rejects(readBodyLimited(short, 1000, NEVER), BodyLengthError);
  const long = post(countingStream(9, 100).stream, { "content-length": "500" });
  await assert.rejects(readBodyLimited(long, 1000, NEVER), /longer than its Content-Length of 500 bytes/);
});

Deno.test("readBodyLimited gives an empty body for a request without one", async () => {
  const body = await readBodyLimited(new Request("http://x/upload", { method: "POST" }), 10, NEVER);
  assert.equal(body.byteLength, 0);
});

Deno.test("readBodyLimited refuses a body of many tiny pieces, early, and leaves no reads behind", async () => {
  const { stream, state } = countingStream(1_000_000, 1);
  await assert.rejects(
    readBodyLimited(post(stream), 1 << 20, NEVER),
    /averaging under 64 bytes: send it in larger chunks/,
  );
  assert.ok(state.pulled <= 1_100, `pulled ${state.pulled} pieces`);
  assert.ok(state.cancelled);
  // Pieces of real sizes pass, even many of them.
  const many = countingStream(5_000, 100);
  assert.equal((await readBodyLimited(post(many.stream), 1 << 20, NEVER)).byteLength, 500_000);
});

Deno.test("readBodyLimited fails with BodyTimeoutError when the deadline passes mid-body", async () => {
  const stop = new AbortController();
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new Uint8Array(10));
    },
  });
  const reading = readBodyLimited(post(stream), 1000, stop.signal);
  stop.abort();
  await assert.rejects(reading, BodyTimeoutError);
});

/** Serves one request with `readBodyLimited` on a real `Deno.serve` (byte-stream bodies), answering what it read. */
async function throughServer(body: BodyInit, maxBytes: number, inspect?: ReadBodyOptions["inspect"]) {
  const meter = new PeakMeter();
  let read: Uint8Array | undefined;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    try {
      read = await readBodyLimited(request, maxBytes, NEVER, { meter, inspect });
      return new Response("ok");
    } catch (error) {
      return new Response((error as Error).name, { status: 400 });
    }
  });
  try {
    const response = await fetch(`http://127.0.0.1:${server.addr.port}/`, { method: "POST", body });
    return { text: await response.text(), read, meter };
  } finally {
    await server.shutdown();
  }
}

Deno.test("readBodyLimited reads a declared body from Deno.serve into one buffer, held as its bytes arrive", async () => {
  const data = new Uint8Array(3_000_000).map((_, i) => i % 253);
  const { text, read, meter } = await throughServer(data as BodyInit, 4_000_000);
  assert.equal(text, "ok");
  assert.deepEqual(read, data);
  assert.ok(read && isOwned(read));
  assert.ok(meter.peakByKind.body <= data.byteLength + 1, "one buffer of the body's size (+1 to see a longer one)");
  assert.ok(meter.peakByKind.chunk <= 64 * 1024, "through one 64 KiB scratch buffer");
  assert.ok(meter.reports > 10, "taken as the bytes arrive, not declared ahead");
});

Deno.test("readBodyLimited reads a chunked body from Deno.serve through one 64 KiB scratch buffer", async () => {
  const data = new Uint8Array(1_000_000).map((_, i) => i % 249);
  const { text, read, meter } = await throughServer(new Blob([data]).stream(), 4_000_000);
  assert.equal(text, "ok");
  assert.deepEqual(read, data);
  assert.ok(meter.peakByKind.chunk <= 64 * 1024, `chunk of ${meter.peakByKind.chunk} bytes`);
  assert.ok(meter.peakByKind.body <= data.byteLength + 64 * 1024);
  assert.equal(meter.live.body, data.byteLength);
});

Deno.test("readBodyLimited stops a declared body from Deno.serve as soon as inspect refuses it", async () => {
  const data = new Uint8Array(2_000_000);
  let seen = 0;
  const { text, meter } = await throughServer(data as BodyInit, 4_000_000, (chunk) => {
    seen += chunk.byteLength;
    return "refused";
  });
  assert.equal(text, "BodyRejectedError");
  assert.ok(seen < data.byteLength, `inspected ${seen} bytes`);
  assert.equal(meter.live.body, 0, "the buffer is let go");
});
