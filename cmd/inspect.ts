/**
 * `autopgo inspect [--json] [--top N] [--cum] PROFILE`: what a profile holds (types, period,
 * duration, sizes, totals) and whether Go's PGO would use it, then its top functions the way
 * `go tool pprof -top` shows them: flat, flat%, sum%, cum, cum% in human units (`10ms`, `1.5s`,
 * `2.3MiB`), by flat (or by cum with `--cum`). A compacted profile (what the worker stores by
 * default) keeps only the frames the compiler reads, so its cum values cover only those frames:
 * the output says so. A `default.pgo` the worker rebuilt from retention windows (issue 14) also
 * shows which windows it covers and its oldest and newest sample time. A profile with no-inline
 * guards (core/pprof/noinline.ts) says which guards applied and which functions they renamed
 * (`No-inline:`; `noInline` in JSON). `--json` prints the raw numbers (and `windows`).
 *
 * Never crashes on bad input: every failure is one line `inspect "file": …` (printed as
 * `autopgo: …`) with exit code 1; decoding is bounded by the engine's limits.
 *
 * @module
 */

import { Command, Option } from "commander";
import { CliError, describeProfileProblem } from "./cli_error.ts";
import { formatBytes, formatNanos, formatPercent, formatValue } from "./human.ts";
import { nonNegativeIntArg } from "./options.ts";
import { readProfileBytes } from "./merge.ts";
import { decodeProfile } from "../core/pprof/decode.ts";
import type { Profile } from "../core/pprof/profile.ts";
import { normalizeUpload } from "../core/pipeline/profile_jobs.ts";
import { type ProfileSummary, summarizeProfile } from "../core/pprof/summary.ts";
import { describeNoInline } from "../core/pprof/noinline.ts";
import { describeWindowRange, type WindowRange, windowRangeOfComments } from "../core/pipeline/window_view.ts";

/** Options of the `inspect` command. */
export interface InspectCommandOptions {
  json?: boolean;
  top: number;
  /** Sort the table by cum instead of flat (`go tool pprof -top -cum`). */
  cum?: boolean;
}

/** The summary plus file facts, as printed by `inspect --json`. */
export interface InspectReport extends ProfileSummary {
  file: string;
  bytes: number;
  /** The retention windows a rebuilt `default.pgo` covers; absent for other profiles. */
  windows?: WindowRange;
  /** What an autopgo server answers to its upload ({@link uploadVerdict}). */
  upload: string;
}

/** The note printed for a compacted profile. */
export const COMPACTED_NOTE = "yes: stacks keep only the leaf and its caller, the frames the Go compiler reads, " +
  "so cum values cover only those frames";

/** The `go tool pprof -top` table: header and one row per function, values in `unit`. */
export function formatTopTable(rows: ProfileSummary["topFlat"], total: number, unit: string): string[] {
  const cells = [["flat", "flat%", "sum%", "cum", "cum%"]];
  let sum = 0;
  for (const f of rows) {
    sum += f.flat;
    cells.push([
      formatValue(f.flat, unit),
      formatPercent(f.flat, total),
      formatPercent(sum, total),
      formatValue(f.cum, unit),
      formatPercent(f.cum, total),
    ]);
  }
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((r, i) =>
    `${r.map((c, j) => c.padStart(widths[j] + (j === 0 ? 2 : 1))).join("")}  ${i === 0 ? "" : rows[i - 1].name}`
      .trimEnd()
  );
}

/** Renders the human-readable `inspect` output (sorted by flat, or by cum with `byCum`). */
export function formatInspectReport(r: InspectReport, byCum = false): string {
  const out: string[] = [];
  const row = (k: string, v: string) => out.push(`${(k + ":").padEnd(14)}${v}`);
  row("File", `${r.file} (${formatBytes(r.bytes)})`);
  row("Sample types", r.sampleTypes.join(", ") + (r.defaultSampleType ? ` (default ${r.defaultSampleType})` : ""));
  const periodUnit = r.periodType.split("/")[1] ?? "";
  row("Period", r.periodType ? `${formatValue(r.period, periodUnit)} (${r.periodType})` : String(r.period));
  row("Duration", r.durationNanos > 0 ? formatNanos(r.durationNanos) : "-");
  row("Time", r.time || "-");
  if (r.windows) {
    const { windows, samples } = describeWindowRange(r.windows);
    row("Windows", windows);
    row("Samples", samples);
  }
  const c = r.counts;
  row(
    "Sizes",
    `${c.samples} samples, ${c.locations} locations, ${c.functions} functions, ${c.mappings} mappings, ${c.strings} strings`,
  );
  row("Totals", r.totals.map((t) => `${formatValue(t.total, t.unit)} ${t.type}/${t.unit}`).join(", ") || "-");
  const pgo = r.pgo.usable
    ? `usable (weights from ${r.sampleTypes[r.pgo.sampleIndex]})`
    : `NOT usable: ${r.pgo.reasons.join("; ")}`;
  row("PGO", pgo);
  row("Upload", r.upload);
  const guards = describeNoInline(r.noInline);
  if (guards) row("No-inline", guards);
  if (r.compacted) row("Compacted", COMPACTED_NOTE);
  const ranked = r.totals.find((t) => `${t.type}/${t.unit}` === r.rankedBy);
  const total = r.rankedTotal;
  const unit = ranked?.unit ?? "";
  const rows = byCum ? r.topCum : r.topFlat;
  const shown = rows.reduce((sum, f) => sum + f.flat, 0);
  out.push(
    "",
    `Showing top ${rows.length} functions by ${byCum ? "cum" : "flat"} (${r.rankedBy || "no sample types"}), ` +
      `flat ${formatValue(shown, unit)} of ${formatValue(total, unit)} total (${formatPercent(shown, total)})`,
  );
  out.push(...formatTopTable(rows, total, unit));
  if (rows.length === 0) out.push("  (no samples)");
  return out.join("\n");
}

/** Runs `inspect` on one file and returns the text to print. */
export function runInspect(path: string, opts: InspectCommandOptions): Promise<string> {
  // Reading is synchronous (one file or stdin); the promise keeps failures asynchronous for callers.
  return Promise.resolve().then(() => {
    let report: InspectReport;
    try {
      const data = readProfileBytes(path);
      const profile = decodeProfile(data);
      const summary = summarizeProfile(profile, { top: opts.top });
      report = { file: path, bytes: data.length, ...summary, upload: uploadVerdict(profile) };
      const windows = windowRangeOfComments(profile.comments);
      if (windows) report.windows = windows;
    } catch (e) {
      throw new CliError(`inspect ${JSON.stringify(path)}: ${describeProfileProblem(e)}`);
    }
    return opts.json ? JSON.stringify(report, null, 2) : formatInspectReport(report, opts.cum);
  });
}

/**
 * What an autopgo server answers to an upload of `p`: "accepted", or "refused (422): …" with the
 * server's reason (profile_jobs.ts normalizeUpload, run on a copy: it rewrites values in place).
 * The compiler may use a profile the server refuses (one that is no CPU profile autopgo can keep).
 */
export function uploadVerdict(p: Profile): string {
  const copy = { ...p, sample: p.sample.map((s) => ({ ...s, value: s.value.slice() })) };
  const normalized = normalizeUpload(copy);
  return "refusal" in normalized
    ? `refused by autopgo server (422): profile ${normalized.refusal}`
    : "accepted by autopgo server";
}

/** Builds the `inspect` command. */
export function inspectCommand(): Command {
  return new Command("inspect")
    .description("describe a profile: types, sizes, PGO usability and its top functions like go tool pprof -top")
    .argument("<profile>", "profile file (gzip or raw profile.proto; - for stdin)")
    .option("--json", "print JSON instead of a table")
    .addOption(new Option("--top <n>", "number of functions to list").argParser(nonNegativeIntArg).default(10))
    .option("--cum", "sort the table by cum instead of flat (go tool pprof -top -cum)")
    .action(async (path: string, opts: InspectCommandOptions) => {
      console.log(await runInspect(path, opts));
    });
}
