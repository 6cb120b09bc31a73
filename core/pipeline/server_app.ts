/**
 * The autopgo profile API as a Hono app, wire-compatible with the original server:
 * `POST|GET|HEAD|DELETE /api/profile/{app}`, `GET /api/profile`, `/api/health`, `/api/ready`,
 * and `{"message","code"}` JSON for every error (unknown routes and wrong methods included).
 *
 * Beyond the original: byte-limited streaming upload reads (413), per-request deadlines (408),
 * engine validation (400 with the reason), PGO usefulness check (422 with the verdict),
 * collision-free only-if-absent staging keys, strong ETags with 304 and HEAD, optional bearer
 * token (401), and no orphaned staging blob when publishing fails (the blob is deleted; if even
 * that fails the worker's reconcile sweep merges it later).
 *
 * Decoding and checking an upload is the one CPU-heavy step: it runs as a job (`deps.jobs`, a
 * decode pool in the `server` command) under a decode budget proportional to the upload
 * (upload_limits.ts), off the thread that answers `/api/health`; a full queue answers 503 with
 * `Retry-After`, and the request deadline stops a running check (503 too).
 *
 * What is staged: the validated ORIGINAL upload bytes. They are already proven decodable within
 * the limits, re-encoding would cost CPU on the request path, and the worker decodes them again
 * anyway (it must not trust the store).
 *
 * Memory: an upload is held as bytes once. The body streams into one buffer (http_body.ts: 413 as
 * soon as it crosses the limit, 400 as soon as a raw body shows a field the decoder refuses,
 * upload_stream_check.ts; the rest is never read), that buffer is transferred to the decode
 * worker and back (not cloned), and the same bytes are handed to the store. At its peak an upload
 * costs its bytes, the inflated profile.proto of a gzip upload while it is decoded, and the decoded
 * tables; `uploadMeter` (upload_meter.ts) observes exactly that. The bytes of all uploads held at
 * once are bounded too (`maxUploadMemory`, upload_budget.ts): past it, 503 with `Retry-After`.
 * Downloads of one version of a base share one buffer and stream from it (base_downloads.ts); the
 * buffers held by all the downloads being sent are bounded (`maxDownloadMemory`,
 * download_budget.ts): past it, 503 with `Retry-After`.
 *
 * @module
 */

import { type Context, Hono, type MiddlewareHandler } from "hono";
import { getLogger } from "@logtape/logtape";
import { appNameProblem } from "../app_name.ts";
import { type BlobStore, PreconditionFailedError } from "../blob.ts";
import { type HealthCheck, healthRoutes } from "../health.ts";
import { failureStatus, publicMessage } from "../public_error.ts";
import { webRoutes } from "../web/routes.ts";
import { type DecodeLimits, resolveDecodeLimits } from "../pprof/limits.ts";
import { deletionCutoff, tombstoneApp } from "./app_admin.ts";
import { bearerProblem } from "./auth.ts";
import {
  claimIdempotencyKey,
  findEarlierUpload,
  IDEMPOTENCY_HEADER,
  idempotencyHash,
  idempotencyKeyProblem,
  idempotentSuffix,
  markStaging,
} from "./idempotency.ts";
import {
  BodyRejectedError,
  BodyTimeoutError,
  BodyTooLargeError,
  declaredLength,
  readBodyLimited,
  unsupportedContentCoding,
} from "./http_body.ts";
import { UploadStreamCheck } from "./upload_stream_check.ts";
import type { UploadMeter } from "./upload_meter.ts";
import { dateToUnixNanos, stagingKey } from "./keys.ts";
import type { EventPublisher } from "./publisher.ts";
import { singleFlight } from "../single_flight.ts";
import { BaseDownloads } from "./base_downloads.ts";
import {
  DEFAULT_MAX_DOWNLOAD_MEMORY,
  DownloadBudget,
  DownloadBudgetError,
  downloadDeadlineMs,
} from "./download_budget.ts";
import { budgetMeter, DEFAULT_MAX_UPLOAD_MEMORY, UploadBudget, UploadBudgetError } from "./upload_budget.ts";
import { uploadDecodeLimits } from "./upload_limits.ts";
import { hasStagedUploads, listBases, listRejected, statBase } from "./profiles_view.ts";
import { IN_THREAD_JOBS, JobDeadlineError, type ProfileJobs, QueueFullError } from "./profile_jobs.ts";
import { isOwned } from "./job_transfer.ts";
import { UnsentEvents } from "./unsent_events.ts";
import { startDeadline } from "../deadline.ts";
import { noRouteMessage } from "../api_answers.ts";

/** Default upload limit: 64 MiB. */
export const DEFAULT_MAX_UPLOAD_BYTES = 64 * 1024 * 1024;
/** Default per-request deadline: 2 minutes. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 120_000;

/** Everything the server app needs, injected. */
export interface ServerAppDeps {
  store: BlobStore;
  publisher: EventPublisher;
  clock: () => Date;
  /** Random suffix for staging keys (`[a-z0-9]+`). */
  randomSuffix: () => string;
  maxUploadBytes?: number;
  /** Overrides of the limits derived from `maxUploadBytes` (upload_limits.ts). */
  decodeLimits?: Partial<DecodeLimits>;
  /**
   * Where uploads are decoded and checked: a decode pool (decode_pool.ts), so the work runs off
   * this thread, is bounded (503 + Retry-After when its queue is full) and stops at the request
   * deadline. Default: on this thread (library use and tests only).
   */
  jobs?: ProfileJobs;
  /** When set, every `/api/profile` route requires `Authorization: Bearer <token>`. */
  token?: string;
  requestTimeoutMs?: number;
  healthChecks: HealthCheck[];
  isReady?: () => boolean;
  /** Middleware run first on every request, in order (the access log and the request metrics). */
  middleware?: MiddlewareHandler[];
  /** Told what every upload holds as it goes (upload_meter.ts; tests and benchmarks). */
  uploadMeter?: UploadMeter;
  /**
   * The bytes all uploads being received may hold at once (upload_budget.ts); past it, 503 with
   * `Retry-After`. Default: {@link DEFAULT_MAX_UPLOAD_MEMORY}.
   */
  maxUploadMemory?: number;
  /**
   * Called when an upload is refused because `maxUploadMemory` is taken: the server closes the
   * connections whose upload stalls (conn_pressure.ts), so a client retrying finds room.
   */
  onUploadMemoryFull?: () => void;
  /**
   * The bytes the downloads being sent may hold at once (download_budget.ts); past it, 503 with
   * `Retry-After`. Default: {@link DEFAULT_MAX_DOWNLOAD_MEMORY}.
   */
  maxDownloadMemory?: number;
}

type Env = { Variables: { deadline: AbortSignal } };

const log = getLogger(["autopgo", "server"]);

/** Answers `{"message","code"}` with status `code`. */
function apiError(code: number, message: string, headers?: Record<string, string>): Response {
  return new Response(JSON.stringify({ message, code }) + "\n", {
    status: code,
    headers: { "content-type": "application/json", ...headers },
  });
}

function etagOf(version: string): string {
  return /^[\x21\x23-\x7e]+$/.test(version) ? `"${version}"` : `"${encodeURIComponent(version).replace(/"/g, "%22")}"`;
}

function etagMatches(header: string, etag: string): boolean {
  return header.split(",").map((s) => s.trim()).some((t) => t === "*" || t.replace(/^W\//, "") === etag);
}

/** Creates the Hono app. No I/O happens until a request arrives. */
export function createServerApp(deps: ServerAppDeps): Hono<Env> {
  const maxUploadBytes = deps.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
  const decodeLimits = { ...uploadDecodeLimits(maxUploadBytes), ...deps.decodeLimits };
  const streamLimits = resolveDecodeLimits(decodeLimits);
  const timeoutMs = deps.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const jobs = deps.jobs ?? IN_THREAD_JOBS;
  const uploadBudget = new UploadBudget(deps.maxUploadMemory ?? DEFAULT_MAX_UPLOAD_MEMORY);
  const downloads = new BaseDownloads(deps.store, timeoutMs);
  const downloadBudget = new DownloadBudget(deps.maxDownloadMemory ?? DEFAULT_MAX_DOWNLOAD_MEMORY);
  const unsent = new UnsentEvents(log, deps.clock);
  const app = new Hono<Env>();

  for (const middleware of deps.middleware ?? []) app.use("*", middleware);
  app.use("*", async (c, next) => {
    // Not tied to request.signal: Deno aborts that when a response completes (legacy behaviour).
    // Cleared once the handler has answered: the work a request deadline bounds is done by then
    // (a download's body has a deadline of its own), and a flood of requests must not leave a
    // timer each for two minutes (core/deadline.ts).
    const deadline = startDeadline(timeoutMs);
    c.set("deadline", deadline.signal);
    try {
      await next();
    } finally {
      deadline.clear();
    }
    // A body answered before it was read (401, 413, 415, a bad app name, an idempotent replay) is
    // cancelled, which makes Deno read and drop the rest: a client that sends its whole body
    // before reading the answer got it only when the body timeout closed the connection (27 s for
    // 200 MB), now at once.
    const body = c.req.raw.body;
    if (body && !c.req.raw.bodyUsed && !body.locked) body.cancel().catch(() => {});
  });
  const guard = async (c: Context<Env>, next: () => Promise<void>) => {
    if (deps.token === undefined) return await next();
    const problem = await bearerProblem(c.req.header("authorization") ?? null, deps.token);
    if (problem) return apiError(401, problem, { "www-authenticate": 'Bearer realm="autopgo"' });
    await next();
  };
  app.use("/api/profile", guard);
  app.use("/api/profile/*", guard);

  app.route("/", healthRoutes(deps.healthChecks, deps.isReady));
  // The web page at `/` and its JSON routes (core/web/routes.ts), behind the same token.
  app.route(
    "/",
    webRoutes({
      store: deps.store,
      token: deps.token,
      jobs,
      requestTimeoutMs: timeoutMs,
      downloadBudget,
    }),
  );

  // One listing at a time, shared by the requests that arrive meanwhile (single_flight.ts): it walks
  // the whole store, so a flood of list requests must not cost one walk each.
  const listing = singleFlight(async (signal) => ({
    profiles: await listBases(deps.store, signal),
    // Added to the original's shape: per app, the uploads the worker set aside and the last reason.
    rejected: await listRejected(deps.store, signal),
  }), timeoutMs);
  app.get("/api/profile", async (c) => c.json(await listing(c.get("deadline"))));

  app.post("/api/profile/", () => apiError(400, `invalid app name: ${appNameProblem("")}`));

  app.post("/api/profile/:app", async (c) => {
    const app = c.req.param("app");
    const problem = appNameProblem(app);
    if (problem) return apiError(400, `invalid app name: ${problem}`);
    const idempotencyKey = c.req.header(IDEMPOTENCY_HEADER);
    const keyProblem = idempotencyKey === undefined ? undefined : idempotencyKeyProblem(idempotencyKey);
    if (keyProblem) return apiError(400, keyProblem);
    const coding = unsupportedContentCoding(c.req.raw);
    if (coding) return apiError(415, coding);
    // A retry of an upload already staged or merged is answered before its body is read: the key
    // decides, the bytes of a retry are never held (the body is cancelled once answered, above).
    const hash = idempotencyKey === undefined ? undefined : await idempotencyHash(idempotencyKey);
    const replay = hash && await replayEarlier(c, app, hash);
    if (replay) return replay;
    const meter = budgetMeter(uploadBudget, deps.uploadMeter);
    const check = new UploadStreamCheck(streamLimits, declaredLength(c.req.raw));
    const inspect = (chunk: Uint8Array, received: Uint8Array) => check.push(chunk, received);
    let body: Uint8Array;
    try {
      // A body that cannot fit now is refused before it is read; the budget is then taken as its
      // bytes arrive (http_body.ts), so a request that declares much and sends nothing holds nothing.
      uploadBudget.checkFits(Math.min(declaredLength(c.req.raw) ?? 0, maxUploadBytes));
      body = await readBodyLimited(c.req.raw, maxUploadBytes, c.get("deadline"), { meter, inspect });
    } catch (error) {
      if (error instanceof BodyTooLargeError) return apiError(413, error.message);
      if (error instanceof BodyRejectedError) return apiError(400, `invalid profile: ${error.message}`);
      if (error instanceof BodyTimeoutError) return apiError(408, error.message);
      if (error instanceof UploadBudgetError) {
        deps.onUploadMemoryFull?.();
        return apiError(503, error.message, { "retry-after": String(error.retryAfterSeconds), connection: "close" });
      }
      return apiError(400, `reading upload: ${(error as Error).message}`);
    }
    const bodyBytes = body.byteLength;
    try {
      return await accept(c, app, body, hash);
    } finally {
      meter.held("body", -bodyBytes); // the request lets go of the body buffer
    }
  });

  /** The 201 replay of the upload idempotency key `hash` already made, or undefined. */
  const replayEarlier = async (c: Context<Env>, app: string, hash: string) => {
    const earlier = await findEarlierUpload(deps.store, app, hash, c.get("deadline"));
    if (!earlier) return undefined;
    // A staged upload's event may have been lost with the first request: send it again
    // (duplicates are harmless, the merge is exactly-once).
    if (earlier.staged) {
      await deps.publisher.publish("profile.uploaded", { app, profileKey: earlier.key }, c.get("deadline"))
        .then(() => unsent.sent(), (error) => unsent.failed(earlier.key, error));
    }
    return c.json({ key: earlier.key }, 201, { "idempotent-replayed": "true" });
  };

  /** The rest of an upload once its body is read: the check, staging, the idempotency claim, the event. */
  const accept = async (c: Context<Env>, app: string, body: Uint8Array, hash: string | undefined) => {
    const meter = deps.uploadMeter;
    let checked;
    // A body that does not view its whole buffer would be copied to be transferred (never, from http_body.ts).
    const copied = isOwned(body) ? 0 : body.byteLength;
    meter?.held("copy", copied);
    try {
      // The body is lent to the job (its buffer moves to a worker): use the one handed back.
      checked = await jobs.checkUpload(body, decodeLimits, { signal: c.get("deadline"), shed: true, measure: !!meter });
    } catch (error) {
      if (error instanceof QueueFullError) {
        return apiError(503, error.message, { "retry-after": String(error.retryAfterSeconds) });
      }
      if (error instanceof JobDeadlineError) {
        return apiError(503, `checking the upload: ${error.message}`, { "retry-after": "5" });
      }
      throw error;
    } finally {
      meter?.held("copy", -copied);
    }
    body = checked.data;
    if (meter && checked.held) {
      // Held by the check at its end, together with the body; released when it returned.
      meter.held("inflated", checked.held.inflated);
      meter.held("tables", checked.held.tables);
      meter.held("inflated", -checked.held.inflated);
      meter.held("tables", -checked.held.tables);
    }
    const verdict = checked.verdict;
    if (verdict.status === "invalid") return apiError(400, `invalid profile: ${verdict.message}`);
    if (verdict.status === "unusable") {
      return apiError(422, `profile ${verdict.refusal}`);
    }
    // The mark first: a retry lists the staged uploads only when one was about to be staged (idempotency.ts).
    if (hash) await markStaging(deps.store, app, hash, c.get("deadline"));
    const staged = await stage(deps, app, body, c.get("deadline"), hash);
    const key = hash ? await claimIdempotencyKey(deps.store, app, hash, staged, c.get("deadline")) : staged;
    if (key !== staged) {
      await deps.store.delete(staged, undefined, c.get("deadline"));
      return c.json({ key }, 201, { "idempotent-replayed": "true" });
    }
    try {
      await deps.publisher.publish("profile.uploaded", { app, profileKey: key }, c.get("deadline"));
      unsent.sent();
    } catch (error) {
      // The upload is durable once staged: a worker may already have merged it (batches gather an
      // app's staged uploads from the store), and the reconcile sweep merges it if no event ever
      // comes. So it is accepted; only the event, which merely speeds the merge up, is missing.
      unsent.failed(key, error);
    }
    log.info("staged upload {key} ({size} bytes)", { key, size: body.byteLength });
    return c.json({ key }, 201);
  };

  app.get("/api/profile/:app", async (c) => {
    const app = c.req.param("app");
    const problem = appNameProblem(app);
    if (problem) return apiError(400, `invalid app name: ${problem}`);
    try {
      // Streamed from the buffer every download of this version shares (base_downloads.ts), within
      // the bytes all downloads being sent may hold (download_budget.ts): a version that does not
      // fit is refused before it is read.
      const base = await downloads.current(app, c.get("deadline"), (size) => downloadBudget.checkFits(size));
      if (!base) return apiError(404, "Not Found");
      const etag = etagOf(base.version);
      const headers = { etag, "last-modified": base.modified.toUTCString(), "cache-control": "no-cache" };
      const ifNoneMatch = c.req.header("if-none-match");
      if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch, etag)) return c.body(null, 304, headers);
      const bodyHeaders = {
        ...headers,
        "content-type": "application/octet-stream",
        "content-length": String(base.data.byteLength),
      };
      if (c.req.method === "HEAD") return c.body(null, 200, bodyHeaders);
      const timeout = downloadDeadlineMs(base.data.byteLength, timeoutMs);
      return c.body(downloadBudget.stream(base.data, { timeoutMs: timeout }), 200, bodyHeaders);
    } catch (error) {
      if (!(error instanceof DownloadBudgetError)) throw error;
      return apiError(503, error.message, { "retry-after": String(error.retryAfterSeconds) });
    }
  });

  app.delete("/api/profile/:app", async (c) => {
    const app = c.req.param("app");
    const problem = appNameProblem(app);
    if (problem) return apiError(400, `invalid app name: ${problem}`);
    const signal = c.get("deadline");
    if (!(await statBase(deps.store, app, signal)) && !(await hasStagedUploads(deps.store, app, signal))) {
      return apiError(404, "Not Found");
    }
    // Durable before the 200: the tombstone is written now; the event only asks the worker to
    // clean staged and rejected uploads up to the same cut-off (merges skip them meanwhile). The
    // event is stamped with the same instant: the worker takes its cut-off from the stamp, and a
    // later one (the publication time, after the tombstone's write) made it write a newer tombstone
    // over a base that had merged uploads accepted after this DELETE, which were lost with it.
    const acceptedAt = deps.clock();
    await tombstoneApp(deps.store, app, deletionCutoff(acceptedAt), signal, jobs);
    try {
      await deps.publisher.publish("profile.deleted", { app }, signal, acceptedAt);
    } catch (error) {
      log.warn(
        "profile.deleted for {app} not published; the deletion stands, staged uploads are dropped at merge: {error}",
        {
          app,
          error: String(error),
        },
      );
    }
    return c.json({});
  });

  const methodNotAllowed = (allow: string) => (c: Context) =>
    apiError(405, `method ${c.req.method} not allowed, use ${allow}`, { allow });
  app.all("/api/profile", methodNotAllowed("GET, HEAD"));
  app.all("/api/profile/:app", methodNotAllowed("GET, HEAD, POST, DELETE"));
  app.all("/api/health", methodNotAllowed("GET, HEAD"));
  app.all("/api/ready", methodNotAllowed("GET, HEAD"));
  app.notFound((c) => apiError(404, noRouteMessage(c.req.method, c.req.path)));
  app.onError((error, c) => {
    log.error("{method} {path} failed: {error}", { method: c.req.method, path: c.req.path, error: String(error) });
    const status = failureStatus(error);
    const headers: Record<string, string> = status === 503 ? { "retry-after": "5" } : {};
    return apiError(status, publicMessage(error), headers);
  });
  return app;
}

/** Writes the staged upload only-if-absent, drawing a fresh random suffix on the (rare) collision. */
async function stage(
  deps: ServerAppDeps,
  app: string,
  body: Uint8Array,
  signal: AbortSignal,
  idempotencyHash?: string,
): Promise<string> {
  for (let attempt = 1;; attempt++) {
    const random = deps.randomSuffix();
    const suffix = idempotencyHash ? idempotentSuffix(random, idempotencyHash) : random;
    const key = stagingKey(app, dateToUnixNanos(deps.clock()), suffix);
    try {
      // A staging key is unique and never written again (worker_batch.ts deletes it once merged).
      await deps.store.write(key, body, { ifAbsent: true, writeOnce: true }, signal);
      return key;
    } catch (error) {
      if (!(error instanceof PreconditionFailedError) || attempt >= 5) throw error;
    }
  }
}
