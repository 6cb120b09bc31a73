/**
 * The server's upload path holds an upload once: a multi-MiB real labelled profile, streamed in
 * chunks to the server app, is measured by an injected upload meter (core/pipeline/upload_meter.ts)
 * at every point it is held — body chunks, the body buffer, any copy, the inflated bytes of a gzip
 * upload, the decoded tables — and the peak must be at most one copy of the upload (plus the chunk
 * being copied in) + the inflated bytes + the decoded tables. Through a real decode pool the body
 * buffer must be transferred to the worker (detached here, not cloned), and the very array the
 * worker hands back must be what the blob store is given. And a hostile client: a chunked body
 * trickling past the limit into a real server is answered 413 while it is still streaming, with
 * at most the limit buffered. A retry with a known Idempotency-Key is answered without reading it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { openMemBlobStore } from "../adapters/blob/mem_blob.ts";
import { DEFAULT_CONN_GUARD } from "../core/pipeline/conn_guard.ts";
import { DecodePool } from "../core/pipeline/decode_pool.ts";
import { startHttpServer } from "../core/pipeline/http_serve.ts";
import { IN_THREAD_JOBS, type ProfileJobs } from "../core/pipeline/profile_jobs.ts";
import { createServerApp, type ServerAppDeps } from "../core/pipeline/server_app.ts";
import { PeakMeter, totalHeld } from "../core/pipeline/upload_meter.ts";
import { delegatingStore } from "./support/delegating_store.ts";
import { largeLabelledProfile, largeLabelledProfileGz } from "./support/large_profile.ts";

const CHUNK = 64 * 1024;
const raw = largeLabelledProfile(8 * 1024 * 1024);
const gz = largeLabelledProfileGz(24 * 1024 * 1024); // ~2.5 MiB compressed

function size(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** `data` as a request body stream of `CHUNK`-byte chunks (each a fresh array, as the HTTP layer gives them). */
function chunked(data: Uint8Array): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= data.byteLength) return controller.close();
      controller.enqueue(data.slice(at, at + CHUNK));
      at += CHUNK;
    },
  }, { highWaterMark: 0 });
}

async function serverApp(jobs: ProfileJobs, overrides: Partial<ServerAppDeps> = {}) {
  const mem = await openMemBlobStore("mem://");
  const written: Uint8Array[] = [];
  const store = delegatingStore(mem, {
    write(key, data, conditions, signal) {
      written.push(data);
      return mem.write(key, data, conditions, signal);
    },
  });
  const meter = new PeakMeter();
  let n = 0;
  const hono = createServerApp({
    store,
    publisher: { publish: () => Promise.resolve() },
    clock: () => new Date(),
    randomSuffix: () => `m${n++}`,
    healthChecks: [],
    jobs,
    uploadMeter: meter,
    maxUploadBytes: 64 * 1024 * 1024,
    ...overrides,
  });
  return { hono, meter, written, mem };
}

/** What the body buffer may hold beyond the upload: its growth step (http_body.ts). */
const GROWTH = 64 * 1024;
/** One copy of the upload may come with its buffer's growth step and the chunk being copied in. */
const SLACK = GROWTH + CHUNK;

/** The peak allowed for `upload`: one copy (+ {@link SLACK}), the inflated bytes, the tables. */
function assertHeldOnce(meter: PeakMeter, upload: Uint8Array, what: string): void {
  const bytesOfUpload = meter.atPeak.body + meter.atPeak.chunk + meter.atPeak.copy;
  assert.equal(meter.peakByKind.copy, 0, `${what}: no copy of the upload`);
  assert.ok(
    meter.peakByKind.body <= upload.byteLength + GROWTH,
    `${what}: body buffer of ${meter.peakByKind.body} bytes for ${upload.byteLength}`,
  );
  assert.ok(meter.peakByKind.chunk <= CHUNK, `${what}: one chunk held at a time`);
  assert.ok(bytesOfUpload <= upload.byteLength + SLACK, `${what}: ${bytesOfUpload} bytes of the upload at the peak`);
  assert.ok(meter.peakByKind.tables > upload.byteLength, `${what}: tables measured (${meter.peakByKind.tables})`);
  const bound = upload.byteLength + SLACK + meter.peakByKind.inflated + meter.peakByKind.tables;
  assert.ok(meter.peak <= bound, `${what}: peak ${meter.peak} > bound ${bound} (${JSON.stringify(meter.atPeak)})`);
  assert.equal(totalHeld(meter.live), 0, `${what}: everything released after the request`);
}

for (const [name, upload] of [["raw", raw], ["gzip", gz]] as const) {
  Deno.test(`a ${size(upload.byteLength)} ${name} labelled upload is held once (chunked body)`, async () => {
    const { hono, meter, written, mem } = await serverApp(IN_THREAD_JOBS);
    const response = await hono.fetch(
      new Request("http://x/api/profile/svc", { method: "POST", body: chunked(upload) }),
    );
    assert.equal(response.status, 201, await response.clone().text());
    const { key } = await response.json();
    assertHeldOnce(meter, upload, name);
    if (name === "gzip") assert.ok(meter.peakByKind.inflated >= raw.byteLength, "the inflated bytes are counted");
    else assert.equal(meter.peakByKind.inflated, 0, "a raw upload is decoded where it lies");
    assert.equal(written.length, 1);
    assert.equal(written[0].byteLength, upload.byteLength);
    assert.deepEqual((await mem.read(key)).data, upload, "the stored bytes are the upload's");
  });
}

Deno.test("a declared-length upload is read into one buffer of its size", async () => {
  const { hono, meter } = await serverApp(IN_THREAD_JOBS);
  const response = await hono.fetch(
    new Request("http://x/api/profile/svc", {
      method: "POST",
      body: chunked(gz),
      headers: { "content-length": String(gz.byteLength) },
    }),
  );
  assert.equal(response.status, 201);
  assertHeldOnce(meter, gz, "declared");
  assert.ok(meter.peakByKind.body <= gz.byteLength + 1, `body buffer ${meter.peakByKind.body} for ${gz.byteLength}`);
});

Deno.test("through a real server a declared-length upload lands in one buffer of its size, one chunk at a time", async () => {
  const { hono, meter, written } = await serverApp(IN_THREAD_JOBS);
  const server = startHttpServer("127.0.0.1", 0, hono.fetch, DEFAULT_CONN_GUARD);
  try {
    const response = await fetch(`${server.url}/api/profile/svc`, { method: "POST", body: raw as BodyInit });
    assert.equal(response.status, 201, await response.text());
    assertHeldOnce(meter, raw, "real server");
    assert.ok(meter.peakByKind.body <= raw.byteLength + 1, "the upload's size (+1 to see a longer body)");
    assert.ok(meter.peakByKind.chunk <= 64 * 1024, "through one 64 KiB scratch buffer (BYOB)");
    assert.deepEqual(written[0], raw);
  } finally {
    await server.shutdown(1000);
  }
});

Deno.test("through a decode pool the body is transferred, not cloned, and the returned array is stored", async () => {
  const pool = new DecodePool({ size: 1 });
  try {
    const lent: Uint8Array[] = [];
    const returned: Uint8Array[] = [];
    const jobs: ProfileJobs = {
      ...pool,
      checkUpload: async (data, limits, opts) => {
        lent.push(data);
        const reply = await pool.checkUpload(data, limits, opts);
        returned.push(reply.data);
        return reply;
      },
      baseState: (data, opts) => pool.baseState(data, opts),
      merge: (job, opts) => pool.merge(job, opts),
      mergeBatch: (job, opts) => pool.mergeBatch(job, opts),
      views: (app, data, modifiedMs, opts) => pool.views(app, data, modifiedMs, opts),
    };
    const { hono, meter, written } = await serverApp(jobs);
    const response = await hono.fetch(new Request("http://x/api/profile/svc", { method: "POST", body: chunked(gz) }));
    assert.equal(response.status, 201, await response.clone().text());
    assert.equal(lent.length, 1);
    assert.equal(lent[0].buffer.byteLength, 0, "the body's buffer moved to the worker (detached here)");
    assert.equal((lent[0].buffer as ArrayBuffer).detached, true);
    assert.equal(written[0], returned[0], "the store is given the array the worker handed back");
    assert.deepEqual(written[0], gz);
    assertHeldOnce(meter, gz, "pool");
    assert.ok(meter.peakByKind.inflated >= raw.byteLength, "the worker reports what it inflated");
  } finally {
    pool.close();
  }
});

Deno.test("a retry with the same Idempotency-Key is answered before its body is read", async () => {
  const { hono, meter, written } = await serverApp(IN_THREAD_JOBS);
  const headers = { "idempotency-key": "upload-0001" };
  const first = await hono.fetch(new Request("http://x/api/profile/svc", { method: "POST", body: gz, headers }));
  assert.equal(first.status, 201);
  const { key } = await first.json();
  const reports = meter.reports, writes = written.length;
  let pulled = 0;
  const retry = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled++ >= 1000) controller.close();
      else controller.enqueue(new Uint8Array(CHUNK));
    },
  }, { highWaterMark: 0 });
  const response = await hono.fetch(new Request("http://x/api/profile/svc", { method: "POST", body: retry, headers }));
  assert.equal(response.status, 201);
  assert.equal(response.headers.get("idempotent-replayed"), "true");
  assert.deepEqual(await response.json(), { key });
  assert.ok(pulled <= 1, `${pulled} chunks of the retry were read`);
  assert.equal(meter.reports, reports, "the retry held nothing");
  assert.equal(written.length, writes, "the retry wrote nothing");
});

/**
 * Writes a chunked body of `chunkBytes`-byte chunks to `conn` until `stop()` or `maxBytes`; returns
 * the bytes sent. The body is well-formed profile.proto as far as it goes (comment fields, `68 01`
 * repeated), so only the size limit can stop it, not the check while streaming.
 */
async function trickle(conn: Deno.Conn, chunkBytes: number, maxBytes: number, stop: () => boolean): Promise<number> {
  const encoder = new TextEncoder();
  const chunk = new Uint8Array(chunkBytes).map((_, i) => i % 2 ? 0x01 : 0x68);
  let sent = 0;
  while (!stop() && sent < maxBytes) {
    await conn.write(encoder.encode(`${chunkBytes.toString(16)}\r\n`));
    for (let off = 0; off < chunk.length;) off += await conn.write(chunk.subarray(off));
    await conn.write(encoder.encode("\r\n"));
    sent += chunkBytes;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return sent;
}

Deno.test("a slow chunked body past the limit is cut off with 413 while it streams, the limit at most buffered", async () => {
  const limit = 256 * 1024;
  const { hono, meter } = await serverApp(IN_THREAD_JOBS, { maxUploadBytes: limit });
  const server = startHttpServer("127.0.0.1", 0, hono.fetch, DEFAULT_CONN_GUARD);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await conn.write(
      new TextEncoder().encode(
        "POST /api/profile/svc HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\ncontent-type: application/octet-stream\r\n\r\n",
      ),
    );
    const offered = 256 * 1024 * 1024;
    let answer = "";
    const reading = (async () => {
      const buffer = new Uint8Array(4096);
      while (!answer.includes("\r\n\r\n{")) {
        const n = await conn.read(buffer).catch(() => null);
        if (n === null) break;
        answer += new TextDecoder().decode(buffer.subarray(0, n));
      }
    })();
    const sending = trickle(conn, 16 * 1024, offered, () => answer.length > 0).catch(() => -1);
    await reading;
    try {
      conn.closeWrite(); // a write blocked on a server that stopped reading ends here
    } catch { /* already closed */ }
    const sent = await sending;
    assert.match(answer, /^HTTP\/1\.1 413 /);
    const message = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4).split("\n")[0]).message;
    assert.equal(message, `upload exceeds the limit of ${limit} bytes`);
    assert.ok(sent === -1 || sent < offered, `the answer came while the body was still streaming (${sent} sent)`);
    assert.ok(meter.peakByKind.body <= limit, `buffered ${meter.peakByKind.body} bytes for a limit of ${limit}`);
    assert.equal(meter.live.body, 0);
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
    await server.shutdown(1000);
  }
});
