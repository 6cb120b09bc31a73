/**
 * Retention windows (issue 14): with `--retention` or `--half-life` set, the worker merges each
 * staged upload into the window of its staging time, `<app>/windows/<start>.pgo` (keys.ts), instead
 * of into `default.pgo`; window_rebuild.ts then builds `default.pgo` from the windows still inside
 * retention, each weighted by its decay factor.
 *
 * - **Which window.** An upload belongs to the window containing its staging time, the nanosecond
 *   prefix of its staging key (the server's clock when it accepted the upload). A key without a
 *   time goes to the window of the worker's clock at the time it is handled.
 * - **Expiry.** A window expires once its END is more than the retention before now (the injected
 *   clock): `start + window ≤ now − retention`. An upload staged into an expired window is dropped,
 *   never merged.
 * - **Age.** A window's age, for decay, is `now − end` (0 for the window still filling), so the
 *   newest samples weigh 1 and a window one half-life past its end weighs ½.
 * - **Exactly once.** A window is a base-like profile with its own absorbed list and is written
 *   by merge_batch.ts's compare-and-swap loop ({@link windowTarget}); the deletion cut-off comes
 *   from `default.pgo`. Exactly-once therefore holds per window as it holds for the base.
 *
 * @module
 */

import type { BlobStore } from "../blob.ts";
import { parseStagingKey, windowKey } from "./keys.ts";
import type { BatchTarget } from "./merge_batch.ts";
import { loadBase } from "./merge_upload.ts";
import type { ProfileJobs } from "./profile_jobs.ts";

/** How the worker keeps retention windows. */
export interface WindowConfig {
  /** Window length in ms (a whole number of seconds). */
  windowMs: number;
  /** Windows whose end is older than this are deleted; absent: kept forever. */
  retentionMs?: number;
  /** Half-life of the decay; absent: every window weighs 1. */
  halfLifeMs?: number;
  /** The worker's clock (injected in tests). */
  clock: () => Date;
}

/** The default window length: one hour. */
export const DEFAULT_WINDOW_MS = 3_600_000;

/** Problem with a window configuration as one line, or undefined when it is usable. */
export function windowConfigProblem(config: Omit<WindowConfig, "clock">): string | undefined {
  if (!(config.windowMs >= 1000) || config.windowMs % 1000 !== 0) {
    return `--window must be a whole number of seconds of at least 1s, got ${config.windowMs} ms`;
  }
  if (config.retentionMs !== undefined && config.retentionMs < config.windowMs) {
    return `--window (${config.windowMs / 1000}s) must not be longer than --retention (${config.retentionMs / 1000}s)`;
  }
  if (config.halfLifeMs !== undefined && !(config.halfLifeMs > 0)) return "--half-life must be longer than 0";
  return undefined;
}

/** Start (Unix seconds) of the window holding the instant `unixMs`. */
export function windowStartAt(config: WindowConfig, unixMs: number): number {
  return Math.floor(unixMs / config.windowMs) * (config.windowMs / 1000);
}

/** Staging time of `key` in Unix ns, or the clock's time for a key without one. */
export function stagedNanos(config: WindowConfig, key: string): bigint {
  return parseStagingKey(key)?.unixNanos ?? BigInt(config.clock().getTime()) * 1_000_000n;
}

/** Start (Unix seconds) of the window the staged upload `key` belongs to. */
export function windowStartOf(config: WindowConfig, key: string): number {
  return windowStartAt(config, Number(stagedNanos(config, key) / 1_000_000n));
}

/** True when the window starting at `startSeconds` is out of retention at `now`. */
export function isExpired(config: WindowConfig, startSeconds: number, now: Date): boolean {
  if (config.retentionMs === undefined) return false;
  return startSeconds * 1000 + config.windowMs <= now.getTime() - config.retentionMs;
}

/** Age in ms, for decay, of the window starting at `startSeconds` at `now` (0 while it fills). */
export function windowAgeMs(config: WindowConfig, startSeconds: number, now: Date): number {
  return Math.max(0, now.getTime() - (startSeconds * 1000 + config.windowMs));
}

/**
 * The merge target for the staged upload `key` of `app`: its window, with the deletion cut-off
 * read from `default.pgo`, gathering only uploads of the same window.
 */
export function windowTarget(
  store: BlobStore,
  app: string,
  config: WindowConfig,
  key: string,
  jobs?: ProfileJobs,
): BatchTarget & { start: number } {
  const start = windowStartOf(config, key);
  return {
    start,
    key: windowKey(app, start),
    cutoff: async (signal) => (await loadBase(store, app, signal, jobs)).state.deletedBefore,
    sampleTime: (k) => stagedNanos(config, k),
    gathers: (k) => parseStagingKey(k)?.unixNanos !== undefined && windowStartOf(config, k) === start,
  };
}
