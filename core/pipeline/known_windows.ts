/**
 * Retention windows (window_rebuild.ts) this worker process has read, remembered by key and
 * version, so that a rebuild reads and decodes only the windows that changed.
 *
 * Every merged batch is followed by a rebuild of `default.pgo` from all the app's windows (168 for
 * `--retention 7d`). Deciding whether anything changed needs each window's state (its upload count,
 * sample time span, deletion cut-off), and rewriting `default.pgo` needs each window's bytes:
 * without this memory, one read (on a cloud store, one request) and one inflation per window per
 * batch, although only the window the batch went into changed. A version names one content of one
 * key (a rewrite gets a new version, and stores whose version is the content's hash give equal
 * versions only to equal bytes), so what is remembered for a listed key and version is exact,
 * never stale. Bounded by count and by bytes: the least recently used windows are forgotten first
 * (core/versioned_cache.ts).
 *
 * @module
 */

import type { BlobStore } from "../blob.ts";
import type { BaseState } from "./base_state.ts";
import { VersionedCache } from "../versioned_cache.ts";

/** Windows remembered per store. */
export const WINDOWS_REMEMBERED = 16_384;
/** Bytes of windows (as stored) remembered per store. */
export const WINDOW_BYTES_REMEMBERED = 32 * 1024 * 1024;

/** What is known of a window at one version. */
export interface KnownWindow {
  state: BaseState;
  /** Its bytes as stored. */
  data: Uint8Array;
}

/** A bounded map from (window key, version) to the window's state and bytes; see the module doc. */
export class KnownWindows extends VersionedCache<KnownWindow> {
  /** Remembers at most `limit` windows of at most `maxBytes` bytes in all. */
  constructor(limit = WINDOWS_REMEMBERED, maxBytes = WINDOW_BYTES_REMEMBERED) {
    super(limit, maxBytes);
  }
}

const perStore = new WeakMap<BlobStore, KnownWindows>();

/** The windows remembered for `store` in this process. */
export function knownWindows(store: BlobStore): KnownWindows {
  let known = perStore.get(store);
  if (!known) perStore.set(store, known = new KnownWindows());
  return known;
}
