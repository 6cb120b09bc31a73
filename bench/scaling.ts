/**
 * `deno task bench:scaling` (issue 13, also part of `deno task bench`): what one more upload costs the worker as
 * the base grows. For bases that already hold 10, 100 and 1,000 merged uploads of real labelled profiles (the
 * cached hotpath profiles of bench/ingest.ts: unique stacks and span labels), the worker's own path for one staged
 * upload — `processUpload` on a file:// store: stat, listing, base read, merge in the decode pool's Web Worker,
 * conditional write, clean-up (bench/ingest_lone.ts) — is timed, wall and CPU, median of `--runs` after 4 warm-up
 * rounds (the series repeated `--repeat` times, medians of those), with the default compaction (`pgo`) and, for
 * contrast, `none`. The bus delivery is left out: it costs the same whatever the base holds. Written into
 * BENCHMARKS.md between `<!-- bench:scaling:start -->` and `<!-- bench:scaling:end -->`.
 *
 * Usage: deno task bench:scaling [--bases 10,100,1000] [--runs 15] [--repeat 3] [--compaction pgo,none] [--no-write]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import type { CompactionMode } from "../core/pipeline/merge_upload.ts";
import { cachedProfiles, machineLine, usableProfiles } from "./ingest.ts";
import { type LoneResult, measureLone } from "./ingest_lone.ts";
import { median } from "./measure.ts";
import { formatMarkdown, replaceSection } from "./run.ts";

const BENCHMARKS_MD = fileURLToPath(new URL("../BENCHMARKS.md", import.meta.url));

/** Options of {@link measureScaling}. */
export interface ScalingOptions {
  /** Uploads the base holds before the measured ones (default 10, 100, 1000). */
  bases?: number[];
  /** Measured uploads per base (default 15). */
  runs?: number;
  /** Times the whole series is repeated, base order reversed every other time; medians are taken (default 3). */
  repeat?: number;
  /** Compaction modes, the default one first (default pgo, none). */
  compactions?: CompactionMode[];
  log?: (line: string) => void;
}

/** Measures every base size and compaction and returns the BENCHMARKS.md section (table, verdict, reproduce line). */
export async function measureScaling(options: ScalingOptions = {}): Promise<string> {
  const bases = options.bases ?? [10, 100, 1000];
  const runs = options.runs ?? 15;
  const repeat = options.repeat ?? 3;
  const compactions = options.compactions ?? ["pgo", "none"];
  const log = options.log ?? console.error;
  const machine = await machineLine();
  // 40 more profiles than the largest base, so that the measured uploads (4 warm-up rounds + up to ~35 runs) are
  // new to it; the count names the cache, so it does not depend on --runs.
  const bodies = await usableProfiles(await cachedProfiles(Math.max(...bases) + 40, 100));
  const rows: string[] = [], verdicts: string[] = [];
  for (const compaction of compactions) {
    const series = new Map<number, LoneResult[]>(bases.map((b) => [b, []]));
    for (let i = 0; i < repeat; i++) {
      for (const baseUploads of i % 2 ? [...bases].reverse() : bases) {
        log(`scaling ${i + 1}/${repeat}: one upload into a base of ${baseUploads}, compaction ${compaction}`);
        const r = await measureLone(bodies, compaction, baseUploads, runs, ["batched"]);
        series.get(baseUploads)!.push(r);
        log(`  wall ${r.batchedMs.toFixed(1)} ms, cpu ${r.batchedCpuMs.toFixed(1)} ms, base ${r.baseBytes} bytes`);
      }
    }
    const results = bases.map((b): LoneResult => {
      const rs = series.get(b)!;
      return {
        ...rs[0],
        batchedMs: median(rs.map((r) => r.batchedMs)),
        batchedCpuMs: median(rs.map((r) => r.batchedCpuMs)),
      };
    });
    const first = results[0];
    for (const r of results) {
      rows.push(
        `| ${compaction} | ${r.baseUploads} | ${(r.baseBytes / 1024).toFixed(1)} KiB | ${r.batchedMs.toFixed(1)} ms | ${
          (r.batchedMs / first.batchedMs).toFixed(2)
        }× | ${r.batchedCpuMs.toFixed(1)} ms | ${(r.batchedCpuMs / first.batchedCpuMs).toFixed(2)}× |`,
      );
    }
    const last = results.at(-1)!;
    const wall = last.batchedMs / first.batchedMs, cpu = last.batchedCpuMs / first.batchedCpuMs;
    verdicts.push(
      `\`${compaction}\`${compaction === compactions[0] ? " (default)" : ""}: ${first.baseUploads} → ` +
        `${last.baseUploads} uploads ${wall.toFixed(2)}× wall, ${cpu.toFixed(2)}× CPU` +
        (compaction === "pgo" ? ` — ${wall <= 1.2 && cpu <= 1.2 ? "met" : "not met"}` : ""),
    );
  }
  const args = [
    `--bases ${bases.join(",")}`,
    `--runs ${runs}`,
    `--repeat ${repeat}`,
    `--compaction ${compactions.join(",")}`,
  ].join(" ");
  return [
    `Measured ${new Date().toISOString().slice(0, 16)}Z on ${machine}; the machine was shared with other work. ` +
    `Data: ${bodies.length} real labelled CPU profiles of 100 ms from the hotpath fixture (unique stacks and span ` +
    `labels). Each row: a base built from that many uploads (in batches), then one upload at a time handled by ` +
    `\`processUpload\` (stat, listing, base read, merge in the decode pool's Web Worker, conditional write, ` +
    `clean-up; the worker's default batch limits), medians of ${runs} after 4 warm-up rounds, the whole series ` +
    `run ${repeat} times (base order reversed every other time) and the median of those medians shown; CPU is ` +
    `user + system time of the process, the Worker thread included.`,
    "",
    "| compaction | base holds (uploads) | base size | one more upload, wall | vs smallest base | CPU | vs smallest base |",
    "|---|---|---|---|---|---|---|",
    ...rows,
    "",
    `Target ≤1.2× from ${bases[0]} to ${bases.at(-1)} uploads with the default compaction: ${verdicts.join("; ")}.`,
    "",
    `Reproduce: \`deno task bench:scaling ${args}\``,
  ].join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      bases: { type: "string", default: "10,100,1000" },
      runs: { type: "string", default: "15" },
      repeat: { type: "string", default: "3" },
      compaction: { type: "string", default: "pgo,none" },
      "no-write": { type: "boolean", default: false },
    },
  });
  const body = await measureScaling({
    bases: values.bases.split(",").map(Number),
    runs: Number(values.runs),
    repeat: Number(values.repeat),
    compactions: values.compaction.split(",") as CompactionMode[],
  });
  console.log(body);
  if (!values["no-write"]) {
    await Deno.writeTextFile(BENCHMARKS_MD, replaceSection(await Deno.readTextFile(BENCHMARKS_MD), "scaling", body));
    await formatMarkdown(BENCHMARKS_MD);
  }
}

if (import.meta.main) await main();
