/**
 * `autopgo worker`: consumes `profile.*` events and merges uploads into each app's base
 * profile (core/pipeline/worker.ts), with `/api/health` and `/api/ready` on `--port`
 * (default 8081 as in the original code; its README said 8080). With the other worker processes of
 * its store and subscription on the machine it takes turns at consuming (worker_turns.ts): at
 * most `--local-workers` consume, the first always, the others only with a backlog.
 *
 * The flags and pieces `autopgo server` reuses to run the same worker in-process in the embedded
 * default are in worker_tuning.ts.
 *
 * @module
 */

import { Command, InvalidArgumentError } from "commander";
import { getLogger } from "@logtape/logtape";
import type { BlobStore } from "../core/blob.ts";
import type { EventReader, EventWriter } from "../core/events.ts";
import type { HealthCheck } from "../core/health.ts";
import { openBlobStore, openEventReader, openEventWriter } from "../core/registry.ts";
import { registerBuiltinDrivers } from "../adapters/mod.ts";
import { createOpsApp, type HttpServerHandle } from "../core/pipeline/http_serve.ts";
import { accessLog } from "../core/http/access_log.ts";
import { requestMetrics } from "../core/http/request_metrics.ts";
import { PrometheusMetrics, withMetricsRoute } from "../core/prometheus.ts";
import { withDebugRoutes } from "../core/debug/pprof_routes.ts";
import type { PruneConfig } from "../core/pipeline/prune_config.ts";
import { runWorker } from "../core/pipeline/worker.ts";
import { CliError } from "./cli_error.ts";
import { addDecodePoolOptions, type DecodePoolFlags, openDecodePool } from "./decode_pool_flags.ts";
import { envOption, portArg, timerDurationArg } from "./options.ts";
import { listenEarly, startupWait } from "./listen.ts";
import { NativeMemoryRelease } from "./native_memory.ts";
import { dependencyChecks, openOrFail, shutdownSignal } from "./component_startup.ts";
import { defaultLocalWorkers, localWorkersArg, openLocalSlots } from "./worker_standby.ts";
import { DEFAULT_HELPER_LAG_MS, HELPER_MIN_IDLE_CORES, HelperDemand } from "./worker_helpers.ts";
import { consumeInTurns } from "./worker_turns.ts";
import {
  addWorkerTuningOptions,
  byteSizeArg,
  hostOption,
  loadPruneFlag,
  logNoInlineGuards,
  workerDeps,
  type WorkerTuningFlags,
} from "./worker_tuning.ts";
import { addHttpTimeoutOptions, connGuardOptions, type HttpTimeoutFlags } from "./http_flags.ts";

const log = getLogger(["autopgo", "worker"]);

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
  localHelperIdleCpu: number;
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
    .addOption(
      envOption(
        "--local-helper-idle-cpu <cores>",
        "a helper joins only while at least this many of the machine's cores were idle over the last second " +
          "(0: whenever events wait)",
        "LOCAL_HELPER_IDLE_CPU",
      ).argParser(idleCoresArg).default(HELPER_MIN_IDLE_CORES),
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
    /** Opened when this worker first consumes (a worker standing by has none). */
    let pool: ReturnType<typeof openDecodePool> | undefined;
    let port: HttpServerHandle | undefined;
    const metrics = new PrometheusMetrics({
      standingBy: () => standingBy,
      decodePool: () => pool?.stats(),
      connections: () => port?.connections(),
    });
    let ready = false;
    const checks: HealthCheck[] = [{
      name: "startup",
      check: () => Promise.reject(new Error(startupWait() ?? "opening the blob store and the event bus")),
    }];
    const ops = createOpsApp(checks, () => ready, [accessLog(), requestMetrics(metrics)]).fetch;
    const early = listenEarly("worker", opts.host, opts.port, guard);
    early.serve(withMetricsRoute(opts.debug ? withDebugRoutes(ops) : ops, metrics));
    const http = port = early.http;
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
    const stopTrims = new NativeMemoryRelease().every();
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
    await consumeInTurns({
      slots,
      demand: slots === "unlimited" ? undefined : new HelperDemand(slots.dir, opts.localHelperLag, {
        minIdleCores: opts.localHelperIdleCpu,
      }),
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
          try {
            // A bus that is down is waited for, as at start-up, but a signal ends the wait.
            reader = await openOrFail(
              "event reader",
              opts.eventReaderUrl!,
              (url) => openEventReader(url, { observe: metrics.bus }),
              shutdown.signal,
            );
          } catch (error) {
            if (shutdown.signal.aborted) return false;
            throw error;
          }
          readerOpen = true;
          checks.splice(0, checks.length, ...dependencyChecks(store, writer, reader));
        }
        standingBy = false;
        return true;
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
    stopTrims();
    const parts = [...(pool ? [pool] : []), ...(readerOpen ? [reader] : []), writer, store];
    await Promise.allSettled(parts.map(async (part) => await part.close()));
    log.info("stopped");
  });
}

/** `--local-helper-idle-cpu`: a number of cores, 0–1024 (fractions allowed). */
function idleCoresArg(value: string): number {
  const cores = Number(value.trim());
  if (!/^\d+(\.\d+)?$/.test(value.trim()) || cores > 1024) {
    throw new InvalidArgumentError(`expected a number of cores from 0 to 1024 (e.g. 0.25), got "${value}"`);
  }
  return cores;
}
