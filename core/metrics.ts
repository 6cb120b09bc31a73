/**
 * What autopgo's long-running components count, as one small interface with no dependency: the
 * portable blob and bus wrappers report through their observer hooks, the HTTP layer through one
 * middleware (core/http/request_metrics.ts), the worker through its dependencies and the scraper
 * through its round reports. `autopgo server`, `worker` and `scrape` back it with prom-client
 * (core/prometheus.ts) and serve `/metrics`; everything else (tests, library use, the CLI
 * utilities) gets {@link NO_METRICS}, so prom-client is never loaded on their path.
 *
 * Every label has a bounded set of values: routes are route patterns (`/api/profile/:app`), never
 * paths; reasons, outcomes and operations are the fixed words listed on each type; app names
 * appear only on the base-profile size, bounded by the apps stored.
 *
 * @module
 */

import type { BlobErrorKind } from "./blob.ts";

/** Why an upload was refused (`autopgo_uploads_rejected_total{reason}`). */
export type UploadRejection =
  | "unauthorized" // 401: missing or wrong bearer token
  | "invalid_request" // 400: bad app name, bad Idempotency-Key, unreadable body
  | "invalid_profile" // 400: not a pprof profile, or one pprof rejects
  | "too_large" // 413: over --max-upload-size
  | "timeout" // 408: the body did not arrive within --request-timeout
  | "not_usable" // 422: decodes, but Go's PGO would not use it
  | "busy" // 503: decode queue full, check deadline, --max-upload-memory held, shutting down
  | "unavailable" // 503: the store did not answer (or not before --request-timeout)
  | "error"; // 5xx: the store failed, or a bug

/** What became of one staged upload in the worker (`autopgo_merges_total{outcome}`). */
export type MergeOutcomeLabel =
  | "merged" // written into the base
  | "duplicate" // the base had absorbed it already (redelivered event)
  | "gone" // the staged upload was no longer there (merged, rejected or deleted before)
  | "dropped" // staged before its app was deleted
  | "rejected" // poison upload, moved to <app>/rejected/
  | "failed"; // transient failure (store, bus): retried later

/** Why the worker dropped an event or an upload as poison (`autopgo_poison_events_total{reason}`). */
export type PoisonReason =
  | "malformed_event" // not an envelope, unknown payload, key outside the app's staging folder
  | "rejected_upload" // the staged upload can never be merged
  | "gave_up" // still failing after the last delivery attempt
  | "unmappable_base"; // a base that could not be normalised, set aside (the upload started a new base)

/**
 * What the worker did with an event whose app was busy (being merged, or resting after a batch)
 * (`autopgo_busy_app_events_total{action}`).
 */
export type BusyAppAction =
  | "kept" // kept by the worker until the app is free (core/pipeline/parked_events.ts)
  | "handed_back"; // nacked with a delay: no room to keep it, or kept too long

/** Outcome of one scraped target (`autopgo_scrape_targets_total{outcome}`). */
export type ScrapeTargetOutcome = "success" | "failure" | "idle";

/** One finished blob operation, as the {@link Bucket} observer reports it. */
export interface BlobReport {
  operation: string;
  outcome: "ok" | BlobErrorKind;
  durationMs: number;
}

/** One finished bus operation, as the {@link Topic} and {@link Subscription} observers report it. */
export interface BusReport {
  /** `send`, `receive`, `ack`, `nack` or `check`. */
  operation: string;
  /** `ok` or the portable error kind. */
  outcome: string;
}

/** One answered HTTP request. */
export interface HttpReport {
  method: string;
  /** The route pattern that answered (`/api/profile/:app`), or `unmatched`. */
  route: string;
  status: number;
  durationMs: number;
}

/** The recorder every component reports to. Implementations must never throw. */
export interface Metrics {
  /** One answered HTTP request (by route and status). */
  httpRequest(report: HttpReport): void;
  /** An upload accepted with 201 (`replayed`: an idempotent retry of an earlier one). */
  uploadAccepted(replayed: boolean): void;
  /** An upload refused, by reason. */
  uploadRejected(reason: UploadRejection): void;
  /** One staged upload handled by the worker; `lagMs` is upload-to-merge time for merged uploads. */
  merge(outcome: MergeOutcomeLabel, durationMs: number, lagMs?: number): void;
  /** An event or upload dropped as poison. */
  poison(reason: PoisonReason): void;
  /** An event of a busy app kept by the worker or handed back to the bus. */
  busyAppEvent(action: BusyAppAction): void;
  /** One scrape round finished. */
  scrapeRound(): void;
  /** One target of a scrape round finished. */
  scrapeTarget(outcome: ScrapeTargetOutcome): void;
  /** One finished blob operation (the Bucket's `observe` hook). */
  blob(report: BlobReport): void;
  /** One finished bus operation (the Topic's and Subscription's `observe` hook). */
  bus(report: BusReport): void;
}

/** A recorder that records nothing: the default everywhere metrics are optional. */
export const NO_METRICS: Metrics = {
  httpRequest() {},
  uploadAccepted() {},
  uploadRejected() {},
  merge() {},
  poison() {},
  busyAppEvent() {},
  scrapeRound() {},
  scrapeTarget() {},
  blob() {},
  bus() {},
};
