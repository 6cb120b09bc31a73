/**
 * The decode pool's metrics (core/pipeline/decode_pool.ts), read from its counters when `/metrics`
 * is scraped: how many jobs run and wait, how many were refused because the queue was full (the
 * uploads answered 503 for it), and how many workers were replaced after a deadline or a crash.
 * A pool that is not open yet (a worker standing by) counts as an empty one: no workers, no jobs.
 *
 * @module
 */

import { Counter, Gauge, type Registry } from "prom-client";
import type { DecodePoolStats } from "./pipeline/decode_pool.ts";

const NO_POOL: DecodePoolStats = { size: 0, running: 0, queued: 0, started: 0, terminated: 0, refused: 0 };

/** Registers the pool's metrics in `registry`, read from `pool` at each scrape (undefined: not open yet). */
export function registerDecodePoolMetrics(registry: Registry, pool: () => DecodePoolStats | undefined): void {
  const registers = [registry];
  const stats = () => pool() ?? NO_POOL;
  new Gauge({
    name: "autopgo_decode_pool_workers",
    help: "Web Workers of the decode pool (--decode-workers): profile checks, merges and web views at once.",
    registers,
    collect() {
      this.set(stats().size);
    },
  });
  new Gauge({
    name: "autopgo_decode_pool_jobs",
    help: "Decode pool jobs by state: running in a worker, or queued for one (at most --decode-queue for uploads).",
    labelNames: ["state"],
    registers,
    collect() {
      const s = stats();
      this.set({ state: "running" }, s.running);
      this.set({ state: "queued" }, s.queued);
    },
  });
  // Counters kept by the pool itself: each scrape sets them to the pool's totals.
  const total = (name: string, help: string, read: (s: DecodePoolStats) => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read(stats()));
      },
    });
  total(
    "autopgo_decode_pool_refused_total",
    "Jobs refused because the decode queue was full (uploads answered 503 with Retry-After).",
    (s) => s.refused,
  );
  total(
    "autopgo_decode_pool_workers_replaced_total",
    "Decode pool workers terminated at a job's deadline or after a crash, and replaced.",
    (s) => s.terminated,
  );
}
