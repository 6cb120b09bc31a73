/**
 * The scraper loop: a first round at start, then one round per `frequency`, never two at once.
 * Each round asks the target source for its list (a failing discovery call keeps the last good
 * list and turns health unhealthy instead of stopping), samples targets at random and streams
 * their profiles to the server. Clock, randomness and fetch are injected.
 *
 * Each round logs one line when it starts and one when it ends (uploaded, idle and failed
 * targets). Health turns unhealthy when every profiled target failed in
 * `unhealthyAfterRounds` rounds in a row (idle targets and rounds without targets do not count),
 * and healthy again at the first round where one succeeds.
 *
 * @module
 */

import { getLogger, type Logger } from "@logtape/logtape";
import type { HealthCheck } from "../health.ts";
import { abortableSleep } from "../sleep.ts";
import { pickSample, type ProfileUploader, runRound, type TargetResult } from "./round.ts";
import { profileSeconds, type Target, type TargetSource, uniqueTargets } from "./target.ts";

/** Time as the scraper sees it (tests inject a fake). */
export interface ScrapeClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms` or as soon as `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** The real clock. */
export const systemClock: ScrapeClock = {
  now: () => Date.now(),
  sleep: abortableSleep,
};

/** Summary of one finished round. */
export interface RoundReport {
  /** Round number, starting at 1. */
  round: number;
  /** Targets known when the round started. */
  known: number;
  /** Per-target outcomes. */
  results: TargetResult[];
  /** Discovery error of this round, if the last good list was used instead. */
  discoveryError?: string;
}

/** Settings of a {@link Scraper}. */
export interface ScraperOptions {
  /** Application name profiles are uploaded for. */
  app: string;
  /** Where targets come from. */
  source: TargetSource;
  /** Where profiles go. */
  uploader: ProfileUploader;
  /** Maximum number of targets profiled per round (≥ 1). */
  sampleSize: number;
  /** Time between round starts in milliseconds (> 0). */
  frequencyMs: number;
  /** Profile duration in milliseconds: whole seconds, at least 1 s. */
  durationMs: number;
  /** Per-target deadline; default {@link defaultTargetTimeout}(durationMs). */
  targetTimeoutMs?: number;
  /** Deadline of each discovery call (default 30 s). */
  discoveryTimeoutMs?: number;
  /** Headers sent to every target. */
  targetHeaders?: HeadersInit;
  /** fetch used for targets. */
  fetch?: typeof fetch;
  /** Randomness in [0, 1) for sampling (default Math.random). */
  random?: () => number;
  /** Clock (default {@link systemClock}). */
  clock?: ScrapeClock;
  /** Called after every round (tests and metrics). */
  onRound?: (report: RoundReport) => void;
  /** Rounds in a row in which every target failed before health turns unhealthy (default 3; 0: never). */
  unhealthyAfterRounds?: number;
  /** Logger (default category `autopgo.scrape`). */
  logger?: Logger;
}

/** Profile duration plus a grace of a quarter of it, at least 10 s: time for headers, body and upload. */
export function defaultTargetTimeout(durationMs: number): number {
  return durationMs + Math.max(10_000, Math.ceil(durationMs / 4));
}

/** Validates scraper settings; throws one-line errors. Returns the profile seconds. */
export function validateScraperSettings(
  o: Pick<ScraperOptions, "sampleSize" | "frequencyMs" | "durationMs" | "targetTimeoutMs">,
): number {
  if (!Number.isInteger(o.sampleSize) || o.sampleSize < 1) {
    throw new Error(`sample size must be an integer of at least 1, got ${o.sampleSize}`);
  }
  if (!(o.frequencyMs > 0)) throw new Error(`frequency must be greater than 0, got ${o.frequencyMs}ms`);
  const seconds = profileSeconds(o.durationMs);
  if (o.targetTimeoutMs !== undefined && !(o.targetTimeoutMs > o.durationMs)) {
    throw new Error(`target timeout (${o.targetTimeoutMs}ms) must be longer than the duration (${o.durationMs}ms)`);
  }
  return seconds;
}

/** Runs sampling rounds until its signal aborts. */
export class Scraper {
  readonly #o: ScraperOptions;
  readonly #seconds: number;
  readonly #clock: ScrapeClock;
  readonly #log: Logger;
  #targets: Target[] = [];
  #discoveryError: string | undefined;
  #staleSince: number | undefined;
  #round = 0;
  /** Rounds in a row in which every profiled target failed, and the last error seen. */
  #failedRounds = 0;
  #lastFailure = "";

  /** Validates the settings (throws one-line errors) and creates an idle scraper. */
  constructor(options: ScraperOptions) {
    this.#seconds = validateScraperSettings(options);
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? getLogger(["autopgo", "scrape"]);
  }

  /** The last good target list. */
  get targets(): readonly Target[] {
    return this.#targets;
  }

  /** Health dependency named after the source: unhealthy when the source check fails or the last discovery failed. */
  healthCheck(): HealthCheck {
    return {
      name: this.#o.source.name,
      check: async (signal) => {
        await this.#o.source.check(signal);
        if (this.#discoveryError !== undefined) {
          const since = new Date(this.#staleSince ?? this.#clock.now()).toISOString();
          throw new Error(`discovery failing since ${since}, scraping the last good list: ${this.#discoveryError}`);
        }
        const limit = this.#o.unhealthyAfterRounds ?? 3;
        if (limit > 0 && this.#failedRounds >= limit) {
          throw new Error(`every target failed in the last ${this.#failedRounds} rounds: ${this.#lastFailure}`);
        }
      },
    };
  }

  /** Runs rounds (first one immediately) until `signal` aborts; in-flight targets are aborted with it. */
  async run(signal: AbortSignal): Promise<void> {
    const timeout = this.#o.targetTimeoutMs ?? defaultTargetTimeout(this.#o.durationMs);
    if (this.#o.frequencyMs < this.#o.durationMs) {
      this.#log.warn(
        "frequency ({frequency}ms) is shorter than the profile duration ({duration}ms): rounds run back to back",
        {
          frequency: this.#o.frequencyMs,
          duration: this.#o.durationMs,
        },
      );
    }
    this.#log.debug("per-target deadline {timeout}ms", { timeout });
    while (!signal.aborted) {
      const started = this.#clock.now();
      await this.runOnce(signal);
      if (signal.aborted) break;
      const wait = started + this.#o.frequencyMs - this.#clock.now();
      if (wait > 0) await this.#clock.sleep(wait, signal);
      else {
        this.#log.debug("round took {ms}ms, longer than the frequency; starting the next one now", {
          ms: -wait + this.#o.frequencyMs,
        });
      }
    }
  }

  /** Runs exactly one round: discovery, sampling, profiling. Never throws. */
  async runOnce(signal: AbortSignal): Promise<RoundReport> {
    const round = ++this.#round;
    const started = this.#clock.now();
    const discoveryError = await this.#discover(signal);
    const sample = pickSample(this.#targets, this.#o.sampleSize, this.#o.random ?? Math.random);
    this.#log.info("round {round} started: profiling {count} of {known} targets for {seconds}s", {
      round,
      count: sample.length,
      known: this.#targets.length,
      seconds: this.#seconds,
    });
    const results = await runRound(sample, {
      app: this.#o.app,
      seconds: this.#seconds,
      targetTimeoutMs: this.#o.targetTimeoutMs ?? defaultTargetTimeout(this.#o.durationMs),
      targetHeaders: this.#o.targetHeaders,
      uploader: this.#o.uploader,
      fetch: this.#o.fetch,
      signal,
    });
    for (const r of results) {
      if (r.ok && r.idle) {
        this.#log.info("target idle: {url} sent a profile with no samples; not uploaded", { url: r.url, ms: r.ms });
      } else if (r.ok) {
        this.#log.info("profiled {url}: {bytes} bytes uploaded as {key} in {ms}ms", {
          url: r.url,
          bytes: r.bytes,
          key: r.key,
          ms: r.ms,
        });
      } else if (!signal.aborted) {
        this.#log.warn("failed to profile target {url}: {error}", { url: r.url, error: r.error, ms: r.ms });
      }
    }
    const failed = results.filter((r) => !r.ok);
    const idle = results.filter((r) => r.ok && r.idle).length;
    if (results.length > 0 && failed.length === results.length) {
      this.#failedRounds++;
      this.#lastFailure = `${failed[0].url}: ${(failed[0] as { error: string }).error}`;
    } else if (results.length > 0) this.#failedRounds = 0;
    if (!signal.aborted) {
      this.#log.info("round {round} finished in {ms}ms: {uploaded} uploaded, {idle} idle, {failed} failed", {
        round,
        ms: this.#clock.now() - started,
        uploaded: results.length - failed.length - idle,
        idle,
        failed: failed.length,
      });
    }
    const report: RoundReport = { round, known: this.#targets.length, results, discoveryError };
    this.#o.onRound?.(report);
    return report;
  }

  async #discover(signal: AbortSignal): Promise<string | undefined> {
    const timeout = AbortSignal.timeout(this.#o.discoveryTimeoutMs ?? 30_000);
    try {
      const found = uniqueTargets(await this.#o.source.list(AbortSignal.any([signal, timeout])));
      if (this.#discoveryError !== undefined) {
        this.#log.info("discovery from {source} recovered", { source: this.#o.source.name });
      }
      this.#targets = found;
      this.#discoveryError = undefined;
      this.#staleSince = undefined;
      return undefined;
    } catch (e) {
      const message = timeout.aborted
        ? `no answer within ${this.#o.discoveryTimeoutMs ?? 30_000}ms`
        : (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, " ");
      this.#staleSince ??= this.#clock.now();
      this.#discoveryError = message;
      if (!signal.aborted) {
        this.#log.error("discovery from {source} failed, keeping the last {count} targets: {error}", {
          source: this.#o.source.name,
          count: this.#targets.length,
          error: message,
        });
      }
      return message;
    }
  }
}
