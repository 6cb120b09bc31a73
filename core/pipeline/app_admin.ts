/**
 * Destructive operations of the worker: moving a poison upload or an unusable base aside, and
 * deleting an app.
 *
 * Deletion semantics (fixes the original's resurrection race, spec §8.3): a `profile.deleted`
 * event carries the time the server accepted the DELETE (the envelope timestamp). Everything
 * staged at or before that instant is dropped; uploads staged after it start a fresh profile.
 * The worker (1) replaces `<app>/default.pgo` with a tombstone recording the cut-off, using a
 * version-checked write — so any merge that read the old base fails its own conditional write
 * and starts over — and (2) deletes staged uploads up to the cut-off and rejected uploads.
 * Merges skip staged keys at or before the cut-off the base (or tombstone) records, so an
 * `profile.uploaded` event processed later never brings deleted data back. Retention windows
 * (windows.ts) written before the deletion are deleted after the staged uploads (only if they still
 * record an older cut-off, so a window started after the deletion is kept); one a racing merge
 * writes anyway records the old cut-off and is ignored by every later merge and rebuild. The
 * server writes the tombstone itself before it answers, and stamps the event with the same instant,
 * so the worker's tombstone for it is a no-op and uploads accepted after the DELETE and merged
 * before its event is handled are kept. Known limit: for a deletion from a server that does not
 * write the tombstone (the original), on a bus without per-app ordering, such an upload is
 * dropped with the old base.
 *
 * @module
 */

import { BlobNotFoundError, type BlobStore, PreconditionFailedError } from "../blob.ts";
import { encodeTombstone } from "./base_state.ts";
import { appPrefix, baseKey, parseStagingKey, parseWindowKey, rejectedKey, rejectedPrefix } from "./keys.ts";
import { loadBase, loadBaseAt } from "./merge_upload.ts";
import type { ProfileJobs } from "./profile_jobs.ts";
import { sha256Hex } from "../hex.ts";
import { rememberTakenUpload } from "./idempotency.ts";

/**
 * Rejected uploads kept per app for inspection; setting one more aside removes the oldest beyond
 * it. Every `GET /api/profile` lists them, so a client that got many uploads rejected must not
 * make that listing grow without bound (2,000 of them cost 72 ms of CPU per request, measured).
 */
export const MAX_REJECTED_UPLOADS = 100;

/**
 * Moves the staged upload `key` of `app` to `<app>/rejected/<name>` plus a `.reason` text object,
 * records its idempotency key as taken (idempotency.ts: a retry is answered with the first 201),
 * and keeps at most {@link MAX_REJECTED_UPLOADS} rejected uploads of the app.
 */
export async function rejectUpload(
  store: BlobStore,
  app: string,
  key: string,
  reason: string,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const parts = parseStagingKey(key);
  if (!parts || parts.app !== app) return undefined;
  let data: Uint8Array;
  try {
    data = (await store.read(key, signal)).data;
  } catch (error) {
    if (error instanceof BlobNotFoundError) return undefined;
    throw error;
  }
  const target = rejectedKey(app, parts.name);
  await store.write(target, data, undefined, signal);
  await store.write(`${target}.reason`, new TextEncoder().encode(`${reason}\n`), undefined, signal);
  await rememberTakenUpload(store, key, signal);
  await store.delete(key, undefined, signal);
  await trimRejectedUploads(store, app, signal);
  return target;
}

/** Deletes the oldest rejected uploads of `app` (and their reasons) beyond {@link MAX_REJECTED_UPLOADS}. */
async function trimRejectedUploads(store: BlobStore, app: string, signal?: AbortSignal): Promise<void> {
  const uploads: { name: string; nanos: bigint }[] = [];
  for await (const info of store.list(rejectedPrefix(app), signal)) {
    const name = info.key.slice(rejectedPrefix(app).length);
    const nanos = parseStagingKey(`${app}/staging/${name}`)?.unixNanos;
    if (nanos !== undefined) uploads.push({ name, nanos }); // not the .reason objects nor set-aside bases
  }
  if (uploads.length <= MAX_REJECTED_UPLOADS) return;
  uploads.sort((a, b) => a.nanos < b.nanos ? -1 : a.nanos > b.nanos ? 1 : a.name < b.name ? -1 : 1);
  for (const { name } of uploads.slice(0, uploads.length - MAX_REJECTED_UPLOADS)) {
    await store.delete(rejectedKey(app, name), undefined, signal);
    await store.delete(`${rejectedKey(app, name)}.reason`, undefined, signal);
  }
}

/** File name prefix, inside `<app>/rejected/`, of a base profile set aside ({@link setAsideBase}). */
export const SET_ASIDE_BASE_PREFIX = "base-";

/**
 * Copies the base `data` of `app` (at store version `version`) to `<app>/rejected/base-<hash>`
 * plus a `.reason` text object, before the caller replaces the base. The name is derived from the
 * version, so repeating the copy for the same version (a retried merge) writes the same objects.
 */
export async function setAsideBase(
  store: BlobStore,
  app: string,
  data: Uint8Array,
  version: string,
  reason: string,
  signal?: AbortSignal,
): Promise<string> {
  const hex = await sha256Hex(version, 8);
  const target = rejectedKey(app, `${SET_ASIDE_BASE_PREFIX}${hex}`);
  await store.write(target, data, undefined, signal);
  await store.write(`${target}.reason`, new TextEncoder().encode(`${reason}\n`), undefined, signal);
  return target;
}

/** Result of {@link deleteApp}. */
export interface DeleteAppResult {
  /** False when a newer deletion had already reset the base. */
  tombstoned: boolean;
  /** Staged, rejected and stale window objects removed. */
  removed: number;
}

/**
 * Replaces `<app>/default.pgo` with a tombstone for `cutoffNanos` by a version-checked write, so
 * the deletion is durable once this resolves (the server calls it before answering a DELETE).
 * Returns false when a deletion with a later cut-off already reset the base. The base's
 * bookkeeping is read by `jobs` (default: on this thread).
 */
export async function tombstoneApp(
  store: BlobStore,
  app: string,
  cutoffNanos: bigint,
  signal?: AbortSignal,
  jobs?: ProfileJobs,
): Promise<boolean> {
  for (let attempt = 0;; attempt++) {
    signal?.throwIfAborted();
    const base = await loadBase(store, app, signal, jobs);
    if (base.state.deletedBefore >= cutoffNanos) return false; // a later deletion already reset this base
    try {
      await store.write(
        baseKey(app),
        encodeTombstone(cutoffNanos),
        base.version ? { ifVersion: base.version } : { ifAbsent: true },
        signal,
      );
      return true;
    } catch (error) {
      if (!(error instanceof PreconditionFailedError) || attempt >= 100) throw error;
    }
  }
}

/** The deletion cut-off for a DELETE accepted at `at`: the end of that millisecond, in Unix ns. */
export function deletionCutoff(at: Date): bigint {
  return BigInt(at.getTime()) * 1_000_000n + 999_999n;
}

/** Deletes everything of `app` staged at or before `cutoffNanos` (Unix ns) and resets its base. */
export async function deleteApp(
  store: BlobStore,
  app: string,
  cutoffNanos: bigint,
  signal?: AbortSignal,
  jobs?: ProfileJobs,
): Promise<DeleteAppResult> {
  const tombstoned = await tombstoneApp(store, app, cutoffNanos, signal, jobs);
  const doomed: string[] = [];
  const windows: string[] = [];
  for await (const info of store.list(appPrefix(app), signal)) {
    if (parseWindowKey(info.key)?.app === app) windows.push(info.key);
    const staged = parseStagingKey(info.key);
    const drop = staged
      ? staged.unixNanos === undefined || staged.unixNanos <= cutoffNanos
      : info.key.startsWith(rejectedPrefix(app));
    if (drop) doomed.push(info.key);
  }
  let removed = 0;
  for (const key of doomed) {
    if (await store.delete(key, undefined, signal)) removed++;
  }
  // Windows last: once the staged uploads are gone, no merge can bring their samples back.
  for (const key of windows) {
    const window = await loadBaseAt(store, key, signal, jobs);
    if (window.version === undefined || window.state.deletedBefore >= cutoffNanos) continue;
    try {
      if (await store.delete(key, { ifVersion: window.version }, signal)) removed++;
    } catch (error) {
      if (!(error instanceof PreconditionFailedError)) throw error; // rewritten meanwhile: ignored as stale
    }
  }
  return { tombstoned, removed };
}
