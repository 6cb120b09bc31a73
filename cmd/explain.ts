/**
 * `autopgo explain [--json] [--threshold 99] [--top N] PROFILE`: what the Go compiler will do with a
 * PGO profile — its weighted call edges, the hot call sites and callees PGO inlining favours
 * (99% CDF cut), and the heaviest callee per call site (the concrete type or function PGO
 * devirtualization would test for at an indirect call), each with its share of the total weight.
 *
 * Accepts a pprof profile (gzip or raw) or `go tool preprofile` output, like the compiler does.
 * Bad input is one line `explain "file": …` with exit code 1.
 *
 * @module
 */

import { Command, InvalidArgumentError, Option } from "commander";
import { CliError, oneLine } from "./cli_error.ts";
import { nonNegativeIntArg } from "./options.ts";
import { readProfileBytes } from "./merge.ts";
import { decodeProfile } from "../core/pprof/decode.ts";
import {
  devirtualizationCandidates,
  edgeMap,
  hotCallSites,
  isPreprofile,
  parsePreprofile,
  type PgoEdgeMap,
  PREPROFILE_HEADER,
  weightPercent,
} from "../core/pprof/edges.ts";

/** Options of the `explain` command. */
export interface ExplainCommandOptions {
  json?: boolean;
  threshold: number;
  top: number;
}

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

/** commander argParser for a CDF threshold in percent (0–100). */
export function thresholdArg(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 100) {
    throw new InvalidArgumentError(`expected a percentage between 0 and 100, got "${value}"`);
  }
  return n;
}

/** Builds the report for an edge map (pure; used by the command and its tests). */
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

const pct = (v: number) => `${v.toFixed(2)}%`;

function table(header: string[], rows: string[][], rightAligned: number): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r.map((c, i) => i === r.length - 1 ? c : i < rightAligned ? c.padStart(widths[i]) : c.padEnd(widths[i]))
      .join("  ").trimEnd();
  return [line(header), ...rows.map(line)];
}

/** Renders the human-readable `explain` output, listing at most `top` rows per table (0 = all). */
export function formatExplainReport(r: ExplainReport, top: number): string {
  const out: string[] = [];
  const from = r.sampleType ? ` (weights from ${r.sampleType})` : "";
  out.push(`File: ${r.file} [${r.format}]${from}`);
  if (r.ignoredReason) {
    out.push(`The Go compiler ignores this profile: ${r.ignoredReason}.`);
    return out.join("\n");
  }
  out.push(`Call edges: ${r.edgeCount}, total weight ${r.totalWeight}`);
  out.push(
    `Hot (${r.thresholdPercent}% CDF): ${r.hotEdges.length} edges at ${r.hotCallSiteCount} call sites; ` +
      `${r.hotCallees.length} hot callees get the large inline budget`,
  );
  const limit = <T>(rows: T[]) => top === 0 ? rows : rows.slice(0, top);
  const more = (shown: number, all: number) => {
    if (shown < all) out.push(`  … ${all - shown} more (use --top 0 to list all)`);
  };

  out.push("", "Hot call sites (PGO inlining):");
  const hot = limit(r.hotEdges);
  out.push(
    ...table(
      ["weight", "share", "cum", "caller", "offset", "callee"],
      hot.map((e) => [
        String(e.weight),
        pct(e.share),
        pct(e.cumulativeShare),
        e.caller,
        `+${e.callSiteOffset}`,
        e.callee,
      ]),
      3,
    ).map((l) => `  ${l}`),
  );
  more(hot.length, r.hotEdges.length);

  out.push("", "Heaviest callee per call site (PGO devirtualization picks it at indirect calls):");
  const dev = limit(r.devirtualization);
  out.push(
    ...table(
      ["weight", "share", "site share", "caller", "offset", "callee"],
      dev.map((c) => [
        String(c.weight),
        pct(c.share),
        `${pct(c.siteShare)} of ${c.calleeCount} callee${c.calleeCount === 1 ? "" : "s"}`,
        c.caller,
        `+${c.callSiteOffset}`,
        c.callee + (c.tiedWith.length > 0 ? ` (tied with ${c.tiedWith.join(", ")})` : ""),
      ]),
      3,
    ).map((l) => `  ${l}`),
  );
  more(dev.length, r.devirtualization.length);
  return out.join("\n");
}

/** Loads `path` (pprof or preprofile) and returns its explain report. Throws CliError with one line. */
export function runExplain(path: string, opts: { threshold: number }): Promise<ExplainReport> {
  // Reading is synchronous (one file or stdin); the promise keeps failures asynchronous for callers.
  return Promise.resolve().then(() => {
    try {
      const data = readProfileBytes(path);
      if (isPreprofile(data.subarray(0, PREPROFILE_HEADER.length + 1))) {
        const map = parsePreprofile(new TextDecoder().decode(data));
        return explainEdgeMap(map, { file: path, format: "preprofile", sampleType: "" }, opts.threshold);
      }
      const profile = decodeProfile(data);
      const map = edgeMap(profile);
      const t = profile.sampleType[map.sampleIndex];
      const sampleType = t ? `${t.type}/${t.unit}` : "";
      return explainEdgeMap(map, { file: path, format: "pprof", sampleType }, opts.threshold);
    } catch (e) {
      const reason = e instanceof Deno.errors.NotFound ? "no such file" : oneLine(e);
      throw new CliError(`explain ${JSON.stringify(path)}: ${reason}`);
    }
  });
}

/** Builds the `explain` command. */
export function explainCommand(): Command {
  return new Command("explain")
    .description("show what Go PGO reads from a profile: hot call sites and devirtualization candidates")
    .argument("<profile>", "pprof profile (gzip or raw) or go tool preprofile output; - for stdin")
    .option("--json", "print JSON (all rows) instead of tables")
    .addOption(
      new Option("--threshold <percent>", "hot call-site CDF threshold (Go: -d=pgoinlinecdfthreshold)")
        .argParser(thresholdArg).default(99),
    )
    .addOption(new Option("--top <n>", "rows per table, 0 for all").argParser(nonNegativeIntArg).default(20))
    .action(async (path: string, opts: ExplainCommandOptions) => {
      const report = await runExplain(path, opts);
      console.log(opts.json ? JSON.stringify(report, null, 2) : formatExplainReport(report, opts.top));
    });
}
