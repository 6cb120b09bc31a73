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
import { GZIP_PREFIX_BYTES, MIN_PREFIX, UploadStreamCheck } from "./upload_stream_check.ts";

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

const gz = new Uint8Array(gzipSync(raw));

/** `bytes` of letters and spaces from `next`: text that gzip shrinks by about half. */
function randomText(bytes: number, next: () => number): Uint8Array {
  const text = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) text[i] = next() < 0.15 ? 0x20 : 0x61 + Math.floor(next() * 26);
  return text;
}

/** Asserts `reason` is exactly the full check's message for `body`. */
function assertFullVerdict(reason: string | undefined, body: Uint8Array, what: string): void {
  const full = checkUploadBytes(body, LIMITS);
  assert.equal(full.status, "invalid", `${what}: refused early but the full check says ${full.status}`);
  if (full.status === "invalid") assert.equal(reason, full.message, what);
}

Deno.test("UploadStreamCheck follows a valid gzip profile in chunks of any size without a verdict", () => {
  assert.ok(gz.length > GZIP_PREFIX_BYTES, "the fixture is larger than the prefix looked at");
  const next = prng(11);
  for (let round = 0; round < 20; round++) assert.equal(stream(gz, next).reason, undefined);
  const reserved = gz.slice();
  reserved[3] |= 0xe0; // reserved FLG bits: Go ignores them, and so do both checks
  assert.equal(checkUploadBytes(reserved, LIMITS).status, "usable");
  assert.equal(stream(reserved, next).reason, undefined);
  const split = new UploadStreamCheck(resolveDecodeLimits(LIMITS));
  assert.equal(split.push(gz.subarray(0, 1), gz.subarray(0, 1)), undefined, "magic split across chunks");
  assert.equal(split.push(gz.subarray(1, 400), gz.subarray(0, 400)), undefined);
  assert.equal(split.push(gz.subarray(400), gz), undefined);
});

Deno.test("UploadStreamCheck refuses a gzip body corrupt in its first bytes once the prefix is here, with the full check's message", () => {
  const corrupt = gz.slice();
  corrupt.fill(0xff, 20);
  const { reason, at } = stream(corrupt, prng(3));
  assert.ok(reason?.startsWith("decompressing profile: "), String(reason));
  assert.ok(at < GZIP_PREFIX_BYTES + 4096, `refused after ${at} bytes`);
  assertFullVerdict(reason, corrupt, "corrupt gzip");
});

Deno.test("UploadStreamCheck refuses gzip of something else than a profile while it streams", () => {
  const body = new Uint8Array(gzipSync(randomText(64 * 1024, prng(5))));
  assert.ok(body.length > 2 * GZIP_PREFIX_BYTES);
  const { reason, at } = stream(body, prng(6));
  assert.ok(reason !== undefined && at < GZIP_PREFIX_BYTES + 4096, `refused after ${at} bytes: ${reason}`);
  assertFullVerdict(reason, body, "gzip of text");
});

Deno.test("UploadStreamCheck: early verdicts on gzip bodies, 300 profiles mutated then compressed and 300 compressed then mutated", () => {
  const next = prng(77);
  let early = 0;
  for (let i = 0; i < 300; i++) {
    const mutated = raw.slice();
    const at = Math.floor(next() * Math.min(mutated.length, 16 * 1024));
    for (let k = 0; k < 1 + Math.floor(next() * 4); k++) mutated[at + k] = Math.floor(next() * 256);
    const body = new Uint8Array(gzipSync(mutated));
    const { reason } = stream(body, next);
    if (reason === undefined) continue;
    early++;
    assertFullVerdict(reason, body, `mutation ${i} before gzip`); // a sound stream: exactly the full check's
  }
  assert.ok(early >= 10, `only ${early} of 300 mutated profiles were refused while streaming`);
  let decompress = 0;
  for (let i = 0; i < 300; i++) {
    const body = gz.slice();
    const at = 10 + Math.floor(next() * (GZIP_PREFIX_BYTES - 20));
    for (let k = 0; k < 1 + Math.floor(next() * 4); k++) body[at + k] = Math.floor(next() * 256);
    const { reason } = stream(body, next);
    if (reason === undefined) continue;
    const full = checkUploadBytes(body, LIMITS);
    assert.equal(
      full.status,
      "invalid",
      `mutation ${i} of the gzip: refused early, the full check says ${full.status}`,
    );
    if (reason.startsWith("decompressing profile: ")) {
      decompress++;
      assertFullVerdict(reason, body, `mutation ${i} of the gzip`);
    }
  }
  assert.ok(decompress >= 50, `only ${decompress} of 300 corrupt gzip bodies were refused while streaming`);
});

Deno.test("UploadStreamCheck leaves a gzip bomb and a body that has all arrived to the full check", () => {
  const bomb = new Uint8Array(gzipSync(new Uint8Array(24 * 1024 * 1024)));
  assert.ok(bomb.length > GZIP_PREFIX_BYTES);
  assert.equal(stream(bomb, prng(8)).reason, undefined, "its prefix inflates past the bound: not inflated further");
  assert.equal(checkUploadBytes(bomb, LIMITS).status, "invalid");
  const corrupt = gz.slice();
  corrupt.fill(0xff, 20);
  const whole = new UploadStreamCheck(resolveDecodeLimits(LIMITS), corrupt.length);
  assert.equal(whole.push(corrupt, corrupt), undefined, "Content-Length says it is all here: the full check is next");
  const unknown = new UploadStreamCheck(resolveDecodeLimits(LIMITS));
  assert.ok(unknown.push(corrupt, corrupt) !== undefined, "no Content-Length: looked at");
});

/** A server app on an in-memory store, checking uploads on the calling thread. */
async function serverApp() {
  const store = await openMemBlobStore("mem://");
  const hono = createServerApp({
    store,
    publisher: { publish: () => Promise.resolve() },
    clock: () => new Date(),
    randomSuffix: () => "r",
    healthChecks: [],
    jobs: IN_THREAD_JOBS,
  });
  return { store, hono };
}

async function keysOf(store: { list(prefix: string): AsyncIterable<{ key: string }> }): Promise<string[]> {
  const keys = [];
  for await (const info of store.list("")) keys.push(info.key);
  return keys;
}

Deno.test("the server refuses a junk upload while it streams: 400, the rest unread, nothing stored", async () => {
  const { store, hono } = await serverApp();
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
  assert.deepEqual(await keysOf(store), [], "nothing stored");
});

Deno.test("the server refuses gzip of something else than a profile while it streams: 400, the rest unread", async () => {
  const { store, hono } = await serverApp();
  const gzipped = new Uint8Array(gzipSync(randomText(4 * 1024 * 1024, prng(9))));
  const chunk = 4096;
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const at = pulled++ * chunk;
      if (at >= gzipped.length) controller.close();
      else controller.enqueue(gzipped.slice(at, at + chunk));
    },
  }, { highWaterMark: 0 });
  const response = await hono.fetch(new Request("http://x/api/profile/svc", { method: "POST", body }));
  const { message } = await response.json();
  assert.equal(response.status, 400);
  const full = checkUploadBytes(gzipped, LIMITS);
  assert.equal(full.status, "invalid");
  if (full.status === "invalid") assert.equal(message, `invalid profile: ${full.message}`);
  const chunks = Math.ceil(gzipped.length / chunk);
  assert.ok(pulled <= GZIP_PREFIX_BYTES / chunk + 2, `read ${pulled} of ${chunks} chunks of the body`);
  assert.deepEqual(await keysOf(store), [], "nothing stored");
});
