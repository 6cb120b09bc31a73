import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { openMemBlobStore } from "../../adapters/blob/mem_blob.ts";
import { decodeProfile } from "../pprof/decode.ts";
import { encodeUncompressed } from "../pprof/encode.ts";
import { resolveDecodeLimits } from "../pprof/limits.ts";
import { committedProfiles } from "../../tests/support/fixtures.ts";
import { checkUploadBytes, IN_THREAD_JOBS } from "./profile_jobs.ts";
import { createServerApp } from "./server_app.ts";
import { uploadDecodeLimits } from "./upload_limits.ts";
import { MIN_PREFIX, UploadStreamCheck } from "./upload_stream_check.ts";

const LIMITS = uploadDecodeLimits(64 * 1024 * 1024);
const raw = encodeUncompressed(decodeProfile(await Deno.readFile(committedProfiles().cpuLabelled[0])));

/** xorshift32: the same mutations on every run. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** Feeds `body` to a fresh check in chunks of sizes drawn from `next`; the reason and the bytes fed when it came. */
function stream(body: Uint8Array, next: () => number): { reason?: string; at: number } {
  const check = new UploadStreamCheck(resolveDecodeLimits(LIMITS));
  for (let at = 0; at < body.length;) {
    const end = Math.min(body.length, at + 1 + Math.floor(next() * 4096));
    const reason = check.push(body.subarray(at, end), body.subarray(0, end));
    at = end;
    if (reason !== undefined) return { reason, at };
  }
  return { at: body.length };
}

Deno.test("UploadStreamCheck follows a valid profile in chunks of any size without a verdict", () => {
  const next = prng(7);
  for (let round = 0; round < 20; round++) assert.equal(stream(raw, next).reason, undefined);
  assert.equal(stream(raw, () => 0).reason, undefined, "one byte at a time");
});

Deno.test("UploadStreamCheck: every early verdict is exactly the full check's, on 400 mutated profiles", () => {
  const next = prng(42);
  let early = 0;
  for (let i = 0; i < 400; i++) {
    const body = raw.slice();
    const at = Math.floor(next() * body.length);
    for (let k = 0; k < 1 + Math.floor(next() * 4); k++) body[at + k] = Math.floor(next() * 256);
    const { reason, at: stopped } = stream(body, next);
    if (reason === undefined) continue;
    early++;
    const full = checkUploadBytes(body, LIMITS);
    assert.equal(full.status, "invalid", `mutation ${i}: refused early but the full check says ${full.status}`);
    if (full.status === "invalid") assert.equal(reason, full.message, `mutation ${i}`);
    assert.ok(stopped <= body.length);
  }
  assert.ok(early >= 20, `only ${early} of 400 mutations were refused while streaming`);
});

Deno.test("UploadStreamCheck refuses junk once it has MIN_PREFIX bytes, with the full check's message", () => {
  const junk = new TextEncoder().encode("hello, I am not a profile ".repeat(40));
  const check = new UploadStreamCheck(resolveDecodeLimits(LIMITS));
  assert.equal(check.push(junk.subarray(0, 10), junk.subarray(0, 10)), undefined, "waits for more bytes");
  const reason = check.push(junk.subarray(10, MIN_PREFIX), junk.subarray(0, MIN_PREFIX));
  const full = checkUploadBytes(junk, LIMITS);
  assert.equal(full.status, "invalid");
  if (full.status === "invalid") assert.equal(reason, full.message);
});

Deno.test("UploadStreamCheck leaves gzip bodies to the full check", () => {
  const gz = new Uint8Array(gzipSync(raw));
  gz.fill(0xff, 20); // corrupt after the header: the full check will refuse it, not the stream
  assert.equal(stream(gz, prng(3)).reason, undefined);
  const split = new UploadStreamCheck(resolveDecodeLimits(LIMITS));
  assert.equal(split.push(gz.subarray(0, 1), gz.subarray(0, 1)), undefined);
  assert.equal(split.push(gz.subarray(1, 400), gz.subarray(0, 400)), undefined, "magic split across chunks");
});

Deno.test("the server refuses a junk upload while it streams: 400, the rest unread, nothing stored", async () => {
  const store = await openMemBlobStore("mem://");
  const hono = createServerApp({
    store,
    publisher: { publish: () => Promise.resolve() },
    clock: () => new Date(),
    randomSuffix: () => "r",
    healthChecks: [],
    jobs: IN_THREAD_JOBS,
  });
  let pulled = 0;
  const line = new TextEncoder().encode("<html><body>not a profile</body></html>\n".repeat(100));
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled++ >= 10_000) controller.close(); // 40 MB offered
      else controller.enqueue(line.slice());
    },
  }, { highWaterMark: 0 });
  const response = await hono.fetch(new Request("http://x/api/profile/svc", { method: "POST", body }));
  const { message } = await response.json();
  assert.equal(response.status, 400);
  const full = checkUploadBytes(line, LIMITS);
  assert.equal(full.status, "invalid");
  if (full.status === "invalid") assert.equal(message, `invalid profile: ${full.message}`);
  assert.ok(pulled <= 2, `read ${pulled} chunks of a junk body`);
  const keys = [];
  for await (const info of store.list("")) keys.push(info.key);
  assert.deepEqual(keys, []);
});
