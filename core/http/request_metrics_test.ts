/**
 * requestMetrics and routeOf: requests counted by route pattern (never the path), by method
 * (never a made-up one) and status, token refusals and not-found answers included, and upload
 * outcomes by reason.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Hono } from "hono";
import { type HttpReport, NO_METRICS, type UploadRejection } from "../metrics.ts";
import { requestMetrics } from "./request_metrics.ts";
import { appOf, methodLabel, OTHER_METHOD, UNMATCHED_ROUTE } from "./route_label.ts";

function recorder() {
  const requests: HttpReport[] = [];
  const accepted: boolean[] = [];
  const rejected: UploadRejection[] = [];
  const metrics = {
    ...NO_METRICS,
    httpRequest: (r: HttpReport) => requests.push(r),
    uploadAccepted: (replayed: boolean) => accepted.push(replayed),
    uploadRejected: (reason: UploadRejection) => rejected.push(reason),
  };
  return { metrics, requests, accepted, rejected };
}

function app(metrics: ReturnType<typeof recorder>["metrics"]): Hono {
  const app = new Hono();
  app.use("*", requestMetrics(metrics));
  app.use("/api/profile/*", async (c, next) => {
    if (c.req.header("authorization") !== "Bearer t") return c.json({ message: "missing bearer token" }, 401);
    await next();
  });
  app.get("/api/profile/:app", (c) => c.text(c.req.param("app")));
  app.post("/api/profile/:app", async (c) => {
    const body = await c.req.text();
    if (body === "junk") return c.json({ message: "invalid profile: not a pprof profile", code: 400 }, 400);
    if (body === "bad-key") return c.json({ message: "Idempotency-Key is too long", code: 400 }, 400);
    if (body === "big") return c.json({ message: "too large", code: 413 }, 413);
    if (body === "busy") return c.json({ message: "queue full", code: 503 }, 503);
    if (body === "boom") throw new Error("a bug");
    if (body === "down") throw Object.assign(new Error("store down"), { kind: "unavailable" });
    return c.json({ key: "k" }, 201, body === "again" ? { "idempotent-replayed": "true" } : {});
  });
  app.notFound((c) => c.json({ message: "Not Found", code: 404 }, 404));
  app.onError((error, c) => {
    const status = (error as { kind?: string }).kind === "unavailable" ? 503 : 500;
    return c.json({ message: "failed", code: status }, status);
  });
  return app;
}

const auth = { authorization: "Bearer t" };

Deno.test("requestMetrics: counts by route pattern and status, refusals and not-found included", async () => {
  const r = recorder();
  const a = app(r.metrics);
  assert.equal((await a.request("/api/profile/shop", { headers: auth })).status, 200);
  assert.equal((await a.request("/api/profile/other", { headers: auth })).status, 200);
  assert.equal((await a.request("/api/profile/shop")).status, 401);
  assert.equal((await a.request("/nope/../etc")).status, 404);
  assert.deepEqual(r.requests.map((q) => [q.method, q.route, q.status]), [
    ["GET", "/api/profile/:app", 200],
    ["GET", "/api/profile/:app", 200],
    ["GET", "/api/profile/:app", 401],
    ["GET", UNMATCHED_ROUTE, 404],
  ]);
  assert.ok(r.requests.every((q) => q.durationMs >= 0));
  assert.deepEqual([r.accepted, r.rejected], [[], []]);
});

Deno.test("requestMetrics: a made-up method is counted as other, so clients cannot add series at will", async () => {
  const r = recorder();
  const a = app(r.metrics);
  for (const method of ["M000001", "M000002", "patch", "PATCH", "OPTIONS"]) {
    await a.request("/api/profile/shop", { method, headers: auth });
  }
  assert.deepEqual(r.requests.map((q) => q.method), ["other", "other", "other", "PATCH", "OPTIONS"]);
  assert.equal(methodLabel("DELETE"), "DELETE");
  assert.equal(methodLabel("Delete"), OTHER_METHOD);
});

Deno.test("requestMetrics: upload outcomes by reason", async () => {
  const r = recorder();
  const a = app(r.metrics);
  const post = (body: string, headers: Record<string, string> = auth) =>
    a.request("/api/profile/shop", { method: "POST", body, headers });
  for (const body of ["ok", "again", "junk", "bad-key", "big", "busy", "boom", "down"]) await post(body);
  await post("ok", {});
  assert.deepEqual(r.accepted, [false, true]);
  // A 503 the handler chose is capacity (busy); one the error handler gave for a failing dependency is not.
  assert.deepEqual(r.rejected, [
    "invalid_profile",
    "invalid_request",
    "too_large",
    "busy",
    "error",
    "unavailable",
    "unauthorized",
  ]);
});

Deno.test("appOf: the :app segment of a route in a path", () => {
  assert.equal(appOf("/api/profile/:app", "/api/profile/shop%2Dx"), "shop-x");
  assert.equal(appOf("/api/profile/:app", "/api/profile/"), undefined);
  assert.equal(appOf("/api/health", "/api/health"), undefined);
});

Deno.test("routeOf: routes of a mounted sub-app with its own error handler keep their pattern", async () => {
  const r = recorder();
  const sub = new Hono();
  sub.get("/api/apps", (c) => c.json({ apps: [] }));
  sub.onError((_, c) => c.json({ message: "failed" }, 500));
  const a = new Hono();
  a.use("*", requestMetrics(r.metrics));
  a.route("/", sub);
  assert.equal((await a.request("/api/apps")).status, 200);
  assert.deepEqual(r.requests.map((q) => q.route), ["/api/apps"]);
});
