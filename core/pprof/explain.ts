/**
 * The report `autopgo explain` prints and the web page shows: an edge map's hot call sites (the
 * CDF cut PGO inlining uses, with each edge's share and cumulative share) and, for the indirect
 * call sites, the heaviest callee (what PGO devirtualization tests for). Pure and JSON-safe.
 *
 * Indirect call sites. Devirtualization only ever applies to interface method calls and calls of
 * function values, but a profile does not record how a call was made, only which function was
 * called from which line. A site is listed when its callees prove it indirect:
 * - `interface`: two or more methods of the same name on different receivers
 *   (`(*Circle).Area`, `(*Square).Area`): only dynamic dispatch reaches both from one line;
 * - `func value`: a closure (`pkg.f.func1`), which is only ever called through a function value.
 * An interface call that reached a single receiver looks exactly like a direct call in a profile
 * and is not listed. `runtime.asyncPreempt` and other frames the runtime injects are no callees.
 *
 * Functions renamed by a no-inline guard (noinline.ts) match no function the compiler builds: their
 * edges stay in the tables (and in the CDF, as for the compiler), but they are not counted as hot
 * callees nor as callers of hot call sites.
 *
 * @module
 */

import { devirtualizationCandidates, hotCallSites, type PgoEdgeMap, weightPercent } from "./edges.ts";
import { isGuardedName } from "./noinline.ts";

/** A hot edge as reported by `explain`. */
export interface ExplainedEdge {
  caller: string;
  callee: string;
  callSiteOffset: number;
  weight: number;
  /** Percent of the total edge weight. */
  share: number;
  /** Cumulative percent in heaviest-first order. */
  cumulativeShare: number;
}

/** A devirtualization candidate as reported by `explain`. */
export interface ExplainedCandidate {
  caller: string;
  callSiteOffset: number;
  callee: string;
  weight: number;
  /** Percent of the total edge weight. */
  share: number;
  /** Percent of this call site's weight going to the chosen callee. */
  siteShare: number;
  calleeCount: number;
  tiedWith: string[];
  /** How the site is known to be indirect. */
  kind: IndirectCallKind;
}

/** How a call site is known to be indirect (see the module doc). */
export type IndirectCallKind = "interface" | "func value";

/** Frames the runtime puts on a stack without a call at that line. */
const INJECTED = new Set(["runtime.asyncPreempt", "runtime.morestack", "runtime.sigpanic", "runtime.sigtramp"]);

/** A Go symbol without its package path and package name: `(*T).M`, `T.M`, `F`, `F.func1`. */
function localName(symbol: string): string {
  const noGenerics = symbol.replace(/\[[^\]]*\]/g, "");
  const afterPath = noGenerics.slice(noGenerics.lastIndexOf("/") + 1);
  const dot = afterPath.indexOf(".");
  return dot < 0 ? afterPath : afterPath.slice(dot + 1);
}

/** True for closures: `F.func1`, `(*T).M.func2.3`, `F.gowrap1`, `F.deferwrap1`. */
export function isClosure(symbol: string): boolean {
  return /\.(func|gowrap|deferwrap)\d+(\.\d+)*$/.test(symbol);
}

/** The method name of a method symbol (`Area` for `main.(*Circle).Area`), else undefined. */
export function methodName(symbol: string): string | undefined {
  if (isClosure(symbol)) return undefined;
  const local = localName(symbol);
  const dot = local.lastIndexOf(".");
  return dot > 0 ? local.slice(dot + 1) : undefined;
}

/** How the callees seen at one call site prove it indirect; undefined when they do not. */
export function indirectCallKind(callees: readonly string[]): IndirectCallKind | undefined {
  const real = [...new Set(callees)].filter((c) => !INJECTED.has(c));
  if (real.some(isClosure)) return "func value";
  const methods = new Set(real.map(methodName));
  if (real.length >= 2 && methods.size === 1 && !methods.has(undefined)) return "interface";
  return undefined;
}

/**
 * True when a function-value call whose hottest callee is `callee` is devirtualized by Go's
 * compiler: it skips the site when that callee is a closure (its context would have to be passed
 * along; go.dev/issue/61577) or a method (method values and expressions), and does not fall back to
 * the next callee (cmd/compile/internal/devirtualize/pgo.go, maybeDevirtualizeFunctionCall).
 */
export function funcValueTarget(callee: string): boolean {
  return !isClosure(callee) && methodName(callee) === undefined;
}

/** Every call site the edge map proves indirect, keyed `<offset>\u0000<caller>`, with its kind. */
export function indirectCallSites(map: PgoEdgeMap): Map<string, IndirectCallKind> {
  const callees = new Map<string, string[]>();
  for (const e of map.byWeight) {
    const key = `${e.callSiteOffset}\u0000${e.caller}`;
    callees.set(key, [...(callees.get(key) ?? []), e.callee]);
  }
  const out = new Map<string, IndirectCallKind>();
  for (const [key, list] of callees) {
    const kind = indirectCallKind(list);
    if (kind) out.set(key, kind);
  }
  return out;
}

/** Everything `explain --json` prints. */
export interface ExplainReport {
  file: string;
  /** "pprof" or "preprofile". */
  format: string;
  /** The sample type the compiler reads, e.g. "samples/count" ("" for preprofile input or no samples). */
  sampleType: string;
  totalWeight: number;
  edgeCount: number;
  thresholdPercent: number;
  /** Why the compiler ignores the profile, or "" when it uses it. */
  ignoredReason: string;
  hotEdges: ExplainedEdge[];
  /** Hot call sites in functions the compiler can match (not renamed by a no-inline guard). */
  hotCallSiteCount: number;
  /** Hot callees that get the large inline budget (not renamed by a no-inline guard). */
  hotCallees: string[];
  devirtualization: ExplainedCandidate[];
}

/** Builds the report for an edge map (pure; used by `explain`, the web page and their tests). */
export function explainEdgeMap(
  map: PgoEdgeMap,
  info: { file: string; format: string; sampleType: string },
  thresholdPercent = 99,
): ExplainReport {
  const total = map.totalWeight;
  const hot = hotCallSites(map, thresholdPercent);
  let cum = 0;
  const hotEdges = hot.edges.map((e) => {
    cum += e.weight;
    return { ...e, share: weightPercent(e.weight, total), cumulativeShare: weightPercent(cum, total) };
  });
  const indirect = indirectCallSites(map);
  const devirtualization = devirtualizationCandidates(map).flatMap((c) => {
    const kind = indirect.get(`${c.callSiteOffset}\u0000${c.caller}`);
    return kind && (kind === "interface" || funcValueTarget(c.callee)) ? [{ ...describe(c, total), kind }] : [];
  });
  return {
    ...info,
    totalWeight: total,
    edgeCount: map.byWeight.length,
    thresholdPercent,
    ignoredReason: total === 0 ? "no call edges with weight (empty profile, or only single-frame stacks)" : "",
    hotEdges,
    hotCallSiteCount: hot.callSites.filter((s) => !isGuardedName(s.caller)).length,
    hotCallees: hot.callees.filter((c) => !isGuardedName(c)),
    devirtualization,
  };
}

function describe(c: ReturnType<typeof devirtualizationCandidates>[number], total: number) {
  return {
    caller: c.caller,
    callSiteOffset: c.callSiteOffset,
    callee: c.callee,
    weight: c.weight,
    share: weightPercent(c.weight, total),
    siteShare: weightPercent(c.weight, c.siteWeight),
    calleeCount: c.calleeCount,
    tiedWith: c.tiedWith,
  };
}
