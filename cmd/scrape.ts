/**
 * `autopgo scrape [--mode file|kube|nomad|consul] [ARG]`: samples the `net/http/pprof` CPU profile
 * endpoints of an application's instances and streams the profiles to the server, with
 * `/api/health`, `/api/ready` and `/metrics` on `--port` (default 8082, as the original's code;
 * its README said 8080). ARG is the targets file in file mode and an optional kubeconfig in kube
 * mode. Health turns unhealthy after `--unhealthy-after` rounds in which every target failed.
 * SIGINT/SIGTERM abort the round in flight and exit 0.
 *
 * @module
 */

import { Command, InvalidArgumentError } from "commander";
import { getLogger } from "@logtape/logtape";
import { ApiClient } from "../core/api_client.ts";
import type { HealthCheck } from "../core/health.ts";
import { createOpsApp, type HttpServerHandle } from "../core/pipeline/http_serve.ts";
import { accessLog } from "../core/http/access_log.ts";
import { requestMetrics } from "../core/http/request_metrics.ts";
import { PrometheusMetrics, withMetricsRoute } from "../core/prometheus.ts";
import { ALL_INTERFACES, ALL_INTERFACES_HELP, listenEarly } from "./listen.ts";
import { NativeMemoryRelease } from "./native_memory.ts";
import { withDebugRoutes } from "../core/debug/pprof_routes.ts";
import { Scraper, validateScraperSettings } from "../core/scrape/scraper.ts";
import type { TargetSource } from "../core/scrape/target.ts";
import { CliError, oneLine } from "./cli_error.ts";
import { addHttpTimeoutOptions, connGuardOptions, type HttpTimeoutFlags } from "./http_flags.ts";
import {
  apiUrlOption,
  appNameArg,
  durationArgAtMost,
  envOption,
  nonNegativeIntArg,
  portArg,
  timerDurationArg,
  tokenOption,
} from "./options.ts";

/** Discovery modes. */
export const SCRAPE_MODES = ["file", "kube", "nomad", "consul"] as const;
/** One discovery mode. */
export type ScrapeMode = typeof SCRAPE_MODES[number];

/** Options of `scrape`. */
interface ScrapeOptions extends HttpTimeoutFlags {
  mode: ScrapeMode;
  app: string;
  sampleSize: number;
  frequency: number;
  duration: number;
  targetTimeout?: number;
  apiUrl: string;
  token?: string;
  port: number;
  host: string;
  targetHeader?: [string, string][];
  debug?: boolean;
  unhealthyAfter: number;
}

/** commander argParser for `--sample-size` (an integer ≥ 1). */
export function sampleSizeArg(value: string): number {
  const n = nonNegativeIntArg(value);
  if (n < 1) throw new InvalidArgumentError("sample size must be at least 1");
  return n;
}

/**
 * Parses `Name: value` target headers (repeatable; an env value may hold several separated by
 * newlines) and accumulates them.
 */
export function targetHeaderArg(value: string, previous: [string, string][] = []): [string, string][] {
  const out = previous.slice();
  for (const line of value.split(/\r?\n/)) {
    if (!line.trim()) continue;
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon).trim() : "";
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      throw new InvalidArgumentError(`expected "Name: value", got ${JSON.stringify(line.slice(0, 40))}`);
    }
    const headerValue = line.slice(colon + 1).trim();
    try {
      new Headers([[name, headerValue]]);
    } catch {
      throw new InvalidArgumentError(`header ${name} has an invalid value`);
    }
    out.push([name, headerValue]);
  }
  return out;
}

/** Opens the target source of `mode`; discovery modules are loaded only when their mode is used. */
export async function openTargetSource(mode: ScrapeMode, app: string, arg: string | undefined): Promise<TargetSource> {
  const log = getLogger(["autopgo", "scrape"]);
  if (arg !== undefined && (mode === "nomad" || mode === "consul")) {
    log.warn("{mode} mode takes no argument; ignoring {arg}", { mode, arg });
  }
  switch (mode) {
    case "file": {
      if (!arg) throw new CliError("file mode needs the path of a targets file: autopgo scrape <targets.json>");
      const { FileTargetSource } = await import("../discovery/file.ts");
      return await FileTargetSource.open(arg);
    }
    case "kube": {
      const { KubeTargetSource } = await import("../discovery/kube.ts");
      return await KubeTargetSource.open({ app, kubeconfig: arg });
    }
    case "nomad": {
      const { NomadTargetSource } = await import("../discovery/nomad.ts");
      return new NomadTargetSource({ app });
    }
    case "consul": {
      const { ConsulTargetSource } = await import("../discovery/consul.ts");
      return new ConsulTargetSource({ app });
    }
  }
}

/** Builds the `scrape` command. */
export function scrapeCommand(): Command {
  const command = new Command("scrape")
    .description("periodically profile an application's instances and upload the profiles")
    .argument("[arg]", "file mode: targets JSON file; kube mode: optional kubeconfig path")
    .addOption(envOption("-m, --mode <mode>", "where targets come from", "MODE").choices(SCRAPE_MODES).default("file"))
    .addOption(
      envOption("-a, --app <name>", "application the profiles belong to", "APP").argParser(appNameArg)
        .makeOptionMandatory(),
    )
    .addOption(
      envOption("-s, --sample-size <n>", "maximum targets profiled per round (≥ 1)", "SAMPLE_SIZE")
        .argParser(sampleSizeArg).makeOptionMandatory(),
    )
    .addOption(
      envOption("-f, --frequency <duration>", "time between rounds", "FREQUENCY").argParser(timerDurationArg)
        .default(60_000, "60s"),
    )
    .addOption(
      envOption("-d, --duration <duration>", "profile duration, whole seconds", "DURATION").argParser(
        durationArgAtMost(24 * 3600_000, "24h"),
      ).default(30_000, "30s"),
    )
    .addOption(
      envOption(
        "--target-timeout <duration>",
        "deadline per target for profiling and upload (default: duration + max(10s, duration/4))",
        "TARGET_TIMEOUT",
      ).argParser(timerDurationArg),
    )
    .addOption(
      envOption("--target-header <header>", "'Name: value' header sent to targets (repeatable)", "TARGET_HEADER")
        .argParser(targetHeaderArg),
    )
    .addOption(apiUrlOption())
    .addOption(tokenOption())
    .addOption(
      envOption("-p, --port <port>", "port of the health/ready HTTP server", "PORT").argParser(portArg)
        .default(8082),
    )
    .addOption(
      envOption("--host <address>", "address the health/ready server listens on", "HOST").default(
        ALL_INTERFACES,
        ALL_INTERFACES_HELP,
      ),
    )
    .addOption(
      envOption(
        "--unhealthy-after <rounds>",
        "rounds in a row in which every target fails before /api/health answers 503 (0: never)",
        "UNHEALTHY_AFTER",
      ).argParser(nonNegativeIntArg).default(3),
    )
    .addOption(envOption("--debug", "serve autopgo's own CPU profile on /debug/pprof/ (pprof format)", "DEBUG"));
  addHttpTimeoutOptions(command);
  return command.action(async (arg: string | undefined, opts: ScrapeOptions) => {
    await runScrape(arg, opts);
  });
}

async function runScrape(arg: string | undefined, opts: ScrapeOptions): Promise<void> {
  const log = getLogger(["autopgo", "scrape"]);
  let uploader: ApiClient;
  try {
    validateScraperSettings({
      sampleSize: opts.sampleSize,
      frequencyMs: opts.frequency,
      durationMs: opts.duration,
      targetTimeoutMs: opts.targetTimeout,
    });
    uploader = new ApiClient({ baseUrl: opts.apiUrl, token: opts.token });
  } catch (e) {
    throw new CliError(oneLine(e));
  }
  if (opts.mode === "file" && !arg) {
    throw new CliError("file mode needs the path of a targets file: autopgo scrape <targets.json>");
  }
  const guard = connGuardOptions(opts, 60_000);
  let source: TargetSource;
  try {
    source = await openTargetSource(opts.mode, opts.app, arg);
  } catch (e) {
    throw e instanceof CliError ? e : new CliError(oneLine(e));
  }
  // Then the port, before the first round; health says "starting" until the scraper exists.
  let port: HttpServerHandle | undefined;
  const metrics = new PrometheusMetrics({ connections: () => port?.connections() });
  let ready = false;
  const checks: HealthCheck[] = [{
    name: "startup",
    check: () => Promise.reject(new Error("starting")),
  }];
  const ops = createOpsApp(checks, () => ready, [accessLog(), requestMetrics(metrics)]).fetch;
  let early;
  try {
    // Guarded like the server's port: a client that opens connections and sends nothing held each
    // one for good, and enough of them took the descriptors the scrapes need.
    early = listenEarly("scrape", opts.host, opts.port, guard);
    port = early.http;
  } catch (e) {
    await source.close?.();
    throw e;
  }
  early.serve(withMetricsRoute(opts.debug ? withDebugRoutes(ops) : ops, metrics));
  const http = early.http;
  log.info("health server listening on {url}", { url: http.url, host: http.hostname, port: http.port });
  let scraper: Scraper;
  try {
    scraper = new Scraper({
      app: opts.app,
      source,
      uploader,
      sampleSize: opts.sampleSize,
      frequencyMs: opts.frequency,
      durationMs: opts.duration,
      targetTimeoutMs: opts.targetTimeout,
      targetHeaders: opts.targetHeader,
      unhealthyAfterRounds: opts.unhealthyAfter,
      onRound: (report) => {
        metrics.scrapeRound();
        for (const r of report.results) metrics.scrapeTarget(r.ok ? (r.idle ? "idle" : "success") : "failure");
      },
    });
  } catch (e) {
    await source.close?.();
    await http.shutdown(0);
    throw new CliError(oneLine(e));
  }
  checks.splice(0, checks.length, scraper.healthCheck());
  ready = true;

  const stop = new AbortController();
  const onSignal = () => {
    if (!stop.signal.aborted) log.info("shutting down");
    stop.abort();
  };
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  // `systemctl reload` sends SIGHUP: file mode re-reads its targets; the discovery modes have nothing to
  // reload, and SIGHUP must not end them.
  const hangup = opts.mode !== "file" && Deno.build.os !== "windows";
  const onHangup = () =>
    log.info("SIGHUP: {mode} mode discovers targets continuously; nothing to reload", { mode: opts.mode });
  if (hangup) Deno.addSignalListener("SIGHUP", onHangup);
  const removeListeners = () => {
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
    if (hangup) Deno.removeSignalListener("SIGHUP", onHangup);
  };

  log.info("scraping {app} from {source} every {frequency}ms: {sample} targets per round, {duration}ms profiles", {
    app: opts.app,
    source: source.name,
    frequency: opts.frequency,
    sample: opts.sampleSize,
    duration: opts.duration,
  });
  const stopTrims = new NativeMemoryRelease().every();
  try {
    await scraper.run(stop.signal);
  } finally {
    stopTrims();
    removeListeners();
    await http.shutdown(5_000);
    await source.close?.();
  }
  log.info("stopped");
}
