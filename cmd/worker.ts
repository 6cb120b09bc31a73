/**
 * `autopgo worker`: consumes `profile.*` events and merges uploads into each app's base
 * profile (core/pipeline/worker.ts), with `/api/health` and `/api/ready` on `--port`
 * (default 8081 as in the original code; its README said 8080). With the other worker processes of
 * its store and subscription on the machine it takes turns at consuming (worker_turns.ts): at
 * most `--local-workers` consume, the first always, the others only with a backlog.
 *
 * Also exports the pieces `autopgo server` reuses to run the same worker in-process in the
 * embedded default: the tuning flags, their resolution, and shutdown-signal handling.
 *
 * @module
 */

import { Command, InvalidArgumentError, type Option } from "commander";
import { getLogger } from "@logtape/logtape";
import type { BlobStore } from "../core/blob.ts";
import type { EventReader, EventWriter } from "../core/events.ts";
import type { HealthCheck } from "../core/health.ts";
import { openBlobStore, openEventReader, openEventWriter } from "../core/registry.ts";
import { registerBuiltinDrivers } from "../adapters/mod.ts";
import { type ConnGuardOptions, DEFAULT_CONN_GUARD, DEFAULT_MAX_CONNECTIONS } from "../core/pipeline/conn_guard.ts";
import { createOpsApp } from "../core/pipeline/http_serve.ts";
import { accessLog } from "../core/http/access_log.ts";
import { requestMetrics } from "../core/http/request_metrics.ts";
import { PrometheusMetrics, withMetricsRoute } from "../core/prometheus.ts";
import type { Metrics } from "../core/metrics.ts";
import { MAX_PROFILE_SECONDS, withDebugRoutes } from "../core/debug/pprof_routes.ts";
import { DEFAULT_BATCH_LIMITS } from "../core/pipeline/merge_batch.ts";
import type { CompactionMode } from "../core/pipeline/merge_upload.ts";
import { loadPruneConfig, type PruneConfig, PruneConfigError } from "../core/pipeline/prune_config.ts";
import { eventPublisher } from "../core/pipeline/publisher.ts";
import { uploadDecodeLimits } from "../core/pipeline/upload_limits.ts";
import { runWorker, type WorkerDeps } from "../core/pipeline/worker.ts";
import { CliError } from "./cli_error.ts";
import { addDecodePoolOptions, type DecodePoolFlags, openDecodePool } from "./decode_pool_flags.ts";
import { durationArg, envOption, nonNegativeIntArg, portArg, timerDurationArg } from "./options.ts";
import { addWindowOptions, windowConfigOf, type WindowFlags } from "./window_flags.ts";
import { addNoInlineOptions, type NoInlineFlags, noInlineGuardsOf } from "./noinline_flags.ts";
import { ALL_INTERFACES, ALL_INTERFACES_HELP, listenEarly, startupWait } from "./listen.ts";
import { dependencyChecks, openOrFail, shutdownSignal } from "./component_startup.ts";
import { defaultLocalWorkers, localWorkersArg, openLocalSlots } from "./worker_standby.ts";
import { DEFAULT_HELPER_LAG_MS, HelperDemand } from "./worker_helpers.ts";
import { consumeInTurns } from "./worker_turns.ts";

const log = getLogger(["autopgo", "worker"]);

/** Worker tuning shared by `worker` and the embedded worker of `server`. */
export interface WorkerTuningFlags extends WindowFlags, NoInlineFlags {
  prune?: string;
  compaction: CompactionMode;
  concurrency: number;
  sweepInterval: number;
  sweepGrace: number;
  batchMaxUploads: number;
  batchMaxBytes: number;
}

/** Parses byte sizes: `1048576`, `512k`, `64MiB`, `1G` (binary multiples). */
export function byteSizeArg(value: string): number {
  const m = /^\s*(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$/i.exec(value);
  if (!m) throw new InvalidArgumentError(`expected a size like 1048576, 512KiB or 64MiB, got "${value}"`);
  const unit = (m[2] ?? "b").toLowerCase()[0];
  const n = Number(m[1]) * ({ b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as Record<string, number>)[unit];
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`size is too large (at most 8 PiB), got "${value}"`);
  if (n <= 0) throw new InvalidArgumentError(`size must be positive, got "${value}"`);
  return n;
}

/** The `--host` option (`AUTOPGO_HOST`); the original listened on all interfaces (Go's `:port`). */
export function hostOption(): Option {
  return envOption("--host <address>", "interface to listen on", "HOST").default(
    ALL_INTERFACES,
    ALL_INTERFACES_HELP,
  );
}

/** HTTP connection limits shared by `server` and `worker`. */
export interface HttpTimeoutFlags {
  headerTimeout: number;
  idleTimeout: number;
  maxConnections: number;
}

/** Adds `--header-timeout` and `--idle-timeout` (slow-client protection, conn_guard.ts). */
export function addHttpTimeoutOptions(command: Command): Command {
  return command
    .addOption(
      envOption("--header-timeout <duration>", "time a client has to send a request head", "HEADER_TIMEOUT")
        .argParser(timerDurationArg).default(DEFAULT_CONN_GUARD.headerTimeoutMs, "10s"),
    )
    .addOption(
      envOption("--idle-timeout <duration>", "time a keep-alive connection may sit idle", "IDLE_TIMEOUT")
        .argParser(timerDurationArg).default(DEFAULT_CONN_GUARD.idleTimeoutMs, "2m"),
    )
    .addOption(
      envOption(
        "--max-connections <n>",
        "client connections served at once; more are answered 503 (lowered to fit the open-file limit)",
        "MAX_CONNECTIONS",
      ).argParser(nonNegativeIntArg).default(DEFAULT_MAX_CONNECTIONS),
    );
}

/** Connection guard limits from the flags; bodies are bounded by `bodyTimeoutMs`. */
export function connGuardOptions(flags: HttpTimeoutFlags, bodyTimeoutMs: number): ConnGuardOptions {
  if (flags.headerTimeout <= 0 || flags.idleTimeout <= 0) {
    throw new CliError("--header-timeout and --idle-timeout must be positive");
  }
  if (flags.maxConnections < 1) throw new CliError("--max-connections must be at least 1");
  return {
    headerTimeoutMs: flags.headerTimeout,
    idleTimeoutMs: flags.idleTimeout,
    bodyTimeoutMs,
    // A request's work is bounded by the server's deadlines; `--debug`'s profile takes up to 300 s.
    responseTimeoutMs: Math.max(bodyTimeoutMs, flags.idleTimeout, (MAX_PROFILE_SECONDS + 10) * 1000),
    maxHeaderBytes: DEFAULT_CONN_GUARD.maxHeaderBytes,
    maxConnections: flags.maxConnections,
  };
}

function batchCountArg(value: string): number {
  const n = nonNegativeIntArg(value);
  if (n < 1) throw new InvalidArgumentError(`expected at least 1 (1: one merge per upload), got ${n}`);
  return n;
}

/**
 * Adds the worker tuning flags (`--prune`, `--compaction`, `--concurrency`, `--sweep-*`, `--batch-*`,
 * and the retention flags of window_flags.ts) to `command`.
 */
export function addWorkerTuningOptions(command: Command): Command {
  return addNoInlineOptions(addWindowOptions(command))
    .addOption(envOption("--prune <file>", "JSON pruning rules applied to every merged upload", "PRUNE"))
    .addOption(
      envOption("--compaction <mode>", "store bases compacted to what Go PGO reads (pgo) or full (none)", "COMPACTION")
        .choices(["pgo", "none"]).default("pgo"),
    )
    .addOption(
      envOption("--concurrency <n>", "events merged in parallel (at most 1024)", "CONCURRENCY").argParser(
        concurrencyArg,
      ).default(
        1,
      ),
    )
    .addOption(
      envOption(
        "--sweep-interval <duration>",
        "period of the sweep that merges orphaned uploads (0: only at start)",
        "SWEEP_INTERVAL",
      )
        .argParser(timerDurationArg).default(60_000, "1m"),
    )
    .addOption(
      envOption("--sweep-grace <duration>", "age before the sweep takes over an upload from its event", "SWEEP_GRACE")
        .argParser(durationArg).default(60_000, "1m"),
    )
    .addOption(
      envOption(
        "--batch-max-uploads <n>",
        "waiting uploads of one app merged in one write at most (1: one merge per upload)",
        "BATCH_MAX_UPLOADS",
      ).argParser(batchCountArg).default(DEFAULT_BATCH_LIMITS.maxUploads),
    )
    .addOption(
      envOption("--batch-max-bytes <size>", "staged bytes merged in one write at most", "BATCH_MAX_BYTES")
        .argParser(byteSizeArg).default(DEFAULT_BATCH_LIMITS.maxBytes, "16MiB"),
    );
}

/** Logs the no-inline guards the worker applies (flags checked by their parser). */
export function logNoInlineGuards(flags: NoInlineFlags): void {
  const guards = noInlineGuardsOf(flags)!.patterns.map((p) => p.source);
  if (guards.length === 0) log.info("no-inline guards: none");
  else log.info("no-inline guards: {guards}", { guards: guards.join(" ") });
}

/** Loads the pruning file (one-line CliError when unusable). */
export async function loadPruneFlag(path: string | undefined): Promise<PruneConfig> {
  try {
    const config = await loadPruneConfig(path);
    if (config.length === 0) log.info("starting with no prune rules");
    else log.info("loaded prune rules for {apps} apps from {path}", { apps: config.length, path });
    return config;
  } catch (error) {
    if (error instanceof PruneConfigError) throw new CliError(error.message);
    throw error;
  }
}

/** Builds the worker's dependencies from opened resources and resolved flags. */
export function workerDeps(
  store: BlobStore,
  writer: EventWriter,
  pruneConfig: PruneConfig,
  flags: WorkerTuningFlags,
  maxUploadBytes?: number,
  metrics?: Metrics,
): WorkerDeps {
  return {
    metrics,
    store,
    pruneConfig,
    compaction: flags.compaction,
    batch: { maxUploads: flags.batchMaxUploads, maxBytes: flags.batchMaxBytes },
    windows: windowConfigOf(flags),
    noinline: noInlineGuardsOf(flags),
    uploadLimits: maxUploadBytes ? uploadDecodeLimits(maxUploadBytes) : undefined,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    random: Math.random,
    publisher: eventPublisher({ writer, clock: () => new Date(), newEventId: () => crypto.randomUUID() }),
  };
}

/**
 * True when several worker processes can take one app's events, so that they take the app's merge
 * lease (core/pipeline/app_lease.ts): NATS, SQS, Pub/Sub and Service Bus hand an app's events to
 * any reader, and file:// hands its next one to whichever reader claims first (one at a time). The
 * lease keeps them from merging one app at once, and its rest gathers a busy app's uploads into
 * larger batches: with 4 workers on file://, 1,000 uploads took 36–39 base writes with the lease
 * against 210–669 without (BENCHMARKS.md). mem:// lives in one process, and a Kafka partition, with
 * every app in it, belongs to one reader of the group at a time: no lease.
 */
export function appEventsShared(readerUrl: string): boolean {
  return !/^(mem|kafka):/i.test(readerUrl);
}

/** `host:pid` of this process (the holder named in app merge leases). */
function processName(): string {
  let host = "worker";
  try {
    host = Deno.hostname();
  } catch { /* no --allow-sys */ }
  return `${host}:${Deno.pid}`;
}

interface WorkerCommandOptions extends WorkerTuningFlags, HttpTimeoutFlags, DecodePoolFlags {
  port: number;
  host: string;
  eventReaderUrl?: string;
  eventWriterUrl?: string;
  blobStoreUrl?: string;
  maxUploadSize: number;
  localWorkers: number;
  localHelperLag: number;
  debug?: boolean;
}

/** Builds the `worker` command. */
export function workerCommand(): Command {
  const command = new Command("worker")
    .description("merge uploaded profiles into each app's base profile (consumes profile.* events)")
    .addOption(
      envOption("-p, --port <port>", "HTTP port for /api/health and /api/ready", "PORT").argParser(portArg).default(
        8081,
      ),
    )
    .addOption(hostOption())
    .addOption(envOption("--event-reader-url <url>", "event bus subscription to consume", "EVENT_READER_URL"))
    .addOption(
      envOption("--event-writer-url <url>", "event bus topic to publish profile.merged to", "EVENT_WRITER_URL"),
    )
    .addOption(envOption("--blob-store-url <url>", "blob store holding the profiles", "BLOB_STORE_URL"))
    .addOption(
      envOption("--max-upload-size <bytes>", "largest staged upload decoded", "MAX_UPLOAD_SIZE").argParser(byteSizeArg)
        .default(64 * 1024 * 1024, "64MiB"),
    )
    .addOption(
      envOption(
        "--local-workers <n>",
        "worker processes of this store and subscription consuming at once on this machine; more stand by (0: no limit)",
        "LOCAL_WORKERS",
      ).argParser(localWorkersArg).default(defaultLocalWorkers(), "the number of cores"),
    )
    .addOption(
      envOption(
        "--local-helper-lag <duration>",
        "local worker processes beyond the first consume only while events wait longer than this, and stand by " +
          "again after five times as long without such an event (0: always consume)",
        "LOCAL_HELPER_LAG",
      ).argParser(timerDurationArg).default(DEFAULT_HELPER_LAG_MS, "2s"),
    )
    .addOption(envOption("--debug", "serve autopgo's own CPU profile on /debug/pprof/ (pprof format)", "DEBUG"));
  addWorkerTuningOptions(command);
  addHttpTimeoutOptions(command);
  addDecodePoolOptions(command);
  return command.action(async (opts: WorkerCommandOptions) => {
    const guard = connGuardOptions(opts, 60_000);
    for (
      const [flag, value] of [["event-reader-url", opts.eventReaderUrl], ["event-writer-url", opts.eventWriterUrl], [
        "blob-store-url",
        opts.blobStoreUrl,
      ]] as const
    ) {
      if (!value) {
        throw new CliError(
          `worker: --${flag} (or AUTOPGO_WORKER_${flag.toUpperCase().replaceAll("-", "_")} or ` +
            `AUTOPGO_${flag.toUpperCase().replaceAll("-", "_")}) is required; ` +
            "to run everything in one process use `autopgo server` without URLs",
        );
      }
    }
    // The port first: a taken port is named before anything starts; health says "starting" meanwhile.
    let standingBy = false;
    const metrics = new PrometheusMetrics({ standingBy: () => standingBy });
    let ready = false;
    const checks: HealthCheck[] = [{
      name: "startup",
      check: () => Promise.reject(new Error(startupWait() ?? "opening the blob store and the event bus")),
    }];
    const ops = createOpsApp(checks, () => ready, [accessLog(), requestMetrics(metrics)]).fetch;
    const early = listenEarly("worker", opts.host, opts.port, guard);
    early.serve(withMetricsRoute(opts.debug ? withDebugRoutes(ops) : ops, metrics));
    const http = early.http;
    log.info("listening on {url}", { url: http.url, host: http.hostname, port: http.port });
    if (opts.debug) {
      log.info("serving autopgo's CPU profile on {url} (--debug)", { url: `${http.url}/debug/pprof/profile` });
    }
    let store: BlobStore, writer: EventWriter, reader: EventReader, pruneConfig: PruneConfig;
    try {
      pruneConfig = await loadPruneFlag(opts.prune);
      logNoInlineGuards(opts);
      registerBuiltinDrivers();
      store = await openOrFail(
        "blob store",
        opts.blobStoreUrl!,
        (url) => openBlobStore(url, { observe: metrics.blob }),
      );
      writer = await openOrFail(
        "event writer",
        opts.eventWriterUrl!,
        (url) => openEventWriter(url, { observe: metrics.bus }),
      );
      reader = await openOrFail(
        "event reader",
        opts.eventReaderUrl!,
        (url) => openEventReader(url, { observe: metrics.bus }),
      );
    } catch (error) {
      await http.shutdown(0);
      throw error;
    }
    checks.splice(0, checks.length, ...dependencyChecks(store, writer, reader));
    const signals = shutdownSignal();
    const shutdown = new AbortController();
    signals.received.then(() => {
      ready = false;
      shutdown.abort();
    });
    const slots = await openLocalSlots({
      localWorkers: opts.localWorkers,
      storeUrl: opts.blobStoreUrl!,
      readerUrl: opts.eventReaderUrl!,
      holder: processName(),
    });
    const deps = {
      ...workerDeps(store, writer, pruneConfig, opts, opts.maxUploadSize, metrics),
      appLease: appEventsShared(opts.eventReaderUrl!) ? { holder: processName() } : undefined,
    };
    let readerOpen = true;
    let pool: ReturnType<typeof openDecodePool> | undefined;
    await consumeInTurns({
      slots,
      demand: slots === "unlimited" ? undefined : new HelperDemand(slots.dir, opts.localHelperLag),
      received: signals.received,
      shutdown: shutdown.signal,
    }, {
      standBy: async (slots) => {
        // A standby holds no reader: no Kafka partitions, Pub/Sub leases or prefetched messages.
        standingBy = true;
        checks.splice(0, checks.length, ...dependencyChecks(store, writer));
        ready = true;
        log.info(
          "standing by: every local worker slot of this pipeline that it may take is held (--local-workers {n}, " +
            "slots in {dir}; those beyond slot 0 only while events wait over --local-helper-lag); taking over when one frees",
          { n: slots.size, dir: slots.dir },
        );
        if (readerOpen) await reader.close().catch(() => {});
        readerOpen = false;
      },
      resume: async () => {
        if (!readerOpen) {
          ready = false;
          reader = await openOrFail(
            "event reader",
            opts.eventReaderUrl!,
            (url) => openEventReader(url, { observe: metrics.bus }),
          );
          readerOpen = true;
          checks.splice(0, checks.length, ...dependencyChecks(store, writer, reader));
        }
        standingBy = false;
      },
      consume: (stop, onEventAge) => {
        pool ??= openDecodePool(opts);
        return runWorker(reader, { ...deps, jobs: pool }, {
          concurrency: opts.concurrency,
          sweepIntervalMs: opts.sweepInterval,
          sweepGraceMs: opts.sweepGrace,
          clock: () => new Date(),
          onReady: () => ready = true,
          onEventAge,
        }, stop);
      },
    });
    ready = false;
    // Stop serving, then close the decode pool and the reader where they are open, then the writer and store.
    await http.shutdown();
    signals.dispose();
    const parts = [...(pool ? [pool] : []), ...(readerOpen ? [reader] : []), writer, store];
    await Promise.allSettled(parts.map(async (part) => await part.close()));
    log.info("stopped");
  });
}

/** `--concurrency`: 0–1024 (99,999,999 made the worker spin at start, deaf to health checks and SIGTERM). */
function concurrencyArg(value: string): number {
  const n = nonNegativeIntArg(value);
  if (n > 1024) throw new InvalidArgumentError(`concurrency must be at most 1024, got ${n}`);
  return n;
}
