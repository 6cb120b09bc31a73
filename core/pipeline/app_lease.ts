/**
 * A short per-app lease in the blob store, so that one app's uploads are merged by one worker
 * process at a time across the fleet (issue 13: workers must not shrink ingest).
 *
 * Why: on a bus without per-app ordering (NATS JetStream, SQS standard), the events of one app
 * reach every worker. Without a lease, two workers merge the same app at once: they gather the
 * same waiting uploads, both decode, merge and gzip the base, one compare-and-swap write loses
 * and its work is thrown away, and the batches get smaller, so each upload costs more CPU. The
 * lease gives the per-app ordering that Kafka partitions give, on any bus. `autopgo worker` takes
 * it wherever several processes can take one app's events (cmd/worker.ts `appEventsShared`): every
 * bus but mem:// (one process) and Kafka (one reader per partition). On the file bus, which hands an
 * app's events out one at a time but to any reader, it is taken for its rest: without it, four
 * workers rewrote the base 210–669 times for 1,000 uploads, against 36–39 with it.
 *
 * The lease is an optimisation, never a guarantee: exactly-once merging still rests on the base's
 * compare-and-swap write and its absorbed list (merge_batch.ts). A worker that finds the lease
 * held keeps its event until the app is free, or hands it back to the bus with a short delay
 * ({@link AppBusyError}; parked_events.ts); when it is handled again the upload is merged (its
 * staged blob is gone: acked after one `stat`) or the lease is free. A crashed holder's lease expires after its TTL; a holder that outlives its TTL (a batch
 * slower than the TTL) only risks a lost write race, as without a lease.
 *
 * Rest: after a batch that did not fill up, a holder releases the lease with a rest as long as its
 * batch took, at least {@link MIN_REST_MS} and at most {@link MAX_REST_MS}, during which nobody
 * merges the app, its holder included: an event of the app that arrives meanwhile waits until the
 * rest is over ({@link AppBusyError} with `resting`; the worker keeps it, parked_events.ts), and
 * the uploads it names join one larger batch. Without the rest for the holder, each worker merged
 * the app as soon as it received one of its events: with four workers on NATS JetStream a live
 * load of 1,000 uploads took 237 batch writes where one worker took 24, and ingest shrank
 * (BENCHMARKS.md). With it an app merges at most about twice a second, so the base is read, merged
 * and gzipped about as often whatever the number of workers (one worker, busy with the other
 * apps, merged each app about every half second anyway). A full batch leaves no rest: more uploads
 * are waiting. A lone upload (its app not merged within the last rest) is merged at once: the rest
 * only delays uploads that follow a merge of their app within a second.
 *
 * Layout: `<app>/merge.lease` holds `{"holder": "<id>", "expires": <Unix ms>, "released": bool}`,
 * read, then taken with an only-if-absent write or an only-if-version write over an expired one
 * (or one of its own), and released by an only-if-version write: one read and two small writes
 * per batch. Expiry
 * is judged by the taker's clock: clocks of the worker machines must agree to well within the TTL.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { BlobNotFoundError, type BlobStore, PreconditionFailedError } from "../blob.ts";

/** Lease settings of a worker process. */
export interface AppLeaseOptions {
  /** Names this process in the lease (for logs and debugging). */
  holder: string;
  /** How long a lease lasts unless released (default {@link DEFAULT_APP_LEASE_TTL_MS}). */
  ttlMs?: number;
  /** Milliseconds since the Unix epoch (default `Date.now`). */
  now?: () => number;
}

/** A lease outlives the slowest normal batch by far, and blocks an app this long after a crash. */
export const DEFAULT_APP_LEASE_TTL_MS = 15_000;

/** Key of the lease of `app`. */
export function appLeaseKey(app: string): string {
  return `${app}/merge.lease`;
}

/** The app is being merged, or rests after a batch: handle the event again after `retryMs` or later. */
export class AppBusyError extends Error {
  /** The app whose lease is held. */
  readonly app: string;
  /** The holder named in the lease. */
  readonly holder: string;
  /** Suggested delay before the event is handled again. */
  readonly retryMs: number;
  /** The app rests after a batch (module doc) and is free again in `retryMs`; else it is being merged. */
  readonly resting: boolean;

  /**
   * `retryMs` is how long the caller should wait. Built without a stack trace: it is an answer
   * (the worker keeps the event), thrown for most events of a busy app, not a failure to debug.
   */
  constructor(app: string, holder: string, retryMs: number, resting = false) {
    const stackTraceLimit = Error.stackTraceLimit;
    // The message is computed with the limit at 0; `Error` cannot throw, and the limit is back at once.
    super(
      withoutTrace(
        resting ? `app "${app}" rests after a batch by ${holder}` : `app "${app}" is being merged by ${holder}`,
      ),
    );
    Error.stackTraceLimit = stackTraceLimit;
    this.name = "AppBusyError";
    this.app = app;
    this.holder = holder;
    this.retryMs = retryMs;
    this.resting = resting;
  }
}

/** `message`, with V8's stack-trace limit set to 0 for the error about to be built with it (AppBusyError). */
function withoutTrace(message: string): string {
  Error.stackTraceLimit = 0;
  return message;
}

/** First delay of an event handed back because its app is busy; doubled per delivery up to the cap. */
const BUSY_RETRY_BASE_MS = 100;
const BUSY_RETRY_MAX_MS = 2_000;

/** The delay for an event of a busy app on its `deliveryAttempt`-th delivery (with ±50% jitter). */
export function busyRetryMs(deliveryAttempt: number, random: () => number = Math.random): number {
  const base = Math.min(BUSY_RETRY_MAX_MS, BUSY_RETRY_BASE_MS * 2 ** Math.max(0, Math.min(deliveryAttempt - 1, 10)));
  return Math.round(base * (0.5 + random()));
}

const log = getLogger(["autopgo", "worker", "lease"]);

interface LeaseBody {
  holder: string;
  expires: number;
  /** The holder's batch is done; the app rests until `expires` (only the holder may merge it). */
  released?: boolean;
}

/** The shortest rest after a batch: an app busy with uploads is merged at most this often. */
export const MIN_REST_MS = 500;
/** The longest rest after a batch. */
export const MAX_REST_MS = 1_000;

/** The delay for an event whose app rests for `retryMs` more (+0–25% jitter, so they do not all return at once). */
export function restRetryMs(retryMs: number, random: () => number = Math.random): number {
  return Math.round(Math.max(10, retryMs) * (1 + random() / 4));
}

function leaseBody(body: LeaseBody): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(body));
}

function parseLease(data: Uint8Array): LeaseBody | undefined {
  try {
    const body = JSON.parse(new TextDecoder().decode(data));
    if (typeof body?.holder === "string" && typeof body?.expires === "number") return body;
  } catch { /* unreadable: treated as expired */ }
  return undefined;
}

/**
 * What each holder last learnt about apps whose lease it could not take, per store: until when
 * they are known to be busy. Events of such an app are deferred without reading the store
 * ({@link knownBusy}): in a backlog most events find their app busy, and each of them used to cost
 * a lease read.
 */
const busyApps = new WeakMap<BlobStore, Map<string, { until: number; error: AppBusyError }>>();

/** How long a lease seen held (not resting) counts as busy without reading it again. */
const HELD_MEMO_MS = 100;

/** The memo entries of `holder` for `app` in `store` (one key per holder and app). */
function busyMemo(store: BlobStore, holder: string, app: string) {
  let apps = busyApps.get(store);
  if (!apps) busyApps.set(store, apps = new Map());
  const key = `${holder}\0${app}`;
  return {
    get: () => apps.get(key),
    set: (error: AppBusyError, now: number) =>
      apps.set(key, { until: now + (error.resting ? error.retryMs : Math.min(HELD_MEMO_MS, error.retryMs)), error }),
    forget: () => apps.delete(key),
  };
}

/**
 * The {@link AppBusyError} to hand an event of `app` back with, when this process saw the app's
 * lease held, or the app resting, so recently that it must still be; undefined otherwise (then
 * only the lease in the store can tell).
 */
export function knownBusy(store: BlobStore, app: string, options: AppLeaseOptions): AppBusyError | undefined {
  const now = (options.now ?? Date.now)();
  const memo = busyMemo(store, options.holder, app);
  const known = memo.get();
  if (!known) return undefined;
  if (now >= known.until) {
    memo.forget();
    return undefined;
  }
  const { error } = known;
  return new AppBusyError(app, error.holder, known.until - now, error.resting);
}

/**
 * Runs `fn` holding the lease of `app`, then releases it, with a rest unless `rests(result)` says
 * otherwise (a full batch: more uploads are waiting, so the app is merged again at once). Throws
 * {@link AppBusyError} (without running `fn`) when the lease is held or the app rests; store errors
 * propagate (transient).
 */
export async function withAppLease<T>(
  store: BlobStore,
  app: string,
  options: AppLeaseOptions,
  fn: () => Promise<T>,
  signal?: AbortSignal,
  rests: (result: T) => boolean = () => true,
): Promise<T> {
  const now = options.now ?? Date.now;
  const known = knownBusy(store, app, options);
  if (known) throw known;
  let version: string;
  try {
    version = await takeLease(store, app, options, signal);
  } catch (error) {
    if (error instanceof AppBusyError) busyMemo(store, options.holder, app).set(error, now());
    throw error;
  }
  busyMemo(store, options.holder, app).forget();
  const started = now();
  let rest = 0;
  try {
    const result = await fn();
    // A rest as long as the batch took (MIN_REST_MS to MAX_REST_MS): nobody merges the app
    // meanwhile, so its next uploads gather into one batch (module doc).
    if (rests(result)) rest = Math.min(MAX_REST_MS, Math.max(MIN_REST_MS, now() - started));
    return result;
  } finally {
    const body = leaseBody({ holder: options.holder, expires: now() + rest, released: true });
    await store.write(appLeaseKey(app), body, { ifVersion: version }, signal).catch((error) => {
      // Taken over after it expired, or the store failed: it expires on its own.
      if (!(error instanceof PreconditionFailedError)) {
        log.warn("could not release the merge lease of {app}: {error}", { app, error: String(error) });
      }
    });
  }
}

async function takeLease(store: BlobStore, app: string, options: AppLeaseOptions, signal?: AbortSignal) {
  const now = options.now ?? Date.now;
  const key = appLeaseKey(app);
  const body = () =>
    leaseBody({ holder: options.holder, expires: now() + (options.ttlMs ?? DEFAULT_APP_LEASE_TTL_MS) });
  // Read first: after an app's first batch its lease always exists (released leases stay, with
  // their rest), so this costs one read and one write per batch.
  for (let attempt = 0; attempt < 3; attempt++) {
    let current;
    try {
      current = await store.read(key, signal);
    } catch (error) {
      if (!(error instanceof BlobNotFoundError)) throw error;
    }
    const lease = current && parseLease(current.data);
    const mine = lease?.holder === options.holder; // released by this process, or held by its previous life
    if (lease && lease.expires > now() && (lease.released || !mine)) {
      throw new AppBusyError(app, lease.holder, lease.expires - now(), lease.released === true);
    }
    try {
      const version = await store.write(
        key,
        body(),
        current ? { ifVersion: current.version } : { ifAbsent: true },
        signal,
      );
      if (lease && !mine && !lease.released) {
        log.info("took over the expired merge lease of {app} from {holder}", { app, holder: lease.holder });
      }
      return version;
    } catch (error) {
      if (!(error instanceof PreconditionFailedError)) throw error; // another worker was faster: look again
    }
  }
  throw new AppBusyError(app, "another worker", 0);
}
