/**
 * `autopgo server`: the profile HTTP API (core/pipeline/server_app.ts) on `--port` (8080).
 *
 * Embedded default: without `--event-writer-url` (or with a `mem://` one) the server publishes
 * to an in-process bus and runs the worker in the same process; without `--blob-store-url` it stores under
 * `--data-dir` (`AUTOPGO_DATA_DIR`, default `./autopgo-data`) through the `file://` driver. So
 * `autopgo server` alone is a complete single-machine pipeline (`deno task start`). With
 * external URLs it is only the API, and `autopgo worker` processes run separately as in the
 * original.
 *
 * Shutdown on SIGINT/SIGTERM: stop accepting, finish in-flight uploads; in embedded mode then
 * stop the worker after its in-flight merges and merge whatever is still staged (the in-process
 * bus does not survive the process), then exit 0.
 *
 * @module
 */

import { Command } from "commander";
import { getLogger } from "@logtape/logtape";
import { resolve } from "node:path";
import { openBlobStore, openEventReader, openEventWriter } from "../core/registry.ts";
import { fileUrlFromPath, registerBuiltinDrivers } from "../adapters/mod.ts";
import { listBases } from "../core/pipeline/profiles_view.ts";
import { accessLog } from "../core/http/access_log.ts";
import { requestMetrics } from "../core/http/request_metrics.ts";
import { PrometheusMetrics, withMetricsRoute } from "../core/prometheus.ts";
import type { BlobStore } from "../core/blob.ts";
import { withDebugRoutes } from "../core/debug/pprof_routes.ts";
import { eventPublisher } from "../core/pipeline/publisher.ts";
import { reconcileStaging } from "../core/pipeline/reconcile.ts";
import { createServerApp, DEFAULT_MAX_UPLOAD_BYTES } from "../core/pipeline/server_app.ts";
import { DEFAULT_MAX_UPLOAD_MEMORY } from "../core/pipeline/upload_budget.ts";
import { DEFAULT_MAX_DOWNLOAD_MEMORY } from "../core/pipeline/download_budget.ts";
import { processUpload, runWorker } from "../core/pipeline/worker.ts";
import { CliError } from "./cli_error.ts";
import { addDecodePoolOptions, type DecodePoolFlags, openDecodePool } from "./decode_pool_flags.ts";
import type { DecodePool } from "../core/pipeline/decode_pool.ts";
import { envOption, isLoopbackHost, portArg, timerDurationArg, tokenOption } from "./options.ts";
import { listenEarly } from "./listen.ts";
import { NativeMemoryRelease } from "./native_memory.ts";
import type { HttpServerHandle } from "../core/pipeline/http_serve.ts";
import { dependencyChecks, openOrFail, shutdownSignal } from "./component_startup.ts";
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

const log = getLogger(["autopgo", "server"]);

/** Topic of the in-process bus used by the embedded default. */
export const EMBEDDED_BUS_URL = "mem://autopgo-embedded";

interface ServerCommandOptions extends WorkerTuningFlags, HttpTimeoutFlags, DecodePoolFlags {
  port: number;
  host: string;
  eventWriterUrl?: string;
  blobStoreUrl?: string;
  dataDir: string;
  token?: string;
  maxUploadSize: number;
  maxUploadMemory?: number;
  maxDownloadMemory: number;
  requestTimeout: number;
  debug?: boolean;
}

/** Builds the `server` command. */
export function serverCommand(): Command {
  const command = new Command("server")
    .description("serve the profile API (and, without bus URLs, merge uploads in-process)")
    .addOption(
      envOption("-p, --port <port>", "HTTP port (0 picks a free one)", "PORT").argParser(portArg).default(8080),
    )
    .addOption(hostOption())
    .addOption(
      envOption(
        "--event-writer-url <url>",
        "event bus topic (omit: in-process bus + embedded worker)",
        "EVENT_WRITER_URL",
      ),
    )
    .addOption(envOption("--blob-store-url <url>", "blob store URL (omit: files under --data-dir)", "BLOB_STORE_URL"))
    .addOption(
      envOption("--data-dir <dir>", "directory of the embedded file store", "DATA_DIR").default("./autopgo-data"),
    )
    .addOption(tokenOption("require this bearer token on /api/profile, the web page, /metrics and /debug/pprof"))
    .addOption(
      envOption("--max-upload-size <bytes>", "largest accepted upload (413 above)", "MAX_UPLOAD_SIZE").argParser(
        byteSizeArg,
      )
        .default(DEFAULT_MAX_UPLOAD_BYTES, "64MiB"),
    )
    .addOption(
      envOption(
        "--max-upload-memory <bytes>",
        "bytes all uploads being received may hold at once (503 above; default: 256MiB, or --max-upload-size " +
          "when larger)",
        "MAX_UPLOAD_MEMORY",
      ).argParser(byteSizeArg),
    )
    .addOption(
      envOption(
        "--max-download-memory <bytes>",
        "bytes the downloads being sent may hold at once (503 above; one download is always admitted)",
        "MAX_DOWNLOAD_MEMORY",
      ).argParser(byteSizeArg).default(DEFAULT_MAX_DOWNLOAD_MEMORY, "256MiB"),
    )
    .addOption(
      envOption("--request-timeout <duration>", "deadline for one request, body included", "REQUEST_TIMEOUT")
        .argParser(timerDurationArg).default(120_000, "2m"),
    )
    .addOption(envOption("--debug", "serve autopgo's own CPU profile on /debug/pprof/ (pprof format)", "DEBUG"));
  addWorkerTuningOptions(command);
  addHttpTimeoutOptions(command);
  addDecodePoolOptions(command);
  return command.action(async (opts: ServerCommandOptions) => {
    if (opts.token !== undefined && opts.token.trim() === "") throw new CliError("server: --token must not be empty");
    if (opts.requestTimeout <= 0) throw new CliError("server: --request-timeout must be positive");
    const maxUploadMemory = opts.maxUploadMemory ?? Math.max(DEFAULT_MAX_UPLOAD_MEMORY, opts.maxUploadSize);
    if (maxUploadMemory < opts.maxUploadSize) {
      throw new CliError(
        `server: --max-upload-memory (${maxUploadMemory} bytes) must be at least --max-upload-size ` +
          `(${opts.maxUploadSize} bytes), or no upload of the largest size could ever be accepted`,
      );
    }
    const guard = connGuardOptions(opts, opts.requestTimeout + 5_000);
    // An in-process bus (none given, or an explicit mem:// topic) only works with the worker in this process.
    const busUrl = opts.eventWriterUrl ?? EMBEDDED_BUS_URL;
    const embedded = busUrl.startsWith("mem:");
    // The base-size gauge reads the store once it is open (scrapes before that see no apps).
    const opening: { store?: BlobStore; pool?: DecodePool; http?: HttpServerHandle } = {};
    const metrics = new PrometheusMetrics({
      baseSizes: (signal) => opening.store ? listBases(opening.store, signal) : Promise.resolve([]),
      decodePool: () => opening.pool?.stats(),
      connections: () => opening.http?.connections(),
    });
    // The port first: a taken port is named before anything starts; it answers 503 until the API is up.
    const early = listenEarly("server", opts.host, opts.port, guard);
    const http = opening.http = early.http;
    let opened;
    try {
      opened = await openServerResources(opts, busUrl, embedded, metrics);
    } catch (error) {
      await http.shutdown(0);
      throw error;
    }
    const { pruneConfig, writer, reader, blobUrl, store } = opened;
    opening.store = store;
    const clock = () => new Date();
    let ready = false;
    const pool = opening.pool = openDecodePool(opts);
    const app = createServerApp({
      jobs: pool,
      store,
      publisher: eventPublisher({ writer, clock, newEventId: () => crypto.randomUUID() }),
      clock,
      randomSuffix: () => crypto.randomUUID().replaceAll("-", "").slice(0, 12),
      maxUploadBytes: opts.maxUploadSize,
      maxUploadMemory,
      onUploadMemoryFull: () => http.closeStallingBodies(),
      maxDownloadMemory: opts.maxDownloadMemory,
      token: opts.token,
      requestTimeoutMs: opts.requestTimeout,
      healthChecks: dependencyChecks(store, writer, reader),
      isReady: () => ready,
      middleware: [accessLog(), requestMetrics(metrics)],
    });
    const signals = shutdownSignal();
    const stopTrims = new NativeMemoryRelease().every();
    const stopWorker = new AbortController();
    const deps = { ...workerDeps(store, writer, pruneConfig, opts, opts.maxUploadSize, metrics), jobs: pool };
    const worker = reader
      ? runWorker(reader, deps, {
        concurrency: opts.concurrency,
        sweepIntervalMs: opts.sweepInterval,
        sweepGraceMs: opts.sweepGrace,
        clock,
      }, stopWorker.signal)
      : undefined;
    const handler = opts.debug ? withDebugRoutes(app.fetch, { token: opts.token }) : app.fetch;
    early.serve(withMetricsRoute(handler, metrics, { token: opts.token }));
    ready = true;
    log.info("listening on {url}", {
      url: http.url,
      host: http.hostname,
      port: http.port,
      mode: embedded ? "embedded worker" : "api only",
      blobStore: embedded && !opts.blobStoreUrl ? blobUrl : undefined,
    });
    if (!isLoopbackHost(http.hostname) && opts.token === undefined) {
      log.warn(
        "listening beyond loopback ({host}) without --token: anyone who can reach port {port} " +
          "can upload, download and delete profiles; set --token (AUTOPGO_TOKEN) or --host 127.0.0.1",
        { host: http.hostname, port: http.port },
      );
    }
    if (opts.debug) {
      log.info("serving autopgo's CPU profile on {url} (--debug)", { url: `${http.url}/debug/pprof/profile` });
    }
    const signal = await signals.received;
    log.info("stopping ({signal}): finishing in-flight uploads", { signal });
    ready = false;
    await http.shutdown(opts.requestTimeout);
    if (worker) {
      stopWorker.abort();
      await worker;
      log.info("merging uploads still staged before exit");
      const report = await reconcileStaging(store, clock(), 0, (app, key) => processUpload(deps, app, key));
      if (report.failed > 0) {
        log.warn("{failed} staged uploads could not be merged; they are merged on next start", { ...report });
      }
    }
    signals.dispose();
    stopTrims();
    pool.close();
    await Promise.allSettled([reader?.close(), writer.close(), store.close()]);
    log.info("stopped");
  });
}

/** Loads the prune rules, creates the data directory and opens the store and the bus (metrics hooks attached). */
async function openServerResources(
  opts: ServerCommandOptions,
  busUrl: string,
  embedded: boolean,
  metrics: PrometheusMetrics,
) {
  const pruneConfig = embedded ? await loadPruneFlag(opts.prune) : [];
  if (embedded) logNoInlineGuards(opts);
  let blobUrl = opts.blobStoreUrl;
  if (!blobUrl) {
    const dir = resolve(opts.dataDir);
    try {
      await Deno.mkdir(dir, { recursive: true });
    } catch (error) {
      throw new CliError(
        `cannot create data directory ${dir}: ${(error as Error).message} (--data-dir / AUTOPGO_DATA_DIR)`,
      );
    }
    blobUrl = fileUrlFromPath(dir);
  }
  registerBuiltinDrivers();
  const store = await openOrFail("blob store", blobUrl, (url) => openBlobStore(url, { observe: metrics.blob }));
  const writer = await openOrFail("event writer", busUrl, (url) => openEventWriter(url, { observe: metrics.bus }));
  const reader = embedded
    ? await openOrFail("event reader", busUrl, (url) => openEventReader(url, { observe: metrics.bus }))
    : undefined;
  return { pruneConfig, blobUrl, store, writer, reader };
}
