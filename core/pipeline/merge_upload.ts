/**
 * Exactly-once merging of one staged upload into its app's base profile.
 *
 * The whole read → merge → write is a compare-and-swap loop on `<app>/default.pgo`: the base
 * is written only-if-version (or only-if-absent when there was none) and the loop starts over
 * on {@link PreconditionFailedError}, so two workers never lose an upload. The base records the
 * staging keys it absorbed in the same write (base_state.ts), so redelivered or duplicated
 * events never count an upload twice.
 *
 * Order matters: the base is read BEFORE the staged upload. Absorbed keys are only trimmed from
 * the base once their staging blob is gone, and staging keys are unique, so a worker that sees
 * a base without key K and then finds K's blob either races a writer (its CAS fails) or K was
 * really never merged.
 *
 * The CPU work (decoding the base's bookkeeping, and decode → normalise → prune → compact → merge
 * → encode) runs as profile jobs (profile_jobs.ts): in the worker pool when `deps.jobs` is one, so
 * a long merge never blocks the thread that serves HTTP. The blob I/O and the compare-and-swap
 * stay here.
 *
 * A base that is not canonical (core/pprof/canonical.ts; written before uploads were normalised)
 * is normalised by the merge. A base that cannot be normalised would refuse every later upload, so
 * it is never kept: it is copied to `<app>/rejected/base-<hash>` with its reason (app_admin.ts)
 * and the upload starts a new base in the same version-checked write; the outcome says so, for the
 * worker's log line and metric.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { BlobNotFoundError, type BlobStore, PreconditionFailedError } from "../blob.ts";
import type { DecodeLimits } from "../pprof/limits.ts";
import type { NoInlineGuards } from "../pprof/noinline.ts";
import type { Profile } from "../pprof/profile.ts";
import { setAsideBase } from "./app_admin.ts";
import { type BaseState, parseTombstone } from "./base_state.ts";
import { baseKey, parseStagingKey } from "./keys.ts";
import {
  type CompactionMode,
  IN_THREAD_JOBS,
  type MergeJob,
  type MergeJobResult,
  prepareProfile,
  type ProfileJobs,
} from "./profile_jobs.ts";
import { type PruneConfig, rulesFor } from "./prune_config.ts";

export type { CompactionMode } from "./profile_jobs.ts";

const log = getLogger(["autopgo", "worker"]);

/** Dependencies of {@link mergeUpload}. */
export interface MergeDeps {
  store: BlobStore;
  pruneConfig: PruneConfig;
  compaction: CompactionMode;
  /** Limits for decoding staged uploads (bases are decoded with the engine defaults). */
  uploadLimits?: Partial<DecodeLimits>;
  /**
   * No-inline guards applied to every merged upload and recorded in the base (core/pprof/noinline.ts;
   * the CLI passes the built-in list plus `--noinline`). Undefined: names are left as they are.
   */
  noinline?: NoInlineGuards;
  /** Where the CPU work runs (default: on this thread, {@link IN_THREAD_JOBS}). */
  jobs?: ProfileJobs;
  sleep: (ms: number) => Promise<void>;
  /** Uniform [0, 1) for retry jitter. */
  random: () => number;
  /** Compare-and-swap attempts before giving up with a transient error (default 100). */
  maxConflicts?: number;
}

/** A base that could not be normalised and was set aside (the upload started a new base). */
export interface SetAsideBase {
  /** Where the old base was copied (`<app>/rejected/base-<hash>`). */
  movedTo: string;
  /** Why it could not be normalised (one line). */
  reason: string;
}

/**
 * What happened to a staged upload; a merge says whether it normalised a non-canonical base
 * (`baseNormalized`) or set an unusable one aside (`baseSetAside`).
 */
export type MergeOutcome =
  | { kind: "merged"; conflicts: number; baseNormalized?: boolean; baseSetAside?: SetAsideBase }
  | { kind: "already-absorbed" }
  | { kind: "staging-missing" }
  | { kind: "dropped-deleted" };

/** The staged upload can never be merged (corrupt, useless for PGO, incompatible with the base). */
export class PoisonUploadError extends Error {
  /** Creates the error with a one-line reason. */
  constructor(message: string) {
    super(message);
    this.name = "PoisonUploadError";
  }
}

/** A base profile as read for merging. */
export interface LoadedBase {
  /** Version to condition the write on; undefined when no object exists. */
  version?: string;
  /** The encoded base; undefined when absent or a tombstone. */
  data?: Uint8Array;
  /** The base inflated, when `data` is gzip and it was asked for: what a merge reads (no second inflate). */
  raw?: Uint8Array;
  state: BaseState;
}

/**
 * Reads `<app>/default.pgo` and its bookkeeping (a tombstone yields its cut-off and no data). Only
 * the base's comments are decoded, by `jobs` (default: on this thread). With `inflated` (for a
 * merge that follows), a gzipped base also comes back inflated (`raw`).
 */
export async function loadBase(
  store: BlobStore,
  app: string,
  signal?: AbortSignal,
  jobs: ProfileJobs = IN_THREAD_JOBS,
  opts: { inflated?: boolean } = {},
): Promise<LoadedBase> {
  return await loadBaseAt(store, baseKey(app), signal, jobs, opts);
}

/** {@link loadBase} of any base-like profile: `default.pgo` or a retention window (keys.ts). */
export async function loadBaseAt(
  store: BlobStore,
  key: string,
  signal?: AbortSignal,
  jobs: ProfileJobs = IN_THREAD_JOBS,
  opts: { inflated?: boolean } = {},
): Promise<LoadedBase> {
  let object;
  try {
    object = await store.read(key, signal);
  } catch (error) {
    if (error instanceof BlobNotFoundError) return { state: { absorbed: [], deletedBefore: 0n } };
    throw error;
  }
  const cutoff = parseTombstone(object.data);
  if (cutoff !== undefined) return { version: object.version, state: { absorbed: [], deletedBefore: cutoff } };
  const { result, data } = await jobs.baseState(object.data, { signal, inflated: opts.inflated });
  // Not the upload's fault: report as a (retried, loudly logged) failure, never as poison.
  if (result.status === "unreadable") throw new Error(`base profile ${key} is unreadable: ${result.message}`);
  return result.raw
    ? { version: object.version, data, raw: result.raw, state: result.state }
    : { version: object.version, data, state: result.state };
}

function unreadableBase(app: string, message: string): Error {
  return new Error(`base profile ${baseKey(app)} is unreadable: ${message}`);
}

/**
 * Decodes, checks, prunes and (optionally) compacts a staged upload on this thread; throws
 * {@link PoisonUploadError}. (mergeUpload runs the same steps as a job.)
 */
export function prepareUpload(
  deps: Pick<MergeDeps, "pruneConfig" | "compaction" | "uploadLimits" | "noinline">,
  app: string,
  data: Uint8Array,
): Profile {
  const rules = rulesFor(deps.pruneConfig, app);
  const prepared = prepareProfile(data, rules, deps.compaction, deps.uploadLimits, deps.noinline);
  if ("poison" in prepared) throw new PoisonUploadError(prepared.poison);
  return prepared.profile;
}

/** Keeps the absorbed keys whose staging blob still exists (others can never be redelivered usefully). */
async function trimAbsorbed(store: BlobStore, absorbed: string[], signal?: AbortSignal): Promise<string[]> {
  const present = await Promise.all(absorbed.map(async (key) => (await store.stat(key, signal)) !== undefined));
  return absorbed.filter((_, i) => present[i]);
}

/** The upload count after one more merge: 1 for a new base, undefined while a base has no count. */
function mergedCount(base: LoadedBase): number | undefined {
  if (base.data === undefined) return 1;
  return base.state.merged === undefined ? undefined : base.state.merged + 1;
}

/**
 * Merges the staged upload `key` into `app`'s base exactly once. Throws
 * {@link PoisonUploadError} for unusable uploads; any other error is transient (retry later).
 */
export async function mergeUpload(
  deps: MergeDeps,
  app: string,
  key: string,
  signal?: AbortSignal,
): Promise<MergeOutcome> {
  const parts = parseStagingKey(key);
  if (!parts || parts.app !== app) {
    throw new PoisonUploadError(`profile key "${key}" is not a staging key of app "${app}"`);
  }
  const maxConflicts = deps.maxConflicts ?? 100;
  const jobs = deps.jobs ?? IN_THREAD_JOBS;
  for (let conflicts = 0;; conflicts++) {
    signal?.throwIfAborted();
    const base = await loadBase(deps.store, app, signal, jobs, { inflated: true });
    if (base.state.absorbed.includes(key)) return { kind: "already-absorbed" };
    if (parts.unixNanos !== undefined && parts.unixNanos <= base.state.deletedBefore) {
      await deps.store.delete(key, undefined, signal);
      return { kind: "dropped-deleted" };
    }
    let staged;
    try {
      staged = await deps.store.read(key, signal);
    } catch (error) {
      if (error instanceof BlobNotFoundError) return { kind: "staging-missing" };
      throw error;
    }
    const absorbed = [...await trimAbsorbed(deps.store, base.state.absorbed, signal), key];
    const job: MergeJob = {
      base: base.raw ?? base.data,
      staged: staged.data,
      rules: rulesFor(deps.pruneConfig, app),
      compaction: deps.compaction,
      uploadLimits: deps.uploadLimits,
      noinline: deps.noinline,
      state: { absorbed, deletedBefore: base.state.deletedBefore, merged: mergedCount(base) },
    };
    let result: MergeJobResult = await jobs.merge(job, { signal });
    let setAside: SetAsideBase | undefined;
    if (result.status === "base-unmappable") {
      const fresh = await replaceUnmappableBase(deps, app, key, base, job, result.message, signal);
      if (fresh === "base-changed") continue; // someone replaced the base meanwhile: start over
      if (fresh === "staging-missing") return { kind: "staging-missing" };
      [result, setAside] = [fresh.result, fresh.setAside];
    }
    if (result.status === "poison") throw new PoisonUploadError(result.message);
    if (result.status === "unmergeable") {
      throw new PoisonUploadError(`cannot merge into ${baseKey(app)}: ${result.message}`);
    }
    if (result.status === "base-unreadable" || result.status === "base-unmappable") {
      throw unreadableBase(app, result.message);
    }
    const data = result.data;
    try {
      await deps.store.write(
        baseKey(app),
        data,
        base.version ? { ifVersion: base.version } : { ifAbsent: true },
        signal,
      );
      const outcome: MergeOutcome = { kind: "merged", conflicts };
      if (result.baseNormalized) {
        outcome.baseNormalized = true;
        log.info("normalised base {base} of app {app} to samples/count, cpu/nanoseconds while merging {key}", {
          base: baseKey(app),
          app,
          key,
        });
      }
      if (setAside) {
        outcome.baseSetAside = setAside;
        log.error(
          "base {base} of app {app} cannot be normalised ({reason}): moved to {movedTo}, upload {key} starts a new base",
          { base: baseKey(app), app, key, reason: setAside.reason, movedTo: setAside.movedTo },
        );
      }
      return outcome;
    } catch (error) {
      if (!(error instanceof PreconditionFailedError)) throw error;
      if (conflicts + 1 >= maxConflicts) {
        throw new Error(`merging ${key}: base ${baseKey(app)} kept changing (${maxConflicts} conflicts), will retry`);
      }
      await deps.sleep(Math.min(1000, 5 * 2 ** Math.min(conflicts, 8)) * (0.5 + deps.random()));
    }
  }
}

/**
 * The base of `app` cannot be normalised: copy it aside (the exact version read, re-read now since
 * the merge job consumed its bytes) and merge the upload as the first of a new base, keeping the
 * bookkeeping (absorbed keys, deletion cut-off). The caller writes the result conditioned on the
 * same version, so a base changed meanwhile is never overwritten.
 */
async function replaceUnmappableBase(
  deps: MergeDeps,
  app: string,
  key: string,
  base: LoadedBase,
  job: MergeJob,
  reason: string,
  signal?: AbortSignal,
): Promise<{ result: MergeJobResult; setAside: SetAsideBase } | "base-changed" | "staging-missing"> {
  let current;
  try {
    current = await deps.store.read(baseKey(app), signal);
  } catch (error) {
    if (error instanceof BlobNotFoundError) return "base-changed";
    throw error;
  }
  if (current.version !== base.version) return "base-changed";
  let staged;
  try {
    staged = await deps.store.read(key, signal);
  } catch (error) {
    if (error instanceof BlobNotFoundError) return "staging-missing";
    throw error;
  }
  const movedTo = await setAsideBase(deps.store, app, current.data, current.version, reason, signal);
  const result = await (deps.jobs ?? IN_THREAD_JOBS).merge({
    ...job,
    base: undefined,
    staged: staged.data,
    state: { ...job.state, merged: 1 },
  }, { signal });
  return { result, setAside: { movedTo, reason } };
}
