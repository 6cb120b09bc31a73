/**
 * Shared URL handling for the built-in drivers: strict query parameters (an unknown or
 * repeated parameter is an error, as in gocloud) and `file://` URLs to absolute paths.
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseDuration } from "../core/duration.ts";
import { redactUrl } from "../core/registry.ts";

/**
 * Returns the query parameters of `url` as a map after checking that each is one of
 * `allowed` and appears once. `what` names the driver in errors (`file blob store`).
 */
export function driverParams(url: URL, allowed: readonly string[], what: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const [name, value] of url.searchParams) {
    if (!allowed.includes(name)) {
      const known = allowed.length ? `known: ${allowed.join(", ")}` : "it takes none";
      throw new Error(`${what} URL ${JSON.stringify(redactUrl(url.href))}: unknown parameter "${name}" (${known})`);
    }
    if (params.has(name)) throw new Error(`${what} URL ${JSON.stringify(redactUrl(url.href))}: "${name}" given twice`);
    params.set(name, value);
  }
  return params;
}

/** Reads a Go-style duration parameter (`30s`) in milliseconds, `fallback` when absent; must be >= `min`. */
export function durationParam(
  params: Map<string, string>,
  name: string,
  fallback: number,
  what: string,
  min = 0,
): number {
  const text = params.get(name);
  if (text === undefined) return fallback;
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (e) {
    throw new Error(`${what} URL parameter ${name}: ${(e as Error).message}`);
  }
  if (ms < min) throw new Error(`${what} URL parameter ${name}=${text}: must be at least ${min}ms`);
  return ms;
}

/** Reads an integer parameter in [min, max], `fallback` when absent. */
export function intParam(
  params: Map<string, string>,
  name: string,
  fallback: number,
  min: number,
  max: number,
  what: string,
): number {
  const text = params.get(name);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) {
    throw new Error(`${what} URL parameter ${name}=${JSON.stringify(text)}: expected an integer from ${min} to ${max}`);
  }
  return n;
}

/**
 * Converts `file:///abs/dir` (or `file://localhost/abs/dir`, or `file:///C:/dir` on Windows)
 * to an absolute path without a trailing separator. Relative forms are rejected because
 * they are ambiguous: `file://./data` parses with host "." and `file:data` depends on the
 * working directory; callers with a relative path should resolve it first
 * ({@link fileUrlFromPath}).
 */
export function absolutePathFromFileUrl(url: URL, what: string): string {
  const shown = JSON.stringify(redactUrl(url.href));
  if (url.host !== "") {
    throw new Error(
      `${what} URL ${shown}: host "${url.host}" not supported; use an absolute path like file:///var/lib/autopgo`,
    );
  }
  if (url.hash) throw new Error(`${what} URL ${shown}: unexpected fragment`);
  let path: string;
  try {
    path = fileURLToPath(url);
  } catch (e) {
    throw new Error(`${what} URL ${shown}: ${(e as Error).message}`);
  }
  if (!isAbsolute(path) || path.length < 1) throw new Error(`${what} URL ${shown}: path must be absolute`);
  return path.length > 1 ? path.replace(/[\\/]+$/, "") || path : path;
}

/** Builds the `file://` URL of a (possibly relative) directory path, resolved against the working directory. */
export function fileUrlFromPath(path: string): string {
  return pathToFileURL(resolve(path)).href;
}
