/**
 * Read-side queries over the blob layout used by the HTTP API: the merged base of one app
 * (hiding deletion tombstones) and the list of all merged bases.
 *
 * Listing enumerates apps with the store's delimiter listing (`listPrefixes`) and stats each
 * `<app>/default.pgo`, so staged uploads are never scanned (the original listed the whole
 * bucket on every request, spec §8.23).
 *
 * @module
 */

import { type BlobInfo, BlobNotFoundError, type BlobObject, type BlobStore } from "../blob.ts";
import { parseTombstone, TOMBSTONE_MAX_BYTES } from "./base_state.ts";
import { appOfBaseKey, baseKey, stagingPrefix } from "./keys.ts";

/** One entry of `GET /api/profile` (the original's JSON field names). */
export interface ProfileListEntry {
  /** The app name (the original calls it key). */
  key: string;
  size: number;
  lastModified: string;
}

/** Reads the merged base of `app`; undefined when absent or deleted (tombstone). */
export async function readBase(store: BlobStore, app: string, signal?: AbortSignal): Promise<BlobObject | undefined> {
  try {
    const object = await store.read(baseKey(app), signal);
    return parseTombstone(object.data) === undefined ? object : undefined;
  } catch (error) {
    if (error instanceof BlobNotFoundError) return undefined;
    throw error;
  }
}

/** Metadata of the merged base of `app`; undefined when absent or a tombstone. */
export async function statBase(store: BlobStore, app: string, signal?: AbortSignal): Promise<BlobInfo | undefined> {
  const info = await store.stat(baseKey(app), signal);
  if (info === undefined || info.size > TOMBSTONE_MAX_BYTES) return info;
  return await readBase(store, app, signal) ? info : undefined;
}

/** True when `app` has at least one staged upload. */
export async function hasStagedUploads(store: BlobStore, app: string, signal?: AbortSignal): Promise<boolean> {
  for await (const _ of store.list(stagingPrefix(app), signal)) return true;
  return false;
}

/** Lists every app's merged base (tombstones excluded), sorted by app name. */
export async function listBases(store: BlobStore, signal?: AbortSignal): Promise<ProfileListEntry[]> {
  const infos: BlobInfo[] = [];
  for await (const folder of store.listPrefixes("", signal)) {
    const info = await store.stat(baseKey(folder.slice(0, -1)), signal);
    if (info) infos.push(info);
  }
  const entries: ProfileListEntry[] = [];
  for (const info of infos) {
    const app = appOfBaseKey(info.key);
    if (app === undefined) continue;
    if (info.size <= TOMBSTONE_MAX_BYTES && !(await readBase(store, app, signal))) continue;
    entries.push({ key: app, size: info.size, lastModified: info.modified.toISOString() });
  }
  return entries.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}
