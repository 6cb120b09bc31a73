/**
 * `file` discovery: a JSON array of `{"address": "http://host:port", "path": "/debug/pprof/profile"}`
 * read at start (a bad file is a startup error) and re-read on SIGHUP; a bad file on reload keeps
 * the previous list and logs why. Health: the file is readable and its last load succeeded.
 *
 * @module
 */

import { readRegularTextFile } from "../core/regular_file.ts";

import { getLogger } from "@logtape/logtape";
import type { Target, TargetSource } from "../core/scrape/target.ts";
import { makeTarget } from "../core/scrape/target.ts";

/** Parses and validates a targets file's text; throws one-line errors naming the entry at fault. */
export function parseTargetsFile(text: string, path: string): Target[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new Error(`targets file ${path}: invalid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(data)) {
    throw new Error(`targets file ${path}: expected a JSON array of {"address", "path"} objects`);
  }
  return data.map((entry, i) => {
    const where = `targets file ${path}: entry ${i}`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      throw new Error(`${where}: expected an object`);
    }
    const { address, path: profilePath } = entry as { address?: unknown; path?: unknown };
    if (typeof address !== "string" || address === "") {
      throw new Error(`${where}: "address" must be a non-empty string`);
    }
    if (profilePath !== undefined && profilePath !== null && typeof profilePath !== "string") {
      throw new Error(`${where}: "path" must be a string`);
    }
    let url: URL;
    try {
      url = new URL(address);
    } catch {
      throw new Error(`${where}: "address" ${JSON.stringify(address)} is not a URL like http://host:port`);
    }
    if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash) {
      throw new Error(`${where}: "address" must be scheme://host:port only; put the endpoint in "path"`);
    }
    const port = url.port || (url.protocol === "https:" ? "443" : "80");
    try {
      return makeTarget({
        scheme: url.protocol.slice(0, -1),
        host: url.hostname,
        port,
        path: profilePath || undefined,
      });
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message}`);
    }
  });
}

/** Options of {@link FileTargetSource.open}. */
export interface FileSourceOptions {
  /** Reload on SIGHUP (default true; tests of the parser turn it off). */
  watchSighup?: boolean;
  /** Called after every reload attempt (tests). */
  onReload?: (error?: Error) => void;
}

/** Targets from a JSON file, reloaded on SIGHUP. */
export class FileTargetSource implements TargetSource {
  /** `file://<absolute path>`. */
  readonly name: string;
  readonly #path: string;
  #targets: Target[];
  #loadError: string | undefined;
  #listener: (() => void) | undefined;
  readonly #onReload?: (error?: Error) => void;

  private constructor(path: string, targets: Target[], options: FileSourceOptions) {
    this.#path = path;
    this.#targets = targets;
    this.name = `file://${path}`;
    this.#onReload = options.onReload;
    if (options.watchSighup ?? true) {
      this.#listener = () => void this.reload();
      Deno.addSignalListener("SIGHUP", this.#listener);
    }
  }

  /** Reads the file (throws a clear one-line error when it is missing or invalid) and starts watching SIGHUP. */
  static async open(path: string, options: FileSourceOptions = {}): Promise<FileTargetSource> {
    if (!path) throw new Error("file mode needs the path of a targets file: autopgo scrape <targets.json>");
    const absolute = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
    const targets = await readTargets(absolute);
    return new FileTargetSource(absolute, targets, options);
  }

  /** Re-reads the file; on error keeps the previous list, logs why and resolves the error. */
  async reload(): Promise<Error | undefined> {
    const log = getLogger(["autopgo", "scrape", "file"]);
    try {
      this.#targets = await readTargets(this.#path);
      this.#loadError = undefined;
      log.info("reloaded {count} targets from {path}", { count: this.#targets.length, path: this.#path });
      this.#onReload?.();
      return undefined;
    } catch (e) {
      const error = e as Error;
      this.#loadError = error.message;
      log.error("failed to read updated targets, keeping the previous {count}: {error}", {
        count: this.#targets.length,
        error: error.message,
      });
      this.#onReload?.(error);
      return error;
    }
  }

  /** The current list (a copy). */
  list(_signal: AbortSignal): Promise<Target[]> {
    return Promise.resolve(this.#targets.slice());
  }

  /** Healthy when the file is readable and the last (re)load succeeded. */
  async check(_signal: AbortSignal): Promise<void> {
    try {
      await Deno.stat(this.#path);
    } catch (e) {
      throw new Error(`targets file ${this.#path} is not readable: ${(e as Error).message}`);
    }
    if (this.#loadError) throw new Error(`last reload failed, using the previous targets: ${this.#loadError}`);
  }

  /** Stops listening for SIGHUP. */
  close(): void {
    if (this.#listener) Deno.removeSignalListener("SIGHUP", this.#listener);
    this.#listener = undefined;
  }
}

/** The largest targets file read: 16 MiB is over 100,000 targets. */
export const MAX_TARGETS_FILE_BYTES = 16 * 1024 * 1024;

async function readTargets(path: string): Promise<Target[]> {
  let text: string;
  try {
    text = await readRegularTextFile(path, MAX_TARGETS_FILE_BYTES); // a 111 MB file took the scraper to 1 GiB
  } catch (e) {
    const reason = e instanceof Deno.errors.NotFound ? "file does not exist" : (e as Error).message;
    throw new Error(`targets file ${path}: ${reason}`);
  }
  return parseTargetsFile(text, path);
}
