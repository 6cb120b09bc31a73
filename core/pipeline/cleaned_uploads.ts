/**
 * Staged uploads this worker process merged and deleted, remembered briefly so that the
 * `profile.merged` event it announced for each of them, which comes back to the workers, is acked
 * without asking the store again; so is a `profile.uploaded` event of such an upload (kept while
 * its app was busy, with the upload merged meanwhile by the batch that made the app busy).
 *
 * Every upload the worker merges is announced with `profile.merged` (the original's consumers
 * expect it), and a worker handling that event checks that the staged upload is gone. Without this
 * memory, that check was one `stat` per upload: on a cloud store one more request (about a fifth
 * of a batched worker's store operations per upload), always answered "gone" when the announcing
 * process handles its own event. Staging keys are unique and written only if absent, so a key this
 * process deleted can never be staged again: remembering it is exact, never stale. Another process's
 * announcements, or an event that outlives the memory, still take the `stat`.
 *
 * @module
 */

import type { BlobStore } from "../blob.ts";

/** Keys remembered per store (the oldest are forgotten first). */
export const CLEANED_UPLOADS_REMEMBERED = 4096;

/** A bounded set of staged keys deleted by this process; see the module doc. */
export class CleanedUploads {
  readonly #keys = new Set<string>();

  /** Remembers at most `limit` keys. */
  constructor(private readonly limit = CLEANED_UPLOADS_REMEMBERED) {}

  /** Records that `key` was deleted after its upload was merged (or found merged). */
  add(key: string): void {
    this.#keys.delete(key);
    this.#keys.add(key);
    if (this.#keys.size > this.limit) this.#keys.delete(this.#keys.values().next().value!);
  }

  /** True when this process deleted `key` (and still remembers it). */
  has(key: string): boolean {
    return this.#keys.has(key);
  }
}

const perStore = new WeakMap<BlobStore, CleanedUploads>();

/** The cleaned uploads remembered for `store` in this process. */
export function cleanedUploads(store: BlobStore): CleanedUploads {
  let cleaned = perStore.get(store);
  if (!cleaned) perStore.set(store, cleaned = new CleanedUploads());
  return cleaned;
}
