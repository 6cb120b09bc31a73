/**
 * Metrics read from the components' own counters at each scrape: the decode pool's (an empty
 * pool's while it is not open) and the connection guard's, from a real pool and a real guard.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parsePrometheusText, sampleValue } from "../tests/support/prom_text.ts";
import { rawExchange } from "../tests/support/raw_connection.ts";
import { PrometheusMetrics } from "./prometheus.ts";
import { DecodePool } from "./pipeline/decode_pool.ts";
import { QueueFullError } from "./pipeline/profile_jobs.ts";
import { committedProfiles } from "../tests/support/fixtures.ts";
import { startHttpServer } from "./pipeline/http_serve.ts";
import { waitingRoomFor } from "./pipeline/conn_guard.ts";

Deno.test("PrometheusMetrics: the decode pool's workers, jobs by state and refusals come from the pool, and are zero before it opens", async () => {
  let pool: DecodePool | undefined = undefined;
  const metrics = new PrometheusMetrics({ processMetrics: false, decodePool: () => pool?.stats() });
  const scrape = async () => parsePrometheusText(await metrics.render());
  const before = await scrape();
  assert.equal(sampleValue(before, "autopgo_decode_pool_workers"), 0);
  assert.equal(sampleValue(before, "autopgo_decode_pool_jobs", { state: "queued" }), 0);
  assert.equal(sampleValue(before, "autopgo_decode_pool_refused_total"), 0);
  pool = new DecodePool({ size: 1, queueLimit: 1 });
  try {
    const data = Deno.readFileSync(committedProfiles().cpu[0]);
    // One job runs, one waits, the third is refused: the queue holds one.
    const jobs = [0, 1].map(() => pool!.checkUpload(data.slice(), {}, { shed: true }));
    await assert.rejects(pool.checkUpload(data.slice(), {}, { shed: true }), QueueFullError);
    const busy = await scrape();
    assert.equal(sampleValue(busy, "autopgo_decode_pool_workers"), 1);
    assert.equal(sampleValue(busy, "autopgo_decode_pool_jobs", { state: "running" }), 1);
    assert.equal(sampleValue(busy, "autopgo_decode_pool_jobs", { state: "queued" }), 1);
    assert.equal(sampleValue(busy, "autopgo_decode_pool_refused_total"), 1);
    await Promise.all(jobs);
    const idle = await scrape();
    assert.equal(sampleValue(idle, "autopgo_decode_pool_jobs", { state: "running" }), 0);
    assert.equal(sampleValue(idle, "autopgo_decode_pool_jobs", { state: "queued" }), 0);
    assert.equal(sampleValue(idle, "autopgo_decode_pool_refused_total"), 1, "a total, not reset by a scrape");
    assert.equal(sampleValue(idle, "autopgo_decode_pool_workers_replaced_total"), 0);
  } finally {
    pool.close();
  }
});

Deno.test("PrometheusMetrics: connections placed and waiting against the cap, and those refused, from the guard", async () => {
  const guard = {
    headerTimeoutMs: 3_000,
    idleTimeoutMs: 5_000,
    bodyTimeoutMs: 5_000,
    maxHeaderBytes: 8192,
    maxConnections: 16,
  };
  const http = startHttpServer("127.0.0.1", 0, () => new Response("ok"), guard);
  const metrics = new PrometheusMetrics({ processMetrics: false, connections: () => http.connections() });
  const conns: Deno.Conn[] = [];
  try {
    const scrape = async () => parsePrometheusText(await metrics.render());
    assert.equal(sampleValue(await scrape(), "autopgo_connections_max"), 16);
    // Connections that send nothing: 16 take every place (16 is the smallest cap), the waiting room
    // (eight times the cap) fills, and the rest are refused at once (none has stalled for a second
    // yet to give its place up).
    const room = waitingRoomFor(16);
    for (let i = 0; i < 16 + room + 5; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port: http.port }));
    let full = await scrape();
    for (let i = 0; i < 50 && sampleValue(full, "autopgo_connections_refused_total") !== 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      full = await scrape();
    }
    assert.equal(sampleValue(full, "autopgo_connections", { state: "placed" }), 16);
    assert.equal(sampleValue(full, "autopgo_connections", { state: "waiting" }), room);
    assert.equal(sampleValue(full, "autopgo_connections_refused_total"), 5);
    assert.equal(sampleValue(full, "autopgo_connections_stalled_uploads_closed_total"), 0);
    // A second later the silent ones stall: each newcomer makes a place by closing one of them.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    for (let i = 0; i < 3; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port: http.port }));
    let later = await scrape();
    for (let i = 0; i < 50 && (sampleValue(later, "autopgo_connections_evicted_total") ?? 0) < 1; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      later = await scrape();
    }
    assert.ok(
      (sampleValue(later, "autopgo_connections_evicted_total") ?? 0) >= 1,
      "places made by closing stalling ones",
    );
  } finally {
    conns.forEach((c) => {
      try {
        c.close();
      } catch { /* closed by the guard */ }
    });
    await http.shutdown(0);
  }
});

Deno.test("connection metrics: requests the guard answered 400 itself, by malformed part", async () => {
  const guard = { headerTimeoutMs: 2_000, idleTimeoutMs: 2_000, bodyTimeoutMs: 2_000, maxHeaderBytes: 64 * 1024 };
  const http = startHttpServer("127.0.0.1", 0, async (request) => {
    await request.arrayBuffer();
    return new Response("ok");
  }, guard);
  const metrics = new PrometheusMetrics({ processMetrics: false, connections: () => http.connections() });
  try {
    const scrape = async () => parsePrometheusText(await metrics.render());
    assert.equal(sampleValue(await scrape(), "autopgo_malformed_requests_total", { part: "head" }), 0);
    for (const request of ["GET / HTTP/1.1\r\nBad Header\r\n\r\n", "GET / HTTP/9.9\r\n\r\n"]) {
      assert.match(await rawExchange(http.port, [request]), /^HTTP\/1\.1 400 /);
    }
    const chunked = "POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\nzz\r\n";
    assert.match(await rawExchange(http.port, [chunked]), /^HTTP\/1\.1 400 /);
    const badHost = "GET / HTTP/1.1\r\nhost: a b\r\nconnection: close\r\n\r\n";
    assert.match(await rawExchange(http.port, [badHost]), /^HTTP\/1\.1 400 [^]*invalid Host header \\"a b\\"/);
    const after = await scrape();
    assert.equal(sampleValue(after, "autopgo_malformed_requests_total", { part: "head" }), 2);
    assert.equal(sampleValue(after, "autopgo_malformed_requests_total", { part: "body" }), 1);
    assert.equal(sampleValue(after, "autopgo_malformed_requests_total", { part: "host" }), 1);
  } finally {
    await http.shutdown(0);
  }
});
