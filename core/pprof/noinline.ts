/**
 * No-inline guards: rename functions in a profile so that Go's PGO matches no call edge into or
 * out of them, without removing a single sample (issue 14; the rename-not-delete approach of
 * datadog-pgo, shared/reference/peers.md §1, written afresh here).
 *
 * Why renaming works. The compiler keys every profile edge by caller name, callee name and call
 * offset (shared/reference/go-pgo.md §2-3), and looks names up among the linker names of the
 * functions it compiles. A guarded function `F` becomes `DO NOT INLINE: F` in every line that
 * refers to it (leaf, caller or inlined frame), a name no Go symbol can have, so:
 * - edges INTO `F` name no compiled callee: `F` never becomes a hot callee, keeps the normal
 *   inline budget (80) instead of PGO's 2000, and is therefore PGO-inlined nowhere (a function
 *   cheap enough to inline without PGO is inlined as before: that is not PGO's decision);
 * - edges OUT OF `F` name no compiled caller: no call site inside `F` is hot, nothing is
 *   PGO-inlined into `F`, no call in `F` is PGO-devirtualized and `F` gets no hot-loop alignment.
 * Everything else is kept: every sample, value and stack, so the total edge weight, the 99% CDF
 * cut and every other edge's weight stay what they were (deleting the samples instead would
 * shift the cut and promote cold edges). Two side effects are inherent in Go's keys and accepted:
 * the call site in `F`'s caller stays hot for any other call on the same line, and edges of equal
 * weight may sort differently at the cut because their names changed.
 *
 * The prefix is the one datadog-pgo writes, so a profile renamed by either tool reads the same.
 * Applying guards is idempotent and follows the guard list exactly: a renamed function whose
 * original name no guard matches any more gets its name back (so dropping a guard undoes it at
 * the next merge). The guards applied are recorded in the profile as one `autopgo.noinline=<regexp>`
 * comment each, which `inspect` and `explain` show, and which tells the worker whether a stored
 * base still has to be rewritten after the guard list changed.
 *
 * @module
 */

import type { Function, Location, Profile, Sample } from "./profile.ts";

/** What a guarded function's name is prefixed with (a space makes it no valid Go symbol). */
export const NOINLINE_PREFIX = "DO NOT INLINE: ";
/** Comment prefix recording one applied guard (its regexp source follows). */
export const NOINLINE_COMMENT = "autopgo.noinline=";

/** One entry of the built-in guard list. */
export interface DefaultNoInlineGuard {
  /** Anchored regexp matching the exact function name. */
  pattern: string;
  /** The Go issue that motivates it. */
  issue: string;
  /** One line: what goes wrong when PGO inlines it. */
  why: string;
}

/**
 * The built-in guard list (on unless the operator opts out):
 * - gRPC's `loopyWriter.processData`: PGO inlining it tripled the stack use of every connection's
 *   writer goroutine (+18% memory in the report), golang/go#65532;
 * - `runtime.gopark`: PGO inlined it into `runtime.ReadTrace`, which then had no preemption point
 *   left and could hang the whole program when tracing stopped during a stop-the-world,
 *   golang/go#74045 (fixed in the runtime since; guarded for toolchains without the fix).
 */
export const DEFAULT_NOINLINE_GUARDS: readonly DefaultNoInlineGuard[] = [
  {
    pattern: String.raw`^google\.golang\.org/grpc/internal/transport\.\(\*loopyWriter\)\.processData$`,
    issue: "golang/go#65532",
    why: "PGO inlining tripled the stack of every gRPC connection's writer goroutine",
  },
  {
    pattern: String.raw`^runtime\.gopark$`,
    issue: "golang/go#74045",
    why: "PGO inlining into runtime.ReadTrace could hang the program when tracing stops",
  },
];

/** One guard: its regexp as written (recorded in profiles) and compiled. */
export interface NoInlinePattern {
  /** The regexp as written; recorded in profiles as `autopgo.noinline=<source>`. */
  readonly source: string;
  /** `source` compiled (no flags). */
  readonly regexp: RegExp;
}

/** The guards to apply: regexps matched (unanchored, as Go's and pprof's) against whole function names. */
export interface NoInlineGuards {
  /** The guards in the order they are recorded: the built-in list first, then the operator's. */
  readonly patterns: readonly NoInlinePattern[];
}

/** No guard at all: applying it restores every renamed function and drops the record. */
export const NO_NOINLINE_GUARDS: NoInlineGuards = { patterns: [] };

/** A guard regexp that does not compile; the message is one line naming it. */
export class NoInlineGuardError extends Error {
  /** The offending regexp source. */
  readonly pattern: string;
  /** Creates the error for `pattern`. */
  constructor(pattern: string, reason: string) {
    super(`no-inline guard ${JSON.stringify(pattern)}: ${reason}`);
    this.name = "NoInlineGuardError";
    this.pattern = pattern;
  }
}

/** Compiles one guard regexp; throws {@link NoInlineGuardError} when it is empty or invalid. */
export function compileNoInlinePattern(source: string): NoInlinePattern {
  if (source === "") throw new NoInlineGuardError(source, "an empty regular expression would guard every function");
  try {
    return { source, regexp: new RegExp(source) };
  } catch (error) {
    throw new NoInlineGuardError(source, `not a valid regular expression: ${(error as Error).message}`);
  }
}

/**
 * The guards from flags: the built-in list first (unless `defaults` is false), then `patterns`,
 * each regexp once. Throws {@link NoInlineGuardError} for a bad regexp.
 *
 * @example
 * ```ts
 * const guards = noInlineGuards({ patterns: [String.raw`^main\.decode$`], defaults: false });
 * guards.patterns.map((p) => p.source); // ["^main\\.decode$"]
 * ```
 */
export function noInlineGuards(opts: { patterns?: readonly string[]; defaults?: boolean } = {}): NoInlineGuards {
  const sources = [
    ...(opts.defaults ?? true ? DEFAULT_NOINLINE_GUARDS.map((g) => g.pattern) : []),
    ...opts.patterns ?? [],
  ];
  return { patterns: [...new Set(sources)].map(compileNoInlinePattern) };
}

/** True for a name a guard renamed. */
export function isGuardedName(name: string): boolean {
  return name.startsWith(NOINLINE_PREFIX);
}

/** The name before any guard renamed it. */
export function unguardedName(name: string): string {
  return isGuardedName(name) ? name.slice(NOINLINE_PREFIX.length) : name;
}

/** The name `name` has under `guards`: prefixed when a guard matches its original name, else the original. */
export function guardedName(name: string, guards: NoInlineGuards): string {
  const original = unguardedName(name);
  return guards.patterns.some((p) => matches(p.regexp, original)) ? NOINLINE_PREFIX + original : original;
}

function matches(re: RegExp, name: string): boolean {
  re.lastIndex = 0; // harmless for plain regexps, needed if a caller passed a global or sticky one
  return re.test(name);
}

/** The guard regexps a profile's comments record as applied, in order. */
export function recordedNoInlineGuards(comments: readonly string[]): string[] {
  return comments.filter((c) => c.startsWith(NOINLINE_COMMENT)).map((c) => c.slice(NOINLINE_COMMENT.length));
}

/** `comments` with the guard record replaced by one `autopgo.noinline=` comment per guard of `guards`. */
export function recordNoInlineGuards(comments: readonly string[], guards: NoInlineGuards): string[] {
  return [
    ...comments.filter((c) => !c.startsWith(NOINLINE_COMMENT)),
    ...guards.patterns.map((p) => NOINLINE_COMMENT + p.source),
  ];
}

/** True when a profile recording `recorded` already has exactly `guards` applied. */
export function sameNoInlineGuards(recorded: readonly string[], guards: NoInlineGuards): boolean {
  return recorded.length === guards.patterns.length && guards.patterns.every((p, i) => p.source === recorded[i]);
}

/** True when a profile whose comments are `comments` was written with exactly `guards` applied. */
export function writtenWithGuards(comments: readonly string[], guards: NoInlineGuards): boolean {
  return sameNoInlineGuards(recordedNoInlineGuards(comments), guards);
}

/**
 * Returns `p` with every function named as {@link guardedName} says, and the guards recorded in its
 * comments. `p` is not modified: renamed functions, the locations whose lines use them and the
 * samples holding those locations are copies; everything else, and every value, is shared. When
 * nothing changes, `p` itself is returned. Idempotent. A profile that holds both `F` and
 * `DO NOT INLINE: F` ends up with two functions of one name, which merges treat as one.
 */
export function applyNoInlineGuards(p: Profile, guards: NoInlineGuards): Profile {
  const functions = new Map<Function, Function>();
  const renamed = (fn: Function): Function => {
    let out = functions.get(fn);
    if (!out) {
      const name = guardedName(fn.name, guards);
      functions.set(fn, out = name === fn.name ? fn : { ...fn, name });
    }
    return out;
  };
  const locations = new Map<Location, Location>();
  const relocated = (loc: Location): Location => {
    let out = locations.get(loc);
    if (!out) {
      const line = loc.line.map((l) => {
        const fn = l.function && renamed(l.function);
        return fn === l.function ? l : { ...l, function: fn };
      });
      locations.set(loc, out = line.some((l, i) => l !== loc.line[i]) ? { ...loc, line } : loc);
    }
    return out;
  };
  const function_ = p.function.map(renamed);
  const location = p.location.map(relocated);
  const sample = p.sample.map((s): Sample => {
    const stack = s.location.map(relocated);
    return stack.some((l, i) => l !== s.location[i]) ? { ...s, location: stack } : s;
  });
  const comments = recordNoInlineGuards(p.comments, guards);
  const changed = function_.some((f, i) => f !== p.function[i]) || location.some((l, i) => l !== p.location[i]) ||
    sample.some((s, i) => s !== p.sample[i]);
  const sameComments = comments.length === p.comments.length && comments.every((c, i) => c === p.comments[i]);
  if (!changed) return sameComments ? p : { ...p, comments };
  return { ...p, function: function_, location, sample, comments };
}

/** Which guards a profile records and which functions in it are renamed. */
export interface NoInlineReport {
  /** The guard regexps recorded as applied (`autopgo.noinline=` comments), in order. */
  guards: string[];
  /** Original names of the renamed functions, sorted. */
  functions: string[];
}

/**
 * One line for people about a {@link NoInlineReport} (what `inspect` and `explain` print), or
 * undefined when the profile records no guard and holds no renamed function.
 */
export function describeNoInline(r: NoInlineReport): string | undefined {
  if (r.guards.length === 0 && r.functions.length === 0) return undefined;
  const guards = r.guards.length === 0
    ? "no guard recorded"
    : `${r.guards.length} guard${r.guards.length === 1 ? "" : "s"} applied (${r.guards.join(", ")})`;
  const functions = r.functions.length === 0
    ? "no function of this profile matches"
    : `renamed, so PGO inlines them nowhere and nothing into them: ${r.functions.join(", ")}`;
  return `${guards}; ${functions}`;
}

/** The {@link NoInlineReport} of `p`: what `inspect` and `explain` say about guards. */
export function noInlineReport(p: Profile): NoInlineReport {
  const functions = new Set<string>();
  for (const fn of p.function) if (isGuardedName(fn.name)) functions.add(unguardedName(fn.name));
  return { guards: recordedNoInlineGuards(p.comments), functions: [...functions].sort() };
}
