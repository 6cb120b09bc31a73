/**
 * The Go compiler's view of a CPU profile: the weighted call-edge map that PGO reads.
 *
 * Re-implements, decision for decision, what `cmd/internal/pgo.FromPProf` and
 * `internal/profile.NewGraph` compute (see shared/reference/go-pgo.md §1–§4):
 * - the value column is the first sample type `samples/count` or `cpu/nanoseconds`;
 * - samples whose selected value is 0 are skipped;
 * - only the leaf location and its immediate caller are visited (`frames`, default 2), each
 *   location's lines from outermost to innermost, so inlined frames create edges;
 * - graph nodes are identified by `(function name, address, start line, line)`; per sample a node
 *   adds to its cumulative weight once and an edge is added only between distinct nodes, once per
 *   node pair unless the node is new in the sample;
 * - nodes whose cumulative and flat weights are both 0 are dropped with their out-edges;
 * - edges are keyed by `(caller name, callee name, call-site offset = line − start line)`.
 *
 * The result serializes to exactly the text `go tool preprofile` writes, so tests can compare
 * byte for byte. Hot call sites (the 99% CDF cut used by PGO inlining) and devirtualization
 * candidates (the heaviest callee per call site) are derived from it.
 *
 * @module
 */

import { ProfileError } from "./errors.ts";
import { pgoSampleIndex } from "./pgo.ts";
import type { Location, Profile } from "./profile.ts";

/** Number of frames (leaf first) the Go compiler turns into call edges, in every release tested (1.21–1.26). */
export const DEFAULT_PGO_FRAMES = 2;

/** Options of {@link edgeMap}. */
export interface EdgeMapOptions {
  /** How many locations, leaf first, contribute edges (Go: 2). Must be a positive integer. */
  frames?: number;
}

/** One key of the compiler's NamedEdgeMap and its summed weight. */
export interface WeightedCallEdge {
  /** Linker name of the calling function. */
  caller: string;
  /** Linker name of the called function ("" for unsymbolized frames). */
  callee: string;
  /** Line of the call minus the caller's start line. */
  callSiteOffset: number;
  /** Summed selected sample value of the edge. */
  weight: number;
}

/** The compiler's weighted call-edge view of a profile. */
export interface PgoEdgeMap {
  /** Index of the selected sample type, or -1 when the profile has no samples. */
  sampleIndex: number;
  /** Sum of all edge weights (0 ⇒ the compiler ignores the profile). */
  totalWeight: number;
  /** Every edge, heaviest first; ties by caller, callee, offset ascending (Go's `ByWeight`). Empty when totalWeight is 0. */
  byWeight: WeightedCallEdge[];
}

/** The header line of Go's preprocessed profile format. */
export const PREPROFILE_HEADER = "GO PREPROFILE V1";

/** The error message Go prints for a profile without a usable sample type. */
export const NO_SAMPLE_INDEX_MESSAGE =
  `profile does not contain a sample index with value/type "samples/count" or cpu/nanoseconds"`;

/** The error message Go prints for a profile without `Function.start_line`. */
export const MISSING_START_LINE_MESSAGE =
  "profile missing Function.start_line data (Go version of profiled application too old? Go 1.20+ automatically adds this to profiles)";

/** Validates and returns the frames option. */
export function pgoFrames(frames: number | undefined): number {
  const value = frames ?? DEFAULT_PGO_FRAMES;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`frames must be a positive integer, got ${frames}`);
  }
  return value;
}

interface GraphNode {
  name: string;
  startLine: number;
  lineno: number;
  cum: number;
  flat: number;
  /** Out-edges by destination node. */
  out: Map<GraphNode, number>;
}

/**
 * Computes the compiler's NamedEdgeMap of `p` (what `go tool preprofile` would print).
 *
 * Throws {@link ProfileError} `invalid` with Go's own message when the compiler would reject the
 * profile (no `samples/count`/`cpu/nanoseconds` sample type, or no `Function.start_line`).
 */
export function edgeMap(p: Profile, opts: EdgeMapOptions = {}): PgoEdgeMap {
  const frames = pgoFrames(opts.frames);
  if (p.sample.length === 0) return { sampleIndex: -1, totalWeight: 0, byWeight: [] };
  const sampleIndex = pgoSampleIndex(p);
  if (sampleIndex < 0) throw new ProfileError("invalid", NO_SAMPLE_INDEX_MESSAGE);

  const nodesByKey = new Map<string, GraphNode>();
  const nodesByLocation = new Map<Location, GraphNode[]>();
  const locationNodes = (loc: Location): GraphNode[] => {
    let nodes = nodesByLocation.get(loc);
    if (nodes) return nodes;
    const lines = loc.line.length > 0 ? loc.line : [undefined];
    nodes = lines.map((line) => {
      const fn = line?.function;
      const name = fn?.name ?? "";
      const startLine = fn ? fn.startLine : 0;
      const lineno = fn && line ? line.line : 0;
      const key = `${loc.address}\u0000${startLine}\u0000${lineno}\u0000${name}`;
      let node = nodesByKey.get(key);
      if (!node) {
        node = { name, startLine, lineno, cum: 0, flat: 0, out: new Map() };
        nodesByKey.set(key, node);
      }
      return node;
    });
    nodesByLocation.set(loc, nodes);
    return nodes;
  };

  const seenNodes: GraphNode[] = [];
  const seenEdges: [GraphNode, GraphNode][] = [];
  for (const sample of p.sample) {
    const w = sample.value[sampleIndex];
    if (w === 0) continue;
    seenNodes.length = 0;
    seenEdges.length = 0;
    let parent: GraphNode | undefined;
    for (let i = Math.min(frames - 1, sample.location.length - 1); i >= 0; i--) {
      const nodes = locationNodes(sample.location[i]);
      for (let ni = nodes.length - 1; ni >= 0; ni--) {
        const n = nodes[ni];
        const sawNode = seenNodes.includes(n);
        if (!sawNode) {
          seenNodes.push(n);
          n.cum += w;
        }
        if (parent !== undefined && n !== parent) {
          const from = parent;
          const sawEdge = seenEdges.some(([a, b]) => a === from && b === n);
          if (!sawNode || !sawEdge) {
            if (!sawEdge) seenEdges.push([from, n]);
            from.out.set(n, (from.out.get(n) ?? 0) + w);
          }
        }
        parent = n;
      }
    }
    if (parent !== undefined) parent.flat += w;
  }

  let seenStartLine = false;
  let totalWeight = 0;
  const weights = new Map<string, WeightedCallEdge>();
  for (const n of nodesByKey.values()) {
    if (n.cum === 0 && n.flat === 0) continue;
    seenStartLine ||= n.startLine !== 0;
    const callSiteOffset = n.lineno - n.startLine;
    for (const [dest, weight] of n.out) {
      totalWeight += weight;
      const key = `${callSiteOffset}\u0000${n.name}\u0000${dest.name}`;
      const edge = weights.get(key);
      if (edge) edge.weight += weight;
      else weights.set(key, { caller: n.name, callee: dest.name, callSiteOffset, weight });
    }
  }
  if (!seenStartLine) throw new ProfileError("invalid", MISSING_START_LINE_MESSAGE);
  if (totalWeight === 0) return { sampleIndex, totalWeight: 0, byWeight: [] };
  return { sampleIndex, totalWeight, byWeight: [...weights.values()].sort(compareByWeight) };
}

/** Compares strings by Unicode code point, i.e. like Go compares their UTF-8 bytes. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xSurrogate = x >= 0xd800 && x <= 0xdfff;
    const ySurrogate = y >= 0xd800 && y <= 0xdfff;
    // A surrogate stands for a code point ≥ U+10000: above every BMP character from U+E000 up.
    if (xSurrogate !== ySurrogate && Math.max(x, y) >= 0xe000) return xSurrogate ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/** Go's `sortByWeight` order: weight descending, then caller, callee, offset ascending. */
export function compareByWeight(a: WeightedCallEdge, b: WeightedCallEdge): number {
  if (a.weight !== b.weight) return a.weight > b.weight ? -1 : 1;
  return compareCodePoints(a.caller, b.caller) || compareCodePoints(a.callee, b.callee) ||
    a.callSiteOffset - b.callSiteOffset;
}

/** Serializes an edge map exactly as `go tool preprofile` does (`GO PREPROFILE V1`, three lines per edge). */
export function serializePreprofile(map: PgoEdgeMap): string {
  const parts = [PREPROFILE_HEADER, "\n"];
  for (const e of map.byWeight) parts.push(e.caller, "\n", e.callee, "\n", `${e.callSiteOffset} ${e.weight}\n`);
  return parts.join("");
}

/** True when `text` starts with the preprocessed-profile header (as the Go compiler checks). */
export function isPreprofile(text: string | Uint8Array): boolean {
  const head = typeof text === "string" ? text.slice(0, PREPROFILE_HEADER.length + 1) : new TextDecoder().decode(
    text.subarray(0, PREPROFILE_HEADER.length + 1),
  );
  return head === PREPROFILE_HEADER + "\n";
}

/**
 * Parses `go tool preprofile` output back into an edge map (Go's `FromSerialized` rules: header,
 * three lines per edge, two integer fields, no duplicate edges; edges keep the file's order;
 * TotalWeight is the sum).
 * Throws {@link ProfileError} `malformed` for anything else.
 */
export function parsePreprofile(text: string): PgoEdgeMap {
  if (!isPreprofile(text)) throw new ProfileError("malformed", `preprofile: missing "${PREPROFILE_HEADER}" header`);
  const lines = text.slice(PREPROFILE_HEADER.length + 1).split("\n").map((l) => l.replace(/\r$/, ""));
  if (lines[lines.length - 1] === "") lines.pop();
  if (lines.length % 3 !== 0) throw new ProfileError("malformed", "preprofile: truncated edge (want 3 lines per edge)");
  const seen = new Set<string>();
  const byWeight: WeightedCallEdge[] = [];
  let totalWeight = 0;
  for (let i = 0; i < lines.length; i += 3) {
    const fields = lines[i + 2].split(" ");
    if (fields.length !== 2 || !fields.every((f) => /^[+-]?\d+$/.test(f))) {
      throw new ProfileError(
        "malformed",
        `preprofile line ${i + 4}: want "<offset> <weight>", got ${JSON.stringify(lines[i + 2])}`,
      );
    }
    const edge = {
      caller: lines[i],
      callee: lines[i + 1],
      callSiteOffset: Number(fields[0]),
      weight: Number(fields[1]),
    };
    const key = `${edge.callSiteOffset}\u0000${edge.caller}\u0000${edge.callee}`;
    if (seen.has(key)) {
      throw new ProfileError("malformed", `preprofile line ${i + 2}: duplicate edge ${edge.caller} -> ${edge.callee}`);
    }
    seen.add(key);
    totalWeight += edge.weight;
    byWeight.push(edge);
  }
  return { sampleIndex: -1, totalWeight, byWeight };
}

/** A call site as PGO inlining keys it: the caller and the offset of the call line (any callee on that line). */
export interface CallSite {
  caller: string;
  callSiteOffset: number;
}

/** The hot part of an edge map at a CDF threshold (what `hotNodesFromCDF` returns). */
export interface HotCallSites {
  /** The threshold used, in percent. */
  thresholdPercent: number;
  /** Hot edges: the heaviest edges up to and including the one whose cumulative share crosses the threshold. */
  edges: WeightedCallEdge[];
  /** Distinct hot call sites, in first-hot-edge order. */
  callSites: CallSite[];
  /** Distinct hot callees (their inline budget is raised to 2000), in first-hot-edge order. */
  callees: string[];
}

/** Go's `pgo.WeightInPercentage`. */
export function weightPercent(value: number, total: number): number {
  return (value / total) * 100;
}

/**
 * Returns the hot edges, call sites and callees at `thresholdPercent` (Go default 99, override
 * `-d=pgoinlinecdfthreshold`): walk edges heaviest first and stop at the first edge whose
 * cumulative share exceeds the threshold, including it.
 */
export function hotCallSites(map: PgoEdgeMap, thresholdPercent = 99): HotCallSites {
  let cum = 0;
  let cut = map.byWeight.length;
  for (let i = 0; i < map.byWeight.length; i++) {
    cum += map.byWeight[i].weight;
    if (weightPercent(cum, map.totalWeight) > thresholdPercent) {
      cut = i + 1;
      break;
    }
  }
  const edges = map.byWeight.slice(0, cut);
  const sites = new Map<string, CallSite>();
  const callees = new Set<string>();
  for (const e of edges) {
    const key = `${e.callSiteOffset}\u0000${e.caller}`;
    if (!sites.has(key)) sites.set(key, { caller: e.caller, callSiteOffset: e.callSiteOffset });
    callees.add(e.callee);
  }
  return { thresholdPercent, edges, callSites: [...sites.values()], callees: [...callees] };
}

/** The callee PGO devirtualization would pick for an indirect call at one call site. */
export interface DevirtualizationCandidate {
  caller: string;
  callSiteOffset: number;
  /** The heaviest callee (ties: lexicographically smallest, as the compiler breaks them when both have IR). */
  callee: string;
  /** Weight of the chosen edge. */
  weight: number;
  /** Total weight of all edges at this call site. */
  siteWeight: number;
  /** Other callees with exactly the chosen weight (the compiler prefers one whose IR it can see). */
  tiedWith: string[];
  /** Number of distinct callees seen at this call site. */
  calleeCount: number;
}

/**
 * Returns, per `(caller, call-site offset)`, the heaviest callee: what `findHotConcreteCallee`
 * picks before its type checks (no CDF threshold; a zero-weight hottest edge yields no candidate).
 * Sorted by chosen weight descending, then caller and offset.
 */
export function devirtualizationCandidates(map: PgoEdgeMap): DevirtualizationCandidate[] {
  const bySite = new Map<string, DevirtualizationCandidate>();
  for (const e of map.byWeight) {
    const key = `${e.callSiteOffset}\u0000${e.caller}`;
    const c = bySite.get(key);
    if (!c) {
      bySite.set(key, { ...e, siteWeight: e.weight, tiedWith: [], calleeCount: 1 });
      continue;
    }
    c.siteWeight += e.weight;
    c.calleeCount++;
    if (e.weight > c.weight || (e.weight === c.weight && compareCodePoints(e.callee, c.callee) < 0)) {
      c.tiedWith = e.weight === c.weight ? [...c.tiedWith, c.callee] : [];
      c.callee = e.callee;
      c.weight = e.weight;
    } else if (e.weight === c.weight) {
      c.tiedWith.push(e.callee);
    }
  }
  return [...bySite.values()].filter((c) => c.weight !== 0).sort((a, b) =>
    b.weight - a.weight || compareCodePoints(a.caller, b.caller) || a.callSiteOffset - b.callSiteOffset
  );
}
