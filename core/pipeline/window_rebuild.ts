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
 * The decoding and merging run on this thread.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { BlobNotFoundError, type BlobStore, PreconditionFailedError } from "../blob.ts";
import { decodeComments } from "../pprof/comments.ts";
import { decayFactors, decayWeight } from "../pprof/decay.ts";
import { decodeProfile } from "../pprof/decode.ts";
import { encodeUncompressed } from "../pprof/encode.ts";
import { EncodedProfileMerger } from "../pprof/fast_merge.ts";
import {
  applyNoInlineGuards,
  type NoInlineGuards,
  recordedNoInlineGuards,
  recordNoInlineGuards,
  sameNoInlineGuards,
} from "../pprof/noinline.ts";
import type { Profile } from "../pprof/profile.ts";
import { setAsideBase } from "./app_admin.ts";
import { type BaseState, encodeTombstone, readBaseState, type WindowCoverage, writeBaseState } from "./base_state.ts";
import { baseKey, parseWindowKey, windowKey, windowsPrefix } from "./keys.ts";
import { loadBase } from "./merge_upload.ts";
import type { ProfileJobs } from "./profile_jobs.ts";
import { isExpired, windowAgeMs, type WindowConfig } from "./windows.ts";

const log = getLogger(["autopgo", "worker", "windows"]);

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

interface ReadWindow {
  start: number;
  key: string;
  version: string;
  profile: Profile;
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
  jobs?: ProfileJobs,
  noinline?: NoInlineGuards,
): Promise<RebuildOutcome> {
  for (let conflicts = 0;; conflicts++) {
    signal?.throwIfAborted();
    const base = await loadBase(store, app, signal, jobs);
    const cutoff = base.state.deletedBefore;
    const now = config.clock();
    const expired: number[] = [];
    const stale: ReadWindow[] = [];
    const live: ReadWindow[] = [];
    for await (const info of store.list(windowsPrefix(app), signal)) {
      const parsed = parseWindowKey(info.key);
      if (!parsed || parsed.app !== app) continue;
      if (isExpired(config, parsed.startSeconds, now)) {
        expired.push(parsed.startSeconds);
        continue;
      }
      const window = await readWindow(store, info.key, parsed.startSeconds, signal);
      if (!window) continue;
      (window.state.deletedBefore < cutoff ? stale : live).push(window);
    }
    const weights = live.map((w) =>
      config.halfLifeMs === undefined ? 1 : decayWeight(windowAgeMs(config, w.start, now), config.halfLifeMs)
    );
    const { factors, dropped, scale } = decayFactors(
      live.map((w, i) => ({ weight: weights[i], totals: columnTotals(w.profile) })),
    );
    const used = live.filter((_, i) => factors[i] !== undefined);
    const outcome: RebuildOutcome = {
      kind: "none",
      windows: used.map((w) => w.start),
      expired,
      tooLight: dropped.map((i) => live[i].start),
      stale: stale.map((w) => w.start),
      conflicts,
    };
    let data: Uint8Array | undefined;
    if (used.length > 0) {
      const coverage: WindowCoverage = {
        first: used[0].start,
        last: used[used.length - 1].start,
        count: used.length,
        windowSeconds: config.windowMs / 1000,
        ...(config.retentionMs === undefined ? {} : { retentionSeconds: Math.round(config.retentionMs / 1000) }),
        ...(config.halfLifeMs === undefined ? {} : { halfLifeSeconds: Math.round(config.halfLifeMs / 1000) }),
        decayScale: scale,
      };
      const state = combinedState(used, cutoff, coverage);
      const guarded = !noinline || !base.data ||
        sameNoInlineGuards(recordedNoInlineGuards(decodeComments(base.data)), noinline);
      if (guarded && upToDate(base.state, state, config, expired, stale)) return { ...outcome, kind: "unchanged" };
      const kept = live.map((_, i) => factors[i]).filter((k): k is number => k !== undefined);
      data = mergeScaled(used, kept, state, noinline);
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

async function readWindow(
  store: BlobStore,
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
  let profile: Profile;
  try {
    profile = decodeProfile(object.data);
  } catch (error) {
    throw new Error(`window ${key} is unreadable: ${error instanceof Error ? error.message : error}`);
  }
  return { start, key, version: object.version, profile, state: readBaseState(profile.comments) };
}

/** Sum of the absolute values of each column of `p`. */
function columnTotals(p: Profile): number[] {
  const totals = p.sampleType.map(() => 0);
  for (const s of p.sample) for (const [i, v] of s.value.entries()) totals[i] += Math.abs(v);
  return totals;
}

function combinedState(used: ReadWindow[], cutoff: bigint, coverage: WindowCoverage): BaseState {
  const state: BaseState = { absorbed: [], deletedBefore: cutoff, coverage };
  let merged: number | undefined = 0;
  for (const w of used) {
    merged = merged === undefined || w.state.merged === undefined ? undefined : merged + w.state.merged;
    const { samplesFrom: from, samplesTo: to } = w.state;
    if (from !== undefined && (state.samplesFrom === undefined || from < state.samplesFrom)) state.samplesFrom = from;
    if (to !== undefined && (state.samplesTo === undefined || to > state.samplesTo)) state.samplesTo = to;
  }
  return merged === undefined ? state : { ...state, merged };
}

/** Without decay, a default.pgo that covers the same windows with the same upload count needs no rewrite. */
function upToDate(
  current: BaseState,
  next: BaseState,
  config: WindowConfig,
  expired: number[],
  stale: ReadWindow[],
): boolean {
  if (config.halfLifeMs !== undefined || expired.length > 0 || stale.length > 0) return false;
  const a = current.coverage, b = next.coverage!;
  return a !== undefined && a.first === b.first && a.last === b.last && a.count === b.count &&
    a.retentionSeconds === b.retentionSeconds && a.halfLifeSeconds === b.halfLifeSeconds &&
    current.merged !== undefined && current.merged === next.merged && current.samplesTo === next.samplesTo;
}

/** Merges the windows with every sample value multiplied by its window's factor (and `noinline` applied). */
function mergeScaled(
  windows: ReadWindow[],
  factors: number[],
  state: BaseState,
  noinline?: NoInlineGuards,
): Uint8Array {
  const merger = new EncodedProfileMerger();
  for (const [i, w] of windows.entries()) {
    const k = factors[i];
    if (k !== 1) { for (const s of w.profile.sample) s.value = s.value.map((v) => v * k); }
    merger.add(encodeUncompressed(noinline ? applyNoInlineGuards(w.profile, noinline) : w.profile));
  }
  return merger.finish({
    comments: (comments) => {
      const written = writeBaseState(comments, state);
      return noinline ? recordNoInlineGuards(written, noinline) : written;
    },
  });
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
