/**
 * What the web page shows about the merged profiles, computed from the blob store: the list of
 * apps with their upload counts, and per app the `inspect` summary, the `explain` report and the
 * flame graph.
 *
 * An app's views are computed from one version of its base (decode, summarize, edge map, flame
 * graph) and cached by that version, so reloading a page or opening it from several browsers
 * decodes the base once; a new merge changes the version and the next request recomputes. The
 * list reads only each base's comments (`autopgo.merged=<n>` and, for a base rebuilt from
 * retention windows, the window range: base_state.ts), through `jobs` (the server's decode pool),
 * and caches them by version too.
 *
 * Cost: the per-app computation (app_views.ts) runs as a job of `jobs`, in the server's decode
 * pool: on the thread that serves HTTP, the views of a 20 MiB `--compaction none` base held every
 * other request for a second, once per version. Stored bases are compacted to what PGO reads by
 * default (a few hundred KB), which takes milliseconds.
 *
 * @module
 */

import type { BlobStore } from "../blob.ts";
import { baseKey } from "../pipeline/keys.ts";
import { type WindowRange, windowRangeOf } from "../pipeline/window_view.ts";
import { IN_THREAD_JOBS, type ProfileJobs } from "../pipeline/profile_jobs.ts";
import { listBases, readBase } from "../pipeline/profiles_view.ts";
import { singleFlightByKey } from "../single_flight.ts";
import { ProfileError } from "../pprof/errors.ts";
import type { AppListEntry, ViewsJson } from "./app_views.ts";

export type { AppListEntry, AppReport, ViewsJson } from "./app_views.ts";

/** The views of one version of an app's base. */
export interface AppViews {
  version: string;
  /**
   * The report and the flame graph as JSON bytes, serialised once per version: every request for
   * them shares these bytes (no serialisation, no copy per request; the routes stream them).
   */
  json: ViewsJson;
}

/** Options of {@link ProfileViews}. */
export interface ProfileViewsOptions {
  /** Where the list's comment reads run (default: this thread). */
  jobs?: ProfileJobs;
  /** Apps whose views are kept (default 8, least recently used dropped first). */
  cachedApps?: number;
}

/** How long a shared read and computation of one app's views may take (each request waits at most until its own deadline). */
const VIEWS_TIMEOUT_MS = 120_000;

/**
 * The views of every app's merged profile, cached by base version; requests that miss the cache
 * for the same app at once share one read and one computation.
 */
export class ProfileViews {
  readonly #store: BlobStore;
  readonly #jobs: ProfileJobs;
  readonly #cachedApps: number;
  readonly #views = new Map<string, { version: string; views: Promise<AppViews> }>();
  readonly #counts = new Map<string, { version: string; merged: number | null; windows: WindowRange | null }>();

  /** Reads bases from `store`. */
  constructor(store: BlobStore, opts: ProfileViewsOptions = {}) {
    this.#store = store;
    this.#jobs = opts.jobs ?? IN_THREAD_JOBS;
    this.#cachedApps = Math.max(1, opts.cachedApps ?? 8);
  }

  /** The views of `app`'s current base; undefined when it has none (or was deleted). */
  async get(app: string, signal?: AbortSignal): Promise<AppViews | undefined> {
    const info = await this.#store.stat(baseKey(app), signal);
    const cached = this.#views.get(app);
    if (info && cached && cached.version === info.version) {
      this.#views.delete(app);
      this.#views.set(app, cached); // most recently used last
      return await cached.views;
    }
    return await this.#load(app, signal);
  }

  /** Reads the current base of an app and computes its views; concurrent misses of one app share it. */
  readonly #load = singleFlightByKey(async (app: string, signal: AbortSignal): Promise<AppViews | undefined> => {
    const object = await readBase(this.#store, app, signal);
    if (!object) {
      this.#views.delete(app);
      return undefined;
    }
    const views = this.#jobs.views(app, object.data, object.modified.getTime(), { signal }).then(({ result }) => {
      if (result.status !== "ok") throw new ProfileError(result.kind, result.message);
      return { version: object.version, json: result.json };
    });
    this.#views.delete(app);
    this.#views.set(app, { version: object.version, views });
    views.catch(() => this.#views.get(app)?.views === views && this.#views.delete(app));
    while (this.#views.size > this.#cachedApps) this.#views.delete(this.#views.keys().next().value!);
    return await views;
  }, VIEWS_TIMEOUT_MS);

  /** Every app with a merged profile, sorted by name, with its upload count. */
  async list(signal?: AbortSignal): Promise<AppListEntry[]> {
    const bases = await listBases(this.#store, signal);
    const out: AppListEntry[] = [];
    for (const base of bases) {
      const { merged, windows } = await this.#mergedCount(base.key, signal);
      out.push({ app: base.key, bytes: base.size, lastModified: base.lastModified, uploadsMerged: merged, windows });
    }
    for (const app of this.#counts.keys()) if (!bases.some((b) => b.key === app)) this.#counts.delete(app);
    return out;
  }

  async #mergedCount(
    app: string,
    signal?: AbortSignal,
  ): Promise<{ merged: number | null; windows: WindowRange | null }> {
    const info = await this.#store.stat(baseKey(app), signal);
    const cached = this.#counts.get(app);
    if (info && cached?.version === info.version) return cached;
    const object = await readBase(this.#store, app, signal);
    if (!object) return { merged: null, windows: null };
    const { result } = await this.#jobs.baseState(object.data, { signal });
    const merged = result.status === "ok" ? result.state.merged ?? null : null;
    const windows = result.status === "ok" ? windowRangeOf(result.state) ?? null : null;
    const entry = { version: object.version, merged, windows };
    this.#counts.set(app, entry);
    return entry;
  }
}
