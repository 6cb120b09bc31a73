/**
 * accessLog: one line per request with method, route, app, status, bytes in and out and
 * duration, as message and properties; probes at debug, failures at warning.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Hono } from "hono";
import type { Logger } from "@logtape/logtape";
import { accessLog, formatAccessLine, rebuildableWithBody } from "./access_log.ts";

type Line = { level: string; message: string; props: Record<string, unknown> };

function fakeLogger(lines: Line[]): Logger {
  const at = (level: string) => (message: string, props: Record<string, unknown>) =>
    lines.push({ level, message, props });
  return { debug: at("debug"), info: at("info"), warn: at("warning") } as unknown as Logger;
}

function app(lines: Line[]): Hono {
  const app = new Hono();
  app.use("*", accessLog({ logger: fakeLogger(lines) }));
  app.get("/api/health", (c) => c.json({ status: "healthy" }));
  app.post(
    "/api/profile/:app",
    async (c) => c.json({ key: `${c.req.param("app")}/${(await c.req.text()).length}` }, 201),
  );
  app.get(
    "/api/profile/:app",
    (c) => c.body(new Uint8Array(1000), 200, { "content-length": "1000", "content-type": "application/octet-stream" }),
  );
  app.get("/boom", () => {
    throw new Error("x");
  });
  app.onError((_, c) => c.json({ message: "failed" }, 500));
  return app;
}

async function settle(response: Response): Promise<string> {
  const text = await response.text();
  await new Promise((resolve) => setTimeout(resolve, 0));
  return text;
}

Deno.test("accessLog: one line with bytes counted as they flow", async () => {
  const lines: Line[] = [];
  const a = app(lines);
  const body = await settle(await a.request("/api/profile/shop", { method: "POST", body: "x".repeat(300) }));
  assert.equal(body, '{"key":"shop/300"}');
  assert.equal(lines.length, 1);
  const { level, message, props } = lines[0];
  assert.equal(level, "info");
  assert.match(message, /^POST \/api\/profile\/:app app=shop 201 in=300B out=18B \d+ms$/);
  assert.deepEqual({ ...props, durationMs: 0 }, {
    method: "POST",
    route: "/api/profile/:app",
    path: "/api/profile/shop",
    app: "shop",
    status: 201,
    bytesIn: 300,
    bytesOut: 18,
    durationMs: 0,
  });
});

Deno.test("accessLog: declared lengths, HEAD, probes at debug and failures at warning", async () => {
  const lines: Line[] = [];
  const a = app(lines);
  await settle(await a.request("/api/profile/shop"));
  await settle(await a.request("/api/profile/shop", { method: "HEAD" }));
  await settle(await a.request("/api/health"));
  await settle(await a.request("/boom"));
  assert.deepEqual(lines.map((l) => [l.level, l.props.method, l.props.route, l.props.status, l.props.bytesOut]), [
    ["info", "GET", "/api/profile/:app", 200, 1000],
    ["info", "HEAD", "/api/profile/:app", 200, 0],
    ["debug", "GET", "/api/health", 200, 20],
    ["warning", "GET", "/boom", 500, 20],
  ]);
});

Deno.test("formatAccessLine: without an app", () => {
  assert.equal(
    formatAccessLine({
      method: "GET",
      route: "/api/ready",
      path: "/api/ready",
      status: 503,
      bytesIn: 0,
      bytesOut: 9,
      durationMs: 1.4,
    }),
    "GET /api/ready 503 in=0B out=9B 1ms",
  );
});

Deno.test("accessLog keeps a Deno.serve body a byte stream: BYOB reads pass through and are counted", async () => {
  const lines: Line[] = [];
  const a = new Hono();
  a.use("*", accessLog({ logger: fakeLogger(lines) }));
  a.post("/api/profile/:app", async (c) => {
    const reader = c.req.raw.body!.getReader({ mode: "byob" }); // throws unless a byte stream
    let buffer = new ArrayBuffer(200_000);
    let length = 0;
    while (length < buffer.byteLength) {
      const { done, value } = await reader.read(new Uint8Array(buffer, length, buffer.byteLength - length));
      if (done) break;
      buffer = value.buffer as ArrayBuffer;
      length += value.byteLength;
    }
    const { done } = await reader.read(new Uint8Array(1));
    return c.json({ length, done, sum: new Uint8Array(buffer).reduce((s, b) => s + b, 0) }, 201);
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, a.fetch);
  try {
    const body = new Uint8Array(200_000).fill(1);
    const response = await fetch(`http://127.0.0.1:${server.addr.port}/api/profile/shop`, { method: "POST", body });
    assert.deepEqual(await settle(response).then(JSON.parse), { length: 200_000, done: true, sum: 200_000 });
    assert.equal(lines.length, 1);
    assert.equal(lines[0].props.bytesIn, 200_000);
  } finally {
    await server.shutdown();
  }
});

Deno.test("rebuildableWithBody: methods the Fetch API would rewrite or refuse are left as delivered", () => {
  for (const method of ["POST", "PUT", "DELETE", "OPTIONS", "PATCH", "patch", "BREW"]) {
    assert.ok(rebuildableWithBody(method), method);
    new Request("http://x/", { method, body: "abc" }); // does not throw, and keeps the method
  }
  for (const method of ["GET", "HEAD", "get", "Head", "post", "Delete", "options", "TRACE", "connect", "track"]) {
    assert.ok(!rebuildableWithBody(method), method);
  }
  // What rebuilding did to them: a case variant changed its method, GET with a body threw.
  assert.equal(new Request("http://x/", { method: "post", body: "abc" }).method, "POST");
  assert.throws(() => new Request("http://x/", { method: "get", body: "abc" }), TypeError);
});
