/**
 * The decode pool's metrics: gauges and totals read from a real pool's counters at each scrape,
 * and an empty pool's while it is not open.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parsePrometheusText, sampleValue } from "../tests/support/prom_text.ts";
import { PrometheusMetrics } from "./prometheus.ts";
import { DecodePool } from "./pipeline/decode_pool.ts";
import { QueueFullError } from "./pipeline/profile_jobs.ts";
import { committedProfiles } from "../tests/support/fixtures.ts";

Deno.test("PrometheusMetrics: the decode pool's workers, jobs by state and refusals come from the pool, and are zero before it opens", async () => {
  let pool: DecodePool | undefined;
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
