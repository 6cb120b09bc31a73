/**
 * Shared CLI option builders: every option that the original autopgo reads from an
 * AUTOPGO_* environment variable gets the same fallback here via commander's `Option.env()`.
 *
 * @module
 */

import { InvalidArgumentError, Option } from "commander";
import { parseDuration } from "../core/duration.ts";
import { appNameProblem } from "../core/app_name.ts";

/** An option with an `AUTOPGO_<NAME>` env fallback, e.g. `envOption("-u, --api-url <url>", "…", "API_URL")`. */
export function envOption(flags: string, description: string, envSuffix: string): Option {
  return new Option(flags, description).env(`AUTOPGO_${envSuffix}`);
}

/** commander argParser for Go-style durations; returns milliseconds. */
export function durationArg(value: string): number {
  try {
    return parseDuration(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

/** commander argParser for non-negative integers. */
export function nonNegativeIntArg(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`expected a non-negative integer, got "${value}"`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`number too large: "${value}"`);
  return n;
}

/** commander argParser for TCP ports (0–65535). */
export function portArg(value: string): number {
  const n = nonNegativeIntArg(value);
  if (n > 65535) throw new InvalidArgumentError(`port must be 0-65535, got ${n}`);
  return n;
}

/** commander argParser validating an application name. */
export function appNameArg(value: string): string {
  const problem = appNameProblem(value);
  if (problem) throw new InvalidArgumentError(problem);
  return value;
}

/** The `--api-url`/`-u` option (`AUTOPGO_API_URL`, default http://localhost:8080). */
export function apiUrlOption(): Option {
  return envOption("-u, --api-url <url>", "base URL of the autopgo server", "API_URL").default("http://localhost:8080");
}

/** The `--token` option (`AUTOPGO_TOKEN`): bearer token for the server API. */
export function tokenOption(description = "bearer token sent to the autopgo server"): Option {
  return envOption("--token <token>", description, "TOKEN");
}
