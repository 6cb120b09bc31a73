/**
 * Client for the autopgo server's HTTP API, wire-compatible with the original's routes:
 * `POST /api/profile/{app}` (201 `{"key"}`), `GET /api/profile/{app}` (profile bytes, ETag/304),
 * `GET /api/profile` (`{"profiles":[…]}`) and `DELETE /api/profile/{app}` (200 `{}`).
 *
 * Unlike the original client it keeps any path prefix of the base URL
 * (`http://host/autopgo` → `http://host/autopgo/api/profile/x`), turns any error body (JSON or
 * not) into one clear line carrying the HTTP status, sends an optional bearer token, streams
 * upload bodies, and lets callers choose per-request timeouts. Requests go through
 * core/http_fetch.ts, which reaches every port (the global `fetch` refuses ports browsers block,
 * such as 6666); `fetch` is injectable for tests.
 *
 * @module
 */

import { nodeFetch } from "./http_fetch.ts";
import { hasControlCharacter } from "./control_chars.ts";
import { ApiError, describeErrorResponse, describeFetchError, readJson } from "./api_answers.ts";

export { ApiError, MAX_JSON_ANSWER_BYTES, readAnswer } from "./api_answers.ts";
import type { WindowRange } from "./pipeline/window_view.ts";

/** A merged profile as listed by `GET /api/profile`. */
export interface ProfileInfo {
  /** Application name (the original calls this field `key`). */
  key: string;
  /** Size of the merged profile in bytes. */
  size: number;
  /** When the merged profile was last written. */
  lastModified: Date;
}

/** An app's uploads (and bases) the worker set aside, from the `rejected` array of `GET /api/profile`. */
export interface RejectedInfo {
  /** Application name. */
  key: string;
  /** Uploads set aside in `<app>/rejected/`. */
  count: number;
  /** Base profiles set aside because they could not be normalised. */
  bases: number;
  /** The reason recorded for the most recent one. */
  lastReason: string;
  /** When the most recent one was set aside. */
  lastRejectedAt: Date;
}

/** Everything `GET /api/profile` lists. */
export interface Listing {
  profiles: ProfileInfo[];
  /** Empty when nothing was set aside, or when the server predates the field. */
  rejected: RejectedInfo[];
}

/** One app's entry of `GET /api/apps`, as {@link ApiClient.appFacts} returns it. */
export interface AppFacts {
  uploadsMerged: number | null;
  /** The window range of a profile rebuilt from retention windows; null otherwise. */
  windows: WindowRange | null;
}

/** Per-call options. */
export interface RequestOptions {
  /** Aborts the call (in addition to the timeout). */
  signal?: AbortSignal;
  /** Overrides the client's default timeout for this call; `0` disables the timeout. */
  timeoutMs?: number;
}

/** Retries of a call that is safe to repeat. */
export interface RetryOptions {
  /** Attempts for transient failures (no answer, 408, 429, 502, 503, 504). Default 4. */
  attempts?: number;
  /** Waits between attempts (tests inject one); default a timer. */
  sleep?: (ms: number) => Promise<void>;
}

/** Options for {@link ApiClient.upload}. */
export interface UploadOptions extends RequestOptions, RetryOptions {
  /**
   * Sent as `Idempotency-Key`; a retry with the same key is answered with the first 201 and
   * merged once. Default: a fresh UUID per `upload` call, reused by its own retries. A stream
   * `body` is sent once whatever `attempts` says.
   */
  idempotencyKey?: string;
}

/** Statuses worth retrying: the request may not have been processed, or the server is busy. */
const TRANSIENT_STATUSES = new Set([0, 408, 429, 502, 503, 504]);

/**
 * What a download retries: a busy server only. A server that cannot be reached is reported at
 * once: a build step falls back without waiting (retrying it took 3.5 s).
 */
const BUSY_STATUSES = new Set([408, 429, 502, 503, 504]);

/**
 * Runs `call` up to `options.attempts` times while it fails with a transient status, waiting
 * `Retry-After` (at most 10 s) or a jittered exponential backoff between attempts.
 */
async function withRetries<T>(
  options: RetryOptions,
  signal: AbortSignal | undefined,
  call: () => Promise<T>,
  statuses: ReadonlySet<number> = TRANSIENT_STATUSES,
): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? 4);
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (let attempt = 1;; attempt++) {
    try {
      return await call();
    } catch (error) {
      const status = error instanceof ApiError ? error.status : -1;
      const timedOut = error instanceof ApiError && error.timedOut; // 4 × 60 s of silence helps nobody
      if (attempt >= attempts || !statuses.has(status) || timedOut || signal?.aborted) throw error;
      const retryAfter = error instanceof ApiError ? error.retryAfterMs : undefined;
      await sleep(Math.min(10_000, retryAfter ?? 500 * 2 ** (attempt - 1) * (0.5 + Math.random())));
    }
  }
}

/** Options for {@link ApiClient.download} (a busy server's 503 is retried, honouring `Retry-After`; an unreachable one is not). */
export interface DownloadOptions extends RequestOptions, RetryOptions {
  /** Sends `If-None-Match`; a matching server answers 304 and `download` resolves `{ notModified: true }`. */
  ifNoneMatch?: string;
}

/** The result of {@link ApiClient.download}. */
export type DownloadResult =
  | { notModified: false; body: ReadableStream<Uint8Array>; etag?: string; size?: number }
  | { notModified: true; etag?: string };

/** Construction options for {@link ApiClient}. */
export interface ApiClientOptions {
  /** Base URL of the server, e.g. `http://localhost:8080` or `https://host/autopgo`. */
  baseUrl: string;
  /** Bearer token sent as `Authorization: Bearer <token>` when set. */
  token?: string;
  /** Default timeout of every call in milliseconds (default 60 s, the original's); `0` disables it. */
  timeoutMs?: number;
  /** The fetch implementation (default: core/http_fetch.ts; tests inject one). */
  fetch?: typeof fetch;
}

/** Default per-request timeout, as the original client's `http.Client{Timeout: 1m}`. */
export const DEFAULT_API_TIMEOUT_MS = 60_000;

/** Parses and checks a base URL; throws a one-line error for anything that is not http(s). */
export function parseBaseUrl(baseUrl: string): URL {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new ApiError(`invalid API URL ${JSON.stringify(baseUrl)}: expected e.g. http://localhost:8080`, 0);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ApiError(`invalid API URL ${JSON.stringify(baseUrl)}: scheme must be http or https`, 0);
  }
  url.search = "";
  url.hash = "";
  return url;
}

/** HTTP client for one autopgo server. */
export class ApiClient {
  readonly #base: URL;
  readonly #token?: string;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  /** Creates a client; throws {@link ApiError} when `baseUrl` is not an http(s) URL. */
  constructor(options: ApiClientOptions) {
    this.#base = parseBaseUrl(options.baseUrl);
    if (options.token && hasControlCharacter(options.token)) {
      // Said without the token: an HTTP header error would print it.
      throw new ApiError("the token (--token / AUTOPGO_TOKEN) contains a control character, such as a line break", 0);
    }
    this.#token = options.token || undefined;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_API_TIMEOUT_MS;
    this.#fetch = options.fetch ?? nodeFetch;
  }

  /** The URL of `/api/profile[/<app>]` below the base URL's path. */
  profileUrl(app?: string): URL {
    const url = new URL(this.#base);
    const prefix = url.pathname.replace(/\/+$/, "");
    url.pathname = `${prefix}/api/profile${app === undefined ? "" : `/${encodeURIComponent(app)}`}`;
    return url;
  }

  /** The URL of `path` (`/api/apps`) below the base URL's path. */
  #apiUrl(path: string): URL {
    const url = new URL(this.#base);
    url.pathname = `${url.pathname.replace(/\/+$/, "")}${path}`;
    return url;
  }

  /**
   * Uploads a profile for `app`. `body` may be a stream (sent chunked, never buffered here) or
   * bytes. Resolves the server's staging key.
   */
  async upload(
    app: string,
    body: ReadableStream<Uint8Array> | Uint8Array,
    options: UploadOptions = {},
  ): Promise<{ key: string }> {
    const idempotencyKey = options.idempotencyKey ?? crypto.randomUUID();
    const retries = body instanceof ReadableStream ? { ...options, attempts: 1 } : options;
    const res = await withRetries(retries, options.signal, () => {
      const init: RequestInit & { duplex?: "half" } = {
        method: "POST",
        body: body as BodyInit,
        headers: { "content-type": "application/octet-stream", "idempotency-key": idempotencyKey },
      };
      if (body instanceof ReadableStream) init.duplex = "half";
      return this.#send("upload", app, init, options, [201]);
    });
    const json = await readJson(res, `upload ${app}`);
    const key = (json as { key?: unknown })?.key;
    if (typeof key !== "string") throw new ApiError(`upload ${app}: server answered 201 without a "key"`, res.status);
    return { key };
  }

  /**
   * Downloads the merged profile of `app`. The caller must consume or cancel `body`. When the
   * timeout applies it also bounds reading the body.
   */
  async download(app: string, options: DownloadOptions = {}): Promise<DownloadResult> {
    const headers: Record<string, string> = {};
    if (options.ifNoneMatch) headers["if-none-match"] = options.ifNoneMatch;
    const res = await withRetries(
      options,
      options.signal,
      () => this.#send("download", app, { method: "GET", headers }, options, [200, 304]),
      BUSY_STATUSES,
    );
    const etag = res.headers.get("etag") ?? undefined;
    if (res.status === 304) {
      await res.body?.cancel();
      return { notModified: true, etag };
    }
    const length = res.headers.get("content-length");
    const size = length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
    return { notModified: false, body: res.body ?? new Blob([]).stream(), etag, size };
  }

  /** Lists the merged profiles the server holds. */
  async list(options: RequestOptions = {}): Promise<ProfileInfo[]> {
    return (await this.listing(options)).profiles;
  }

  /** Lists the merged profiles and, per app, the uploads the worker set aside. */
  async listing(options: RequestOptions = {}): Promise<Listing> {
    const res = await this.#send("list profiles", undefined, { method: "GET" }, options, [200]);
    const json = await readJson(res, "list profiles");
    const { profiles, rejected } = (json ?? {}) as { profiles?: unknown; rejected?: unknown };
    if (!Array.isArray(profiles)) throw new ApiError(`list profiles: response has no "profiles" array`, res.status);
    return {
      profiles: profiles.map((p, i) => toProfileInfo(p, i)),
      rejected: Array.isArray(rejected) ? rejected.map((r, i) => toRejectedInfo(r, i)) : [],
    };
  }

  /**
   * The uploads merged into each app's profile, from the web page's `GET /api/apps` (`null` for a
   * base that predates the count). Resolves `undefined` when the server has no such route (an
   * original autopgo server).
   */
  async uploadsMerged(options: RequestOptions = {}): Promise<Map<string, number | null> | undefined> {
    const facts = await this.appFacts(options);
    return facts && new Map([...facts].map(([app, f]) => [app, f.uploadsMerged]));
  }

  /**
   * What `GET /api/apps` says about each app's profile: the uploads merged (`null` when not
   * counted) and the retention windows it covers (`null` when not built from windows, issue 14).
   * Resolves `undefined` when the server has no such route (an original autopgo server).
   */
  async appFacts(options: RequestOptions = {}): Promise<Map<string, AppFacts> | undefined> {
    let res: Response;
    try {
      res = await this.#send("list apps", undefined, { method: "GET" }, options, [200], "/api/apps");
    } catch (error) {
      if (error instanceof ApiError && (error.status === 404 || error.status === 405)) return undefined;
      throw error;
    }
    const apps = ((await readJson(res, "list apps")) as { apps?: unknown })?.apps;
    if (!Array.isArray(apps)) return undefined;
    const facts = new Map<string, AppFacts>();
    for (const a of apps as { app?: unknown; uploadsMerged?: unknown; windows?: unknown }[]) {
      if (typeof a?.app !== "string") continue;
      const w = a.windows as WindowRange | null | undefined;
      facts.set(a.app, {
        uploadsMerged: typeof a.uploadsMerged === "number" ? a.uploadsMerged : null,
        windows: w && typeof w === "object" && typeof w.from === "string" && typeof w.to === "string" ? w : null,
      });
    }
    return facts;
  }

  /**
   * Asks the server to delete the merged profile (and staged uploads) of `app`. A 200 must carry a
   * JSON body (`{}`, as every autopgo server answers): a proxy's login page answered 200 deleted nothing.
   */
  async delete(app: string, options: RequestOptions = {}): Promise<void> {
    const res = await this.#send("delete", app, { method: "DELETE" }, options, [200, 202, 204]);
    if (res.status === 200) await readJson(res, `delete ${app}`);
    else await res.body?.cancel();
  }

  async #send(
    action: string,
    app: string | undefined,
    init: RequestInit,
    options: RequestOptions,
    okStatuses: number[],
    path?: string,
  ): Promise<Response> {
    const what = app === undefined ? action : `${action} ${app}`;
    const url = path === undefined ? this.profileUrl(app) : this.#apiUrl(path);
    const headers = new Headers(init.headers);
    if (this.#token) headers.set("authorization", `Bearer ${this.#token}`);
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const signals: AbortSignal[] = [];
    if (options.signal) signals.push(options.signal);
    if (timeoutMs > 0) signals.push(AbortSignal.timeout(timeoutMs));
    let res: Response;
    try {
      res = await this.#fetch(url, { ...init, headers, signal: signals.length ? AbortSignal.any(signals) : undefined });
    } catch (e) {
      const timedOut = (e as Error)?.name === "TimeoutError";
      throw new ApiError(`${what}: ${describeFetchError(e, url, timeoutMs)}`, 0, undefined, timedOut);
    }
    if (okStatuses.includes(res.status)) return res;
    const retryAfter = res.headers.get("retry-after");
    const retryAfterMs = retryAfter && /^\d{1,4}$/.test(retryAfter) ? Number(retryAfter) * 1000 : undefined;
    const described = await describeErrorResponse(res, url);
    throw new ApiError(`${what}: ${described.text}`, res.status, retryAfterMs, false, described.apiBody);
  }
}

function toProfileInfo(raw: unknown, index: number): ProfileInfo {
  const p = raw as { key?: unknown; size?: unknown; lastModified?: unknown };
  const lastModified = typeof p?.lastModified === "string" ? new Date(p.lastModified) : new Date(NaN);
  if (typeof p?.key !== "string" || typeof p.size !== "number" || Number.isNaN(lastModified.getTime())) {
    throw new ApiError(`list profiles: entry ${index} is malformed: ${JSON.stringify(raw)}`, 200);
  }
  return { key: p.key, size: p.size, lastModified };
}

function toRejectedInfo(raw: unknown, index: number): RejectedInfo {
  const r = raw as { key?: unknown; count?: unknown; bases?: unknown; lastReason?: unknown; lastRejectedAt?: unknown };
  const at = typeof r?.lastRejectedAt === "string" ? new Date(r.lastRejectedAt) : new Date(NaN);
  if (
    typeof r?.key !== "string" || typeof r.count !== "number" || typeof r.lastReason !== "string" ||
    Number.isNaN(at.getTime())
  ) {
    throw new ApiError(`list profiles: rejected entry ${index} is malformed: ${JSON.stringify(raw)}`, 200);
  }
  const bases = typeof r.bases === "number" ? r.bases : 0;
  return { key: r.key, count: r.count, bases, lastReason: r.lastReason, lastRejectedAt: at };
}
