/**
 * Read-side queries over the blob layout used by the HTTP API: the merged base of one app
 * (hiding deletion tombstones), the list of all merged bases, and per app the uploads (and bases)
 * the worker set aside in `<app>/rejected/`, with the last reason.
 *
 * Listing enumerates apps with the store's delimiter listing (`listPrefixes`) and stats each
 * `<app>/default.pgo`, so staged uploads are never scanned (the original listed the whole
 * bucket on every request, spec §8.23).
 *
 * @module
 */

import { isValidAppName } from "../app_name.ts";
import { type BlobInfo, BlobNotFoundError, type BlobObject, type BlobStore } from "../blob.ts";
import { mapLimit } from "../map_limit.ts";
import { parseTombstone, TOMBSTONE_MAX_BYTES } from "./base_state.ts";
import { SET_ASIDE_BASE_PREFIX } from "./app_admin.ts";
import { appOfBaseKey, baseKey, rejectedPrefix, stagingPrefix } from "./keys.ts";

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
  const folders = await appFolders(store, signal);
  const entries = await mapLimit(folders, LIST_PARALLELISM, async (folder): Promise<ProfileListEntry | undefined> => {
    const info = await store.stat(baseKey(folder.slice(0, -1)), signal);
    const app = info && appOfBaseKey(info.key);
    if (!info || app === undefined) return undefined;
    if (info.size <= TOMBSTONE_MAX_BYTES && !(await readBase(store, app, signal))) return undefined;
    return { key: app, size: info.size, lastModified: info.modified.toISOString() };
  });
  return entries.filter((e) => e !== undefined).sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

/** Apps looked at at once by the listings: on a cloud store each look is a request. */
const LIST_PARALLELISM = 8;

/** The top-level folders of the store (`<app>/`). */
async function appFolders(store: BlobStore, signal?: AbortSignal): Promise<string[]> {
  const folders: string[] = [];
  for await (const folder of store.listPrefixes("", signal)) folders.push(folder);
  return folders;
}

/** One app's set-aside objects, as listed in the `rejected` array of `GET /api/profile`. */
export interface RejectedEntry {
  /** The app name (named like the `profiles` entries' key). */
  key: string;
  /** Uploads the worker set aside (in `<app>/rejected/`). */
  count: number;
  /** Base profiles set aside because they could not be normalised (also in `<app>/rejected/`). */
  bases: number;
  /** The reason recorded for the most recent of them (one line; "" when its `.reason` is missing). */
  lastReason: string;
  /** When the most recent of them was set aside (ISO 8601). */
  lastRejectedAt: string;
}

const REASON_SUFFIX = ".reason";

/** Summarises `<app>/rejected/` of `app`; undefined when nothing was set aside. */
export async function rejectedOf(
  store: BlobStore,
  app: string,
  signal?: AbortSignal,
): Promise<RejectedEntry | undefined> {
  const prefix = rejectedPrefix(app);
  let count = 0, bases = 0;
  let last: BlobInfo | undefined;
  for await (const info of store.list(prefix, signal)) {
    if (info.key.endsWith(REASON_SUFFIX)) continue;
    if (info.key.slice(prefix.length).startsWith(SET_ASIDE_BASE_PREFIX)) bases++;
    else count++;
    const newer = !last || info.modified.getTime() > last.modified.getTime() ||
      (info.modified.getTime() === last.modified.getTime() && info.key > last.key);
    if (newer) last = info;
  }
  if (!last) return undefined;
  let lastReason = "";
  try {
    const text = new TextDecoder().decode((await store.read(`${last.key}${REASON_SUFFIX}`, signal)).data);
    lastReason = text.trim().split("\n")[0];
  } catch (error) {
    if (!(error instanceof BlobNotFoundError)) throw error;
  }
  return { key: app, count, bases, lastReason, lastRejectedAt: last.modified.toISOString() };
}

/** Every app with set-aside uploads or bases, sorted by app name (whether or not it has a base). */
export async function listRejected(store: BlobStore, signal?: AbortSignal): Promise<RejectedEntry[]> {
  const apps = (await appFolders(store, signal)).map((folder) => folder.slice(0, -1)).filter((app) =>
    isValidAppName(app)
  );
  const entries = await mapLimit(apps, LIST_PARALLELISM, (app) => rejectedOf(store, app, signal));
  return entries.filter((e) => e !== undefined).sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}
