/**
 * The bookkeeping of retention windows (window_rebuild.ts) this worker process has read,
 * remembered by key and version, so that a rebuild reads and decodes only the windows that changed.
 *
 * Every merged batch is followed by a rebuild of `default.pgo` from all the app's windows (168 for
 * `--retention 7d`), and deciding whether anything changed needs each window's state (its upload
 * count, sample time span, deletion cut-off): without this memory, one read and one inflation per
 * window per batch, although only the window the batch went into changed. A version names one
 * content of one key (a rewrite gets a new version, and stores whose version is the content's hash
 * give equal versions only to equal bytes), so a state remembered for a listed key and version is
 * exact, never stale. Bounded: the oldest entries are forgotten first.
 *
 * @module
 */

import type { BlobStore } from "../blob.ts";
import type { BaseState } from "./base_state.ts";

/** Window states remembered per store. */
export const WINDOW_STATES_REMEMBERED = 16_384;

/** A bounded map from (window key, version) to the window's state; see the module doc. */
export class WindowStates {
  readonly #states = new Map<string, { version: string; state: BaseState }>();

  /** Remembers at most `limit` windows. */
  constructor(private readonly limit = WINDOW_STATES_REMEMBERED) {}

  /** The state of `key` at `version`, when remembered. */
  get(key: string, version: string): BaseState | undefined {
    const known = this.#states.get(key);
    return known?.version === version ? known.state : undefined;
  }

  /** Remembers the state of `key` at `version` (replacing what was remembered for `key`). */
  set(key: string, version: string, state: BaseState): void {
    this.#states.delete(key);
    this.#states.set(key, { version, state });
    if (this.#states.size > this.limit) this.#states.delete(this.#states.keys().next().value!);
  }
}

const perStore = new WeakMap<BlobStore, WindowStates>();

/** The window states remembered for `store` in this process. */
export function windowStates(store: BlobStore): WindowStates {
  let states = perStore.get(store);
  if (!states) perStore.set(store, states = new WindowStates());
  return states;
}
