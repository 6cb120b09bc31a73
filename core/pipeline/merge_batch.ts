/**
 * Exactly-once merging of SEVERAL staged uploads of one app into its base in one compare-and-swap
 * write (issue 13): the batched counterpart of merge_upload.ts, with the same guarantees.
 *
 * Which uploads: {@link gatherBatch} takes the upload an event (or the sweep) names plus the
 * app's oldest other staged uploads, found by listing `<app>/staging/`, up to a count and a byte
 * bound. Gathering from the store, rather than holding several bus messages, works the same on
 * every bus: the message being handled is acked only after the batch's write (and clean-up)
 * succeeded, and the other members' own events arrive later and find their upload absorbed or
 * gone, a no-op. Nothing is held that a crash could lose: a member whose event was lost is still
 * merged (here, or by the reconcile sweep).
 *
 * {@link mergeBatch} is merge_upload.ts's loop over a set: read the base, THEN the members (so a
 * member missing from the base's absorbed list but still staged was really never merged, or a
 * writer races us and our conditional write fails); skip members the base absorbed, drop those
 * staged before the app's deletion cut-off, merge the rest in one job (batch_job.ts) and write the
 * result only-if-version (only-if-absent) with every merged key recorded as absorbed. On a
 * conflict everything is read again, so members another worker merged meanwhile are not merged
 * twice. A poison member is left out of the write and reported, never failing the batch; the
 * caller moves it aside. A base that cannot be normalised is set aside as in merge_upload.ts and
 * the batch starts a new base in the same version-checked write.
 *
 * The target is the app's `default.pgo`, or (retention windows, issue 14) one window of the app
 * given as a {@link BatchTarget}: the same loop writes the window instead, taking the deletion
 * cut-off from `default.pgo` (read before the window on every attempt). A window whose own
 * recorded cut-off is older was written before the app's deletion: its samples are dropped and
 * the batch starts it anew in the same version-checked write.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { mapLimit } from "../map_limit.ts";
import { BlobNotFoundError, type BlobStore, PreconditionFailedError } from "../blob.ts";
import { setAsideBase } from "./app_admin.ts";
import type { BaseState } from "./base_state.ts";
import type { BatchMergeResult } from "./batch_job.ts";
import { claimOf } from "./idempotency.ts";
import { baseKey, parseStagingKey, stagingPrefix } from "./keys.ts";
import { loadBaseAt, type MergeDeps, type SetAsideBase } from "./merge_upload.ts";
import { IN_THREAD_JOBS } from "./profile_jobs.ts";
import { rulesFor } from "./prune_config.ts";

const log = getLogger(["autopgo", "worker"]);

/** Bounds of one batch. */
export interface BatchLimits {
  /** Uploads merged in one write at most (1: one merge per upload, the unbatched path). */
  maxUploads: number;
  /** Staged (as uploaded) bytes of one batch at most; the upload being handled always goes in. */
  maxBytes: number;
}

/** The worker's default bounds: 64 uploads or 16 MiB as uploaded, whichever comes first. */
export const DEFAULT_BATCH_LIMITS: BatchLimits = { maxUploads: 64, maxBytes: 16 * 1024 * 1024 };

/** Where a batch is merged when it is not the app's `default.pgo` (see the module doc). */
export interface BatchTarget {
  /** The base-like profile written (a retention window's key). */
  key: string;
  /** The app's deletion cut-off (Unix ns), read before the target on every attempt. */
  cutoff(signal?: AbortSignal): Promise<bigint>;
  /** Staging time (Unix ns) of a member, recorded in the target's sample time span. */
  sampleTime(key: string): bigint;
  /** Only members for which this holds are gathered into the batch (the same window). */
  gathers(key: string): boolean;
}

/** What happened to each member of a batch. */
export interface BatchOutcome {
  /** Written into the base by this call, in merge order. */
  merged: string[];
  /** The base had absorbed them already (redelivered events, another worker's batch). */
  alreadyAbsorbed: string[];
  /** Their staged blob was gone (merged and cleaned, rejected or deleted before). */
  missing: string[];
  /** Staged before the app's deletion (or into an expired window): deleted, never merged. */
  dropped: string[];
  /** Why the members were dropped, when not because of a deletion (one line). */
  droppedNote?: string;
  /** Can never be merged, with the reason; still staged (the caller moves them aside). */
  rejected: { key: string; reason: string }[];
  /** Conditional writes that failed before the one that succeeded. */
  conflicts: number;
  /** The base was not canonical and has been normalised by this write. */
  baseNormalized?: boolean;
  /** The base could not be normalised: it was moved here and the batch started a new base. */
  baseSetAside?: SetAsideBase;
}

/**
 * The batch for the staged upload `key` (of `keySize` bytes) of `app`: `key` plus the app's oldest
 * other staged uploads within `limits`, in key (= upload time) order.
 */
export async function gatherBatch(
  store: BlobStore,
  app: string,
  key: string,
  keySize: number,
  limits: BatchLimits,
  signal?: AbortSignal,
  target?: BatchTarget,
): Promise<string[]> {
  const batch = [key];
  if (limits.maxUploads <= 1) return batch;
  let bytes = keySize;
  for await (const info of store.list(stagingPrefix(app), signal)) {
    if (info.key === key || parseStagingKey(info.key)?.app !== app) continue;
    if (target && !target.gathers(info.key)) continue;
    if (batch.length >= limits.maxUploads || bytes + info.size > limits.maxBytes) break;
    // Only uploads that are surely accepted: an idempotent upload joins once its key is claimed
    // for it (a concurrent duplicate about to be deleted, or one not yet claimed, waits for its
    // own event or the sweep).
    if ((await claimOf(store, info.key, signal)) !== "own") continue;
    batch.push(info.key);
    bytes += info.size;
  }
  return batch.sort();
}

/** Staged blobs read in parallel (store round trips dominate small uploads on cloud stores). */
const READ_PARALLELISM = 8;

/** Keeps the absorbed keys whose staging blob still exists (others can never be redelivered usefully). */
async function trimAbsorbed(store: BlobStore, absorbed: string[], signal?: AbortSignal): Promise<string[]> {
  const present = await mapLimit(absorbed, READ_PARALLELISM, async (k) => (await store.stat(k, signal)) !== undefined);
  return absorbed.filter((_, i) => present[i]);
}

/**
 * Merges the staged uploads `keys` of `app` into its base exactly once, in one conditional write
 * (see the module doc). Throws only transient errors (store failures, an unreadable base, a base
 * that kept changing); poison members are reported in the outcome.
 */
export async function mergeBatch(
  deps: MergeDeps,
  app: string,
  keys: string[],
  signal?: AbortSignal,
  target?: BatchTarget,
): Promise<BatchOutcome> {
  const targetKey = target?.key ?? baseKey(app);
  const outcome: BatchOutcome = {
    merged: [],
    alreadyAbsorbed: [],
    missing: [],
    dropped: [],
    rejected: [],
    conflicts: 0,
  };
  const poison = new Map<string, string>(); // the upload's own fault: the same verdict on every attempt
  let pending = [...new Set(keys)].sort();
  for (const key of pending) {
    if (parseStagingKey(key)?.app !== app) poison.set(key, `profile key "${key}" is not a staging key of app "${app}"`);
  }
  const maxConflicts = deps.maxConflicts ?? 100;
  const jobs = deps.jobs ?? IN_THREAD_JOBS;
  let setAside: (SetAsideBase & { version: string }) | undefined;
  for (let attempt = 0;; attempt++) {
    signal?.throwIfAborted();
    if (attempt >= 2 * maxConflicts) {
      throw new Error(`merging ${pending.length} uploads: base ${targetKey} kept changing, will retry`);
    }
    const cutoff = target ? await target.cutoff(signal) : 0n;
    const base = await loadBaseAt(deps.store, targetKey, signal, jobs, { inflated: true });
    // A window written before the app's deletion holds deleted samples: start it anew.
    const stale = base.data !== undefined && base.state.deletedBefore < cutoff;
    const deletedBefore = cutoff > base.state.deletedBefore ? cutoff : base.state.deletedBefore;
    const absorbed = new Set(base.state.absorbed);
    const candidates: string[] = [];
    for (const key of pending) {
      if (poison.has(key)) continue;
      const nanos = parseStagingKey(key)!.unixNanos;
      if (absorbed.has(key)) outcome.alreadyAbsorbed.push(key);
      else if (nanos !== undefined && nanos <= deletedBefore) {
        await deps.store.delete(key, undefined, signal);
        outcome.dropped.push(key);
      } else candidates.push(key);
    }
    const read = await mapLimit(candidates, READ_PARALLELISM, async (key) => {
      try {
        return { key, data: (await deps.store.read(key, signal)).data };
      } catch (error) {
        if (error instanceof BlobNotFoundError) return { key, data: undefined };
        throw error;
      }
    });
    const members = read.filter((m): m is { key: string; data: Uint8Array } => m.data !== undefined);
    outcome.missing.push(...read.filter((m) => m.data === undefined).map((m) => m.key));
    pending = members.map((m) => m.key);
    if (members.length === 0) return finish(outcome, poison, []);
    const dropBase = stale || (setAside !== undefined && setAside.version === base.version);
    const kept = base.data === undefined || dropBase
      ? {}
      : { samplesFrom: base.state.samplesFrom, samplesTo: base.state.samplesTo };
    const state: BaseState = {
      absorbed: await trimAbsorbed(deps.store, base.state.absorbed, signal),
      deletedBefore,
      merged: base.data === undefined || dropBase ? 0 : base.state.merged,
      ...kept,
    };
    const result: BatchMergeResult = await jobs.mergeBatch({
      base: dropBase ? undefined : base.raw ?? base.data,
      staged: members.map((m) => m.data),
      keys: pending,
      rules: rulesFor(deps.pruneConfig, app),
      compaction: deps.compaction,
      uploadLimits: deps.uploadLimits,
      noinline: deps.noinline,
      state,
      sampleTimes: target ? pending.map((k) => target.sampleTime(k)) : undefined,
    }, { signal });
    if (result.status === "base-unreadable") {
      throw new Error(`base profile ${targetKey} is unreadable: ${result.message}`);
    }
    if (result.status === "base-unmappable") {
      // Copy the exact version read aside, then start over: the next pass merges without it,
      // conditioned on that same version, so a base changed meanwhile is never overwritten.
      const current = await deps.store.read(targetKey, signal).catch((error) => {
        if (error instanceof BlobNotFoundError) return undefined;
        throw error;
      });
      if (current && current.version === base.version) {
        const movedTo = await setAsideBase(deps.store, app, current.data, current.version, result.message, signal);
        setAside = { version: current.version, movedTo, reason: result.message };
      }
      continue;
    }
    for (const p of result.poison) poison.set(pending[p.index], p.message);
    const unmergeable = result.unmergeable.map((p) => ({
      key: pending[p.index],
      reason: `cannot merge into ${targetKey}: ${p.message}`,
    }));
    if (result.status === "nothing-merged") return finish(outcome, poison, unmergeable);
    try {
      await deps.store.write(
        targetKey,
        result.data,
        base.version ? { ifVersion: base.version } : { ifAbsent: true },
        signal,
      );
    } catch (error) {
      if (!(error instanceof PreconditionFailedError)) throw error;
      if (++outcome.conflicts >= maxConflicts) {
        throw new Error(
          `merging ${pending.length} uploads: base ${targetKey} kept changing (${maxConflicts} conflicts), will retry`,
        );
      }
      await deps.sleep(Math.min(1000, 5 * 2 ** Math.min(outcome.conflicts - 1, 8)) * (0.5 + deps.random()));
      continue;
    }
    outcome.merged = result.merged.map((i) => pending[i]);
    if (result.baseNormalized) outcome.baseNormalized = true;
    if (dropBase && !stale) outcome.baseSetAside = { movedTo: setAside!.movedTo, reason: setAside!.reason };
    logBase(app, targetKey, outcome);
    return finish(outcome, poison, unmergeable);
  }
}

function finish(
  outcome: BatchOutcome,
  poison: Map<string, string>,
  unmergeable: { key: string; reason: string }[],
): BatchOutcome {
  outcome.rejected = [...[...poison].map(([key, reason]) => ({ key, reason })), ...unmergeable];
  return outcome;
}

function logBase(app: string, target: string, outcome: BatchOutcome): void {
  const uploads = outcome.merged.length;
  if (outcome.baseNormalized) {
    log.info("normalised base {base} of app {app} to samples/count, cpu/nanoseconds while merging {uploads} uploads", {
      base: target,
      app,
      uploads,
    });
  }
  if (outcome.baseSetAside) {
    log.error(
      "base {base} of app {app} cannot be normalised ({reason}): moved to {movedTo}, {uploads} uploads start a new base",
      { base: target, app, uploads, reason: outcome.baseSetAside.reason, movedTo: outcome.baseSetAside.movedTo },
    );
  }
}
