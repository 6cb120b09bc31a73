/**
 * Serving `<app>/default.pgo` to many clients at once in bounded memory.
 *
 * A response built from a byte array is copied whole by the HTTP layer for each request and held
 * until the client has read it: twenty clients that asked for a 50 MB profile and did not read it
 * held 1.1 GB (measured on a bare `Deno.serve`). Here every download of the same version of a base
 * shares one buffer: the buffers of recent versions are remembered by app and version (up to
 * `maxBytes`, the least recently used forgotten first), concurrent requests for a version not yet
 * in memory share one read, and the body is streamed from the shared buffer in chunks
 * (download_budget.ts), so a client that reads slowly holds no copy; the buffers held by the
 * responses being sent are bounded there.
 * Each request still asks the store for the base's current version (`stat`): a download is never
 * staler than that.
 *
 * @module
 */

import type { BlobObject, BlobStore } from "../blob.ts";
import { baseKey } from "./keys.ts";
import { readBase } from "./profiles_view.ts";
import { TOMBSTONE_MAX_BYTES } from "./base_state.ts";
import { singleFlightByKey } from "../single_flight.ts";
import { VersionedCache } from "../versioned_cache.ts";

/** Bytes of base versions remembered per server by default. */
export const DEFAULT_BASE_DOWNLOAD_BYTES = 64 * 1024 * 1024;

/** Recent versions of the apps' bases, shared by their downloads; see the module doc. */
export class BaseDownloads {
  readonly #versions: VersionedCache<BlobObject>;
  readonly #read: (app: string, signal?: AbortSignal) => Promise<BlobObject | undefined>;

  /**
   * Serves the bases of `store`, remembering at most `maxBytes` bytes of them; a shared read may
   * take `readTimeoutMs` (each request waits at most until its own deadline).
   */
  constructor(
    private readonly store: BlobStore,
    readTimeoutMs: number,
    maxBytes = DEFAULT_BASE_DOWNLOAD_BYTES,
  ) {
    const versions = this.#versions = new VersionedCache<BlobObject>(Infinity, maxBytes);
    this.#read = singleFlightByKey(async (app, signal) => {
      const object = await readBase(store, app, signal);
      if (object) versions.set(app, object.version, object);
      return object;
    }, readTimeoutMs);
  }

  /**
   * The current base of `app` (its bytes shared with other downloads of the same version);
   * undefined when absent or deleted. `beforeRead(size)` runs before a version not in memory is
   * read from the store, and may refuse it by throwing.
   */
  async current(
    app: string,
    signal?: AbortSignal,
    beforeRead?: (size: number) => void,
  ): Promise<BlobObject | undefined> {
    const info = await this.store.stat(baseKey(app), signal);
    if (!info) return undefined;
    const known = this.#versions.get(app, info.version);
    if (known) return known;
    beforeRead?.(info.size);
    if (info.size <= TOMBSTONE_MAX_BYTES) return await readBase(this.store, app, signal); // a tombstone, or tiny
    return await this.#read(app, signal);
  }
}
