/**
 * The merge step of the worker's batched handling (worker_batch.ts), with or without retention
 * windows (windows.ts, issue 14).
 *
 * Without `deps.windows`: gather the batch and merge it into `default.pgo` (merge_batch.ts).
 *
 * With it: an upload of a window already out of retention is deleted and reported as dropped,
 * never merged. Otherwise the batch (uploads of the same window only) is merged into that window
 * by the same compare-and-swap loop, and `default.pgo` is rebuilt from the windows
 * (window_rebuild.ts) BEFORE the caller cleans any member up, also when every member had been
 * absorbed already: a worker killed between the window write and the rebuild leaves its uploads
 * staged, and their redelivered events (or the sweep) redo the rebuild.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { windowsPrefix } from "./keys.ts";
import { type BatchLimits, type BatchOutcome, gatherBatch, mergeBatch } from "./merge_batch.ts";
import { rebuildDefault } from "./window_rebuild.ts";
import { isExpired, windowTarget } from "./windows.ts";
import type { WorkerDeps } from "./worker_events.ts";

const log = getLogger(["autopgo", "worker", "windows"]);

/** Gathers the batch of the staged upload `key` (`size` bytes) of `app` and merges it (see the module doc). */
export async function mergeStaged(
  deps: WorkerDeps,
  app: string,
  key: string,
  size: number,
  limits: BatchLimits,
  signal?: AbortSignal,
): Promise<BatchOutcome> {
  const windows = deps.windows;
  if (!windows) {
    return await mergeBatch(deps, app, await gatherBatch(deps.store, app, key, size, limits, signal), signal);
  }
  const target = windowTarget(deps.store, app, windows, key, deps.jobs);
  if (isExpired(windows, target.start, windows.clock())) {
    await deps.store.delete(key, undefined, signal);
    log.info("dropped {key}: its window {window} is out of retention", { key, app, window: target.key });
    const droppedNote = `${key} was staged into window ${target.key}, out of retention: dropped`;
    return { merged: [], alreadyAbsorbed: [], missing: [], dropped: [key], droppedNote, rejected: [], conflicts: 0 };
  }
  const keys = await gatherBatch(deps.store, app, key, size, limits, signal, target);
  const outcome = await mergeBatch(deps, app, keys, signal, target);
  if (outcome.merged.length + outcome.alreadyAbsorbed.length > 0) {
    const rebuilt = await rebuildDefault(deps.store, app, windows, signal, deps.jobs, deps.noinline);
    log.debug("rebuilt default.pgo of {app} from {count} windows: {kind}", {
      app,
      count: rebuilt.windows.length,
      kind: rebuilt.kind,
    });
  }
  return outcome;
}

/**
 * Rebuilds `default.pgo` of every app that has windows (the sweep calls it, so decay and expiry
 * advance without uploads). Failures are logged per app; returns how many apps were rebuilt.
 */
export async function rebuildAllApps(deps: WorkerDeps, signal?: AbortSignal): Promise<number> {
  const windows = deps.windows;
  if (!windows) return 0;
  let rebuilt = 0;
  for await (const folder of deps.store.listPrefixes("", signal)) {
    const app = folder.slice(0, -1);
    let any = false;
    for await (const _ of deps.store.list(windowsPrefix(app), signal)) {
      any = true;
      break;
    }
    if (!any) continue;
    try {
      const outcome = await rebuildDefault(deps.store, app, windows, signal, deps.jobs, deps.noinline);
      if (outcome.kind !== "unchanged" && outcome.kind !== "none") rebuilt++;
      if (outcome.expired.length > 0) {
        log.info("sweep: {count} windows of {app} out of retention deleted", { count: outcome.expired.length, app });
      }
    } catch (error) {
      if (signal?.aborted) throw error;
      log.warn("sweep: rebuilding default.pgo of {app} failed, next sweep retries: {error}", {
        app,
        error: String(error),
      });
    }
  }
  return rebuilt;
}
