/**
 * The reconcile sweep: the safety net for lost events (the original orphaned staging blobs
 * forever when an event was lost, spec §8.14). It lists staged uploads older than a grace
 * period and runs them through the same exactly-once merge as `profile.uploaded`: absorbed ones
 * are deleted, unmerged ones merged, poison moved aside. Running it concurrently with event
 * handling is safe (the merge is a compare-and-swap with an absorbed-keys record); the grace
 * period only avoids duplicate work on uploads whose event is still in flight. It also expires
 * idempotency records older than their window (idempotency.ts).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { BlobStore } from "../blob.ts";
import { expireIdempotencyRecords, IDEMPOTENCY_WINDOW_MS } from "./idempotency.ts";
import { parseStagingKey, stagingPrefix } from "./keys.ts";

/** Outcome of one sweep. */
export interface SweepReport {
  /** Staged uploads old enough to be looked at. */
  examined: number;
  /** Uploads whose processing failed (retried on the next sweep). */
  failed: number;
}

const log = getLogger(["autopgo", "worker", "sweep"]);

/**
 * Processes every staged upload last modified more than `graceMs` before `now` with
 * `process(app, key)`. Failures are logged and counted; the sweep carries on.
 */
export async function reconcileStaging(
  store: BlobStore,
  now: Date,
  graceMs: number,
  process: (app: string, key: string) => Promise<string>,
  signal?: AbortSignal,
): Promise<SweepReport> {
  const olderThan = now.getTime() - graceMs;
  const due: { app: string; key: string }[] = [];
  for await (const folder of store.listPrefixes("", signal)) {
    const expired = await expireIdempotencyRecords(
      store,
      folder.slice(0, -1),
      new Date(now.getTime() - IDEMPOTENCY_WINDOW_MS),
      signal,
    );
    if (expired > 0) {
      log.info("sweep: {expired} idempotency records of {app} expired", { expired, app: folder.slice(0, -1) });
    }
    for await (const info of store.list(stagingPrefix(folder.slice(0, -1)), signal)) {
      const parts = parseStagingKey(info.key);
      if (parts && info.modified.getTime() <= olderThan) due.push({ app: parts.app, key: info.key });
    }
  }
  let failed = 0;
  for (const { app, key } of due) {
    if (signal?.aborted) break;
    try {
      const note = await process(app, key);
      // Debug, as for events (worker.ts): a merge already logged its own "merged … (batch of N)" line.
      log.debug("sweep: {note}", { note });
    } catch (error) {
      failed++;
      log.warn("sweep: {key} failed, next sweep retries: {error}", { key, error: String(error) });
    }
  }
  return { examined: due.length, failed };
}
