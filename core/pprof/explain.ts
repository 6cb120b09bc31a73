/**
 * The report `autopgo explain` prints and the web page shows: an edge map's hot call sites (the
 * CDF cut PGO inlining uses, with each edge's share and cumulative share) and the heaviest callee
 * per call site (what PGO devirtualization tests for at an indirect call). Pure and JSON-safe.
 *
 * @module
 */

import { devirtualizationCandidates, hotCallSites, type PgoEdgeMap, weightPercent } from "./edges.ts";

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
  hotCallSiteCount: number;
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
  const devirtualization = devirtualizationCandidates(map).map((c) => ({
    caller: c.caller,
    callSiteOffset: c.callSiteOffset,
    callee: c.callee,
    weight: c.weight,
    share: weightPercent(c.weight, total),
    siteShare: weightPercent(c.weight, c.siteWeight),
    calleeCount: c.calleeCount,
    tiedWith: c.tiedWith,
  }));
  return {
    ...info,
    totalWeight: total,
    edgeCount: map.byWeight.length,
    thresholdPercent,
    ignoredReason: total === 0 ? "no call edges with weight (empty profile, or only single-frame stacks)" : "",
    hotEdges,
    hotCallSiteCount: hot.callSites.length,
    hotCallees: hot.callees,
    devirtualization,
  };
}
