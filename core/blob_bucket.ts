/**
 * The portable blob layer (go-cloud's `blob.Bucket` over its `driver.Bucket`): every store that
 * {@link openBlobStore} returns is a {@link Bucket} wrapped around a thin {@link BlobDriver}.
 * What all stores share lives here, once:
 * - key, folder-prefix and condition checks, so a driver never sees a bad key;
 * - a closed check and an abort check before each call;
 * - error wrapping: whatever a driver or its SDK throws becomes a {@link BlobError} of the
 *   kind the driver's {@link BlobDriver.errorKind} names, with the original as `cause` and a
 *   one-line message naming the operation, the key and the store;
 * - retries with jittered exponential backoff for transient (`unavailable`) failures of
 *   operations that are safe to repeat: reads, stats, checks, list pages not yet yielded,
 *   unconditional deletes. Writes are never retried here: a write whose answer was lost may
 *   have landed, and repeating a conditional write would then report a false conflict; the
 *   pipeline above retries writes through its own compare-and-swap loop instead;
 * - one observer hook for metrics: the operation, its outcome kind and its duration.
 *
 * @module
 */

import {
  assertFolderPrefix,
  assertValidKey,
  BlobError,
  type BlobErrorKind,
  type BlobInfo,
  BlobNotFoundError,
  type BlobObject,
  type BlobStore,
  PreconditionFailedError,
  type WriteConditions,
} from "./blob.ts";
import { abortableSleep } from "./sleep.ts";

/**
 * What a blob driver implements: the {@link BlobStore} operations without the shared checks,
 * plus {@link BlobDriver.errorKind}. Drivers may throw their SDK's errors as they come;
 * `read` of a missing key and `write` whose condition fails may throw anything that
 * `errorKind` maps to `not-found` / `precondition`.
 */
export interface BlobDriver {
  /** Names the store in errors and logs, without secrets (e.g. `s3 bucket "profiles"`). */
  readonly description: string;
  /** Reads a whole object. */
  read(key: string, signal?: AbortSignal): Promise<BlobObject>;
  /** Metadata; `undefined` (or a `not-found` error) when absent. */
  stat(key: string, signal?: AbortSignal): Promise<BlobInfo | undefined>;
  /** Writes atomically under `conditions` (already checked: at most one is set); returns the new version. */
  write(key: string, data: Uint8Array, conditions: WriteConditions, signal?: AbortSignal): Promise<string>;
  /** Deletes; false when nothing was there. */
  delete(key: string, conditions: Pick<WriteConditions, "ifVersion">, signal?: AbortSignal): Promise<boolean>;
  /** Lists objects under `prefix` in key order, following the service's pagination. */
  list(prefix: string, signal?: AbortSignal): AsyncIterable<BlobInfo>;
  /** Lists the folders directly below `prefix` (already checked), following pagination. */
  listPrefixes(prefix: string, signal?: AbortSignal): AsyncIterable<string>;
  /** Resolves when the store is reachable and the bucket exists. */
  check(signal?: AbortSignal): Promise<void>;
  /** Releases clients and sockets. */
  close(): Promise<void>;
  /** Maps an error this driver threw to a portable kind. */
  errorKind(error: unknown): BlobErrorKind;
}

/** A blob operation, as reported to a {@link BlobObserver}. */
export type BlobOperation = "read" | "stat" | "write" | "delete" | "list" | "listPrefixes" | "check";

/** Receives one report per finished operation (metrics). `outcome` is `ok` or the error kind. */
export type BlobObserver = (report: {
  store: string;
  operation: BlobOperation;
  outcome: "ok" | BlobErrorKind;
  durationMs: number;
}) => void;

/** Options of {@link Bucket}. */
export interface BucketOptions {
  /** Attempts of a retryable operation that keeps failing with `unavailable` (default 4). */
  attempts?: number;
  /** First retry delay in ms (default 200), doubled per attempt, with ±50% jitter. */
  retryBaseMs?: number;
  /** Largest retry delay in ms (default 5 s). */
  retryMaxMs?: number;
  /** Source of jitter in [0, 1) (default `Math.random`). */
  random?: () => number;
  /** Waits between retries (default: an abortable timer). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Metrics hook. */
  observe?: BlobObserver;
}

const nowMs = () => performance.now();

/** The portable store: checks, error wrapping, retries and metrics around one {@link BlobDriver}. */
export class Bucket implements BlobStore {
  readonly #driver: BlobDriver;
  readonly #options: Required<Omit<BucketOptions, "observe">> & Pick<BucketOptions, "observe">;
  #closed = false;

  /** Wraps `driver`. */
  constructor(driver: BlobDriver, options: BucketOptions = {}) {
    this.#driver = driver;
    this.#options = {
      attempts: options.attempts ?? 4,
      retryBaseMs: options.retryBaseMs ?? 200,
      retryMaxMs: options.retryMaxMs ?? 5_000,
      random: options.random ?? Math.random,
      sleep: options.sleep ??
        ((ms, signal) => abortableSleep(ms, signal ?? new AbortController().signal).then(() => {})),
      observe: options.observe,
    };
  }

  /** The driver's description (`s3 bucket "profiles"`). */
  get description(): string {
    return this.#driver.description;
  }

  /** The wrapped driver, for driver-specific escape hatches (go-cloud's `As`). */
  get driver(): BlobDriver {
    return this.#driver;
  }

  /** Reads a whole object; throws {@link BlobNotFoundError} when absent. */
  read(key: string, signal?: AbortSignal): Promise<BlobObject> {
    return this.#run("read", key, signal, true, () => this.#driver.read(key, signal));
  }

  /** Metadata only; `undefined` when absent. */
  async stat(key: string, signal?: AbortSignal): Promise<BlobInfo | undefined> {
    try {
      return await this.#run("stat", key, signal, true, () => this.#driver.stat(key, signal));
    } catch (error) {
      if (error instanceof BlobNotFoundError) return undefined;
      throw error;
    }
  }

  /** Writes atomically under `conditions`; throws {@link PreconditionFailedError} when one fails. */
  write(key: string, data: Uint8Array, conditions: WriteConditions = {}, signal?: AbortSignal): Promise<string> {
    return this.#run("write", key, signal, false, () => {
      if (conditions.ifAbsent && conditions.ifVersion !== undefined) {
        throw new BlobError("invalid", "blob write: ifAbsent and ifVersion cannot be combined", { key });
      }
      return this.#driver.write(key, data, conditions, signal);
    });
  }

  /** Deletes; false when absent. With `ifVersion`, throws {@link PreconditionFailedError} on another version. */
  delete(key: string, conditions: Pick<WriteConditions, "ifVersion"> = {}, signal?: AbortSignal): Promise<boolean> {
    const idempotent = conditions.ifVersion === undefined;
    return this.#run("delete", key, signal, idempotent, () => this.#driver.delete(key, conditions, signal));
  }

  /** Lists objects whose key starts with `prefix`, in key order. */
  list(prefix: string, signal?: AbortSignal): AsyncIterable<BlobInfo> {
    return this.#iterate("list", prefix, signal, () => this.#driver.list(prefix, signal), (info) => info.key);
  }

  /** Lists the folders directly below `prefix` (`""` or ending in `/`). */
  listPrefixes(prefix: string, signal?: AbortSignal): AsyncIterable<string> {
    return this.#iterate("listPrefixes", prefix, signal, () => {
      assertFolderPrefix(prefix);
      return this.#driver.listPrefixes(prefix, signal);
    }, (folder) => folder);
  }

  /** Resolves when the store is reachable and usable. */
  check(signal?: AbortSignal): Promise<void> {
    return this.#run("check", undefined, signal, true, () => this.#driver.check(signal));
  }

  /** Closes the driver; later calls fail with a `closed` error. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#driver.close();
  }

  #guard(operation: BlobOperation, key: string | undefined, signal?: AbortSignal): void {
    if (this.#closed) throw new BlobError("closed", `${operation}: ${this.#driver.description} is closed`, { key });
    if (key !== undefined && operation !== "list" && operation !== "listPrefixes") assertValidKey(key);
    signal?.throwIfAborted();
  }

  #wrap(operation: BlobOperation, key: string | undefined, error: unknown, signal?: AbortSignal): unknown {
    if (signal?.aborted && !(error instanceof BlobError)) return error;
    if (error instanceof BlobError) return error;
    const kind = this.#driver.errorKind(error);
    const detail = error instanceof Error ? error.message : String(error);
    if (kind === "not-found" && key !== undefined && operation !== "list" && operation !== "listPrefixes") {
      return new BlobNotFoundError(key, { cause: error });
    }
    if (kind === "precondition" && key !== undefined) return new PreconditionFailedError(key, detail, { cause: error });
    const where = key === undefined ? "" : ` ${JSON.stringify(key)}`;
    return new BlobError(kind, `${operation}${where} on ${this.#driver.description}: ${oneLine(detail)}`, {
      key,
      cause: error,
    });
  }

  #delayMs(attempt: number): number {
    const base = Math.min(this.#options.retryMaxMs, this.#options.retryBaseMs * 2 ** (attempt - 1));
    return Math.round(base * (0.5 + this.#options.random()));
  }

  async #run<T>(
    operation: BlobOperation,
    key: string | undefined,
    signal: AbortSignal | undefined,
    retryable: boolean,
    call: () => Promise<T>,
  ): Promise<T> {
    const started = nowMs();
    for (let attempt = 1;; attempt++) {
      try {
        this.#guard(operation, key, signal);
        const value = await call();
        this.#report(operation, "ok", started);
        return value;
      } catch (raw) {
        const error = this.#wrap(operation, key, raw, signal);
        const kind = error instanceof BlobError ? error.kind : "unknown";
        if (retryable && kind === "unavailable" && attempt < this.#options.attempts && !signal?.aborted) {
          await this.#options.sleep(this.#delayMs(attempt), signal);
          continue;
        }
        this.#report(operation, kind, started);
        throw error;
      }
    }
  }

  async *#iterate<T>(
    operation: "list" | "listPrefixes",
    prefix: string,
    signal: AbortSignal | undefined,
    open: () => AsyncIterable<T>,
    position: (item: T) => string,
  ): AsyncGenerator<T> {
    const started = nowMs();
    let last: string | undefined;
    for (let attempt = 1;; attempt++) {
      try {
        this.#guard(operation, prefix, signal);
        for await (const item of open()) {
          // After a retry the listing restarts: skip what was already yielded.
          if (last !== undefined && position(item) <= last) continue;
          last = position(item);
          yield item;
        }
        this.#report(operation, "ok", started);
        return;
      } catch (raw) {
        const error = this.#wrap(operation, undefined, raw, signal);
        const kind = error instanceof BlobError ? error.kind : "unknown";
        if (kind === "unavailable" && attempt < this.#options.attempts && !signal?.aborted) {
          await this.#options.sleep(this.#delayMs(attempt), signal);
          continue;
        }
        this.#report(operation, kind, started);
        throw error;
      }
    }
  }

  #report(operation: BlobOperation, outcome: "ok" | BlobErrorKind, started: number): void {
    this.#options.observe?.({
      store: this.#driver.description,
      operation,
      outcome,
      durationMs: nowMs() - started,
    });
  }
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim().slice(0, 500);
}

/** The kind of a {@link BlobError}, `unknown` for anything else (drivers whose errors are already portable). */
export function blobErrorKindOrUnknown(error: unknown): BlobErrorKind {
  return error instanceof BlobError ? error.kind : "unknown";
}

/**
 * Classifies an HTTP status the way every cloud driver does: 404 not-found, 409/412 (and 304
 * for conditional reads) precondition, 401/403 permission, 408/429/5xx unavailable, other 4xx
 * invalid. Returns `undefined` for other statuses.
 */
export function kindFromHttpStatus(status: number | undefined): BlobErrorKind | undefined {
  if (status === undefined) return undefined;
  if (status === 404) return "not-found";
  if (status === 412 || status === 409 || status === 304) return "precondition";
  if (status === 401 || status === 403) return "permission";
  if (status === 408 || status === 429 || status >= 500) return "unavailable";
  if (status >= 400) return "invalid";
  return undefined;
}

/**
 * Classifies network-level failures shared by all SDKs (refused, reset or timed-out
 * connections, DNS failures) as `unavailable`; `undefined` when `error` is not one.
 */
export function kindFromNetworkError(error: unknown): BlobErrorKind | undefined {
  const seen = new Set<unknown>();
  for (let e: unknown = error; e && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    const text = `${typeof code === "string" ? code : ""} ${e instanceof Error ? `${e.name} ${e.message}` : ""}`;
    if (
      /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|ENETUNREACH|EHOSTUNREACH|socket hang up|TimeoutError|connection refused|Connection reset|fetch failed|network error|UND_ERR/i
        .test(text)
    ) return "unavailable";
  }
  return undefined;
}
