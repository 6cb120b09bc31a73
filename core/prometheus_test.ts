/**
 * PrometheusMetrics and serveMetrics: every metric renders in a text format a strict parser
 * accepts, with zero-valued series for the fixed label values, and `/metrics` honours the token.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parsePrometheusText, sampleValue } from "../tests/support/prom_text.ts";
import { PrometheusMetrics, serveMetrics, withMetricsRoute } from "./prometheus.ts";

Deno.test("PrometheusMetrics: records and renders every metric", async () => {
  const metrics = new PrometheusMetrics({
    baseSizes: () => Promise.resolve([{ key: "shop", size: 1234 }, { key: "cart", size: 99 }]),
  });
  metrics.httpRequest({ method: "POST", route: "/api/profile/:app", status: 201, durationMs: 12 });
  metrics.uploadAccepted(false);
  metrics.uploadRejected("invalid_profile");
  metrics.merge("merged", 40, 1500);
  metrics.merge("failed", 5);
  metrics.poison("malformed_event");
  metrics.busyAppEvent("kept");
  metrics.scrapeRound();
  metrics.scrapeTarget("idle");
  metrics.blob({ operation: "write", outcome: "unavailable", durationMs: 3 });
  metrics.blob({ operation: "read", outcome: "not-found", durationMs: 1 });
  metrics.bus({ operation: "send", outcome: "ok" });
  const families = parsePrometheusText(await metrics.render());
  const v = (name: string, labels?: Record<string, string>) => sampleValue(families, name, labels);
  assert.equal(v("autopgo_http_requests_total", { route: "/api/profile/:app", status: "201" }), 1);
  assert.equal(v("autopgo_http_request_duration_seconds_count", { method: "POST" }), 1);
  assert.equal(v("autopgo_uploads_accepted_total", { replayed: "false" }), 1);
  assert.equal(v("autopgo_uploads_rejected_total", { reason: "invalid_profile" }), 1);
  assert.equal(v("autopgo_uploads_rejected_total", { reason: "too_large" }), 0);
  assert.equal(v("autopgo_merges_total", { outcome: "merged" }), 1);
  assert.equal(v("autopgo_merges_total", { outcome: "failed" }), 1);
  assert.equal(v("autopgo_merge_duration_seconds_sum", { outcome: "merged" }), 0.04);
  assert.equal(v("autopgo_queue_lag_seconds_count"), 1);
  assert.equal(v("autopgo_queue_lag_seconds_sum"), 1.5);
  assert.equal(v("autopgo_poison_events_total", { reason: "malformed_event" }), 1);
  assert.equal(v("autopgo_busy_app_events_total", { action: "kept" }), 1);
  assert.equal(v("autopgo_busy_app_events_total", { action: "handed_back" }), 0);
  assert.equal(v("autopgo_scrape_rounds_total"), 1);
  assert.equal(v("autopgo_scrape_targets_total", { outcome: "idle" }), 1);
  assert.equal(v("autopgo_blob_errors_total", { operation: "write", kind: "unavailable" }), 1);
  assert.equal(v("autopgo_blob_errors_total", { operation: "read" }), undefined, "not-found is no error");
  assert.equal(v("autopgo_blob_operations_total", { operation: "read" }), 1);
  assert.equal(v("autopgo_bus_operations_total", { operation: "send" }), 1);
  assert.equal(v("autopgo_base_profile_bytes", { app: "shop" }), 1234);
  assert.ok((v("process_resident_memory_bytes") ?? 0) > 0);
  assert.equal(families.get("autopgo_queue_lag_seconds")?.type, "histogram");
});

Deno.test("serveMetrics: token, methods and the wrapper", async () => {
  const metrics = new PrometheusMetrics({ processMetrics: false });
  const open = await serveMetrics(new Request("http://x/metrics"), metrics, { token: "s3cret" });
  assert.equal(open.status, 401);
  await open.body?.cancel();
  const ok = await serveMetrics(
    new Request("http://x/metrics", { headers: { authorization: "Bearer s3cret" } }),
    metrics,
    { token: "s3cret" },
  );
  assert.equal(ok.status, 200);
  assert.match(ok.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  assert.ok(parsePrometheusText(await ok.text()).has("autopgo_merges_total"));
  const post = await serveMetrics(new Request("http://x/metrics", { method: "POST" }), metrics);
  assert.equal(post.status, 405);
  await post.body?.cancel();
  const wrapped = withMetricsRoute(() => new Response("app"), metrics);
  assert.equal(await (await wrapped(new Request("http://x/api/health"))).text(), "app");
  assert.match(await (await wrapped(new Request("http://x/metrics"))).text(), /autopgo_scrape_rounds_total 0/);
});

Deno.test("parsePrometheusText: refuses what Prometheus refuses", () => {
  assert.throws(() => parsePrometheusText("x_total 1\n"), /no # TYPE/);
  assert.throws(() => parsePrometheusText('# TYPE x counter\nx{a="1} 1\n'), /unterminated/);
  assert.throws(() => parsePrometheusText("# TYPE x counter\nx 1\nx 2\n"), /twice/);
  assert.throws(
    () => parsePrometheusText('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n'),
    /cumulative/,
  );
  const ok = parsePrometheusText('# HELP g A "gauge".\n# TYPE g gauge\ng{path="a\\\\b\\"c\\n"} NaN 1700000000\n');
  assert.equal(ok.get("g")?.samples[0].labels.path, 'a\\b"c\n');
  assert.ok(Number.isNaN(ok.get("g")?.samples[0].value));
});

Deno.test("PrometheusMetrics: concurrent scrapes share one collection of the base sizes", async () => {
  let walks = 0;
  const metrics = new PrometheusMetrics({
    processMetrics: false,
    baseSizes: async () => {
      walks++;
      await new Promise((resolve) => setTimeout(resolve, 20));
      return [{ key: "app", size: 123, lastModified: "2026-01-01T00:00:00.000Z" }];
    },
  });
  const texts = await Promise.all(Array.from({ length: 10 }, () => metrics.render()));
  assert.equal(walks, 1);
  for (const text of texts) assert.match(text, /autopgo_base_profile_bytes\{app="app"\} 123/);
  await metrics.render();
  assert.equal(walks, 2, "a later scrape collects again");
});

Deno.test("PrometheusMetrics: a failed listing of the base sizes leaves them out, says so, and the scrape succeeds", async () => {
  let down = false;
  const metrics = new PrometheusMetrics({
    processMetrics: false,
    baseSizes: () =>
      down
        ? Promise.reject(new Error('listPrefixes on gs bucket "b": connect ECONNREFUSED'))
        : Promise.resolve([{ key: "app", size: 123, lastModified: "2026-01-01T00:00:00.000Z" }]),
  });
  const scrape = async () => {
    const response = await serveMetrics(new Request("http://x/metrics"), metrics);
    assert.equal(response.status, 200);
    return parsePrometheusText(await response.text());
  };
  const value = (text: Map<string, { samples: { value: number }[] }>, name: string) =>
    text.get(name)?.samples[0]?.value;
  let text = await scrape();
  assert.equal(value(text, "autopgo_base_profile_bytes"), 123);
  assert.equal(value(text, "autopgo_base_profile_listing_ok"), 1);
  down = true;
  text = await scrape();
  assert.equal(value(text, "autopgo_base_profile_bytes"), undefined, "no stale sizes");
  assert.equal(value(text, "autopgo_base_profile_listing_ok"), 0);
  assert.ok(text.has("autopgo_uploads_accepted_total"), "the other metrics are still served");
  down = false;
  assert.equal(value(await scrape(), "autopgo_base_profile_listing_ok"), 1);
});

Deno.test("PrometheusMetrics: autopgo_worker_standby follows its function, and is absent without one", async () => {
  let standingBy = true;
  const worker = new PrometheusMetrics({ standingBy: () => standingBy, processMetrics: false });
  assert.equal(sampleValue(parsePrometheusText(await worker.render()), "autopgo_worker_standby"), 1);
  standingBy = false;
  assert.equal(sampleValue(parsePrometheusText(await worker.render()), "autopgo_worker_standby"), 0);
  const other = new PrometheusMetrics({ processMetrics: false });
  assert.doesNotMatch(await other.render(), /autopgo_worker_standby/);
});
