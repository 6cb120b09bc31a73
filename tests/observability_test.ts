/**
 * Metrics and logs of the real processes: `autopgo server` and `autopgo worker` on a file:// store
 * and bus, and `autopgo scrape` against fake targets. Each `/metrics` is scraped and parsed with a
 * strict text-format parser (support/prom_text.ts); the access log has one line per request with
 * method, route, app, status, bytes and duration; in JSON mode every line is JSON with structured
 * properties and the same logger names as the text format; the scraper logs each round's start and
 * end, does not upload idle profiles, and turns unhealthy after rounds in which every target failed.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileUrlFromPath } from "../adapters/mod.ts";
import { ApiClient } from "../core/api_client.ts";
import { decodeProfile } from "../core/pprof/decode.ts";
import { encodeProfile } from "../core/pprof/encode.ts";
import { eventually, spawnAutopgo, startAutopgoServer } from "./support/autopgo_processes.ts";
import { startFakePprofTarget } from "./support/fake_targets.ts";
import { committedProfiles } from "./support/fixtures.ts";
import { parsePrometheusText, type PromFamily, sampleValue } from "./support/prom_text.ts";

const TOKEN = "s3cret";

async function scrapeMetrics(url: string, token?: string): Promise<Map<string, PromFamily>> {
  const res = await fetch(`${url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  assert.equal(res.status, 200, `${url}/metrics`);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await res.text());
}

Deno.test("server and worker: /metrics parses, access log lines, JSON logs with properties", async () => {
  const root = await Deno.makeTempDir({ prefix: "autopgo-observability-" });
  await Deno.mkdir(join(root, "store"));
  await Deno.mkdir(join(root, "bus"));
  const blob = fileUrlFromPath(join(root, "store"));
  const bus = fileUrlFromPath(join(root, "bus"));
  const common = ["--port", "0", "--host", "127.0.0.1", "--blob-store-url", blob];
  const server = spawnAutopgo(["server", ...common, "--event-writer-url", bus, "--token", TOKEN], {
    env: { AUTOPGO_LOG_FORMAT: "json" },
  });
  const worker = spawnAutopgo([
    "worker",
    ...common,
    "--event-reader-url",
    `${bus}?poll=20ms`,
    "--event-writer-url",
    bus,
  ]);
  try {
    const serverUrl = (await server.waitFor(/"message":"listening on (http:\/\/127\.0\.0\.1:\d+)"/))[1];
    const workerUrl = (await worker.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/))[1];
    const profile = Deno.readFileSync(committedProfiles().cpu[0]);
    const client = new ApiClient({ baseUrl: serverUrl, token: TOKEN });
    await client.upload("shop", profile);
    await assert.rejects(client.upload("shop", new TextEncoder().encode("not a profile")), /400/);
    await eventually("shop merged", async () => (await client.list()).some((p) => p.key === "shop"));
    await (await fetch(`${workerUrl}/no/such/route`)).body?.cancel();
    await (await fetch(`${serverUrl}/api/profile`)).body?.cancel(); // no token: 401

    // The server's metrics name the stored apps: they need the token.
    const refused = await fetch(`${serverUrl}/metrics`);
    assert.equal(refused.status, 401);
    await refused.body?.cancel();
    const s = await scrapeMetrics(serverUrl, TOKEN);
    const sv = (name: string, labels?: Record<string, string>) => sampleValue(s, name, labels);
    assert.equal(sv("autopgo_uploads_accepted_total", { replayed: "false" }), 1);
    assert.equal(sv("autopgo_uploads_rejected_total", { reason: "invalid_profile" }), 1);
    assert.equal(sv("autopgo_uploads_rejected_total", { reason: "too_large" }), 0);
    const upload = { method: "POST", route: "/api/profile/:app" };
    assert.equal(sv("autopgo_http_requests_total", { ...upload, status: "201" }), 1);
    assert.equal(sv("autopgo_http_request_duration_seconds_count", { ...upload, status: "400" }), 1);
    assert.ok(![...s.values()].some((f) => f.samples.some((x) => x.labels.route?.includes("/shop"))), "no paths");
    assert.ok((sv("autopgo_base_profile_bytes", { app: "shop" }) ?? 0) > 0);
    assert.ok((sv("autopgo_bus_operations_total", { operation: "send" }) ?? 0) >= 1);
    assert.ok((sv("autopgo_blob_operations_total", { operation: "write" }) ?? 0) >= 1);
    assert.ok((sv("autopgo_decode_pool_workers") ?? 0) >= 1, "the server's decode pool checks uploads");
    assert.equal(sv("autopgo_decode_pool_refused_total"), 0);
    assert.ok((sv("autopgo_connections_max") ?? 0) >= 16, "the connection guard's cap");
    assert.ok((sv("autopgo_connections", { state: "placed" }) ?? 0) >= 1, "this scrape's connection is placed");
    assert.ok((sv("process_cpu_seconds_total") ?? 0) > 0);
    assert.ok((sv("process_resident_memory_bytes") ?? 0) > 0);

    const w = await scrapeMetrics(workerUrl);
    const wv = (name: string, labels?: Record<string, string>) => sampleValue(w, name, labels);
    assert.equal(wv("autopgo_merges_total", { outcome: "merged" }), 1);
    assert.equal(wv("autopgo_merge_duration_seconds_count", { outcome: "merged" }), 1);
    assert.equal(wv("autopgo_queue_lag_seconds_count"), 1);
    assert.ok((wv("autopgo_queue_lag_seconds_sum") ?? -1) >= 0);
    assert.equal(wv("autopgo_poison_events_total", { reason: "malformed_event" }), 0);
    assert.ok((wv("autopgo_bus_operations_total", { operation: "ack" }) ?? 0) >= 1);
    assert.equal(wv("autopgo_http_requests_total", { route: "unmatched", status: "404" }), 1);
    assert.equal(wv("autopgo_base_profile_bytes"), undefined, "only the server (behind its token) names apps");
    assert.ok((wv("autopgo_decode_pool_workers") ?? 0) >= 1, "the worker's decode pool merges");

    // JSON mode: every line is JSON, with properties; the access log has one line per request.
    const records = server.lines.filter((l) => l !== "").map((l) => JSON.parse(l));
    assert.ok(records.every((r) => typeof r.properties === "object" && /^autopgo(\.|$)/.test(r.logger)));
    const listening = records.find((r) => r.message.startsWith("listening on"));
    assert.equal(listening.logger, "autopgo.server");
    assert.equal(listening.properties.url, serverUrl);
    const accessed = records.filter((r) => r.logger === "autopgo.access");
    const created = accessed.find((r) => r.properties.status === 201);
    assert.deepEqual({ ...created.properties, durationMs: 0 }, {
      method: "POST",
      route: "/api/profile/:app",
      path: "/api/profile/shop",
      app: "shop",
      status: 201,
      bytesIn: profile.byteLength,
      bytesOut: created.properties.bytesOut,
      durationMs: 0,
    });
    assert.ok(created.properties.bytesOut > 0 && created.properties.durationMs >= 0);
    assert.match(created.message, /^POST \/api\/profile\/:app app=shop 201 in=\d+B out=\d+B \d+ms$/);
    assert.ok(accessed.some((r) => r.properties.status === 400 && r.properties.app === "shop"));
    assert.ok(accessed.some((r) => r.properties.status === 401 && r.properties.route === "/api/profile"));

    // Text mode names loggers the same way.
    assert.ok(worker.lines.some((l) => / \[INF\] autopgo\.worker: merged shop\/staging\//.test(l)), "worker log");
    assert.ok(worker.lines.some((l) => / \[INF\] autopgo\.access: GET unmatched 404 in=0B out=\d+B/.test(l)));
  } finally {
    await Promise.all([server.stop(), worker.stop()]);
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("scrape: round progress lines, idle targets not uploaded, health after failed rounds, /metrics", async () => {
  const server = await startAutopgoServer();
  const full = Deno.readFileSync(committedProfiles().cpu[0]);
  const busy = startFakePprofTarget(full);
  const idle = startFakePprofTarget(encodeProfile({ ...decodeProfile(full), sample: [] }));
  const dir = await Deno.makeTempDir({ prefix: "autopgo-observability-" });
  const targets = join(dir, "targets.json");
  await Deno.writeTextFile(targets, JSON.stringify([{ address: busy.url }, { address: idle.url }]));
  const scraper = spawnAutopgo([
    "scrape",
    targets,
    "--app=shop",
    "--sample-size=2",
    "--duration=1s",
    "--frequency=1s",
    "--unhealthy-after=2",
    "--port=0",
    "--host=127.0.0.1",
    `--api-url=${server.url}`,
  ]);
  try {
    const url = (await scraper.waitFor(/health server listening on (http:\/\/127\.0\.0\.1:\d+)/))[1];
    await scraper.waitFor(/autopgo\.scrape: round 1 started: profiling 2 of 2 targets for 1s$/);
    await scraper.waitFor(new RegExp(`autopgo\\.scrape: target idle: ${idle.url}/debug/pprof/profile\\?seconds=1 `));
    await scraper.waitFor(new RegExp(`autopgo\\.scrape: profiled ${busy.url}/debug/pprof/profile\\?seconds=1: `));
    await scraper.waitFor(/autopgo\.scrape: round 1 finished in \d+ms: 1 uploaded, 1 idle, 0 failed$/);
    const client = new ApiClient({ baseUrl: server.url });
    await eventually("one upload merged", async () => (await client.list()).some((p) => p.key === "shop"));
    const m = await scrapeMetrics(url);
    assert.ok((sampleValue(m, "autopgo_scrape_rounds_total") ?? 0) >= 1);
    assert.ok((sampleValue(m, "autopgo_scrape_targets_total", { outcome: "success" }) ?? 0) >= 1);
    assert.ok((sampleValue(m, "autopgo_scrape_targets_total", { outcome: "idle" }) ?? 0) >= 1);
    assert.equal(sampleValue(m, "autopgo_scrape_targets_total", { outcome: "failure" }), 0);
    assert.equal((await fetch(`${url}/api/health`)).status, 200);

    // Every target failing: unhealthy after two such rounds, healthy again once one succeeds.
    busy.outage = true;
    idle.outage = true;
    const from = scraper.lines.length;
    const first = await scraper.waitFor(/round \d+ finished in \d+ms: 0 uploaded, 0 idle, 2 failed$/, 20_000, from);
    await scraper.waitFor(/round \d+ finished in \d+ms: 0 uploaded, 0 idle, 2 failed$/, 20_000, first.line + 1);
    const sick = await fetch(`${url}/api/health`);
    assert.equal(sick.status, 503);
    assert.match((await sick.json()).message, /every target failed in the last \d+ rounds: .*answered 503/);
    busy.outage = false;
    await eventually("healthy again", async () => (await fetch(`${url}/api/health`)).status === 200, 20_000);
    const after = await scrapeMetrics(url);
    assert.ok((sampleValue(after, "autopgo_scrape_targets_total", { outcome: "failure" }) ?? 0) >= 4);
  } finally {
    await scraper.stop();
    await busy.close();
    await idle.close();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
