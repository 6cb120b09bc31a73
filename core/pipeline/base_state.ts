/**
 * Bookkeeping that travels INSIDE the merged base profile, so it changes in the same atomic,
 * version-checked write as the samples it describes:
 *
 * - `autopgo.absorbed=<stagingKey>` pprof comments: staged uploads already merged into this
 *   base. A redelivered or duplicated `profile.uploaded` event for such a key is a no-op, so an
 *   upload is never counted twice. Entries are trimmed once their staging blob is gone (staging
 *   keys are unique and written only-if-absent, so a deleted key can never come back).
 * - `autopgo.deleted-before=<unixnanos>`: the app was deleted; uploads staged at or before that
 *   time must never be merged again (no resurrection by late events).
 * - `autopgo.merged=<n>`: how many uploads the base holds (counted from its first upload; bases
 *   written before this counter existed have none, and keep none).
 *
 * A deletion replaces `<app>/default.pgo` with a tiny plain-text tombstone carrying the same
 * cut-off (a real base is always gzip, so the two cannot be confused). The tombstone, not a
 * missing object, is what concurrent merges see, so their version-checked writes fail.
 *
 * @module
 */

/** Comment prefix recording an absorbed staging key. */
export const ABSORBED_COMMENT = "autopgo.absorbed=";
/** Comment prefix recording the last deletion cut-off. */
export const DELETED_BEFORE_COMMENT = "autopgo.deleted-before=";
/** Comment prefix recording how many uploads were merged into the base. */
export const MERGED_COMMENT = "autopgo.merged=";
/** Tombstones are never larger than this many bytes; larger objects need not be inspected. */
export const TOMBSTONE_MAX_BYTES = 128;

const TOMBSTONE_MAGIC = "autopgo-tombstone deleted-before=";

/** What the base says about its own history. */
export interface BaseState {
  /** Staging keys merged into the base (in the order they were absorbed). */
  absorbed: string[];
  /** Uploads staged at or before this Unix time in nanoseconds are dropped (0n: never deleted). */
  deletedBefore: bigint;
  /** Uploads merged into the base since its first one; undefined when the base predates the counter. */
  merged?: number;
}

/** Extracts the {@link BaseState} from a profile's comments. */
export function readBaseState(comments: readonly string[]): BaseState {
  const absorbed: string[] = [];
  let deletedBefore = 0n;
  let merged: number | undefined;
  for (const comment of comments) {
    if (comment.startsWith(ABSORBED_COMMENT)) absorbed.push(comment.slice(ABSORBED_COMMENT.length));
    else if (comment.startsWith(DELETED_BEFORE_COMMENT)) {
      const value = parseNanos(comment.slice(DELETED_BEFORE_COMMENT.length));
      if (value !== undefined && value > deletedBefore) deletedBefore = value;
    } else if (comment.startsWith(MERGED_COMMENT)) {
      const text = comment.slice(MERGED_COMMENT.length);
      if (/^\d{1,15}$/.test(text)) merged = Math.max(merged ?? 0, Number(text));
    }
  }
  return merged === undefined ? { absorbed, deletedBefore } : { absorbed, deletedBefore, merged };
}

/** Returns `comments` with every autopgo bookkeeping comment replaced by `state`. */
export function writeBaseState(comments: readonly string[], state: BaseState): string[] {
  const kept = comments.filter((c) =>
    !c.startsWith(ABSORBED_COMMENT) && !c.startsWith(DELETED_BEFORE_COMMENT) && !c.startsWith(MERGED_COMMENT)
  );
  if (state.deletedBefore > 0n) kept.push(`${DELETED_BEFORE_COMMENT}${state.deletedBefore}`);
  if (state.merged !== undefined) kept.push(`${MERGED_COMMENT}${state.merged}`);
  for (const key of state.absorbed) kept.push(`${ABSORBED_COMMENT}${key}`);
  return kept;
}

/** Bytes of a tombstone for a deletion with the given cut-off. */
export function encodeTombstone(deletedBefore: bigint): Uint8Array {
  return new TextEncoder().encode(`${TOMBSTONE_MAGIC}${deletedBefore}\n`);
}

/** The cut-off of a tombstone, or undefined when `data` is not one (e.g. a gzip profile). */
export function parseTombstone(data: Uint8Array): bigint | undefined {
  if (data.length > TOMBSTONE_MAX_BYTES) return undefined;
  const text = new TextDecoder().decode(data).trim();
  if (!text.startsWith(TOMBSTONE_MAGIC)) return undefined;
  return parseNanos(text.slice(TOMBSTONE_MAGIC.length));
}

function parseNanos(text: string): bigint | undefined {
  return /^\d{1,20}$/.test(text) ? BigInt(text) : undefined;
}
