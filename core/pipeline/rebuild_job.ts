/**
 * The CPU part of rebuilding `default.pgo` from retention windows (window_rebuild.ts, issue 14) as
 * one profile job (profile_jobs.ts), so it runs in the decode pool like merges do and never blocks
 * the thread that serves HTTP (the server's embedded worker).
 *
 * In: the encoded windows inside the retention (oldest first), their start times and decay
 * weights, the deletion cut-off, the worker's settings and the no-inline guards. The job inflates
 * every window, reads its comments and sums each value column without decoding it, picks the
 * integer factors (core/pprof/decay.ts: windows too light to keep values exact are left out),
 * applies the guards to windows that record other ones, multiplies every sample value by its
 * window's factor, merges everything with the fused merger and writes the bookkeeping (window
 * coverage, upload count, sample time span, guards). Out: the encoded `default.pgo` and which
 * windows it holds. Only windows whose functions the guards rename are decoded into objects; the
 * others go to the fused merger as stored, which multiplies their values by the factor as it
 * merges them.
 *
 * @module
 */

import { decodeComments } from "../pprof/comments.ts";
import { decayFactors } from "../pprof/decay.ts";
import { decodeProfile } from "../pprof/decode.ts";
import { encodeUncompressed } from "../pprof/encode.ts";
import { ProfileError } from "../pprof/errors.ts";
import { EncodedProfileMerger } from "../pprof/fast_merge.ts";
import { rawProfileBytes } from "../pprof/inflate.ts";
import { DEFAULT_DECODE_LIMITS } from "../pprof/limits.ts";
import {
  applyNoInlineGuards,
  type NoInlineGuards,
  recordNoInlineGuards,
  writtenWithGuards,
} from "../pprof/noinline.ts";
import { sampleValueTotals } from "../pprof/sample_count.ts";
import { type BaseState, readBaseState, type WindowCoverage, writeBaseState } from "./base_state.ts";

/** The worker's window settings as recorded in `default.pgo`. */
export type CoverageSettings = Pick<WindowCoverage, "windowSeconds" | "retentionSeconds" | "halfLifeSeconds">;

/** A window as far as the bookkeeping goes. */
export interface WindowFacts {
  /** Start, Unix seconds. */
  start: number;
  state: BaseState;
}

/** Everything a rebuild job needs. */
export interface RebuildJob {
  /** The encoded windows inside the retention, oldest first. */
  windows: Uint8Array[];
  /** Their starts (Unix seconds) and decay weights, parallel to `windows`. */
  starts: number[];
  weights: number[];
  /** The app's deletion cut-off, recorded in the result. */
  cutoff: bigint;
  settings: CoverageSettings;
  /** No-inline guards applied to every window recording other ones, and recorded. */
  noinline?: NoInlineGuards;
}

/** The rebuilt `default.pgo` and which windows (indexes into the job's) it holds or left out. */
export type RebuildResult =
  | { status: "merged"; data: Uint8Array; used: number[]; tooLight: number[] }
  | { status: "unreadable"; index: number; message: string };

/** The bookkeeping of a `default.pgo` made of `used` windows (oldest first) with decay scale `scale`. */
export function rebuiltState(
  used: readonly WindowFacts[],
  cutoff: bigint,
  settings: CoverageSettings,
  scale: number,
): BaseState {
  const coverage: WindowCoverage = {
    first: used[0].start,
    last: used[used.length - 1].start,
    count: used.length,
    windowSeconds: settings.windowSeconds,
    ...(settings.retentionSeconds === undefined ? {} : { retentionSeconds: settings.retentionSeconds }),
    ...(settings.halfLifeSeconds === undefined ? {} : { halfLifeSeconds: settings.halfLifeSeconds }),
    decayScale: scale,
  };
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

/** A window read for a rebuild: its raw bytes, comments and value totals, nothing decoded beyond them. */
interface ScannedWindow {
  raw: Uint8Array;
  comments: string[];
  totals: number[];
}

/** Inflates and scans one window (see {@link ScannedWindow}); throws `ProfileError` for bytes that are no profile. */
function scanWindow(data: Uint8Array): ScannedWindow {
  const raw = rawProfileBytes(data, DEFAULT_DECODE_LIMITS);
  return { raw, comments: decodeComments(raw), totals: sampleValueTotals(raw) };
}

/**
 * Runs a rebuild on this thread (see the module doc). A window that records the current guards
 * (every window, once the guards are settled) goes to the fused merger as it is stored, its values
 * multiplied by its factor there; only the others are decoded, rewritten and encoded again. Throws
 * only on bugs.
 */
export function rebuildBytes(job: RebuildJob): RebuildResult {
  const windows: ScannedWindow[] = [];
  for (const [index, data] of job.windows.entries()) {
    try {
      windows.push(scanWindow(data));
    } catch (error) {
      if (error instanceof ProfileError) return { status: "unreadable", index, message: error.message };
      throw error;
    }
  }
  const { factors, dropped, scale } = decayFactors(
    windows.map((w, i) => ({ weight: job.weights[i], totals: w.totals })),
  );
  const used = windows.map((_, i) => i).filter((i) => factors[i] !== undefined);
  if (used.length === 0) return { status: "unreadable", index: 0, message: "no window to merge" };
  const state = rebuiltState(
    used.map((i) => ({ start: job.starts[i], state: readBaseState(windows[i].comments) })),
    job.cutoff,
    job.settings,
    scale,
  );
  const guards = job.noinline;
  const merger = new EncodedProfileMerger();
  for (const i of [...used, ...dropped]) {
    const { raw, comments } = windows[i], k = factors[i];
    const rewrite = guards !== undefined && !writtenWithGuards(comments, guards);
    try {
      if (k === undefined) {
        decodeProfile(raw); // left out: only checked, as the merge would check it
      } else if (rewrite) {
        merger.add(encodeUncompressed(applyNoInlineGuards(decodeProfile(raw), guards)), { valueFactor: k });
      } else merger.add(raw, { valueFactor: k });
    } catch (error) {
      if (error instanceof ProfileError) return { status: "unreadable", index: i, message: error.message };
      throw error;
    }
  }
  const data = merger.finish({
    comments: (comments) => {
      const written = writeBaseState(comments, state);
      return guards ? recordNoInlineGuards(written, guards) : written;
    },
  });
  return { status: "merged", data, used, tooLight: dropped };
}
