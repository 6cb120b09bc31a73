/**
 * Idempotent uploads: a client that cannot tell whether its upload was taken (the server died
 * mid-request, the answer was lost) retries with the same `Idempotency-Key` header, and the
 * retry is answered with the original 201 instead of being counted a second time.
 *
 * The proof that an upload with key K was taken lives in the store, in one of three places,
 * and every step leaves at least one of them in place:
 * 1. while staged: its staging key carries a hash of K in its name (`…-<random>k<hash>`), so a
 *    listing of `<app>/staging/` finds it (a crash between staging and answering included);
 * 2. once merged: the worker writes `<app>/idempotency/<hash>` (`{"key": stagingKey}`) before it
 *    deletes the staged blob;
 * 3. once rejected: the worker writes the same record before it moves the blob to
 *    `<app>/rejected/` (a listing of that folder, which an attacker can fill, is not searched).
 * Two concurrent requests with the same key both stage; the record (written only-if-absent by
 * the server after staging) decides the winner and the loser deletes its own unpublished blob.
 * The listing of (1) is needed only when an earlier request may have staged without recording:
 * before staging, the server writes a mark, `<app>/idempotency/<hash>.staging`, and a request
 * finding neither record nor mark lists nothing. Every upload with a key (the CLI and the scraper
 * send one each) used to list the app's whole staging folder: with 6,000 uploads of an app waiting
 * for a worker, the server accepted 14 uploads a second, against about 900 without keys.
 * Records are kept for {@link IDEMPOTENCY_WINDOW_MS}, then the worker's sweep removes them.
 *
 * @module
 */

import { BlobNotFoundError, type BlobStore, PreconditionFailedError } from "../blob.ts";
import { parseStagingKey, stagingPrefix } from "./keys.ts";
import { sha256Hex } from "../hex.ts";

/** The request header (case-insensitive), as in the IETF httpapi draft and Stripe's API. */
export const IDEMPOTENCY_HEADER = "Idempotency-Key";
/** How long a merged upload's key is remembered. */
export const IDEMPOTENCY_WINDOW_MS = 24 * 3600_000;

const HASH_IN_NAME = /k([0-9a-f]{24})$/;

/** Why `value` cannot be an idempotency key (1–255 visible ASCII characters), or undefined. */
export function idempotencyKeyProblem(value: string): string | undefined {
  if (!/^[\x21-\x7e]{1,255}$/.test(value)) {
    return `${IDEMPOTENCY_HEADER} must be 1 to 255 visible ASCII characters`;
  }
  return undefined;
}

/** The 24-hex-digit SHA-256 prefix of an idempotency key, as stored in names. */
export async function idempotencyHash(value: string): Promise<string> {
  return await sha256Hex(value, 12);
}

/** The staging-name suffix of an upload with key hash `hash`. */
export function idempotentSuffix(random: string, hash: string): string {
  return `${random}k${hash}`;
}

/** The key hash a staging (or rejected) name carries, if any. */
export function hashInName(name: string): string | undefined {
  return HASH_IN_NAME.exec(name)?.[1];
}

/** Where the mark that an upload with key hash `hash` is about to be staged lives (module doc). */
export function stagingMarkKey(app: string, hash: string): string {
  return `${app}/idempotency/${hash}.staging`;
}

/** Marks that an upload of `app` with key hash `hash` is about to be staged; resolves once durable. */
export async function markStaging(store: BlobStore, app: string, hash: string, signal?: AbortSignal): Promise<void> {
  await store.write(stagingMarkKey(app, hash), new Uint8Array(0), undefined, signal);
}

/** Where the record of a merged idempotent upload lives. */
export function idempotencyRecordKey(app: string, hash: string): string {
  return `${app}/idempotency/${hash}`;
}

/** Where an earlier upload with the same key stands: staged (its event may need resending) or done. */
export interface EarlierUpload {
  /** The staging key the first request was answered (or would have been answered) with. */
  key: string;
  /** True while the upload still waits in `<app>/staging/`. */
  staged: boolean;
}

/** The staging key a record names; undefined when there is none. Store failures propagate (never "no record"). */
async function readRecord(store: BlobStore, app: string, hash: string, signal?: AbortSignal) {
  let object;
  try {
    object = await store.read(idempotencyRecordKey(app, hash), signal);
  } catch (error) {
    if (error instanceof BlobNotFoundError) return undefined;
    throw error;
  }
  const key = (JSON.parse(new TextDecoder().decode(object.data)) as { key?: unknown }).key;
  return typeof key === "string" ? key : undefined;
}

/**
 * Finds an earlier upload of `app` with key hash `hash`: its record, else among the staged uploads
 * when a request with this key marked that it was about to stage ({@link markStaging}).
 */
export async function findEarlierUpload(
  store: BlobStore,
  app: string,
  hash: string,
  signal?: AbortSignal,
): Promise<EarlierUpload | undefined> {
  const recorded = await readRecord(store, app, hash, signal);
  if (recorded) return { key: recorded, staged: (await store.stat(recorded, signal)) !== undefined };
  // No request with this key got as far as staging: nothing to look for.
  if (!(await store.stat(stagingMarkKey(app, hash), signal))) return undefined;
  for await (const info of store.list(stagingPrefix(app), signal)) {
    if (hashInName(info.key) === hash) return { key: info.key, staged: true };
  }
  return undefined;
}

/**
 * Claims key hash `hash` for the freshly staged `stagingKey`; returns the staging key that owns
 * the claim (another one when a concurrent request with the same key won).
 */
export async function claimIdempotencyKey(
  store: BlobStore,
  app: string,
  hash: string,
  stagingKey: string,
  signal?: AbortSignal,
): Promise<string> {
  const body = new TextEncoder().encode(JSON.stringify({ key: stagingKey }));
  try {
    await store.write(idempotencyRecordKey(app, hash), body, { ifAbsent: true }, signal);
    return stagingKey;
  } catch (error) {
    if (!(error instanceof PreconditionFailedError)) throw error;
    return (await readRecord(store, app, hash, signal)) ?? stagingKey;
  }
}

/**
 * Worker side: before a merged or rejected staged upload is deleted, keep the proof that its key
 * was taken. Written only-if-absent: the server's claim (the same key) may be there already, and a
 * record is never overwritten with another key.
 */
export async function rememberTakenUpload(store: BlobStore, stagingKey: string, signal?: AbortSignal): Promise<void> {
  const parts = parseStagingKey(stagingKey);
  const hash = parts && hashInName(parts.name);
  if (!parts || !hash) return;
  const body = new TextEncoder().encode(JSON.stringify({ key: stagingKey }));
  try {
    await store.write(idempotencyRecordKey(parts.app, hash), body, { ifAbsent: true }, signal);
  } catch (error) {
    if (!(error instanceof PreconditionFailedError)) throw error;
  }
}

/**
 * Whose upload a staged blob is, for the worker: `own` when it carries no idempotency key or its
 * key's record names it; `other` when the record names another staged key (a concurrent duplicate
 * that lost the claim — its request deletes it, and it must never be merged); `unclaimed` when
 * there is no record yet (its request has not claimed, or died before it could: a retry with the
 * same key is answered with this upload, so it may be merged when nothing else will claim it).
 */
export async function claimOf(
  store: BlobStore,
  stagingKey: string,
  signal?: AbortSignal,
): Promise<"own" | "other" | "unclaimed"> {
  const parts = parseStagingKey(stagingKey);
  const hash = parts && hashInName(parts.name);
  if (!parts || !hash) return "own";
  const recorded = await readRecord(store, parts.app, hash, signal);
  if (recorded === undefined) return "unclaimed";
  return recorded === stagingKey ? "own" : "other";
}

/** Deletes the idempotency records of `app` last written before `before`; returns how many. */
export async function expireIdempotencyRecords(
  store: BlobStore,
  app: string,
  before: Date,
  signal?: AbortSignal,
): Promise<number> {
  let removed = 0;
  for await (const info of store.list(`${app}/idempotency/`, signal)) {
    if (info.modified < before && await store.delete(info.key, undefined, signal)) removed++;
  }
  return removed;
}
