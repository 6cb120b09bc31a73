/**
 * Handling of one event by the worker: decode the original envelope, validate the payload,
 * run the action, and decide ack or nack.
 *
 * Poison never stops the worker (spec §8.7, §8.8): a bad envelope, an unknown type, a bad
 * payload (including a `profileKey` outside `<app>/staging/`, §8.21) is logged and acked; an
 * unusable staged upload is moved to `<app>/rejected/` with its reason and acked. Everything
 * else (blob or bus failures) is nacked with exponential backoff from the delivery attempt; after
 * `maxDeliveryAttempts` the message is acked with an error log — a staged upload is then still
 * merged by the reconcile sweep, nothing is lost.
 *
 * Uploads are merged one per write, or in batches with the app's other waiting uploads when
 * `deps.batch` allows more than one (worker_batch.ts, issue 13). With `deps.appLease`, an event
 * of an app that another worker process is merging is handed back with a short delay, not
 * counted as a failure (app_lease.ts).
 *
 * Metrics (`deps.metrics`): every staged upload handled counts once by outcome with its duration,
 * merged uploads report their queue lag (staging-key time to merge), and poison counts by reason.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { appNameProblem } from "../app_name.ts";
import { decodeEnvelope, type Envelope, EventFormatError } from "../events.ts";
import { type MergeOutcomeLabel, type Metrics, NO_METRICS } from "../metrics.ts";
import { deleteApp, deletionCutoff, rejectUpload } from "./app_admin.ts";
import { AppBusyError, type AppLeaseOptions, busyRetryMs, restRetryMs } from "./app_lease.ts";
import { cleanedUploads } from "./cleaned_uploads.ts";
import { rememberTakenUpload } from "./idempotency.ts";
import { baseKey, parseStagingKey } from "./keys.ts";
import type { BatchLimits } from "./merge_batch.ts";
import { loadBase, loadBaseAt, type MergeDeps, mergeUpload, PoisonUploadError } from "./merge_upload.ts";
import type { EventPublisher } from "./publisher.ts";
import { cleanUpMerged, processBatch } from "./worker_batch.ts";
import { type WindowConfig, windowTarget } from "./windows.ts";

/** Dependencies of the event handlers. */
export interface WorkerDeps extends MergeDeps {
  publisher: EventPublisher;
  /** Delivery attempts before a failing message is given up (default 20). */
  maxDeliveryAttempts?: number;
  /** First retry delay in ms (default 500), doubled per attempt up to `retryMaxMs` (default 60 s). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Where merges, queue lag and poison are counted (default: nowhere). */
  metrics?: Metrics;
  /**
   * Merge each upload together with its app's other waiting uploads, within these bounds
   * (worker_batch.ts). Absent, or `maxUploads` 1: one merge per upload.
   */
  batch?: BatchLimits;
  /**
   * Merge an app only while holding its lease in the store (app_lease.ts), so one worker process
   * at a time merges it across the fleet; an event of an app another worker is merging is handed
   * back with a short delay. Batched merges only. Absent: no lease (one process, or a bus with
   * per-app ordering).
   */
  appLease?: AppLeaseOptions;
  /**
   * Keep the merged data in retention windows and build `default.pgo` from them (windows.ts,
   * issue 14). Absent: one growing `default.pgo`, as before.
   */
  windows?: WindowConfig;
}

/** What to do with a message. */
export type Disposition =
  | { action: "ack"; note: string }
  | {
    action: "nack";
    delayMs: number;
    note: string;
    /** The event's app is being merged or rests (app_lease.ts): it may be free in `retryMs`. */
    busy?: { app: string; retryMs: number };
  };

const log = getLogger(["autopgo", "worker"]);

function field(payload: Record<string, unknown>, name: string): string {
  const value = payload[name];
  if (typeof value !== "string") throw new EventFormatError(`payload field "${name}" is not a string`);
  return value;
}

function appOf(payload: Record<string, unknown>): string {
  const app = field(payload, "app");
  const problem = appNameProblem(app);
  if (problem) throw new EventFormatError(`payload field "app": ${problem}`);
  return app;
}

function stagingKeyOf(payload: Record<string, unknown>, app: string): string {
  const key = field(payload, "profileKey");
  if (parseStagingKey(key)?.app !== app) {
    throw new EventFormatError(`payload profileKey "${key}" is not a staging key of app "${app}"`);
  }
  return key;
}

/**
 * Merges one staged upload (from an event or the reconcile sweep), cleans its staging blob and
 * announces `profile.merged`. Poison uploads are moved aside. Returns a one-line note. With
 * `deps.batch`, the app's other waiting uploads are merged in the same write (worker_batch.ts).
 */
export async function processUpload(deps: WorkerDeps, app: string, key: string, signal?: AbortSignal): Promise<string> {
  if (deps.batch && deps.batch.maxUploads > 1) return await processBatch(deps, app, key, deps.batch, signal);
  if (deps.windows) return await processBatch(deps, app, key, { maxUploads: 1, maxBytes: 0 }, signal);
  const metrics = deps.metrics ?? NO_METRICS;
  const started = performance.now();
  let label: MergeOutcomeLabel = "failed";
  try {
    const outcome = await mergeUpload(deps, app, key, signal);
    if (outcome.kind === "merged" || outcome.kind === "already-absorbed") {
      await cleanUpMerged(deps, app, key, signal);
      label = outcome.kind === "merged" ? "merged" : "duplicate";
      if (outcome.kind === "merged" && outcome.baseSetAside) metrics.poison("unmappable_base");
      if (outcome.kind === "merged") {
        log.info("merged {key} into {base} after {conflicts} write conflicts", {
          key,
          base: baseKey(app),
          app,
          conflicts: outcome.conflicts,
          ms: Math.round(performance.now() - started),
        });
      }
      return outcome.kind === "merged"
        ? `merged ${key} into ${baseKey(app)} (${outcome.conflicts} write conflicts)`
        : `${key} was already merged`;
    }
    label = outcome.kind === "staging-missing" ? "gone" : "dropped";
    return outcome.kind === "staging-missing"
      ? `${key} is gone (merged, rejected or deleted before)`
      : `${key} was staged before app "${app}" was deleted: dropped`;
  } catch (error) {
    if (!(error instanceof PoisonUploadError)) throw error;
    const target = await rejectUpload(deps.store, app, key, error.message, signal);
    label = "rejected";
    metrics.poison("rejected_upload");
    log.warn("rejected upload {key}: {reason}", { key, app, reason: error.message, movedTo: target });
    return `rejected ${key}: ${error.message}`;
  } finally {
    metrics.merge(label, performance.now() - started, label === "merged" ? queueLagMs(key) : undefined);
  }
}

/** Time from the upload (the staging key's timestamp) to now, in ms; undefined for foreign keys. */
function queueLagMs(key: string): number | undefined {
  const nanos = parseStagingKey(key)?.unixNanos;
  return nanos === undefined ? undefined : Math.max(0, Date.now() - Number(nanos / 1_000_000n));
}

async function onMerged(deps: WorkerDeps, payload: Record<string, unknown>, signal?: AbortSignal): Promise<string> {
  const app = appOf(payload);
  const key = stagingKeyOf(payload, app);
  field(payload, "mergedKey");
  // Deleted by this process after merging it (cleaned_uploads.ts): gone, without asking the store.
  if (cleanedUploads(deps.store).has(key) || !(await deps.store.stat(key, signal))) {
    return `${key} already cleaned up`;
  }
  const base = await loadBase(deps.store, app, signal, deps.jobs);
  const nanos = parseStagingKey(key)?.unixNanos;
  // With windows, the upload was absorbed by the window of its staging time.
  const window = deps.windows && nanos !== undefined
    ? await loadBaseAt(deps.store, windowTarget(deps.store, app, deps.windows, key).key, signal, deps.jobs)
    : undefined;
  if ((window ?? base).state.absorbed.includes(key) || (nanos !== undefined && nanos <= base.state.deletedBefore)) {
    await rememberTakenUpload(deps.store, key, signal);
    await deps.store.delete(key, undefined, signal);
    return `deleted merged upload ${key}`;
  }
  log.warn("profile.merged for {key}, but {base} has not absorbed it: keeping the staged upload", {
    key,
    base: baseKey(app),
  });
  return `kept ${key}: not absorbed by ${baseKey(app)}`;
}

async function onDeleted(deps: WorkerDeps, envelope: Envelope, signal?: AbortSignal): Promise<string> {
  const app = appOf(envelope.payload as Record<string, unknown>);
  const ms = Date.parse(envelope.timestamp);
  if (Number.isNaN(ms)) {
    throw new EventFormatError(`envelope timestamp ${JSON.stringify(envelope.timestamp)} is not RFC 3339`);
  }
  const cutoff = deletionCutoff(new Date(ms));
  const result = await deleteApp(deps.store, app, cutoff, signal, deps.jobs);
  return `deleted app "${app}" up to ${envelope.timestamp}: ${result.removed} staged/rejected objects removed`;
}

/**
 * Handles one message, given its body or its envelope already decoded (by the worker loop, which
 * reads the publication time first: decoding it again cost each event a second JSON parse); never throws.
 */
export async function handleEvent(
  deps: WorkerDeps,
  event: Uint8Array | Envelope,
  deliveryAttempt: number,
  signal?: AbortSignal,
): Promise<Disposition> {
  let envelope: Envelope | undefined;
  try {
    envelope = event instanceof Uint8Array ? decodeEnvelope(event) : event;
    const payload = envelope.payload as Record<string, unknown>;
    switch (envelope.type) {
      case "profile.uploaded": {
        const app = appOf(payload);
        return { action: "ack", note: await processUpload(deps, app, stagingKeyOf(payload, app), signal) };
      }
      case "profile.merged":
        return { action: "ack", note: await onMerged(deps, payload, signal) };
      case "profile.deleted":
        return { action: "ack", note: await onDeleted(deps, envelope, signal) };
      default:
        return { action: "ack", note: `ignored event type ${JSON.stringify(envelope.type)}` };
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const what = envelope ? `${envelope.type} event ${envelope.id}` : "event";
    if (error instanceof AppBusyError) {
      // Not a failure: the app is being merged, or rests after a batch (app_lease.ts); by the next
      // delivery this upload is merged (acked after one stat) or the app is free.
      const delayMs = error.resting
        ? restRetryMs(error.retryMs, deps.random)
        : busyRetryMs(deliveryAttempt, deps.random);
      return {
        action: "nack",
        delayMs,
        note: `deferred: ${message}`,
        busy: { app: error.app, retryMs: error.resting ? error.retryMs : 0 },
      };
    }
    if (error instanceof EventFormatError) {
      deps.metrics?.poison("malformed_event");
      log.warn("dropping malformed {what}: {reason}", { what, reason: message });
      return { action: "ack", note: `poison: ${message}` };
    }
    const max = deps.maxDeliveryAttempts ?? 20;
    if (deliveryAttempt >= max) {
      deps.metrics?.poison("gave_up");
      log.error("giving up on {what} after {attempts} attempts: {reason}", {
        what,
        attempts: deliveryAttempt,
        reason: message,
      });
      return { action: "ack", note: `gave up: ${message}` };
    }
    const base = deps.retryBaseMs ?? 500;
    const delayMs = Math.min(deps.retryMaxMs ?? 60_000, base * 2 ** Math.max(0, deliveryAttempt - 1));
    log.warn("{what} failed (attempt {attempts}), retrying in {delayMs} ms: {reason}", {
      what,
      attempts: deliveryAttempt,
      delayMs,
      reason: message,
    });
    return { action: "nack", delayMs, note: message };
  }
}
