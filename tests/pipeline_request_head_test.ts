/**
 * Malformed request heads (core/pipeline/request_head.ts): `Deno.serve` answers them 400 with no
 * body; the connection guard finds them first, never relays them, and answers 400 with the reason
 * once the server has answered the requests before them. Heads `Deno.serve` accepts must pass.
 *
 * @module
 */

import assert from "node:assert/strict";
import { HeldBytes } from "../core/pipeline/held_bytes.ts";
import { RequestFramer } from "../core/pipeline/request_framer.ts";
import { startHttpServer } from "../core/pipeline/http_serve.ts";
import { rawExchange } from "./support/raw_connection.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** Heads refused by `Deno.serve` (each answered a bare 400 by a running server), and the reason given. */
const MALFORMED: [string, RegExp][] = [
  ["GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", /^header line without a colon "Bad Header"$/],
  ["GET / HTTP/1.1\r\nHo st: x\r\n\r\n", /^invalid header name "Ho st"$/],
  ["GET / HTTP/1.1\r\nHost : x\r\n\r\n", /^invalid header name "Host "$/],
  ["GET / HTTP/1.1\r\n: v\r\n\r\n", /^invalid header name ""$/],
  ["GARBAGE\r\n\r\n", /^invalid request line "GARBAGE"$/],
  ["GET /\r\nHost: x\r\n\r\n", /^invalid request line "GET \/"$/],
  ["GET  / HTTP/1.1\r\n\r\n", /^invalid request line /],
  ["G(T / HTTP/1.1\r\n\r\n", /^invalid method "G\(T"$/],
  ["GET /a\x01b HTTP/1.1\r\n\r\n", /^invalid request target /],
  ["GET / HTTP/9.9\r\n\r\n", /^unsupported HTTP version "HTTP\/9.9"$/],
  ["GET / HTTP/1.1\r\nX-A: a\x00b\r\n\r\n", /^control character in header X-A$/],
  ["GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", /^header line folded onto the one before/],
  ["POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", /^invalid Content-Length "abc"$/],
  ["POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", /^invalid Content-Length "-1"$/],
  ["POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", /^Content-Length too large /],
  ["POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", /^conflicting Content-Length values$/],
  ["POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\nhello", /^conflicting Content-Length values$/],
  ["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", /^both Transfer-Encoding/],
  ["POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", /^Transfer-Encoding does not end with chunked$/],
  ["GET / HTTP/1.1\r\nHost: x\r\nhost: x\r\n\r\n", /^more than one Host header$/],
  [`GET / HTTP/1.1\r\n${"X-A: 1\r\n".repeat(129)}\r\n`, /^more than 128 header fields$/],
];

/** Heads `Deno.serve` accepts: none may be refused. */
const WELL_FORMED = [
  "GET / HTTP/1.1\nHost: x\n\n",
  "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
  "GET / HTTP/1.0\r\n\r\n",
  "OPTIONS * HTTP/1.1\r\n\r\n",
  "GET http://x/a?b=c HTTP/1.1\r\nHost: x\r\n\r\n",
  "get /a HTTP/1.1\r\nX-Empty:\r\nX-Tab: a\tb\r\nX-Text: caf\xe9\r\n\r\n",
  "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
  "POST / HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\nok",
  "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
  `GET / HTTP/1.1\r\nHost: x\r\n${"X-A: 1\r\n".repeat(127)}\r\n`,
];

Deno.test("framer: malformed heads are refused with the reason, byte by byte too; well-formed ones pass", () => {
  for (const byteByByte of [false, true]) {
    for (const [head, why] of MALFORMED) {
      const f = new RequestFramer(64 * 1024);
      const bytes = Uint8Array.from(head, (c) => c.charCodeAt(0));
      if (byteByByte) bytes.forEach((b) => f.push(new Uint8Array([b])));
      else f.push(bytes);
      assert.equal(f.phase, "malformed", JSON.stringify(head));
      assert.match(f.malformedHead ?? "", why, JSON.stringify(head));
    }
    for (const head of WELL_FORMED) {
      const f = new RequestFramer(64 * 1024);
      const bytes = Uint8Array.from(head, (c) => c.charCodeAt(0));
      if (byteByByte) bytes.forEach((b) => f.push(new Uint8Array([b])));
      else f.push(bytes);
      assert.equal(f.phase, "idle", JSON.stringify(head));
      assert.equal(f.malformedHead, undefined);
    }
  }
});

Deno.test("framer: where a malformed head starts in what was read, and what an incomplete head holds back", () => {
  const f = new RequestFramer(1024);
  const good = "GET /a HTTP/1.1\r\n\r\n";
  const bad = "GET /b HTTP/1.1\r\nNo colon\r\n";
  f.push(enc(`${good}${bad}rest of it\r\n\r\n`));
  assert.equal(f.phase, "malformed");
  assert.equal(f.consumed, good.length + bad.length, "reading stops after the faulty line");
  assert.equal(f.pendingHeadBytes, bad.length, "the bytes of the malformed head");
  const g = new RequestFramer(1024);
  g.push(enc(`${good}GET /c HT`));
  assert.equal(g.phase, "head");
  assert.equal(g.pendingHeadBytes, "GET /c HT".length);
  g.push(enc("TP/1.1\r\n\r\n"));
  assert.equal([g.phase, g.pendingHeadBytes].join(), "idle,0");
});

Deno.test("guard: a malformed head is answered 400 with the reason after the requests before it, and never reaches the server", async () => {
  const guard = { headerTimeoutMs: 2_000, idleTimeoutMs: 2_000, bodyTimeoutMs: 2_000, maxHeaderBytes: 64 * 1024 };
  const seen: string[] = [];
  const server = startHttpServer("127.0.0.1", 0, async (request) => {
    seen.push(new URL(request.url).pathname);
    await request.arrayBuffer();
    return new Response(`done ${new URL(request.url).pathname}`);
  }, guard);
  try {
    for (const [head, why] of MALFORMED) {
      const answer = await rawExchange(server.port, [head]);
      assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/, JSON.stringify(head));
      const body = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4));
      assert.equal(body.code, 400);
      assert.match(body.message.replace(/^malformed request head: /, ""), why);
    }
    assert.deepEqual(seen, [], "no malformed head reached the server");
    // Pipelined: the good request first is answered, then the 400; a head trickled in pieces is held and relayed whole.
    const answer = await rawExchange(server.port, [
      "GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HT",
      "TP/1.1\r\nHost: x\r\n\r\nGET /third HTTP/1.1\r\nBad Header\r\n\r\n",
    ]);
    assert.match(
      answer,
      /^HTTP\/1\.1 200 OK[\s\S]*done \/first[\s\S]*200 OK[\s\S]*done \/second[\s\S]*HTTP\/1\.1 400 /,
    );
    assert.match(answer, /"message":"malformed request head: header line without a colon \\"Bad Header\\""/);
    assert.deepEqual(seen, ["/first", "/second"]);
  } finally {
    await server.shutdown(0);
  }
});

Deno.test("server: a Host header that makes no URL is answered 400, and a handler's failure a JSON 500, without a stack", async () => {
  const guard = { headerTimeoutMs: 2_000, idleTimeoutMs: 2_000, bodyTimeoutMs: 2_000, maxHeaderBytes: 64 * 1024 };
  for (const options of [guard, undefined]) {
    const server = startHttpServer("127.0.0.1", 0, (request) => {
      if (new URL(request.url).pathname === "/fail") throw new Error("broken\nhandler");
      return new Response("ok");
    }, options);
    try {
      // Each of these made every `new URL(request.url)` throw (Deno builds the URL from the Host unchecked).
      for (const host of ["a b", "a:b", "a:99999", "[zz]", "a%zz", "a|b", "999.1.1.1"]) {
        const answer = await rawExchange(server.port, [`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`]);
        assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/, host);
        const body = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4));
        assert.deepEqual(body, { message: `invalid Host header ${JSON.stringify(host)}`, code: 400 });
      }
      const ok = await rawExchange(server.port, ["GET / HTTP/1.1\r\nHost: [::1]:80\r\nConnection: close\r\n\r\n"]);
      assert.match(ok, /^HTTP\/1\.1 200 OK[\s\S]*ok$/);
      const failed = await rawExchange(server.port, ["GET /fail HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"]);
      assert.match(failed, /^HTTP\/1\.1 500 Internal Server Error\r\n/);
      assert.deepEqual(JSON.parse(failed.slice(failed.indexOf("\r\n\r\n") + 4)), {
        message: "internal server error",
        code: 500,
      });
    } finally {
      await server.shutdown(0);
    }
  }
});

Deno.test("held bytes: appended one at a time, taken from the front, the rest kept in order", () => {
  const held = new HeldBytes();
  for (let i = 0; i < 70_000; i++) held.append(new Uint8Array([i & 0xff]));
  assert.equal(held.length, 70_000);
  const front = held.take(3);
  assert.deepEqual([...front], [0, 1, 2]);
  assert.equal(held.length, 69_997);
  held.append(new Uint8Array([7, 7]));
  const rest = held.take(held.length);
  assert.equal(rest.length, 69_999);
  assert.deepEqual([rest[0], rest[69_996], rest[69_997], rest[69_998]], [3, 69_999 & 0xff, 7, 7]);
  assert.equal(held.length, 0);
  assert.equal(held.take(0).length, 0);
});
