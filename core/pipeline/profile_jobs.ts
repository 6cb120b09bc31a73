/**
 * The CPU-heavy profile work of the pipeline as self-contained jobs: bytes in, a verdict or
 * bytes out. The server's upload check (decode, validate, normalise, PGO check), reading a base
 * profile's bookkeeping, and the worker's merge (decode, normalise, prune, compact, merge, encode;
 * of one upload, or of a batch of uploads in one pass: batch_job.ts) each run as one job, so they
 * can run in a Web Worker (decode_pool.ts) instead of on the thread that serves HTTP.
 *
 * The upload check and the merge's preparation of the upload are one function
 * ({@link normalizeUpload}): an upload the server accepts is one the worker can prepare, and a
 * prepared (canonical, core/pprof/canonical.ts) upload always merges with a canonical base. A base
 * that is not canonical (written before normalisation existed) is normalised by the merge; one that
 * cannot be is reported (`base-unmappable`) so the worker can set it aside instead of refusing
 * every later upload.
 *
 * Contract: no object model crosses threads. A request carries byte arrays and plain
 * configuration (limits, prune rules with their RegExps, bookkeeping state); a reply carries a
 * verdict (usable, or the reasons, or a ProfileError kind and message) or encoded bytes. Byte
 * arrays given to a job are BORROWED: a pool transfers their buffers to the worker (no copy) and
 * the reply hands them back, so the caller must use the arrays in the reply, not the ones it
 * passed. {@link runJob} is the single implementation; {@link IN_THREAD_JOBS} runs it on the
 * calling thread, for library use and unit tests of the pipeline (the `server` and `worker`
 * commands always use a pool).
 *
 * @module
 */

import { canonicalizeProfile, checkUploadValues, isCanonical } from "../pprof/canonical.ts";
import { compactForPgo } from "../pprof/compact_pgo.ts";
import { decodeComments } from "../pprof/comments.ts";
import { decodeProfile } from "../pprof/decode.ts";
import { DEFAULT_GZIP_LEVEL, encodeProfile } from "../pprof/encode.ts";
import { ProfileError, type ProfileErrorKind } from "../pprof/errors.ts";
import { type DecodeLimits, DEFAULT_DECODE_LIMITS } from "../pprof/limits.ts";
import { rawProfileBytes } from "../pprof/inflate.ts";
import { compactProfile, mergeProfiles } from "../pprof/merge.ts";
import {
  applyNoInlineGuards,
  type NoInlineGuards,
  recordNoInlineGuards,
  writtenWithGuards,
} from "../pprof/noinline.ts";
import { checkPgo } from "../pprof/pgo.ts";
import type { Profile } from "../pprof/profile.ts";
import { pruneProfile } from "../pprof/prune.ts";
import { type BaseState, readBaseState, writeBaseState } from "./base_state.ts";
import { type BatchMergeJob, type BatchMergeResult, mergeBatchBytes } from "./batch_job.ts";
import { rebuildBytes, type RebuildJob, type RebuildResult } from "./rebuild_job.ts";
import type { PruneRule } from "./prune_config.ts";
import { decodedTableBytes } from "./upload_meter.ts";
import { computeViewsJson, type ViewsJson } from "../web/app_views.ts";

/** How stored bases are kept: `pgo` = compacted to what the Go compiler reads, `none` = full profiles. */
export type CompactionMode = "pgo" | "none";

/**
 * Gzip level of a base the worker writes after a merge (`default.pgo`, or a retention window), by
 * compaction. With `pgo` (the default) a base holds only what the Go compiler reads and stays small
 * (tens of KB), is rewritten by every batch of its app and read back by workers, `autopgo
 * download` and `go build`, which take any level: it is written at level 1, zlib's fastest, since
 * compressing it is paid again on every batch and its size hardly matters. With `none` a base keeps
 * every labelled sample and grows with the uploads; the store, the network and every download pay
 * for its size, so it keeps level 4, as the CLI's files ({@link DEFAULT_GZIP_LEVEL}).
 * Measured with node:zlib on this engine's output: a `pgo` base of 1,000 uploads (54 KB raw) 0.22
 * ms at level 1 against 0.68 ms at level 4, for 31.5 KB instead of 24.8 KB; a labelled merge of 100
 * profiles (7.4 MB raw) 33 against 79 ms, but 3.95 MB instead of 2.65 MB (BENCHMARKS.md, "One more
 * upload into a base").
 */
export function baseGzipLevel(compaction: CompactionMode): number {
  return compaction === "pgo" ? 1 : DEFAULT_GZIP_LEVEL;
}

/** What the upload check found. */
export type UploadVerdict =
  | { status: "usable" }
  | ({ status: "unusable" } & Refusal)
  | { status: "invalid"; kind: ProfileErrorKind; message: string };

/** What an upload check held besides the upload itself, in bytes (reported when asked: upload_meter.ts). */
export interface CheckHeld {
  /** The inflated profile.proto of a gzip upload (0 for a raw one: the decoder reads the upload itself). */
  inflated: number;
  /** The decoded tables ({@link decodedTableBytes}, an estimate). */
  tables: number;
}

/**
 * The bookkeeping of a base, or why it cannot be read. `raw`: the base inflated, when it is stored
 * gzipped and the job was asked for it ({@link JobOptions.inflated}), so that a merge that follows
 * reads it instead of inflating it a second time.
 */
export type BaseStateResult =
  | { status: "ok"; state: BaseState; raw?: Uint8Array }
  | { status: "unreadable"; message: string };

/** An app's web views (core/web/app_views.ts), or why its base does not decode. */
export type ViewsResult =
  | { status: "ok"; json: ViewsJson }
  | { status: "invalid"; kind: ProfileErrorKind; message: string };

/** Everything a merge needs: the base (absent for the first upload), the upload and how to treat it. */
export interface MergeJob {
  /** The encoded base profile; undefined when the app has none (or only a tombstone). */
  base?: Uint8Array;
  /** The staged upload as uploaded. */
  staged: Uint8Array;
  /** The app's prune rules, applied to the upload in order. */
  rules: PruneRule[];
  compaction: CompactionMode;
  /** Limits for decoding the upload (the base is decoded with the engine defaults). */
  uploadLimits?: Partial<DecodeLimits>;
  /**
   * No-inline guards (core/pprof/noinline.ts) applied to the upload, and to the base when it records
   * other guards; the merged base records them. Undefined: function names are left as they are.
   */
  noinline?: NoInlineGuards;
  /** Bookkeeping the merged base records (absorbed keys including this upload's). */
  state: BaseState;
}

/**
 * The merged base (`baseNormalized`: the base was not canonical and has been normalised); or why
 * the upload can never be merged (`poison`: the upload itself, `unmergeable`: it cannot be merged
 * with this base); or why the base cannot be read (transient); or why the base, although readable,
 * cannot be normalised (`base-unmappable`: no later upload could ever merge with it).
 */
export type MergeJobResult =
  | { status: "merged"; data: Uint8Array; baseNormalized?: boolean }
  | { status: "poison"; message: string }
  | { status: "unmergeable"; message: string }
  | { status: "base-unreadable"; message: string }
  | { status: "base-unmappable"; message: string };

/** A job as sent to a worker. */
export type JobRequest =
  | { op: "check-upload"; data: Uint8Array; limits: Partial<DecodeLimits>; measure?: boolean }
  | { op: "base-state"; data: Uint8Array; inflated?: boolean }
  | { op: "merge"; job: MergeJob }
  | { op: "merge-batch"; job: BatchMergeJob }
  | { op: "rebuild"; job: RebuildJob }
  | { op: "views"; app: string; data: Uint8Array; modifiedMs: number };

/** A job's reply; borrowed arrays come back in `data` (and `job` for merges). */
export type JobReply =
  | { op: "check-upload"; verdict: UploadVerdict; data: Uint8Array; held?: CheckHeld }
  | { op: "base-state"; result: BaseStateResult; data: Uint8Array }
  | { op: "merge"; result: MergeJobResult; job: MergeJob }
  | { op: "merge-batch"; result: BatchMergeResult; job: BatchMergeJob }
  | { op: "rebuild"; result: RebuildResult; job: RebuildJob }
  | { op: "views"; result: ViewsResult; data: Uint8Array };

/** Options of one job. */
export interface JobOptions {
  /** Abandons the job when aborted (a running job's worker is terminated). */
  signal?: AbortSignal;
  /** Refuse the job with {@link QueueFullError} when the queue is full (client requests); otherwise wait. */
  shed?: boolean;
  /** Upload checks only: also report what the check held ({@link CheckHeld}). */
  measure?: boolean;
  /**
   * Base states only: also hand back the inflated base (`raw` of {@link BaseStateResult}) for a
   * merge that follows; readers of the state alone (web views, windows) leave it out.
   */
  inflated?: boolean;
}

/** Runs profile jobs somewhere: on this thread ({@link IN_THREAD_JOBS}) or in a worker pool. */
export interface ProfileJobs {
  /** Decodes, validates and PGO-checks an upload under `limits`. */
  checkUpload(
    data: Uint8Array,
    limits: Partial<DecodeLimits>,
    opts?: JobOptions,
  ): Promise<{ verdict: UploadVerdict; data: Uint8Array; held?: CheckHeld }>;
  /** Reads the bookkeeping of an encoded base profile. */
  baseState(data: Uint8Array, opts?: JobOptions): Promise<{ result: BaseStateResult; data: Uint8Array }>;
  /** Merges a staged upload into a base and encodes the result. */
  merge(job: MergeJob, opts?: JobOptions): Promise<MergeJobResult>;
  /** Merges several staged uploads into a base in one pass and encodes the result (batch_job.ts). */
  mergeBatch(job: BatchMergeJob, opts?: JobOptions): Promise<BatchMergeResult>;
  /** Rebuilds `default.pgo` from retention windows (rebuild_job.ts); absent: the caller runs it in-thread. */
  rebuild?(job: RebuildJob, opts?: JobOptions): Promise<RebuildResult>;
  /** Computes an app's web views from its base, last written at `modifiedMs` (core/web/app_views.ts). */
  views(
    app: string,
    data: Uint8Array,
    modifiedMs: number,
    opts?: JobOptions,
  ): Promise<{ result: ViewsResult; data: Uint8Array }>;
}

/** Too many jobs are waiting: the client should retry after `retryAfterSeconds`. */
export class QueueFullError extends Error {
  /** Seconds to send as `Retry-After`. */
  readonly retryAfterSeconds: number;
  /** Creates the error with a one-line message. */
  constructor(message: string, retryAfterSeconds: number) {
    super(message);
    this.name = "QueueFullError";
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** A job was abandoned at its deadline (`running`: its worker was terminated mid-job). */
export class JobDeadlineError extends Error {
  /** True when the job had started (and its worker was terminated), false when it was still queued. */
  readonly running: boolean;
  /** Creates the error with a one-line message. */
  constructor(message: string, running: boolean) {
    super(message);
    this.name = "JobDeadlineError";
    this.running = running;
  }
}

/**
 * Normalises a decoded upload to the canonical form IN PLACE (core/pprof/canonical.ts), checks its
 * values and asks whether Go's PGO would use it: the profile, or the one-line reasons it is not
 * usable. The server's check and the worker's preparation both call this, so they agree.
 */
export function normalizeUpload(p: Profile): { profile: Profile } | Refusal {
  try {
    canonicalizeProfile(p);
    checkUploadValues(p);
  } catch (error) {
    if (error instanceof ProfileError) {
      const poison = `cannot be merged: ${error.message}`;
      return { reasons: [error.message], refusal: poison, poison };
    }
    throw error;
  }
  const verdict = checkPgo(p);
  if (verdict.usable) return { profile: p };
  const poison = `not usable for PGO: ${verdict.reasons.join("; ")}`;
  return { reasons: verdict.reasons, refusal: `is ${poison}`, poison };
}

/**
 * Why an upload is refused: `reasons`, one line each, and `refusal`, the predicate that completes
 * "profile …": "is not usable for PGO: …" when Go's compiler would not use it, "cannot be merged:
 * …" when it is no CPU profile autopgo can keep (core/pprof/canonical.ts) or has values it refuses;
 * `poison`, the same as the worker's reason for setting the upload aside ("not usable for PGO: …").
 */
export interface Refusal {
  reasons: string[];
  refusal: string;
  poison: string;
}

/**
 * The upload check: decode under `limits`, validate, normalise, and ask whether Go's PGO would use
 * it. With `held`, also records what the check held besides `data` (its fields are overwritten).
 */
export function checkUploadBytes(data: Uint8Array, limits: Partial<DecodeLimits>, held?: CheckHeld): UploadVerdict {
  let profile: Profile;
  try {
    profile = decodeProfile(data, limits, held && ((bytes) => held.inflated = bytes));
  } catch (error) {
    if (error instanceof ProfileError) return { status: "invalid", kind: error.kind, message: error.message };
    throw error;
  }
  if (held) held.tables = decodedTableBytes(profile);
  const normalized = normalizeUpload(profile);
  return "profile" in normalized ? { status: "usable" } : { status: "unusable", ...normalized };
}

/**
 * The bookkeeping of an encoded base profile (its comments only are decoded); with `inflated`,
 * also the inflated bytes of a gzipped base.
 */
export function baseStateOfBytes(data: Uint8Array, inflated = false): BaseStateResult {
  try {
    const raw = rawProfileBytes(data, DEFAULT_DECODE_LIMITS);
    const state = readBaseState(decodeComments(raw));
    return raw === data || !inflated ? { status: "ok", state } : { status: "ok", state, raw };
  } catch (error) {
    if (error instanceof ProfileError) return { status: "unreadable", message: error.message };
    throw error;
  }
}

/**
 * Decodes, normalises and checks ({@link normalizeUpload}), prunes, (optionally) compacts and applies
 * the no-inline guards to an upload; returns the profile, or the one-line reason it can never be merged.
 */
export function prepareProfile(
  data: Uint8Array,
  rules: readonly PruneRule[],
  compaction: CompactionMode,
  limits?: Partial<DecodeLimits>,
  noinline?: NoInlineGuards,
): { profile: Profile } | { poison: string } {
  try {
    const normalized = normalizeUpload(decodeProfile(data, limits));
    if ("reasons" in normalized) return { poison: normalized.poison };
    let profile = normalized.profile;
    for (const rule of rules) pruneProfile(profile, rule.drop, rule.keep);
    if (rules.length > 0) profile = compactProfile(profile);
    if (compaction === "pgo") profile = compactForPgo(profile);
    if (noinline) profile = applyNoInlineGuards(profile, noinline);
    return { profile };
  } catch (error) {
    if (error instanceof ProfileError) return { poison: `invalid profile: ${error.message}` };
    throw error;
  }
}

/**
 * The merge: prepare the upload, decode the base (normalising it when it is not canonical), merge,
 * record `job.state`, encode.
 */
export function mergeBytes(job: MergeJob): MergeJobResult {
  const prepared = prepareProfile(job.staged, job.rules, job.compaction, job.uploadLimits, job.noinline);
  if ("poison" in prepared) return { status: "poison", message: prepared.poison };
  let base: Profile | undefined;
  let baseNormalized = false;
  if (job.base) {
    try {
      base = decodeProfile(job.base);
    } catch (error) {
      if (error instanceof ProfileError) return { status: "base-unreadable", message: error.message };
      throw error;
    }
    if (!isCanonical(base)) {
      try {
        canonicalizeProfile(base);
        baseNormalized = true;
      } catch (error) {
        if (error instanceof ProfileError) return { status: "base-unmappable", message: error.message };
        throw error;
      }
    }
  }
  if (base && job.noinline && !writtenWithGuards(base.comments, job.noinline)) {
    base = applyNoInlineGuards(base, job.noinline); // the guard list changed since the base was written
  }
  let merged: Profile;
  try {
    merged = base ? mergeProfiles([prepared.profile, base]) : compactProfile(prepared.profile);
  } catch (error) {
    if (error instanceof ProfileError) return { status: "unmergeable", message: error.message };
    throw error;
  }
  merged.comments = writeBaseState(merged.comments, job.state);
  if (job.noinline) merged.comments = recordNoInlineGuards(merged.comments, job.noinline);
  const data = encodeProfile(merged, { level: baseGzipLevel(job.compaction) });
  return baseNormalized ? { status: "merged", data, baseNormalized } : { status: "merged", data };
}

/** The views of `app`'s base `data` as a job's result: ProfileErrors become `invalid`. */
export function viewsOfBytes(app: string, data: Uint8Array, modifiedMs: number): ViewsResult {
  try {
    return { status: "ok", json: computeViewsJson(app, data, new Date(modifiedMs)) };
  } catch (error) {
    if (!(error instanceof ProfileError)) throw error;
    return { status: "invalid", kind: error.kind, message: error.message };
  }
}

/** Runs one job on the calling thread. Throws only on bugs (ProfileErrors become verdicts). */
export function runJob(request: JobRequest): JobReply {
  switch (request.op) {
    case "check-upload": {
      const held = request.measure ? { inflated: 0, tables: 0 } : undefined;
      const verdict = checkUploadBytes(request.data, request.limits, held);
      return held
        ? { op: request.op, verdict, data: request.data, held }
        : { op: request.op, verdict, data: request.data };
    }
    case "base-state":
      return { op: request.op, result: baseStateOfBytes(request.data, request.inflated), data: request.data };
    case "merge":
      return { op: request.op, result: mergeBytes(request.job), job: request.job };
    case "merge-batch":
      return { op: request.op, result: mergeBatchBytes(request.job), job: request.job };
    case "rebuild":
      return { op: request.op, result: rebuildBytes(request.job), job: request.job };
    case "views":
      return {
        op: request.op,
        result: viewsOfBytes(request.app, request.data, request.modifiedMs),
        data: request.data,
      };
  }
}

/** Jobs run synchronously on the calling thread (library use, unit tests): no deadline can interrupt them. */
export const IN_THREAD_JOBS: ProfileJobs = {
  // deno-lint-ignore require-await
  async checkUpload(data, limits, opts) {
    opts?.signal?.throwIfAborted();
    const held = opts?.measure ? { inflated: 0, tables: 0 } : undefined;
    const verdict = checkUploadBytes(data, limits, held);
    return held ? { verdict, data, held } : { verdict, data };
  },
  // deno-lint-ignore require-await
  async baseState(data, opts) {
    opts?.signal?.throwIfAborted();
    return { result: baseStateOfBytes(data, opts?.inflated), data };
  },
  // deno-lint-ignore require-await
  async merge(job, opts) {
    opts?.signal?.throwIfAborted();
    return mergeBytes(job);
  },
  // deno-lint-ignore require-await
  async mergeBatch(job, opts) {
    opts?.signal?.throwIfAborted();
    return mergeBatchBytes(job);
  },
  // deno-lint-ignore require-await
  async rebuild(job, opts) {
    opts?.signal?.throwIfAborted();
    return rebuildBytes(job);
  },
  // deno-lint-ignore require-await
  async views(app, data, modifiedMs, opts) {
    opts?.signal?.throwIfAborted();
    return { result: viewsOfBytes(app, data, modifiedMs), data };
  },
};
