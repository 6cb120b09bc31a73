/**
 * `autopgo explain [--json] [--threshold 99] [--top N] PROFILE`: what the Go compiler will do with a
 * PGO profile — its weighted call edges, the hot call sites and callees PGO inlining favours
 * (99% CDF cut), and, for the indirect call sites (interface and function-value calls, as far as
 * the profile proves them: core/pprof/explain.ts), the heaviest callee (the concrete method or
 * function PGO devirtualization would test for), each with its share of the total weight. The
 * columns are explained in `--help` ({@link EXPLAIN_COLUMNS}) and in the README.
 *
 * A `default.pgo` the worker rebuilt from retention windows (issue 14) also says which windows it
 * covers and its oldest and newest sample time, so a call site hot only in an expired window is
 * seen to be gone for a reason.
 *
 * A profile with no-inline guards (core/pprof/noinline.ts) says which guards applied and which
 * functions they renamed (`No-inline:`; `noInline` in JSON); their edges show under the renamed
 * name, which matches no function the compiler builds.
 *
 * Accepts a pprof profile (gzip or raw) or `go tool preprofile` output, like the compiler does.
 * Bad input is one line `explain "file": …` with exit code 1.
 *
 * @module
 */

import { Command, InvalidArgumentError, Option } from "commander";
import { CliError, describeProfileProblem } from "./cli_error.ts";
import { nonNegativeIntArg } from "./options.ts";
import { readProfileBytes } from "./merge.ts";
import { decodeProfile } from "../core/pprof/decode.ts";
import { edgeMap, isPreprofile, parsePreprofile, PREPROFILE_HEADER } from "../core/pprof/edges.ts";
import { explainEdgeMap, type ExplainReport } from "../core/pprof/explain.ts";
import {
  describeNoInline,
  isGuardedName,
  type NoInlineReport,
  noInlineReport,
  unguardedName,
} from "../core/pprof/noinline.ts";
import { describeWindowRange, type WindowRange, windowRangeOfComments } from "../core/pipeline/window_view.ts";

export {
  type ExplainedCandidate,
  type ExplainedEdge,
  explainEdgeMap,
  type ExplainReport,
} from "../core/pprof/explain.ts";

/** An explain report, plus the retention windows of a rebuilt `default.pgo` (absent otherwise). */
export type ExplainOutput = ExplainReport & { windows?: WindowRange; noInline?: NoInlineReport };

/** Options of the `explain` command. */
export interface ExplainCommandOptions {
  json?: boolean;
  threshold: number;
  top: number;
}

/** commander argParser for a CDF threshold in percent (0–100). */
export function thresholdArg(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 100) {
    throw new InvalidArgumentError(`expected a percentage between 0 and 100, got "${value}"`);
  }
  return n;
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
export function formatExplainReport(r: ExplainOutput, top: number): string {
  const out: string[] = [];
  const from = r.sampleType ? ` (weights from ${r.sampleType})` : "";
  out.push(`File: ${r.file} [${r.format}]${from}`);
  const guards = r.noInline && describeNoInline(r.noInline);
  if (guards) out.push(`No-inline: ${guards}`);
  if (r.windows) {
    const { windows, samples } = describeWindowRange(r.windows);
    out.push(`Windows: ${windows}`, `Samples: ${samples}`);
  }
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

  out.push("", "Indirect call sites, heaviest callee first (what PGO devirtualization tests for):");
  const dev = limit(r.devirtualization);
  if (dev.length === 0) {
    out.push("  (none: no call site reaches several methods of one name, or a closure)");
  } else {out.push(
      ...table(
        ["weight", "share", "site share", "kind", "caller", "offset", "callee"],
        dev.map((c) => [
          String(c.weight),
          pct(c.share),
          `${pct(c.siteShare)} of ${c.calleeCount} callee${c.calleeCount === 1 ? "" : "s"}`,
          c.kind,
          c.caller,
          `+${c.callSiteOffset}`,
          c.callee + (c.tiedWith.length > 0 ? ` (tied with ${c.tiedWith.join(", ")})` : ""),
        ]),
        3,
      ).map((l) => `  ${l}`),
    );}
  more(dev.length, r.devirtualization.length);
  return out.join("\n");
}

/** Loads `path` (pprof or preprofile) and returns its explain report. Throws CliError with one line. */
export function runExplain(path: string, opts: { threshold: number }): Promise<ExplainOutput> {
  // Reading is synchronous (one file or stdin); the promise keeps failures asynchronous for callers.
  return Promise.resolve().then(() => {
    try {
      const data = readProfileBytes(path);
      if (isPreprofile(data.subarray(0, PREPROFILE_HEADER.length + 1))) {
        const map = parsePreprofile(new TextDecoder().decode(data));
        const report: ExplainOutput = explainEdgeMap(
          map,
          { file: path, format: "preprofile", sampleType: "" },
          opts.threshold,
        );
        // A preprocessed profile has no comments: the renamed functions are all it tells.
        const names = map.byWeight.flatMap((e) => [e.caller, e.callee]).filter(isGuardedName).map(unguardedName);
        report.noInline = { guards: [], functions: [...new Set(names)].sort() };
        return report;
      }
      const profile = decodeProfile(data);
      const map = edgeMap(profile);
      const t = profile.sampleType[map.sampleIndex];
      const sampleType = t ? `${t.type}/${t.unit}` : "";
      const report: ExplainOutput = explainEdgeMap(map, { file: path, format: "pprof", sampleType }, opts.threshold);
      const windows = windowRangeOfComments(profile.comments);
      if (windows) report.windows = windows;
      report.noInline = noInlineReport(profile);
      return report;
    } catch (e) {
      throw new CliError(`explain ${JSON.stringify(path)}: ${describeProfileProblem(e)}`);
    }
  });
}

/** What each column of the two tables means, for `--help` (the README says the same). */
export const EXPLAIN_COLUMNS = `
Hot call sites (PGO inlining): the heaviest call edges up to the --threshold CDF;
the compiler may inline the callee at these sites with a larger budget.
  weight      samples on this edge (caller at offset calling callee)
  share       weight as a percentage of all edges
  cum         running total of share, heaviest first (the list stops at --threshold)
  caller      the calling function
  offset      the call's line, relative to the caller's first line
  callee      the called function

Indirect call sites (PGO devirtualization): call sites the profile proves indirect,
with the callee the compiler would test for before the dynamic call.
  weight      samples on the edge to the heaviest callee
  share       that weight as a percentage of all edges
  site share  that weight as a percentage of the site's weight, of how many callees
  kind        interface: several methods of one name on different types were called
              func value: a closure and, hotter, a plain function were called (Go
              devirtualizes a function value to a plain function only)
  caller, offset, callee: as above (ties with other callees are named)
An interface call that reached only one type looks like a direct call in a profile and is
not listed.`;

/** Builds the `explain` command. */
export function explainCommand(): Command {
  return new Command("explain")
    .description("show what Go PGO reads from a profile: hot call sites and indirect-call devirtualization candidates")
    .argument("<profile>", "pprof profile (gzip or raw) or go tool preprofile output; - for stdin")
    .option("--json", "print JSON (all rows) instead of tables")
    .addOption(
      new Option("--threshold <percent>", "hot call-site CDF threshold (Go: -d=pgoinlinecdfthreshold)")
        .argParser(thresholdArg).default(99),
    )
    .addOption(new Option("--top <n>", "rows per table, 0 for all").argParser(nonNegativeIntArg).default(20))
    .addHelpText("after", EXPLAIN_COLUMNS)
    .action(async (path: string, opts: ExplainCommandOptions) => {
      const report = await runExplain(path, opts);
      console.log(opts.json ? JSON.stringify(report, null, 2) : formatExplainReport(report, opts.top));
    });
}
