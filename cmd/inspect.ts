/**
 * `autopgo inspect [--json] [--top N] PROFILE`: what a profile holds (types, period,
 * duration, sizes, totals, top functions flat/cum) and whether Go's PGO would use it.
 *
 * Never crashes on bad input: every failure is one line `inspect "file": …` (printed as
 * `autopgo: …`) with exit code 1; decoding is bounded by the engine's limits.
 *
 * @module
 */

import { Command, Option } from "commander";
import { CliError, oneLine } from "./cli_error.ts";
import { nonNegativeIntArg } from "./options.ts";
import { readProfileBytes } from "./merge.ts";
import { decodeProfile } from "../core/pprof/decode.ts";
import { type ProfileSummary, summarizeProfile } from "../core/pprof/summary.ts";

/** Options of the `inspect` command. */
export interface InspectCommandOptions {
  json?: boolean;
  top: number;
}

/** The summary plus file facts, as printed by `inspect --json`. */
export interface InspectReport extends ProfileSummary {
  file: string;
  bytes: number;
}

function pct(v: number, total: number): string {
  return total === 0 ? "-" : `${(v / total * 100).toFixed(1)}%`;
}

/** Renders the human-readable `inspect` output. */
export function formatInspectReport(r: InspectReport): string {
  const out: string[] = [];
  const row = (k: string, v: string) => out.push(`${(k + ":").padEnd(14)}${v}`);
  row("File", `${r.file} (${r.bytes} bytes)`);
  row("Sample types", r.sampleTypes.join(", ") + (r.defaultSampleType ? ` (default ${r.defaultSampleType})` : ""));
  row("Period", r.periodType ? `${r.period} ${r.periodType}` : String(r.period));
  row("Duration", r.durationNanos > 0 ? `${(r.durationNanos / 1e9).toFixed(2)}s` : "-");
  row("Time", r.time || "-");
  const c = r.counts;
  row(
    "Sizes",
    `${c.samples} samples, ${c.locations} locations, ${c.functions} functions, ${c.mappings} mappings, ${c.strings} strings`,
  );
  row("Totals", r.totals.map((t) => `${t.total} ${t.type}/${t.unit}`).join(", ") || "-");
  const pgo = r.pgo.usable
    ? `usable (weights from ${r.sampleTypes[r.pgo.sampleIndex]})`
    : `NOT usable: ${r.pgo.reasons.join("; ")}`;
  row("PGO", pgo);
  const total = r.totals.find((t) => `${t.type}/${t.unit}` === r.rankedBy)?.total ?? 0;
  const table = (title: string, rows: ProfileSummary["topFlat"]) => {
    out.push("", `${title} (${r.rankedBy || "no sample types"}):`);
    out.push(`${"flat".padStart(16)} ${"flat%".padStart(6)} ${"cum".padStart(16)} ${"cum%".padStart(6)}  function`);
    for (const f of rows) {
      out.push(
        `${String(f.flat).padStart(16)} ${pct(f.flat, total).padStart(6)} ${String(f.cum).padStart(16)} ${
          pct(f.cum, total).padStart(6)
        }  ${f.name}`,
      );
    }
    if (rows.length === 0) out.push("  (none)");
  };
  table(`Top ${r.topFlat.length} by flat`, r.topFlat);
  table(`Top ${r.topCum.length} by cum`, r.topCum);
  return out.join("\n");
}

/** Runs `inspect` on one file and returns the text to print. */
export function runInspect(path: string, opts: InspectCommandOptions): Promise<string> {
  // Reading is synchronous (one file or stdin); the promise keeps failures asynchronous for callers.
  return Promise.resolve().then(() => {
    let report: InspectReport;
    try {
      const data = readProfileBytes(path);
      report = { file: path, bytes: data.length, ...summarizeProfile(decodeProfile(data), { top: opts.top }) };
    } catch (e) {
      const reason = e instanceof Deno.errors.NotFound ? "no such file" : oneLine(e);
      throw new CliError(`inspect ${JSON.stringify(path)}: ${reason}`);
    }
    return opts.json ? JSON.stringify(report, null, 2) : formatInspectReport(report);
  });
}

/** Builds the `inspect` command. */
export function inspectCommand(): Command {
  return new Command("inspect")
    .description("describe a profile: types, period, duration, sizes, top functions and PGO usability")
    .argument("<profile>", "profile file (gzip or raw profile.proto; - for stdin)")
    .option("--json", "print JSON instead of a table")
    .addOption(new Option("--top <n>", "number of functions to list").argParser(nonNegativeIntArg).default(10))
    .action(async (path: string, opts: InspectCommandOptions) => {
      console.log(await runInspect(path, opts));
    });
}
