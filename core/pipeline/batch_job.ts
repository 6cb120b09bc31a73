/**
 * The batched merge as one profile job (profile_jobs.ts): several staged uploads of one app and its
 * base in, one encoded (and gzipped) base out. The base is inflated, decoded, merged, encoded and
 * gzipped once per batch instead of once per upload, which is what makes ingest cheaper than one
 * merge per upload (issue 13).
 *
 * How: each upload is prepared exactly as a single merge prepares it ({@link prepareProfile}:
 * decode under the upload limits, normalise, PGO check, prune, compact) and re-encoded without
 * gzip; the base and the prepared uploads then go through the fused merger
 * (core/pprof/fast_merge.ts), which merges on the wire format without building the base's object
 * graph, and the bookkeeping comments (base_state.ts) are replaced as the object path replaces
 * them. The result holds exactly the samples of `mergeProfiles([base, ...uploads])`.
 *
 * Contract, per member: an upload that cannot be prepared is `poison` (its own fault, whatever the
 * base); one the merger refuses while adding it (a sum beyond 2^53) is `unmergeable` with this
 * base; either is left out and the rest are merged (a failed member may leave the merger unusable,
 * so the pass restarts without it; members are bounded, so restarts are too). The base decides
 * the rest: unreadable → `base-unreadable` (transient, nothing merged); readable but of other
 * sample types → normalised to the canonical form first (`baseNormalized`), or `base-unmappable`
 * when it cannot be, so the caller can set it aside. Uploads are prepared one at a time and only
 * the merger's tables grow, so memory follows the merged result, not the batch.
 *
 * @module
 */

import { canonicalizeProfile } from "../pprof/canonical.ts";
import { decodeProfile } from "../pprof/decode.ts";
import { encodeUncompressed } from "../pprof/encode.ts";
import { ProfileError } from "../pprof/errors.ts";
import { EncodedProfileMerger } from "../pprof/fast_merge.ts";
import type { DecodeLimits } from "../pprof/limits.ts";
import {
  applyNoInlineGuards,
  type NoInlineGuards,
  recordNoInlineGuards,
  writtenWithGuards,
} from "../pprof/noinline.ts";
import { type BaseState, writeBaseState } from "./base_state.ts";
import { baseGzipLevel, type CompactionMode, prepareProfile } from "./profile_jobs.ts";
import type { PruneRule } from "./prune_config.ts";

/** Everything a batched merge needs. */
export interface BatchMergeJob {
  /** The encoded base profile; undefined when the app has none (or only a tombstone). */
  base?: Uint8Array;
  /** The staged uploads as uploaded, in the order they are merged (oldest first). */
  staged: Uint8Array[];
  /** Their staging keys, recorded as absorbed when merged. */
  keys: string[];
  /** The app's prune rules, applied to each upload in order. */
  rules: PruneRule[];
  compaction: CompactionMode;
  /** Limits for decoding the uploads (the base is decoded with the engine defaults). */
  uploadLimits?: Partial<DecodeLimits>;
  /**
   * No-inline guards applied to every upload, and to the base when it records other guards (it is
   * then decoded, rewritten and re-encoded once); the merged base records them. Undefined: names
   * are left as they are.
   */
  noinline?: NoInlineGuards;
  /**
   * The base's bookkeeping before the batch: absorbed keys still worth keeping, the deletion
   * cut-off, and the upload count (0 for a new base, undefined for an uncounted one).
   */
  state: BaseState;
  /**
   * Staging time (Unix ns) of each member, parallel to `keys`: when given, the written state's
   * `samplesFrom`/`samplesTo` span grows to cover the merged members (retention windows).
   */
  sampleTimes?: bigint[];
}

/** A member of the batch that was left out, with its one-line reason. */
export interface MemberProblem {
  index: number;
  message: string;
}

/**
 * The merged base and which members it holds (`merged`: indexes into `staged`); or no write at all
 * because every member failed; or why the base cannot be used (see the module doc).
 */
export type BatchMergeResult =
  | {
    status: "merged";
    data: Uint8Array;
    merged: number[];
    poison: MemberProblem[];
    unmergeable: MemberProblem[];
    baseNormalized?: boolean;
  }
  | { status: "nothing-merged"; poison: MemberProblem[]; unmergeable: MemberProblem[] }
  | { status: "base-unreadable"; message: string }
  | { status: "base-unmappable"; message: string };

type Pass =
  | { kind: "done"; data?: Uint8Array; merged: number[] }
  | { kind: "base-unreadable"; message: string }
  | { kind: "base-incompatible" }
  | { kind: "base-unguarded" }
  | { kind: "member-failed"; index: number; message: string };

/** Runs the batched merge on this thread (see the module doc). Throws only on bugs outside a member's own merge. */
export function mergeBatchBytes(job: BatchMergeJob): BatchMergeResult {
  const poison = new Map<number, string>();
  const unmergeable = new Map<number, string>();
  let base = job.base;
  let baseNormalized = false;
  let baseGuarded = false;
  for (;;) {
    const pass = mergePass(job, base, poison, unmergeable, baseGuarded);
    if (pass.kind === "base-unreadable") return { status: "base-unreadable", message: pass.message };
    if (pass.kind === "base-unguarded") {
      // The base records other no-inline guards: rewrite it once with the current ones, then merge.
      const guarded = guardBase(base!, job.noinline!);
      if ("message" in guarded) return { status: "base-unreadable", message: guarded.message };
      base = guarded.data;
      baseGuarded = true;
      continue;
    }
    if (pass.kind === "member-failed") {
      unmergeable.set(pass.index, pass.message);
      continue;
    }
    if (pass.kind === "base-incompatible") {
      // Prepared uploads are canonical, so the base is not: normalise it once, then merge again.
      if (baseNormalized) return { status: "base-unmappable", message: "the normalised base still differs in type" };
      const normalized = normalizeBase(base!);
      if ("message" in normalized) return { status: "base-unmappable", message: normalized.message };
      base = normalized.data;
      baseNormalized = true;
      continue;
    }
    const problems = {
      poison: [...poison].map(([index, message]) => ({ index, message })),
      unmergeable: [...unmergeable].map(([index, message]) => ({ index, message })),
    };
    if (!pass.data) return { status: "nothing-merged", ...problems };
    const result = { status: "merged" as const, data: pass.data, merged: pass.merged, ...problems };
    return baseNormalized ? { ...result, baseNormalized } : result;
  }
}

/** One pass of the fused merger over the base and every member not known to fail. */
function mergePass(
  job: BatchMergeJob,
  base: Uint8Array | undefined,
  poison: Map<number, string>,
  unmergeable: Map<number, string>,
  baseGuarded = false,
): Pass {
  const merger = new EncodedProfileMerger();
  if (base) {
    try {
      merger.add(base);
    } catch (error) {
      if (error instanceof ProfileError) return { kind: "base-unreadable", message: error.message };
      throw error;
    }
    const guards = job.noinline;
    if (guards && !baseGuarded && !writtenWithGuards(merger.comments, guards)) {
      return { kind: "base-unguarded" };
    }
  }
  const merged: number[] = [];
  for (const [index, staged] of job.staged.entries()) {
    if (poison.has(index) || unmergeable.has(index)) continue;
    try {
      const prepared = prepareProfile(staged, job.rules, job.compaction, job.uploadLimits, job.noinline);
      if ("poison" in prepared) {
        poison.set(index, prepared.poison);
        continue;
      }
      merger.add(encodeUncompressed(prepared.profile));
    } catch (error) {
      if (!(error instanceof ProfileError)) {
        // A bug met by this one upload: set it aside with the reason rather than fail every
        // batch of its app, which would stop the app's merges for as long as it stays staged.
        return { kind: "member-failed", index, message: `internal error while merging it: ${oneLineError(error)}` };
      }
      if (error.kind === "incompatible" && base && merged.length === 0) return { kind: "base-incompatible" };
      return { kind: "member-failed", index, message: `cannot merge into the base: ${error.message}` };
    }
    merged.push(index);
  }
  if (merged.length === 0) return { kind: "done", merged };
  const state: BaseState = {
    absorbed: [...job.state.absorbed, ...merged.map((i) => job.keys[i])],
    deletedBefore: job.state.deletedBefore,
    merged: job.state.merged === undefined ? undefined : job.state.merged + merged.length,
    ...spanOf(job, merged),
  };
  const guards = job.noinline;
  const data = merger.finish({
    level: baseGzipLevel(job.compaction),
    comments: (comments) => {
      const written = writeBaseState(comments, state);
      return guards ? recordNoInlineGuards(written, guards) : written;
    },
  });
  return { kind: "done", data, merged };
}

/** The state's sample time span widened by the merged members' staging times. */
function spanOf(job: BatchMergeJob, merged: number[]): Pick<BaseState, "samplesFrom" | "samplesTo"> {
  let { samplesFrom: from, samplesTo: to } = job.state;
  for (const i of merged) {
    const t = job.sampleTimes?.[i];
    if (t === undefined) continue;
    if (from === undefined || t < from) from = t;
    if (to === undefined || t > to) to = t;
  }
  return from === undefined || to === undefined ? {} : { samplesFrom: from, samplesTo: to };
}

/** The base with `guards` applied (core/pprof/noinline.ts) and re-encoded, or why it cannot be decoded. */
function guardBase(base: Uint8Array, guards: NoInlineGuards): { data: Uint8Array } | { message: string } {
  try {
    return { data: encodeUncompressed(applyNoInlineGuards(decodeProfile(base), guards)) };
  } catch (error) {
    if (error instanceof ProfileError) return { message: error.message };
    throw error;
  }
}

/** The base normalised to the canonical form and re-encoded, or why it cannot be. */
function normalizeBase(base: Uint8Array): { data: Uint8Array } | { message: string } {
  try {
    const profile = decodeProfile(base);
    canonicalizeProfile(profile);
    return { data: encodeUncompressed(profile) };
  } catch (error) {
    if (error instanceof ProfileError) return { message: error.message };
    throw error;
  }
}

/** `error` as one line for a member's reason. */
function oneLineError(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.replace(/\s+/g, " ").trim().slice(0, 300);
}
