/**
 * The blob key layout shared by the server and the worker (one bucket for all apps):
 *
 * - `<app>/default.pgo` — the merged base profile (or a deletion tombstone, see tombstone.ts).
 * - `<app>/staging/<unixnanos>-<random>` — an accepted upload waiting to be merged. The 19-digit
 *   zero-padded nanosecond prefix keeps keys in time order; the random suffix makes them unique
 *   even when two uploads share a clock tick (the original's same-nanosecond collision, §8.4).
 * - `<app>/rejected/<name>` and `<app>/rejected/<name>.reason` — a staged upload the worker could
 *   not use (poison), moved aside with a one-line reason.
 * - `<app>/windows/<start>.pgo` — with retention or decay on (issue 14), the merged uploads staged
 *   in one time window starting at `<start>` (zero-padded Unix seconds, so keys sort by time).
 *
 * @module
 */

import { isValidAppName } from "../app_name.ts";

/** File name of the merged base profile inside an app's prefix. */
export const BASE_NAME = "default.pgo";

/** Key of the merged base profile of `app`. */
export function baseKey(app: string): string {
  return `${app}/${BASE_NAME}`;
}

/** Prefix under which every object of `app` lives (used by deletion). */
export function appPrefix(app: string): string {
  return `${app}/`;
}

/** Prefix of the staged uploads of `app`. */
export function stagingPrefix(app: string): string {
  return `${app}/staging/`;
}

/** Prefix of the rejected uploads of `app`. */
export function rejectedPrefix(app: string): string {
  return `${app}/rejected/`;
}

/** Prefix of the retention windows of `app`. */
export function windowsPrefix(app: string): string {
  return `${app}/windows/`;
}

/** Key of the window of `app` that starts at `startSeconds` (Unix seconds). */
export function windowKey(app: string, startSeconds: number): string {
  return `${windowsPrefix(app)}${String(startSeconds).padStart(12, "0")}.pgo`;
}

/** The app and start (Unix seconds) of a window key, or undefined when `key` is not one. */
export function parseWindowKey(key: string): { app: string; startSeconds: number } | undefined {
  const parts = key.split("/");
  if (parts.length !== 3 || parts[1] !== "windows" || !isValidAppName(parts[0])) return undefined;
  const m = /^(\d{1,15})\.pgo$/.exec(parts[2]);
  return m ? { app: parts[0], startSeconds: Number(m[1]) } : undefined;
}

/** Builds a staging key from a Unix time in nanoseconds and a random suffix (`[a-z0-9]+`). */
export function stagingKey(app: string, unixNanos: bigint, random: string): string {
  return `${stagingPrefix(app)}${unixNanos.toString().padStart(19, "0")}-${random}`;
}

/** A staging key taken apart. */
export interface StagingKeyParts {
  app: string;
  /** The file name after `staging/`. */
  name: string;
  /** Upload time (server clock) in Unix nanoseconds, when the name starts with digits. */
  unixNanos?: bigint;
}

const STAGING_NAME = /^(\d{1,20})(?:-[A-Za-z0-9]+)?$/;

/**
 * What a staging name may be: letters, digits, `.`, `_` and `-`, starting with a letter or digit,
 * at most 200 characters. Names come from events too: one the blob store refuses (`..`, a NUL, a
 * reserved `.autopgo-` prefix, 300 characters) used to be retried for 13 minutes as a store
 * failure, holding up every later event of its app on an ordered bus.
 */
const SAFE_STAGING_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/**
 * Parses `<app>/staging/<name>`; returns undefined when `key` is not a staging key of a valid app
 * with a safe name. Both our `<nanos>-<random>` names and the original's bare `<nanos>` are
 * accepted.
 */
export function parseStagingKey(key: string): StagingKeyParts | undefined {
  const parts = key.split("/");
  if (parts.length !== 3 || parts[1] !== "staging" || !isValidAppName(parts[0])) return undefined;
  if (!SAFE_STAGING_NAME.test(parts[2])) return undefined;
  const m = STAGING_NAME.exec(parts[2]);
  return { app: parts[0], name: parts[2], unixNanos: m ? BigInt(m[1]) : undefined };
}

/** Where a rejected staged upload named `name` is moved to. */
export function rejectedKey(app: string, name: string): string {
  return `${rejectedPrefix(app)}${name}`;
}

/** If `key` is `<app>/default.pgo` for a valid app, returns the app name. */
export function appOfBaseKey(key: string): string | undefined {
  const slash = key.indexOf("/");
  if (slash <= 0 || key.slice(slash + 1) !== BASE_NAME) return undefined;
  const app = key.slice(0, slash);
  return isValidAppName(app) ? app : undefined;
}

/** Unix time in nanoseconds of a `Date` (millisecond precision). */
export function dateToUnixNanos(date: Date): bigint {
  return BigInt(date.getTime()) * 1_000_000n;
}
