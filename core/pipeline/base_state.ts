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
 * - `autopgo.samples-from=<unixnanos>` / `autopgo.samples-to=<unixnanos>`: staging times of the
 *   oldest and newest upload merged (written with retention windows on, issue 14).
 * - `autopgo.windows=<first>..<last>`, `autopgo.window-count=`, `autopgo.window-seconds=`,
 *   `autopgo.retention-seconds=`, `autopgo.half-life-seconds=`, `autopgo.decay-scale=`: which
 *   retention windows (start times, Unix seconds) a `default.pgo` rebuilt from windows covers,
 *   and how it was weighted (core/pipeline/windows.ts).
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
/** Comment prefixes of the sample time span and the window coverage. */
export const SAMPLES_FROM_COMMENT = "autopgo.samples-from=";
/** See {@link SAMPLES_FROM_COMMENT}. */
export const SAMPLES_TO_COMMENT = "autopgo.samples-to=";
const WINDOWS_COMMENT = "autopgo.windows=";
const COVERAGE_NUMBERS = {
  count: "autopgo.window-count=",
  windowSeconds: "autopgo.window-seconds=",
  retentionSeconds: "autopgo.retention-seconds=",
  halfLifeSeconds: "autopgo.half-life-seconds=",
  decayScale: "autopgo.decay-scale=",
} as const;
const OWN_PREFIXES = [
  ABSORBED_COMMENT,
  DELETED_BEFORE_COMMENT,
  MERGED_COMMENT,
  SAMPLES_FROM_COMMENT,
  SAMPLES_TO_COMMENT,
  WINDOWS_COMMENT,
  ...Object.values(COVERAGE_NUMBERS),
];

/** Which retention windows a rebuilt `default.pgo` covers, and how they were weighted. */
export interface WindowCoverage {
  /** Start of the oldest and newest window merged, Unix seconds. */
  first: number;
  last: number;
  /** Windows merged. */
  count: number;
  /** Window length in seconds. */
  windowSeconds: number;
  /** The retention in seconds; absent: everything is kept. */
  retentionSeconds?: number;
  /** The decay half-life in seconds; absent: no decay. */
  halfLifeSeconds?: number;
  /** The integer factor of the heaviest window (core/pprof/decay.ts); 1 without decay. */
  decayScale?: number;
}

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
  /** Staging times (Unix ns) of the oldest and newest upload merged, when recorded. */
  samplesFrom?: bigint;
  samplesTo?: bigint;
  /** Set on a `default.pgo` rebuilt from retention windows. */
  coverage?: WindowCoverage;
}

/** Extracts the {@link BaseState} from a profile's comments. */
export function readBaseState(comments: readonly string[]): BaseState {
  const absorbed: string[] = [];
  let deletedBefore = 0n;
  let merged: number | undefined;
  const extra: Pick<BaseState, "samplesFrom" | "samplesTo" | "coverage"> = {};
  const numbers: Record<string, number> = {};
  for (const comment of comments) {
    if (comment.startsWith(SAMPLES_FROM_COMMENT)) {
      extra.samplesFrom = parseNanos(comment.slice(SAMPLES_FROM_COMMENT.length));
    }
    if (comment.startsWith(SAMPLES_TO_COMMENT)) extra.samplesTo = parseNanos(comment.slice(SAMPLES_TO_COMMENT.length));
    const range = comment.startsWith(WINDOWS_COMMENT) &&
      /^(\d{1,15})\.\.(\d{1,15})$/.exec(comment.slice(WINDOWS_COMMENT.length));
    if (range) [numbers.first, numbers.last] = [Number(range[1]), Number(range[2])];
    for (const [name, prefix] of Object.entries(COVERAGE_NUMBERS)) {
      if (comment.startsWith(prefix) && /^\d{1,15}$/.test(comment.slice(prefix.length))) {
        numbers[name] = Number(comment.slice(prefix.length));
      }
    }
    if (comment.startsWith(ABSORBED_COMMENT)) absorbed.push(comment.slice(ABSORBED_COMMENT.length));
    else if (comment.startsWith(DELETED_BEFORE_COMMENT)) {
      const value = parseNanos(comment.slice(DELETED_BEFORE_COMMENT.length));
      if (value !== undefined && value > deletedBefore) deletedBefore = value;
    } else if (comment.startsWith(MERGED_COMMENT)) {
      const text = comment.slice(MERGED_COMMENT.length);
      if (/^\d{1,15}$/.test(text)) merged = Math.max(merged ?? 0, Number(text));
    }
  }
  if (numbers.first !== undefined && numbers.count !== undefined && numbers.windowSeconds !== undefined) {
    const { first, last, count, windowSeconds, ...rest } = numbers;
    extra.coverage = { first, last, count, windowSeconds, ...rest };
  }
  for (const name of ["samplesFrom", "samplesTo"] as const) if (extra[name] === undefined) delete extra[name];
  const base: BaseState = merged === undefined ? { absorbed, deletedBefore } : { absorbed, deletedBefore, merged };
  return { ...base, ...extra };
}

/** Returns `comments` with every autopgo bookkeeping comment replaced by `state`. */
export function writeBaseState(comments: readonly string[], state: BaseState): string[] {
  const kept = comments.filter((c) => !OWN_PREFIXES.some((prefix) => c.startsWith(prefix)));
  if (state.deletedBefore > 0n) kept.push(`${DELETED_BEFORE_COMMENT}${state.deletedBefore}`);
  if (state.merged !== undefined) kept.push(`${MERGED_COMMENT}${state.merged}`);
  if (state.samplesFrom !== undefined) kept.push(`${SAMPLES_FROM_COMMENT}${state.samplesFrom}`);
  if (state.samplesTo !== undefined) kept.push(`${SAMPLES_TO_COMMENT}${state.samplesTo}`);
  const coverage = state.coverage;
  if (coverage) {
    kept.push(`${WINDOWS_COMMENT}${coverage.first}..${coverage.last}`);
    for (const [name, prefix] of Object.entries(COVERAGE_NUMBERS)) {
      const value = coverage[name as keyof typeof COVERAGE_NUMBERS];
      if (value !== undefined) kept.push(`${prefix}${value}`);
    }
  }
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
