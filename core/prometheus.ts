/**
 * {@link Metrics} over prom-client, and the `/metrics` route that serves them in the Prometheus
 * text format. Loaded only by the long-running components (`server`, `worker`, `scrape`); the CLI
 * utilities never import this module, so their start-up does not pay for prom-client.
 *
 * Metrics (every label bounded, see core/metrics.ts):
 * - `autopgo_http_requests_total{method,route,status}` and
 *   `autopgo_http_request_duration_seconds{method,route,status}` (histogram);
 * - `autopgo_uploads_accepted_total{replayed}`, `autopgo_uploads_rejected_total{reason}`;
 * - `autopgo_merges_total{outcome}`, `autopgo_merge_duration_seconds{outcome}` (histogram),
 *   `autopgo_queue_lag_seconds` (histogram: upload to merge), `autopgo_poison_events_total{reason}`;
 * - `autopgo_base_profile_bytes{app}` (server: read from the store when scraped);
 * - `autopgo_scrape_rounds_total`, `autopgo_scrape_targets_total{outcome}` (success, failure, idle);
 * - `autopgo_blob_operations_total{operation}`, `autopgo_blob_errors_total{operation,kind}`,
 *   `autopgo_bus_operations_total{operation}`, `autopgo_bus_errors_total{operation,kind}`;
 * - prom-client's process metrics (`process_*`, `nodejs_*`: CPU, memory, open files, event loop).
 *
 * @module
 */

import { messageLine } from "./public_error.ts";
import { getLogger } from "@logtape/logtape";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { DecodePoolStats } from "./pipeline/decode_pool.ts";
import type { ConnGuardStats } from "./pipeline/conn_guard.ts";
import { registerConnectionMetrics, registerDecodePoolMetrics } from "./prometheus_collected.ts";
import type {
  BlobReport,
  BusReport,
  BusyAppAction,
  HttpReport,
  MergeOutcomeLabel,
  Metrics,
  PoisonReason,
  ScrapeTargetOutcome,
  UploadRejection,
} from "./metrics.ts";
import { bearerRefusal } from "./pipeline/auth.ts";
import { singleFlight } from "./single_flight.ts";

/**
 * How often the event-loop delay behind `nodejs_eventloop_lag_*` is sampled, in ms. prom-client's
 * default, 10 ms, wakes every process 100 times a second: an otherwise idle process spent 1.2% of a
 * core on it (360 ms in 30 s), and each worker process pays it on top of its merges. At 100 ms: 0.6–0.8%
 * (170–250 ms; 1 s: 0.35%), still ten samples a second for a metric scraped every few seconds.
 */
const EVENT_LOOP_SAMPLE_MS = 100;

const log = getLogger(["autopgo", "metrics"]);

/** A merged profile's size, as the base-size gauge reads it. */
export interface BaseSize {
  /** The app name. */
  key: string;
  /** Bytes. */
  size: number;
}

/** Options of {@link PrometheusMetrics}. */
export interface PrometheusOptions {
  /**
   * Lists the merged profiles when `/metrics` is scraped, for `autopgo_base_profile_bytes`
   * (the server passes its store's listing). Without it the gauge is absent.
   */
  baseSizes?: (signal: AbortSignal) => Promise<BaseSize[]>;
  /**
   * True while this worker stands by (`autopgo worker --local-workers`), for
   * `autopgo_worker_standby`; the worker passes it. Without it the gauge is absent.
   */
  standingBy?: () => boolean;
  /**
   * The decode pool's counters, undefined while it is not open, for the `autopgo_decode_pool_*`
   * metrics (prometheus_collected.ts); the server and the worker pass them. Without it they are absent.
   */
  decodePool?: () => DecodePoolStats | undefined;
  /**
   * The connection guard's counters of the component's HTTP port, for the `autopgo_connections*`
   * metrics (prometheus_collected.ts). Without it they are absent.
   */
  connections?: () => ConnGuardStats | undefined;
  /** Collect prom-client's process metrics (default true). */
  processMetrics?: boolean;
}

const REJECTIONS: UploadRejection[] = [
  "unauthorized",
  "invalid_request",
  "invalid_profile",
  "too_large",
  "timeout",
  "not_usable",
  "busy",
  "unavailable",
  "error",
];
const OUTCOMES: MergeOutcomeLabel[] = ["merged", "duplicate", "gone", "dropped", "rejected", "failed"];
const POISON: PoisonReason[] = ["malformed_event", "rejected_upload", "gave_up", "unmappable_base"];
const TARGETS: ScrapeTargetOutcome[] = ["success", "failure", "idle"];
const BUSY_APP_ACTIONS: BusyAppAction[] = ["kept", "handed_back"];

/** Seconds, from 5 ms (a health probe) to 2 min (a large upload at the default deadline). */
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** Seconds, from 10 ms (a small merge) to 5 min. */
const MERGE_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
/** Seconds from upload to merge: sub-second when idle, the sweep's minute and more when behind. */
const LAG_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600];

/** Prometheus metrics of one process. */
/** How long one shared rendering of the metrics may take (each scrape waits for it). */
const RENDER_TIMEOUT_MS = 30_000;

export class PrometheusMetrics implements Metrics {
  /** The prom-client registry (one per instance, never the global one). */
  readonly registry: Registry = new Registry();
  readonly #requests: Counter;
  readonly #latency: Histogram;
  readonly #accepted: Counter;
  readonly #rejected: Counter;
  readonly #merges: Counter;
  readonly #mergeSeconds: Histogram;
  readonly #lag: Histogram;
  readonly #poison: Counter;
  readonly #busyApp: Counter;
  readonly #rounds: Counter;
  readonly #targets: Counter;
  readonly #blobOps: Counter;
  readonly #blobErrors: Counter;
  readonly #busOps: Counter;
  readonly #busErrors: Counter;

  /** Registers every metric (zero-valued series for each fixed label value, so rates start at 0). */
  constructor(options: PrometheusOptions = {}) {
    const registers = [this.registry];
    this.#requests = new Counter({
      name: "autopgo_http_requests_total",
      help: "HTTP requests answered, by method, route pattern and status.",
      labelNames: ["method", "route", "status"],
      registers,
    });
    this.#latency = new Histogram({
      name: "autopgo_http_request_duration_seconds",
      help: "Time to answer an HTTP request, by method, route pattern and status.",
      labelNames: ["method", "route", "status"],
      buckets: HTTP_BUCKETS,
      registers,
    });
    this.#accepted = new Counter({
      name: "autopgo_uploads_accepted_total",
      help: "Uploads accepted (201); replayed=true for idempotent retries of an accepted upload.",
      labelNames: ["replayed"],
      registers,
    });
    this.#rejected = new Counter({
      name: "autopgo_uploads_rejected_total",
      help: "Uploads refused, by reason.",
      labelNames: ["reason"],
      registers,
    });
    this.#merges = new Counter({
      name: "autopgo_merges_total",
      help: "Staged uploads handled by the worker, by outcome.",
      labelNames: ["outcome"],
      registers,
    });
    this.#mergeSeconds = new Histogram({
      name: "autopgo_merge_duration_seconds",
      help: "Time to handle one staged upload (read, merge, write, clean up), by outcome.",
      labelNames: ["outcome"],
      buckets: MERGE_BUCKETS,
      registers,
    });
    this.#lag = new Histogram({
      name: "autopgo_queue_lag_seconds",
      help: "Time from an upload being accepted to its merge into the base profile.",
      buckets: LAG_BUCKETS,
      registers,
    });
    this.#poison = new Counter({
      name: "autopgo_poison_events_total",
      help: "Events and uploads dropped as poison, by reason.",
      labelNames: ["reason"],
      registers,
    });
    this.#busyApp = new Counter({
      name: "autopgo_busy_app_events_total",
      help: "Events of an app being merged or resting after a batch: kept until it is free, or handed back to the bus.",
      labelNames: ["action"],
      registers,
    });
    this.#rounds = new Counter({ name: "autopgo_scrape_rounds_total", help: "Scrape rounds finished.", registers });
    this.#targets = new Counter({
      name: "autopgo_scrape_targets_total",
      help: "Targets profiled, by outcome (idle: a profile with no samples, not uploaded).",
      labelNames: ["outcome"],
      registers,
    });
    this.#blobOps = new Counter({
      name: "autopgo_blob_operations_total",
      help: "Blob store operations finished (retries included in one), by operation.",
      labelNames: ["operation"],
      registers,
    });
    this.#blobErrors = new Counter({
      name: "autopgo_blob_errors_total",
      help: "Blob store operations that failed, by operation and error kind.",
      labelNames: ["operation", "kind"],
      registers,
    });
    this.#busOps = new Counter({
      name: "autopgo_bus_operations_total",
      help: "Event bus operations finished, by operation.",
      labelNames: ["operation"],
      registers,
    });
    this.#busErrors = new Counter({
      name: "autopgo_bus_errors_total",
      help: "Event bus operations that failed, by operation and error kind.",
      labelNames: ["operation", "kind"],
      registers,
    });
    for (const reason of REJECTIONS) this.#rejected.inc({ reason }, 0);
    for (const replayed of ["false", "true"]) this.#accepted.inc({ replayed }, 0);
    for (const outcome of OUTCOMES) this.#merges.inc({ outcome }, 0);
    for (const reason of POISON) this.#poison.inc({ reason }, 0);
    for (const action of BUSY_APP_ACTIONS) this.#busyApp.inc({ action }, 0);
    for (const outcome of TARGETS) this.#targets.inc({ outcome }, 0);
    const baseSizes = options.baseSizes;
    if (baseSizes) {
      // The store may be down when scraped, which is when the other metrics matter most: a failed
      // listing leaves the sizes out (never stale ones) and says so, and the scrape still succeeds.
      // Both gauges collect at the start of a rendering and share its one listing.
      let listing: Promise<BaseSize[] | undefined> | undefined, failing = false;
      const list = () =>
        listing ??= baseSizes(AbortSignal.timeout(5_000)).then((sizes) => {
          if (failing) log.info("the merged profiles are listed again for autopgo_base_profile_bytes");
          failing = false;
          return sizes;
        }, (error) => {
          if (!failing) {
            log.warn("cannot list the merged profiles for autopgo_base_profile_bytes: {error}", {
              error: messageLine(error),
            });
          }
          failing = true;
          return undefined;
        }).finally(() => listing = undefined);
      new Gauge({
        name: "autopgo_base_profile_bytes",
        help: "Size of each app's merged profile (default.pgo) in bytes.",
        labelNames: ["app"],
        registers,
        async collect() {
          const sizes = await list();
          this.reset();
          for (const base of sizes ?? []) this.set({ app: base.key }, base.size);
        },
      });
      new Gauge({
        name: "autopgo_base_profile_listing_ok",
        help: "1 when the listing of the merged profiles for autopgo_base_profile_bytes succeeded, else 0.",
        registers,
        async collect() {
          this.set((await list()) ? 1 : 0);
        },
      });
    }
    const standingBy = options.standingBy;
    if (standingBy) {
      new Gauge({
        name: "autopgo_worker_standby",
        help:
          "1 while this worker stands by (--local-workers of its pipeline already consume on this machine), else 0.",
        registers,
        collect() {
          this.set(standingBy() ? 1 : 0);
        },
      });
    }
    if (options.decodePool) registerDecodePoolMetrics(this.registry, options.decodePool);
    if (options.connections) registerConnectionMetrics(this.registry, options.connections);
    if (options.processMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    }
  }

  /** The exposition content type. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * Renders every metric in the Prometheus text format. Scrapes that arrive while a rendering is
   * under way share it (single_flight.ts): collecting walks the store for the base sizes.
   */
  render(): Promise<string> {
    return this.#render();
  }

  readonly #render = singleFlight(() => this.registry.metrics(), RENDER_TIMEOUT_MS);

  httpRequest(r: HttpReport): void {
    const labels = { method: r.method, route: r.route, status: String(r.status) };
    this.#requests.inc(labels);
    this.#latency.observe(labels, r.durationMs / 1000);
  }

  uploadAccepted(replayed: boolean): void {
    this.#accepted.inc({ replayed: String(replayed) });
  }

  uploadRejected(reason: UploadRejection): void {
    this.#rejected.inc({ reason });
  }

  merge(outcome: MergeOutcomeLabel, durationMs: number, lagMs?: number): void {
    this.#merges.inc({ outcome });
    this.#mergeSeconds.observe({ outcome }, durationMs / 1000);
    if (lagMs !== undefined) this.#lag.observe(lagMs / 1000);
  }

  poison(reason: PoisonReason): void {
    this.#poison.inc({ reason });
  }

  busyAppEvent(action: BusyAppAction): void {
    this.#busyApp.inc({ action });
  }

  scrapeRound(): void {
    this.#rounds.inc();
  }

  scrapeTarget(outcome: ScrapeTargetOutcome): void {
    this.#targets.inc({ outcome });
  }

  /** The Bucket `observe` hook. */
  readonly blob = (r: BlobReport): void => {
    this.#blobOps.inc({ operation: r.operation });
    if (r.outcome !== "ok" && r.outcome !== "not-found") {
      this.#blobErrors.inc({ operation: r.operation, kind: r.outcome });
    }
  };

  /** The Topic and Subscription `observe` hook. */
  readonly bus = (r: BusReport): void => {
    this.#busOps.inc({ operation: r.operation });
    if (r.outcome !== "ok") this.#busErrors.inc({ operation: r.operation, kind: r.outcome });
  };
}

/** Options of {@link withMetricsRoute}. */
export interface MetricsRouteOptions {
  /** Bearer token `/metrics` requires (the server's `--token`: the metrics name the stored apps). */
  token?: string;
}

/** Answers `GET /metrics` with `metrics` in the text format (401 without the token when one is set). */
export async function serveMetrics(
  request: Request,
  metrics: PrometheusMetrics,
  options: MetricsRouteOptions = {},
): Promise<Response> {
  const refusal = await bearerRefusal(request, options.token);
  if (refusal) return refusal;
  if (request.method !== "GET" && request.method !== "HEAD") {
    return Response.json({ message: `method ${request.method} not allowed, use GET, HEAD`, code: 405 }, {
      status: 405,
      headers: { allow: "GET, HEAD" },
    });
  }
  let body: string;
  try {
    body = await metrics.render();
  } catch (error) {
    return Response.json({ message: `collecting metrics: ${messageLine(error)}`, code: 503 }, { status: 503 });
  }
  return new Response(request.method === "HEAD" ? null : body, {
    headers: { "content-type": metrics.contentType, "cache-control": "no-store" },
  });
}

/**
 * Wraps `handler` so that `/metrics` is answered by {@link serveMetrics}; every other request
 * goes to `handler` unchanged (and `/metrics` scrapes stay out of the access log and the
 * request counters).
 */
export function withMetricsRoute(
  handler: (request: Request) => Response | Promise<Response>,
  metrics: PrometheusMetrics,
  options: MetricsRouteOptions = {},
): (request: Request) => Response | Promise<Response> {
  return (request) =>
    new URL(request.url).pathname === "/metrics" ? serveMetrics(request, metrics, options) : handler(request);
}
