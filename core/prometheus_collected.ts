/**
 * Metrics read from counters a component keeps anyway, when `/metrics` is scraped:
 * - the decode pool's (core/pipeline/decode_pool.ts): how many jobs run and wait, how many were
 *   refused because the queue was full (the uploads answered 503 for it), and how many workers were
 *   replaced after a deadline or a crash. A pool that is not open yet (a worker standing by) counts
 *   as an empty one: no workers, no jobs;
 * - the connection guard's (core/pipeline/conn_guard.ts): connections placed and waiting against
 *   the cap, and how many were refused, closed to make a place, or closed to free upload memory,
 *   which is what slow or flooding clients show up as.
 *
 * @module
 */

import { Counter, Gauge, type Registry } from "prom-client";
import type { DecodePoolStats } from "./pipeline/decode_pool.ts";
import type { ConnGuardStats } from "./pipeline/conn_guard.ts";

/** A counter set at each scrape to a total that `read` takes from a component's own counters. */
function collectedTotal(registry: Registry, name: string, help: string, read: () => number): Counter {
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

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
  collectedTotal(
    registry,
    "autopgo_decode_pool_refused_total",
    "Jobs refused because the decode queue was full (uploads answered 503 with Retry-After).",
    () => stats().refused,
  );
  collectedTotal(
    registry,
    "autopgo_decode_pool_workers_replaced_total",
    "Decode pool workers terminated at a job's deadline or after a crash, and replaced.",
    () => stats().terminated,
  );
}

/** Registers the connection guard's metrics in `registry`, read from `guard` at each scrape (undefined: no guard). */
export function registerConnectionMetrics(registry: Registry, guard: () => ConnGuardStats | undefined): void {
  const stats = () =>
    guard() ??
      {
        cap: 0,
        placed: 0,
        waiting: 0,
        refused: 0,
        evicted: 0,
        stalledUploadsClosed: 0,
        malformed: { head: 0, body: 0, host: 0 },
      };
  new Gauge({
    name: "autopgo_connections_max",
    help: "Client connections served at once at most (--max-connections, lowered to fit the open-file limit).",
    registers: [registry],
    collect() {
      this.set(stats().cap);
    },
  });
  new Gauge({
    name: "autopgo_connections",
    help: "Client connections by state: placed (being served) or waiting for a place.",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      const s = stats();
      this.set({ state: "placed" }, s.placed);
      this.set({ state: "waiting" }, s.waiting);
    },
  });
  collectedTotal(
    registry,
    "autopgo_connections_refused_total",
    "Connections answered 503 without a place: the waiting room was full, or their wait ran out.",
    () => stats().refused,
  );
  collectedTotal(
    registry,
    "autopgo_connections_evicted_total",
    "Stalling connections (no request, a slow head or body, at rest) closed to make a place for another.",
    () => stats().evicted,
  );
  collectedTotal(
    registry,
    "autopgo_connections_stalled_uploads_closed_total",
    "Connections whose upload stalled, closed to free upload memory (--max-upload-memory).",
    () => stats().stalledUploadsClosed,
  );
  new Counter({
    name: "autopgo_malformed_requests_total",
    help: "Requests answered 400 before routing, by the part that was malformed: head, (chunked) body, " +
      "or host (a Host header that makes no URL).",
    labelNames: ["part"],
    registers: [registry],
    collect() {
      const { head, body, host } = stats().malformed;
      this.reset();
      this.inc({ part: "head" }, head);
      this.inc({ part: "body" }, body);
      this.inc({ part: "host" }, host);
    },
  });
}
