/**
 * Unit tests of the connection guard's request framing (core/pipeline/conn_guard.ts): it must
 * know exactly where each request head and body ends — Content-Length, chunked with extensions
 * and trailers, pipelined requests, byte-by-byte delivery — or its timeouts would cut healthy
 * connections or miss slow ones.
 *
 * @module
 */

import assert from "node:assert/strict";
import { RequestFramer } from "../core/pipeline/request_framer.ts";
import { startHttpServer } from "../core/pipeline/http_serve.ts";
import { startConnGuard } from "../core/pipeline/conn_guard.ts";
import { HTTP2_REFUSAL } from "../core/pipeline/guard_answers.ts";
import { rawExchange } from "./support/raw_connection.ts";

const enc = (s: string) => new TextEncoder().encode(s);
/** `request` asking the server to close the connection after answering it. */
const closing = (request: string) => request.replace("host: x\r\n", "host: x\r\nconnection: close\r\n");

function feed(framer: RequestFramer, text: string, byteByByte = false): void {
  const bytes = enc(text);
  if (!byteByByte) return framer.push(bytes);
  for (const b of bytes) framer.push(new Uint8Array([b]));
}

Deno.test("framer: heads, Content-Length bodies and pipelining", () => {
  for (const byteByByte of [false, true]) {
    const f = new RequestFramer(1024);
    assert.equal(f.phase, "idle");
    feed(f, "GET /a HTTP/1.1\r\nHost: x\r\n", byteByByte);
    assert.equal(f.phase, "head");
    feed(f, "\r\n", byteByByte);
    assert.equal(f.phase, "idle");
    feed(f, "POST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", byteByByte);
    assert.equal(f.phase, "body");
    feed(f, "cde", byteByByte);
    assert.equal(f.phase, "idle");
    feed(f, "GET /c HTTP/1.1\r\n\r\nGET /d HTTP/1.1\r\nContent-Length: 0\r\n\r\nPOST", byteByByte);
    assert.equal(f.phase, "head");
    assert.equal(f.headsStarted, 5);
  }
});

Deno.test("framer: chunked bodies with extensions and trailers", () => {
  for (const byteByByte of [false, true]) {
    const f = new RequestFramer(1024);
    feed(f, "POST /u HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", byteByByte);
    assert.equal(f.phase, "body");
    feed(f, "4;name=val\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n", byteByByte);
    assert.equal(f.phase, "body");
    feed(f, "0\r\nX-Trailer: 1\r\n", byteByByte);
    assert.equal(f.phase, "body");
    feed(f, "\r\n", byteByByte);
    assert.equal(f.phase, "idle");
    feed(f, "GET / HTTP/1.1\r\n", byteByByte);
    assert.equal(f.phase, "head");
  }
});

Deno.test("framer: oversized heads, upgrade requests and malformed lengths", () => {
  const big = new RequestFramer(64);
  feed(big, `GET / HTTP/1.1\r\nX: ${"a".repeat(100)}`);
  assert.equal(big.phase, "overflow");
  const upgrade = new RequestFramer(1024);
  feed(upgrade, "GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  assert.equal(upgrade.phase, "idle", "no upgrades are served: the request is framed like any other");
  const bad = new RequestFramer(1024);
  feed(bad, "POST / HTTP/1.1\r\nContent-Length: nope\r\n\r\n");
  assert.equal(bad.phase, "malformed", "answered 400 by the guard (tests/pipeline_request_head_test.ts)");
  assert.equal(bad.malformedHead, 'invalid Content-Length "nope"');
  const padded = new RequestFramer(64 * 1024);
  feed(padded, `POST / HTTP/1.1\r\nContent-Length: ${"0".repeat(2000)}5\r\n\r\n`);
  assert.equal(padded.phase, "raw", "a framing header too long to keep is left to the server");
});

Deno.test("framer: a broken chunked body (chunk size, missing CRLF, trailer line) loses its framing, and says why", () => {
  for (const size of ["zz", "-1", "1 2", "FFFFFFFFFFFFFFFFF", ""]) {
    const f = new RequestFramer(1024);
    feed(f, `POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n${size}\r\nabc`);
    assert.equal(f.phase, "raw", size);
    assert.match(f.malformedBody ?? "", /^invalid chunk size /, size);
  }
  for (
    const [body, why] of [
      ["3\r\nabcX0\r\n\r\n", /^chunk data not followed by CRLF$/],
      ["0\r\nnot a header\r\n\r\n", /^invalid trailer line$/],
    ] as const
  ) {
    const f = new RequestFramer(1024);
    feed(f, `POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
    assert.equal(f.phase, "raw", body);
    assert.match(f.malformedBody ?? "", why);
  }
  const ok = new RequestFramer(1024);
  feed(ok, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n000000000000000000003;x=y\r\nabc\r\n0\r\n\r\n");
  assert.equal(ok.phase, "idle", "leading zeros do not count against 64 bits");
  assert.equal(ok.malformedBody, undefined);
});

Deno.test("framer: a trailer section over the head's limit overflows, a chunk-size line over 4 KiB loses framing", () => {
  for (const byteByByte of [false, true]) {
    const fits = new RequestFramer(1024);
    feed(
      fits,
      `POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: ${"a".repeat(1000)}\r\n\r\n`,
      byteByByte,
    );
    assert.equal(fits.phase, "idle", "a trailer section within the limit");
    feed(fits, `POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n${"X-T: a\r\n".repeat(200)}`, byteByByte);
    assert.equal(fits.phase, "overflow", "the limit counts the section, not each line");
    assert.equal(fits.overflowPart, "trailers");
    const long = new RequestFramer(64 * 1024);
    feed(long, `POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;${"e".repeat(5000)}`, byteByByte);
    assert.equal(long.phase, "raw");
    assert.equal(long.malformedBody, "chunk size line over 4096 bytes");
  }
  const head = new RequestFramer(64);
  feed(head, `GET / HTTP/1.1\r\nX: ${"a".repeat(100)}`);
  assert.equal(head.overflowPart, "head");
});

Deno.test("guard: endless trailers are answered 431 and closed, never buffered by the server", async () => {
  const guard = { headerTimeoutMs: 2_000, idleTimeoutMs: 2_000, bodyTimeoutMs: 2_000, maxHeaderBytes: 8 * 1024 };
  const server = startHttpServer("127.0.0.1", 0, async (request) => {
    await request.arrayBuffer();
    return new Response("done");
  }, guard);
  try {
    const head = "POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n";
    // 8 KiB of trailers and more on their way (the server held 800 MB of them after 10 s before).
    const answer = await rawExchange(server.port, [head, "X-T: a\r\n".repeat(2_000)]);
    assert.match(answer, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n[\s\S]*"request trailers too large"/);
    assert.match(
      await rawExchange(server.port, [closing(`${head}X-T: 1\r\n\r\n`)]),
      /^HTTP\/1\.1 200 OK[\s\S]*done$/,
      "a small trailer section is still the server's",
    );
  } finally {
    await server.shutdown(0);
  }
});

Deno.test("guard: pipelined requests reach the server one at a time, each once the one before has an answer", async () => {
  // A raw upstream records what reaches it; the guard relays to it.
  const upstream = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const guard = startConnGuard("127.0.0.1", 0, (upstream.addr as Deno.NetAddr).port, {
    headerTimeoutMs: 5_000,
    idleTimeoutMs: 5_000,
    bodyTimeoutMs: 5_000,
    maxHeaderBytes: 64 * 1024,
  });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: guard.port });
  try {
    const get = (i: number) => `GET /${i} HTTP/1.1\r\nhost: x\r\n\r\n`;
    const post = "POST /p HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc";
    await client.write(enc(get(1) + post + get(3) + get(4))); // all in one write
    const server = await upstream.accept();
    const received = async () => {
      const buffer = new Uint8Array(4096);
      const n = await server.read(buffer);
      await new Promise((resolve) => setTimeout(resolve, 100)); // nothing more may follow
      return new TextDecoder().decode(buffer.subarray(0, n ?? 0));
    };
    assert.equal(await received(), get(1), "the first request alone");
    await server.write(enc("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"));
    assert.equal(await received(), post, "the next one, body included, once the first has an answer");
    await server.write(enc("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"));
    assert.equal(await received(), get(3));
    await server.write(enc("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"));
    assert.equal(await received(), get(4));
    await server.write(enc("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"));
    // An upload answered before its body is all sent (a 413, a 401): that answer counts, and the
    // next request on the connection is not held back waiting for another.
    await client.write(enc("POST /big HTTP/1.1\r\nhost: x\r\ncontent-length: 6\r\n\r\n"));
    assert.equal(await received(), "POST /big HTTP/1.1\r\nhost: x\r\ncontent-length: 6\r\n\r\n");
    await server.write(enc("HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\n\r\n"));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await client.write(enc(`abcdef${get(5)}`));
    assert.equal(await received(), `abcdef${get(5)}`);
    server.close();
  } finally {
    client.close();
    upstream.close();
    guard.stopAccepting();
    await guard.drain(0);
  }
});

Deno.test("framer: HTTP/2's connection preface is refused, not framed as a request", () => {
  for (const byteByByte of [false, true]) {
    const f = new RequestFramer(1024);
    feed(f, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04", byteByByte);
    assert.equal(f.phase, "refused");
  }
  const h1 = new RequestFramer(1024);
  feed(h1, "GET /PRI HTTP/1.1\r\n\r\n");
  assert.equal(h1.phase, "idle");
});

Deno.test("guard: an HTTP/2 client is told in HTTP/2 (GOAWAY, HTTP_1_1_REQUIRED) that only HTTP/1.1 is served", async () => {
  const guard = { headerTimeoutMs: 2_000, idleTimeoutMs: 2_000, bodyTimeoutMs: 2_000, maxHeaderBytes: 64 * 1024 };
  const server = startHttpServer("127.0.0.1", 0, () => new Response("ok"), guard);
  try {
    const answer = await rawExchange(server.port, [
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
    ]);
    const bytes = Uint8Array.from(answer, (c) => c.charCodeAt(0));
    assert.deepEqual(bytes.subarray(0, 9), Uint8Array.from([0, 0, 0, 4, 0, 0, 0, 0, 0]), "an empty SETTINGS frame");
    assert.equal(bytes[12], 0x7, "then a GOAWAY frame");
    assert.equal(new DataView(bytes.buffer).getUint32(22), 0xd, "error code HTTP_1_1_REQUIRED");
    assert.equal(answer.slice(26), "HTTP/2 is not served here: use HTTP/1.1");
    assert.deepEqual(bytes, HTTP2_REFUSAL);
  } finally {
    await server.shutdown(0);
  }
});

Deno.test("framer: bare line feeds, long lines and many short ones", () => {
  for (const byteByByte of [false, true]) {
    const f = new RequestFramer(64 * 1024);
    feed(f, `GET /${"a".repeat(5000)} HTTP/1.1\nX-Long: ${"b".repeat(5000)}\ncontent-length: 2\n\nok`, byteByByte);
    assert.equal(f.phase, "idle", "LF-only line ends, lines longer than the framing keeps");
    feed(f, `GET / HTTP/1.1\r\n${"a:\r\n".repeat(128)}\r\n`, byteByByte);
    assert.equal(f.phase, "idle", "a head of 128 header lines");
    assert.equal(f.headsStarted, 2);
    feed(f, `GET / HTTP/1.1\r\n${"a:\r\n".repeat(10_000)}\r\n`, byteByByte);
    assert.equal(f.phase, "malformed", "a head of 10,000 header lines: refused at the 129th");
    assert.equal(f.malformedHead, "more than 128 header fields");
  }
});

Deno.test("guard: a request that arrives whole is answered however long the server works, within the response timeout", async () => {
  const guard = { headerTimeoutMs: 300, idleTimeoutMs: 300, bodyTimeoutMs: 300, maxHeaderBytes: 64 * 1024 };
  const server = startHttpServer("127.0.0.1", 0, async (request) => {
    await request.arrayBuffer();
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // longer than every client timeout
    return new Response("done");
  }, { ...guard, responseTimeoutMs: 5_000 });
  let release = () => {};
  const forgotten = new Promise<Response>((resolve) => release = () => resolve(new Response("late")));
  const quiet = startHttpServer("127.0.0.1", 0, () => forgotten, {
    ...guard,
    responseTimeoutMs: 600,
  });
  try {
    for (
      const request of [
        "GET / HTTP/1.1\r\nhost: x\r\n\r\n",
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n\r\nbody",
      ]
    ) {
      const answer = await rawExchange(server.port, [closing(request)]); // head (and body) in one write
      assert.match(answer, /^HTTP\/1\.1 200 OK\r\n[\s\S]*done$/, request);
    }
    // A server that never answers: the connection is closed once the response timeout has passed.
    assert.equal(await rawExchange(quiet.port, [closing("GET / HTTP/1.1\r\nhost: x\r\n\r\n")]), "");
  } finally {
    release();
    await server.shutdown(0);
    await quiet.shutdown(0);
  }
});

Deno.test("guard: a broken chunked body is answered 400 with the reason, where the server would only close", async () => {
  const guard = { headerTimeoutMs: 2_000, idleTimeoutMs: 2_000, bodyTimeoutMs: 2_000, maxHeaderBytes: 64 * 1024 };
  const server = startHttpServer("127.0.0.1", 0, async (request) => {
    await request.arrayBuffer();
    return new Response("done");
  }, guard);
  try {
    const head = "POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n";
    for (
      const broken of ["zz\r\nabc", "FFFFFFFFFFFFFFFFFFFF\r\nabc", "3\r\nabcX0\r\n\r\n", "0\r\nnot a header\r\n\r\n"]
    ) {
      const answer = await rawExchange(server.port, [closing(`${head}${broken}`)]);
      assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/, broken);
      const body = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4));
      assert.equal(body.code, 400);
      assert.match(
        body.message,
        /^malformed chunked request body: (invalid chunk size |chunk data not|invalid trailer)/,
      );
    }
    // A well-formed chunked body is still the server's to answer.
    assert.match(
      await rawExchange(server.port, [closing(`${head}3\r\nabc\r\n0\r\n\r\n`)]),
      /^HTTP\/1\.1 200 OK[\s\S]*done$/,
    );
  } finally {
    await server.shutdown(0);
  }
});
