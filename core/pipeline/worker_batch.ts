/**
 * The worker's batched handling of a staged upload (issue 13): when `profile.uploaded` (or the
 * sweep) names upload K of app A, merge K together with A's other waiting uploads in one write
 * (merge_batch.ts), then clean up every member as the unbatched path cleans up one: remember an
 * idempotent upload, delete its staged blob, announce `profile.merged`; move poison members to
 * `<app>/rejected/`. The event is acked by the caller only after all of that succeeded; an error
 * anywhere is transient (nack, retry), and a retry finds merged members absorbed and finishes their
 * clean-up.
 *
 * Latency: an upload whose staged blob is already gone (merged by an earlier batch) is answered
 * after one `stat`, without reading the base (an event of an app this process saw busy a moment ago
 * is deferred first, without that `stat`, and answered by it when handled again); a lone upload
 * costs one listing of its app's staging folder more than the unbatched path. Within one process,
 * batches of the same app run one after another (consumers of one app wait instead of merging the
 * same uploads twice); across processes, with `deps.appLease`, a batch runs only under the app's
 * lease in the store and an event of an app that is being merged or rests is deferred
 * (`AppBusyError`, app_lease.ts); the conditional write arbitrates whatever happens, as it does for
 * single merges.
 *
 * Metrics and logs match the unbatched path per upload: each member counts once by outcome
 * (`merged` ones with the batch's duration and their own queue lag) and each merged upload gets its
 * `merged <key> into <base>` line, with the batch size.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { BlobStore } from "../blob.ts";
import { mapLimit } from "../map_limit.ts";
import { type MergeOutcomeLabel, NO_METRICS } from "../metrics.ts";
import { rejectUpload } from "./app_admin.ts";
import { knownBusy, withAppLease } from "./app_lease.ts";
import { cleanedUploads } from "./cleaned_uploads.ts";
import { claimOf, rememberTakenUpload } from "./idempotency.ts";
import { baseKey, parseStagingKey } from "./keys.ts";
import type { BatchLimits, BatchOutcome } from "./merge_batch.ts";
import type { WorkerDeps } from "./worker_events.ts";
import { mergeStaged } from "./worker_windows.ts";

const log = getLogger(["autopgo", "worker"]);

/** Clean-up operations in flight at once (each member: record, delete, publish). */
const CLEANUP_PARALLELISM = 8;

/** Batches running per store and app in this process (see the module doc). */
const running = new WeakMap<BlobStore, Map<string, Promise<unknown>>>();

/** Runs `fn` after every earlier call for the same store and app has settled. */
async function oneAtATime<T>(store: BlobStore, app: string, fn: () => Promise<T>): Promise<T> {
  let apps = running.get(store);
  if (!apps) running.set(store, apps = new Map());
  const current = (apps.get(app) ?? Promise.resolve()).catch(() => {}).then(fn);
  apps.set(app, current);
  try {
    return await current;
  } finally {
    if (apps.get(app) === current) apps.delete(app);
  }
}

/** Time from the upload (the staging key's timestamp) to now, in ms; undefined for foreign keys. */
function queueLagMs(key: string): number | undefined {
  const nanos = parseStagingKey(key)?.unixNanos;
  return nanos === undefined ? undefined : Math.max(0, Date.now() - Number(nanos / 1_000_000n));
}

/**
 * Merges the staged upload `key` of `app` in a batch within `limits` and cleans up every member;
 * returns a one-line note about `key`. Throws only transient errors.
 */
export async function processBatch(
  deps: WorkerDeps,
  app: string,
  key: string,
  limits: BatchLimits,
  signal?: AbortSignal,
): Promise<string> {
  const metrics = deps.metrics ?? NO_METRICS;
  const started = performance.now();
  const gone = () => {
    metrics.merge("gone", performance.now() - started);
    return `${key} is gone (merged, rejected or deleted before)`;
  };
  // Merged and deleted by this process (its batch gathered the upload before this event came back
  // from being kept): gone, without a busy check or a `stat`.
  if (cleanedUploads(deps.store).has(key)) return gone();
  // Seen busy a moment ago by this process: defer the event without asking the store anything
  // (when it is handled again, its upload has usually been merged: then one `stat` answers it).
  const busy = deps.appLease && knownBusy(deps.store, app, deps.appLease);
  if (busy) throw busy;
  // Staging keys are unique and never rewritten: once the blob is gone it was merged, rejected or dropped.
  if (!(await deps.store.stat(key, signal))) return gone();
  return await oneAtATime(deps.store, app, async () => {
    const info = await deps.store.stat(key, signal);
    if (!info) return gone();
    if ((await claimOf(deps.store, key, signal)) === "other") {
      // A duplicate of an idempotent upload that lost the claim: the winner is merged, never this.
      await deps.store.delete(key, undefined, signal);
      metrics.merge("duplicate", performance.now() - started);
      return `${key} is a duplicate of an idempotent upload merged under another key: dropped`;
    }
    const merge = () => mergeAndCleanUp(deps, app, key, info.size, limits, started, signal);
    // After a full batch more uploads are waiting: the app is merged again without a rest.
    const rests = (result: { full: boolean }) => !result.full;
    const { note } = deps.appLease
      ? await withAppLease(deps.store, app, deps.appLease, merge, signal, rests)
      : await merge();
    return note;
  });
}

/**
 * Gathers and merges the batch of `key`, then cleans up every member; see {@link processBatch}.
 * `full`: the batch reached `limits.maxUploads`, so more uploads of the app may be waiting.
 */
async function mergeAndCleanUp(
  deps: WorkerDeps,
  app: string,
  key: string,
  size: number,
  limits: BatchLimits,
  started: number,
  signal?: AbortSignal,
): Promise<{ note: string; full: boolean }> {
  const metrics = deps.metrics ?? NO_METRICS;
  let outcome: BatchOutcome;
  try {
    outcome = await mergeStaged(deps, app, key, size, limits, signal);
  } catch (error) {
    metrics.merge("failed", performance.now() - started);
    throw error;
  }
  const ms = performance.now() - started;
  const count = (keys: string[], label: MergeOutcomeLabel) => {
    for (const k of keys) metrics.merge(label, ms, label === "merged" ? queueLagMs(k) : undefined);
  };
  count(outcome.merged, "merged");
  count(outcome.alreadyAbsorbed, "duplicate");
  count(outcome.missing, "gone");
  count(outcome.dropped, "dropped");
  const batch = outcome.merged.length;
  for (const k of outcome.merged) {
    log.info("merged {key} into {base} after {conflicts} write conflicts (batch of {batch})", {
      key: k,
      base: baseKey(app),
      app,
      conflicts: outcome.conflicts,
      batch,
      ms: Math.round(ms),
    });
  }
  await mapLimit(
    [...outcome.merged, ...outcome.alreadyAbsorbed],
    CLEANUP_PARALLELISM,
    (k) => cleanUpMerged(deps, app, k, signal),
  );
  for (const { key: k, reason } of outcome.rejected) {
    const target = await rejectUpload(deps.store, app, k, reason, signal);
    metrics.merge("rejected", ms);
    metrics.poison("rejected_upload");
    log.warn("rejected upload {key}: {reason}", { key: k, app, reason, movedTo: target });
  }
  const members = outcome.merged.length + outcome.alreadyAbsorbed.length + outcome.rejected.length;
  return { note: noteFor(key, app, outcome), full: members >= limits.maxUploads };
}

/**
 * The clean-up of a staged upload once its base holds it (merged now or absorbed before), batched or
 * not: remember an idempotent upload, delete the staged blob (remembered by this process,
 * cleaned_uploads.ts), announce `profile.merged`.
 */
export async function cleanUpMerged(deps: WorkerDeps, app: string, key: string, signal?: AbortSignal): Promise<void> {
  await rememberTakenUpload(deps.store, key, signal);
  await deps.store.delete(key, undefined, signal);
  cleanedUploads(deps.store).add(key);
  await deps.publisher.publish("profile.merged", { app, profileKey: key, mergedKey: baseKey(app) }, signal);
}

function noteFor(key: string, app: string, outcome: BatchOutcome): string {
  if (outcome.merged.includes(key)) {
    const others = outcome.merged.length - 1;
    return `merged ${key} into ${baseKey(app)} with ${others} other uploads in one write ` +
      `(${outcome.conflicts} write conflicts)`;
  }
  if (outcome.alreadyAbsorbed.includes(key)) return `${key} was already merged`;
  const rejected = outcome.rejected.find((r) => r.key === key);
  if (rejected) return `rejected ${key}: ${rejected.reason}`;
  if (outcome.dropped.includes(key)) {
    return outcome.droppedNote ?? `${key} was staged before app "${app}" was deleted: dropped`;
  }
  return `${key} is gone (merged, rejected or deleted before)`;
}
