/**
 * A table of bad uploads against a real `autopgo server` (embedded, with `--token` and a small
 * `--max-upload-size`): each gets the right 4xx with the `{"message","code"}` JSON shape and
 * nothing is stored. Also: health and ready stay open with a token, unknown routes and wrong
 * methods answer JSON 404/405.
 *
 * @module
 */

import assert from "node:assert/strict";
import { encodeProfile } from "../core/pprof/encode.ts";
import { cpuProfile } from "./support/build_profiles.ts";
import { committedProfiles } from "./support/fixtures.ts";
import { listFiles, startAutopgo } from "./support/pipeline_process.ts";
import { readResponseHead, readUntilClosed } from "./support/raw_connection.ts";

const TOKEN = "s3cret-token";
const AUTH = { authorization: `Bearer ${TOKEN}` };

async function gzip(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * `chunks` chunks of `size` bytes: `head` (the start of a gzip bomb), then zeros. The upload check
 * inflates a gzip body's first 8 KiB while it streams; a bomb's inflate past its bound, so the check
 * leaves it alone, and only the size limit (413) stops the body while it streams.
 */
function slowStream(chunks: number, size: number, head: Uint8Array): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= chunks) return controller.close();
      const chunk = new Uint8Array(size);
      const at = sent++ * size;
      if (at < head.length) chunk.set(head.subarray(at, at + size));
      controller.enqueue(chunk);
    },
  });
}

Deno.test("bad uploads get the right 4xx and nothing is stored", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "autopgo-rejects-" });
  const server = await startAutopgo([
    "server",
    "--port",
    "0",
    "--host",
    "127.0.0.1",
    "--data-dir",
    dataDir,
    "--token",
    TOKEN,
    "--max-upload-size",
    "64KiB",
  ]);
  try {
    const good = await Deno.readFile(committedProfiles().cpu[0]);
    const heap = await Deno.readFile(committedProfiles().heap);
    const bomb = await gzip(new Uint8Array(16 * 1024 * 1024));
    assert.ok(bomb.byteLength < 64 * 1024, `bomb is ${bomb.byteLength} bytes compressed`);
    const cases: {
      name: string;
      path: string;
      body?: BodyInit;
      headers?: Record<string, string>;
      status: number;
      message: RegExp;
    }[] = [
      { name: "junk", path: "app", body: "hello, I am not a profile", status: 400, message: /invalid profile/ },
      { name: "empty", path: "app", body: "", status: 400, message: /invalid profile/ },
      {
        name: "truncated gzip",
        path: "app",
        body: good.slice(0, good.length >> 1),
        status: 400,
        message: /invalid profile/,
      },
      { name: "gzip bomb", path: "app", body: bomb as BodyInit, status: 400, message: /invalid profile/ },
      { name: "heap profile", path: "app", body: heap as BodyInit, status: 422, message: /not a CPU profile/ },
      {
        name: "CPU profile without samples",
        path: "app",
        body: encodeProfile(cpuProfile({})) as BodyInit,
        status: 422,
        message: /no samples/,
      },
      { name: "oversized", path: "app", body: new Uint8Array(100 * 1024) as BodyInit, status: 413, message: /limit/ },
      { name: "oversized, chunked", path: "app", body: slowStream(40, 4096, bomb), status: 413, message: /limit/ },
      {
        name: "corrupt gzip, chunked and oversized: refused while it streams",
        path: "app",
        body: slowStream(40, 4096, new Uint8Array([0x1f, 0x8b, 8])),
        status: 400,
        message: /invalid profile: decompressing profile: /,
      },
      {
        name: "junk, chunked and oversized: refused while it streams",
        path: "app",
        body: new Blob([new Uint8Array(100 * 1024).fill(7)]).stream(),
        status: 400,
        message: /invalid profile: parsing profile: unknown wire type 7 at byte 1/,
      },
      { name: "uppercase app", path: "MyApp", body: good as BodyInit, status: 400, message: /invalid app name/ },
      { name: "64-char app", path: "a".repeat(64), body: good as BodyInit, status: 400, message: /at most 63/ },
      { name: "underscore app", path: "my_app", body: good as BodyInit, status: 400, message: /invalid app name/ },
      { name: "empty app", path: "", body: good as BodyInit, status: 400, message: /must not be empty/ },
      {
        name: "missing token",
        path: "app",
        body: good as BodyInit,
        headers: {},
        status: 401,
        message: /missing bearer/,
      },
      {
        name: "wrong token",
        path: "app",
        body: good as BodyInit,
        headers: { authorization: "Bearer nope" },
        status: 401,
        message: /invalid bearer/,
      },
      {
        name: "basic auth",
        path: "app",
        body: good as BodyInit,
        headers: { authorization: "Basic Zm9vOmJhcg==" },
        status: 401,
        message: /Bearer/,
      },
    ];
    for (const c of cases) {
      const response = await fetch(`${server.url}/api/profile/${c.path}`, {
        method: "POST",
        body: c.body,
        headers: c.headers ?? AUTH,
      });
      const text = await response.text();
      assert.equal(response.status, c.status, `${c.name}: ${text}`);
      assert.match(response.headers.get("content-type") ?? "", /application\/json/, c.name);
      const json = JSON.parse(text);
      assert.equal(json.code, c.status, c.name);
      assert.match(json.message, c.message, c.name);
    }
    assert.deepEqual(await listFiles(dataDir), [], "nothing stored");
    // Reads need the token too; health and ready do not.
    assert.equal((await fetch(`${server.url}/api/profile`)).status, 401);
    assert.equal((await fetch(`${server.url}/api/profile/app`, { method: "DELETE" })).status, 401);
    const list = await fetch(`${server.url}/api/profile`, { headers: AUTH });
    assert.deepEqual(await list.json(), { profiles: [], rejected: [] }, "refused at the door: nothing set aside");
    assert.equal((await fetch(`${server.url}/api/profile/app`, { headers: AUTH })).status, 404);
    assert.equal((await fetch(`${server.url}/api/profile/app`, { method: "DELETE", headers: AUTH })).status, 404);
    for (const path of ["/api/health", "/api/ready"]) assert.equal((await fetch(server.url + path)).status, 200, path);
    const unknown = await fetch(`${server.url}/nope`);
    assert.deepEqual(await unknown.json(), { message: "Not Found: no route for GET /nope", code: 404 });
    const wrongMethod = await fetch(`${server.url}/api/profile/app`, { method: "PUT", headers: AUTH });
    assert.equal(wrongMethod.status, 405);
    assert.equal((await wrongMethod.json()).code, 405);
    assert.match(wrongMethod.headers.get("allow") ?? "", /POST/);
    // And a good upload with the token still works.
    const ok = await fetch(`${server.url}/api/profile/app`, { method: "POST", body: good as BodyInit, headers: AUTH });
    assert.equal(ok.status, 201, await ok.text());
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("slow clients cannot hold connections: unfinished heads time out, huge heads get 431", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "autopgo-slowloris-" });
  const server = await startAutopgo([
    "server",
    "--port",
    "0",
    "--host",
    "127.0.0.1",
    "--data-dir",
    dataDir,
    "--header-timeout",
    "1s",
    "--idle-timeout",
    "2s",
    "--request-timeout",
    "2s",
  ]);
  try {
    const port = Number(new URL(server.url).port);
    const encoder = new TextEncoder();
    // A head that never ends, trickled one header every 300 ms.
    const slow = await Deno.connect({ hostname: "127.0.0.1", port });
    await slow.write(encoder.encode("POST /api/profile/app HTTP/1.1\r\nHost: x\r\n"));
    const trickler = setInterval(() => slow.write(encoder.encode("X-Slow: 1\r\n")).catch(() => {}), 300);
    const slowResult = await readUntilClosed(slow, 15_000);
    clearInterval(trickler);
    assert.ok(slowResult.ms < 5_000, `unfinished head closed after ${slowResult.ms} ms`);
    // A connection that never sends anything.
    const silent = await Deno.connect({ hostname: "127.0.0.1", port });
    assert.ok((await readUntilClosed(silent, 15_000)).ms < 5_000, "silent connection closed");
    // A body that trickles: the request deadline answers 408.
    const body = await Deno.connect({ hostname: "127.0.0.1", port });
    await body.write(encoder.encode("POST /api/profile/app HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc"));
    const bodyResult = await readUntilClosed(body, 15_000);
    assert.match(bodyResult.text, /^HTTP\/1\.1 408/, bodyResult.text);
    // A giant head.
    const huge = await Deno.connect({ hostname: "127.0.0.1", port });
    await huge.write(encoder.encode(`GET /api/ready HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(70_000)}`)).catch(
      () => {},
    );
    assert.match((await readUntilClosed(huge, 15_000)).text, /^HTTP\/1\.1 431/);
    // Meanwhile normal requests are served.
    assert.equal((await fetch(`${server.url}/api/ready`)).status, 200);
    assert.deepEqual(await listFiles(dataDir), []);
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("an upload answered before its body is read (401, 413) is read to its end: a client that sends it all first gets the answer", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "autopgo-early-answer-" });
  const server = await startAutopgo([
    "server",
    ...["--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir, "--token", TOKEN, "--max-upload-size", "64KiB"],
  ]);
  const port = Number(new URL(server.url).port);
  const body = new Uint8Array(16 * 1024 * 1024); // far more than the socket buffers hold
  try {
    for (
      const [headers, status] of [["", "401 Unauthorized"], [
        `authorization: Bearer ${TOKEN}\r\n`,
        "413 Payload Too Large",
      ]]
    ) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      const head = `POST /api/profile/app HTTP/1.1\r\nhost: x\r\n${headers}content-length: ${body.byteLength}\r\n\r\n`;
      // Like a client that reads its answer only once its body is sent. The server stopped reading
      // after answering, and such a client waited until the body timeout closed the connection.
      const sent = (async () => {
        await conn.write(new TextEncoder().encode(head));
        for (let off = 0; off < body.byteLength;) off += await conn.write(body.subarray(off));
        return "sent";
      })().catch((error) => `failed: ${error}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stalled = new Promise<string>((resolve) => timer = setTimeout(() => resolve("stalled"), 20_000));
      const outcome = await Promise.race([sent, stalled]);
      clearTimeout(timer);
      const answer = (await readResponseHead(conn, 5_000)).text;
      conn.close();
      assert.equal(outcome, "sent", status);
      assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status}\\r\\n`));
    }
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});
