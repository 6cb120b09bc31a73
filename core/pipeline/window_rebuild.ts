/**
 * Rebuilds `<app>/default.pgo` from the app's retention windows (windows.ts, issue 14): the merge
 * of every window inside retention, each window's sample values multiplied by its integer decay
 * factor (core/pprof/decay.ts). Downloads stay one read of a ready `default.pgo`; the worker calls
 * this after a window changed and on every sweep (so decay and expiry advance without uploads).
 *
 * Safety, as for merges: `default.pgo` is read first (its version and the deletion cut-off), then
 * the windows, and the result is written only-if-version (only-if-absent), starting over on a
 * conflict. So a deletion's tombstone always wins: a rebuild that read the base before the
 * tombstone fails its write, and one that read the tombstone merges only windows written after the
 * deletion (a window recording an older cut-off is stale, left out and deleted). A rebuild is a
 * pure function of the windows and the clock, so two workers rebuilding at once write the same
 * thing, and a rebuild that a crash cut short is simply redone by the next merge, event or sweep.
 *
 * After a successful write, windows out of retention (and stale ones) are deleted: each only if it
 * is still the version that was read (expired ones unconditionally, since nothing merges into an
 * expired window), and deleting an absent window is a no-op, so concurrent workers may both try.
 * When no window is left, `default.pgo` becomes a tombstone carrying the cut-off (the app lists as
 * having no profile). A `default.pgo` written before windows were switched on (no window
 * coverage) is copied to `<app>/rejected/base-<hash>` before it is first replaced.
 *
 * No-inline guards (core/pprof/noinline.ts), when given, are applied to every window as it is
 * merged, so `default.pgo` follows the current guard list even for windows written under another
 * one, and a `default.pgo` recording other guards is never left as "up to date".
 *
 * The windows' bookkeeping is read through `jobs` (comments only), and each window is remembered
 * with its bytes by key and version (known_windows.ts): a window this process knows at its listed
 * version is not read again, so a rebuild after a batch reads and decodes only the window the batch
 * changed. The decoding, weighting and merging run as one profile job (rebuild_job.ts): in the
 * decode pool when `jobs` is one, so the thread serving HTTP (the server's embedded worker) never
 * waits on a rebuild. Without decay, a `default.pgo` already holding the same windows with the same
 * upload count is left as it is.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { BlobNotFoundError, type BlobStore, PreconditionFailedError } from "../blob.ts";
import { mapLimit } from "../map_limit.ts";
import { decodeComments } from "../pprof/comments.ts";
import { decayWeight } from "../pprof/decay.ts";
import { type NoInlineGuards, writtenWithGuards } from "../pprof/noinline.ts";
import { setAsideBase } from "./app_admin.ts";
import { type BaseState, encodeTombstone } from "./base_state.ts";
import { baseKey, parseWindowKey, windowKey, windowsPrefix } from "./keys.ts";
import { loadBase } from "./merge_upload.ts";
import { IN_THREAD_JOBS, type ProfileJobs } from "./profile_jobs.ts";
import { type CoverageSettings, rebuildBytes, type RebuildJob, rebuiltState } from "./rebuild_job.ts";
import { knownWindows } from "./known_windows.ts";
import { isExpired, windowAgeMs, type WindowConfig } from "./windows.ts";

const log = getLogger(["autopgo", "worker", "windows"]);

/** Windows read at once (on a cloud store each is a request: 168 one after another would take seconds). */
const WINDOW_READ_PARALLELISM = 8;

/** What a rebuild did. */
export interface RebuildOutcome {
  /** `written`: default.pgo replaced; `unchanged`: already up to date; `tombstoned`: no window left. */
  kind: "written" | "unchanged" | "tombstoned" | "none";
  /** Window start times (Unix seconds) merged into default.pgo. */
  windows: number[];
  /** Windows deleted because they fell out of retention. */
  expired: number[];
  /** Windows left out because their decay weight was too small to keep values exact integers. */
  tooLight: number[];
  /** Windows written before the app's last deletion, left out and deleted. */
  stale: number[];
  /** Write conflicts before the write that succeeded. */
  conflicts: number;
}

/** A window read (or known to this process at its listed version: known_windows.ts). */
interface ReadWindow {
  start: number;
  key: string;
  version: string;
  data: Uint8Array;
  state: BaseState;
}

/**
 * Rebuilds `default.pgo` of `app` from its windows (see the module doc), applying `noinline` when
 * given. Throws only transient errors.
 */
export async function rebuildDefault(
  store: BlobStore,
  app: string,
  config: WindowConfig,
  signal?: AbortSignal,
  jobs: ProfileJobs = IN_THREAD_JOBS,
  noinline?: NoInlineGuards,
): Promise<RebuildOutcome> {
  const settings: CoverageSettings = {
    windowSeconds: config.windowMs / 1000,
    ...(config.retentionMs === undefined ? {} : { retentionSeconds: Math.round(config.retentionMs / 1000) }),
    ...(config.halfLifeMs === undefined ? {} : { halfLifeSeconds: Math.round(config.halfLifeMs / 1000) }),
  };
  for (let conflicts = 0;; conflicts++) {
    signal?.throwIfAborted();
    const base = await loadBase(store, app, signal, jobs);
    const cutoff = base.state.deletedBefore;
    const now = config.clock();
    const expired: number[] = [];
    const stale: ReadWindow[] = [];
    const live: ReadWindow[] = [];
    const listed: { start: number; key: string; version: string }[] = [];
    for await (const info of store.list(windowsPrefix(app), signal)) {
      const parsed = parseWindowKey(info.key);
      if (!parsed || parsed.app !== app) continue;
      if (isExpired(config, parsed.startSeconds, now)) expired.push(parsed.startSeconds);
      else listed.push({ start: parsed.startSeconds, key: info.key, version: info.version });
    }
    // A window this process knows at its listed version is not read again.
    const known = knownWindows(store);
    const windows = await mapLimit(listed, WINDOW_READ_PARALLELISM, (w) => {
      const window = known.get(w.key, w.version);
      return window ? Promise.resolve({ ...w, ...window }) : readWindow(store, jobs, w.key, w.start, signal);
    });
    for (const window of windows) {
      if (window) (window.state.deletedBefore < cutoff ? stale : live).push(window);
    }
    const outcome: RebuildOutcome = { kind: "none", windows: [], expired, tooLight: [], stale: [], conflicts };
    outcome.stale = stale.map((w) => w.start);
    let data: Uint8Array | undefined;
    if (live.length > 0) {
      if (config.halfLifeMs === undefined && expired.length === 0 && stale.length === 0 && base.data) {
        const next = rebuiltState(live, cutoff, settings, 1);
        const guarded = !noinline || writtenWithGuards(decodeComments(base.data), noinline);
        if (guarded && upToDate(base.state, next)) {
          return { ...outcome, kind: "unchanged", windows: live.map((w) => w.start) };
        }
      }
      const job: RebuildJob = {
        // Copies: a pool takes the buffers it is given, and these are remembered (known_windows.ts).
        windows: live.map((w) => w.data.slice()),
        starts: live.map((w) => w.start),
        weights: live.map((w) =>
          config.halfLifeMs === undefined ? 1 : decayWeight(windowAgeMs(config, w.start, now), config.halfLifeMs)
        ),
        cutoff,
        settings,
        noinline,
      };
      const result = jobs.rebuild ? await jobs.rebuild(job, { signal }) : rebuildBytes(job);
      if (result.status === "unreadable") {
        throw new Error(`window ${live[result.index]?.key ?? "?"} is unreadable: ${result.message}`);
      }
      data = result.data;
      outcome.windows = result.used.map((i) => live[i].start);
      outcome.tooLight = result.tooLight.map((i) => live[i].start);
    } else if (base.data === undefined) {
      await deleteLeftovers(store, app, expired, stale, signal);
      return outcome; // nothing to merge and nothing to replace (absent or already a tombstone)
    }
    if (base.data && base.state.coverage === undefined && base.version) {
      const movedTo = await setAsideBase(store, app, base.data, base.version, "replaced by retention windows", signal);
      log.warn("base {base} of app {app} predates retention windows: copied to {movedTo}", {
        base: baseKey(app),
        app,
        movedTo,
      });
    }
    try {
      await store.write(
        baseKey(app),
        data ?? encodeTombstone(cutoff),
        base.version ? { ifVersion: base.version } : { ifAbsent: true },
        signal,
      );
    } catch (error) {
      if (!(error instanceof PreconditionFailedError) || conflicts >= 100) throw error;
      continue;
    }
    await deleteLeftovers(store, app, expired, stale, signal);
    if (outcome.tooLight.length > 0) {
      log.warn("windows {windows} of app {app} weigh too little to keep sample values exact: left out", {
        windows: outcome.tooLight.join(","),
        app,
      });
    }
    return { ...outcome, kind: data ? "written" : "tombstoned" };
  }
}

/**
 * Reads a window and its bookkeeping (comments only, through `jobs`, unless known at the version
 * read: known_windows.ts); undefined when it is gone.
 */
async function readWindow(
  store: BlobStore,
  jobs: ProfileJobs,
  key: string,
  start: number,
  signal?: AbortSignal,
): Promise<ReadWindow | undefined> {
  let object;
  try {
    object = await store.read(key, signal);
  } catch (error) {
    if (error instanceof BlobNotFoundError) return undefined;
    throw error;
  }
  const known = knownWindows(store);
  const window = known.get(key, object.version);
  if (window) return { start, key, version: object.version, ...window };
  const { result, data } = await jobs.baseState(object.data, { signal });
  if (result.status === "unreadable") throw new Error(`window ${key} is unreadable: ${result.message}`);
  known.set(key, object.version, { state: result.state, data });
  return { start, key, version: object.version, data, state: result.state };
}

/** A default.pgo that covers the same windows with the same upload count needs no rewrite (no decay). */
function upToDate(current: BaseState, next: BaseState): boolean {
  const a = current.coverage, b = next.coverage!;
  return a !== undefined && a.first === b.first && a.last === b.last && a.count === b.count &&
    a.retentionSeconds === b.retentionSeconds && a.halfLifeSeconds === b.halfLifeSeconds &&
    current.merged !== undefined && current.merged === next.merged && current.samplesTo === next.samplesTo;
}

async function deleteLeftovers(
  store: BlobStore,
  app: string,
  expired: number[],
  stale: ReadWindow[],
  signal?: AbortSignal,
): Promise<void> {
  for (const start of expired) {
    const key = windowKey(app, start);
    if (await store.delete(key, undefined, signal)) log.info("deleted expired window {key}", { key, app });
  }
  for (const w of stale) {
    try {
      await store.delete(w.key, { ifVersion: w.version }, signal);
    } catch (error) {
      if (!(error instanceof PreconditionFailedError)) throw error;
    }
  }
}
