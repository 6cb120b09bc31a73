/**
 * Exactly-once merging of one staged upload into its app's base profile.
 *
 * The whole read → merge → write is a compare-and-swap loop on `<app>/default.pgo`: the base
 * is written only-if-version (or only-if-absent when there was none) and the loop starts over
 * on {@link PreconditionFailedError}, so two workers never lose an upload. The base records the
 * staging keys it absorbed in the same write (base_state.ts), so redelivered or duplicated
 * events never count an upload twice.
 *
 * Order matters: the base is read BEFORE the staged upload. Absorbed keys are only trimmed from
 * the base once their staging blob is gone, and staging keys are unique, so a worker that sees
 * a base without key K and then finds K's blob either races a writer (its CAS fails) or K was
 * really never merged.
 *
 * @module
 */

import { BlobNotFoundError, type BlobStore, PreconditionFailedError } from "../blob.ts";
import { compactForPgo } from "../pprof/compact_pgo.ts";
import { decodeProfile } from "../pprof/decode.ts";
import { encodeProfile } from "../pprof/encode.ts";
import { ProfileError } from "../pprof/errors.ts";
import type { DecodeLimits } from "../pprof/limits.ts";
import { compactProfile, mergeProfiles } from "../pprof/merge.ts";
import { checkPgo } from "../pprof/pgo.ts";
import type { Profile } from "../pprof/profile.ts";
import { pruneProfile } from "../pprof/prune.ts";
import { type BaseState, parseTombstone, readBaseState, writeBaseState } from "./base_state.ts";
import { baseKey, parseStagingKey } from "./keys.ts";
import { type PruneConfig, rulesFor } from "./prune_config.ts";

/** How stored bases are kept: `pgo` = compacted to what the Go compiler reads, `none` = full profiles. */
export type CompactionMode = "pgo" | "none";

/** Dependencies of {@link mergeUpload}. */
export interface MergeDeps {
  store: BlobStore;
  pruneConfig: PruneConfig;
  compaction: CompactionMode;
  /** Limits for decoding staged uploads (bases are decoded with the engine defaults). */
  uploadLimits?: Partial<DecodeLimits>;
  sleep: (ms: number) => Promise<void>;
  /** Uniform [0, 1) for retry jitter. */
  random: () => number;
  /** Compare-and-swap attempts before giving up with a transient error (default 100). */
  maxConflicts?: number;
}

/** What happened to a staged upload. */
export type MergeOutcome =
  | { kind: "merged"; conflicts: number }
  | { kind: "already-absorbed" }
  | { kind: "staging-missing" }
  | { kind: "dropped-deleted" };

/** The staged upload can never be merged (corrupt, useless for PGO, incompatible with the base). */
export class PoisonUploadError extends Error {
  /** Creates the error with a one-line reason. */
  constructor(message: string) {
    super(message);
    this.name = "PoisonUploadError";
  }
}

/** A base profile as read for merging. */
export interface LoadedBase {
  /** Version to condition the write on; undefined when no object exists. */
  version?: string;
  /** The decoded base; undefined when absent or a tombstone. */
  profile?: Profile;
  state: BaseState;
}

/** Reads and decodes `<app>/default.pgo` (a tombstone yields its cut-off and no profile). */
export async function loadBase(store: BlobStore, app: string, signal?: AbortSignal): Promise<LoadedBase> {
  let object;
  try {
    object = await store.read(baseKey(app), signal);
  } catch (error) {
    if (error instanceof BlobNotFoundError) return { state: { absorbed: [], deletedBefore: 0n } };
    throw error;
  }
  const cutoff = parseTombstone(object.data);
  if (cutoff !== undefined) return { version: object.version, state: { absorbed: [], deletedBefore: cutoff } };
  let profile: Profile;
  try {
    profile = decodeProfile(object.data);
  } catch (error) {
    // Not the upload's fault: report as a (retried, loudly logged) failure, never as poison.
    throw new Error(`base profile ${baseKey(app)} is unreadable: ${(error as Error).message}`);
  }
  return { version: object.version, profile, state: readBaseState(profile.comments) };
}

/** Decodes, checks, prunes and (optionally) compacts a staged upload; throws {@link PoisonUploadError}. */
export function prepareUpload(
  deps: Pick<MergeDeps, "pruneConfig" | "compaction" | "uploadLimits">,
  app: string,
  data: Uint8Array,
): Profile {
  try {
    let profile = decodeProfile(data, deps.uploadLimits);
    const verdict = checkPgo(profile);
    if (!verdict.usable) throw new PoisonUploadError(`not usable for PGO: ${verdict.reasons.join("; ")}`);
    const rules = rulesFor(deps.pruneConfig, app);
    for (const rule of rules) pruneProfile(profile, rule.drop, rule.keep);
    if (rules.length > 0) profile = compactProfile(profile);
    if (deps.compaction === "pgo") profile = compactForPgo(profile);
    return profile;
  } catch (error) {
    if (error instanceof ProfileError) throw new PoisonUploadError(`invalid profile: ${error.message}`);
    throw error;
  }
}

/** Keeps the absorbed keys whose staging blob still exists (others can never be redelivered usefully). */
async function trimAbsorbed(store: BlobStore, absorbed: string[], signal?: AbortSignal): Promise<string[]> {
  const present = await Promise.all(absorbed.map(async (key) => (await store.stat(key, signal)) !== undefined));
  return absorbed.filter((_, i) => present[i]);
}

/**
 * Merges the staged upload `key` into `app`'s base exactly once. Throws
 * {@link PoisonUploadError} for unusable uploads; any other error is transient (retry later).
 */
export async function mergeUpload(
  deps: MergeDeps,
  app: string,
  key: string,
  signal?: AbortSignal,
): Promise<MergeOutcome> {
  const parts = parseStagingKey(key);
  if (!parts || parts.app !== app) {
    throw new PoisonUploadError(`profile key "${key}" is not a staging key of app "${app}"`);
  }
  const maxConflicts = deps.maxConflicts ?? 100;
  for (let conflicts = 0;; conflicts++) {
    signal?.throwIfAborted();
    const base = await loadBase(deps.store, app, signal);
    if (base.state.absorbed.includes(key)) return { kind: "already-absorbed" };
    if (parts.unixNanos !== undefined && parts.unixNanos <= base.state.deletedBefore) {
      await deps.store.delete(key, undefined, signal);
      return { kind: "dropped-deleted" };
    }
    let staged;
    try {
      staged = await deps.store.read(key, signal);
    } catch (error) {
      if (error instanceof BlobNotFoundError) return { kind: "staging-missing" };
      throw error;
    }
    const upload = prepareUpload(deps, app, staged.data);
    let merged: Profile;
    try {
      merged = base.profile ? mergeProfiles([upload, base.profile]) : compactProfile(upload);
    } catch (error) {
      if (error instanceof ProfileError) {
        throw new PoisonUploadError(`cannot merge into ${baseKey(app)}: ${error.message}`);
      }
      throw error;
    }
    const absorbed = [...await trimAbsorbed(deps.store, base.state.absorbed, signal), key];
    merged.comments = writeBaseState(merged.comments, { absorbed, deletedBefore: base.state.deletedBefore });
    const data = encodeProfile(merged);
    try {
      await deps.store.write(
        baseKey(app),
        data,
        base.version ? { ifVersion: base.version } : { ifAbsent: true },
        signal,
      );
      return { kind: "merged", conflicts };
    } catch (error) {
      if (!(error instanceof PreconditionFailedError)) throw error;
      if (conflicts + 1 >= maxConflicts) {
        throw new Error(`merging ${key}: base ${baseKey(app)} kept changing (${maxConflicts} conflicts), will retry`);
      }
      await deps.sleep(Math.min(1000, 5 * 2 ** Math.min(conflicts, 8)) * (0.5 + deps.random()));
    }
  }
}
