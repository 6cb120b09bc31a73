/**
 * `deno task bench:scaling` (issue 13, also part of `deno task bench`): what one more upload costs the worker as
 * the base grows. Bases that already hold 10, 100 and 1,000 merged uploads of real labelled profiles (the cached
 * hotpath profiles of bench/ingest.ts: unique stacks and span labels) are built first, each in its own file://
 * store; then every round times one new upload into each base, in turn, through the worker's own path
 * (`processUpload`: stat, listing, base read, merge in the decode pool's Web Worker, conditional write, clean-up;
 * bench/ingest_lone.ts `openLoneBase`), wall and CPU. Medians over `--runs` rounds after 4 warm-up rounds, and the
 * median of per-round ratios to the smallest base, with the default compaction (`pgo`) and, for contrast, `none`.
 * The bus delivery is left out: it costs the same whatever the base holds. Written into BENCHMARKS.md between
 * `<!-- bench:scaling:start -->` and `<!-- bench:scaling:end -->`.
 *
 * Usage: deno task bench:scaling [--bases 10,100,1000] [--runs 30] [--compaction pgo,none] [--no-write]
 *
 * @module
 */

import { benchArgs } from "./cli.ts";
import { fileURLToPath } from "node:url";
import type { CompactionMode } from "../core/pipeline/merge_upload.ts";
import { cachedProfiles, machineLine, usableProfiles } from "./ingest.ts";
import { type LoneBase, type LoneTiming, openLoneBase } from "./ingest_lone.ts";
import { median } from "./measure.ts";
import { formatMarkdown, replaceSection } from "./run.ts";

const BENCHMARKS_MD = fileURLToPath(new URL("../BENCHMARKS.md", import.meta.url));

/** Options of {@link measureScaling}. */
export interface ScalingOptions {
  /** Uploads the base holds before the measured ones (default 10, 100, 1000). */
  bases?: number[];
  /** Measured rounds, one upload into every base each (default 30). */
  runs?: number;
  /** Compaction modes, the default one first (default pgo, none). */
  compactions?: CompactionMode[];
  log?: (line: string) => void;
}

const WARMUP_ROUNDS = 4;

/** Measures every base size and compaction and returns the BENCHMARKS.md section (table, verdict, reproduce line). */
export async function measureScaling(options: ScalingOptions = {}): Promise<string> {
  const bases = options.bases ?? [10, 100, 1000];
  const runs = options.runs ?? 30;
  const compactions = options.compactions ?? ["pgo", "none"];
  const log = options.log ?? console.error;
  const machine = await machineLine();
  // 40 more profiles than the largest base, so that the measured uploads (warm-up rounds + up to ~35 runs) are new
  // to it; the count names the cache, so it does not depend on --runs.
  const bodies = await usableProfiles(await cachedProfiles(Math.max(...bases) + 40, 100));
  const rows: string[] = [], verdicts: string[] = [];
  for (const compaction of compactions) {
    log(`scaling: bases of ${bases.join(", ")} uploads, compaction ${compaction}`);
    const opened: LoneBase[] = [];
    try {
      for (const b of bases) opened.push(await openLoneBase(bodies, compaction, b));
      const built = await Promise.all(opened.map((b) => b.baseBytes()));
      const times = opened.map(() => [] as LoneTiming[]);
      for (let r = 0; r < WARMUP_ROUNDS + runs; r++) {
        const order = opened.map((_, i) => i);
        if (r % 2) order.reverse();
        for (const i of order) {
          const t = await opened[i].time("batched");
          if (r >= WARMUP_ROUNDS) times[i].push(t);
        }
      }
      const first = times[0];
      for (const [i, base] of opened.entries()) {
        const wall = median(times[i].map((t) => t.wallMs)), cpu = median(times[i].map((t) => t.cpuMs));
        const wallRatio = median(times[i].map((t, r) => t.wallMs / first[r].wallMs));
        const cpuRatio = median(times[i].map((t, r) => t.cpuMs / first[r].cpuMs));
        const kib = built[i] / 1024;
        log(
          `  base ${base.baseUploads}: wall ${wall.toFixed(1)} ms (${wallRatio.toFixed(2)}×), cpu ${cpu.toFixed(1)} ms`,
        );
        rows.push(
          `| ${compaction} | ${base.baseUploads} | ${kib.toFixed(1)} KiB | ${wall.toFixed(1)} ms | ` +
            `${wallRatio.toFixed(2)}× | ${cpu.toFixed(1)} ms | ${cpuRatio.toFixed(2)}× |`,
        );
        if (i === opened.length - 1) {
          verdicts.push(
            `\`${compaction}\`${compaction === compactions[0] ? " (default)" : ""}: ${bases[0]} → ` +
              `${base.baseUploads} uploads ${wallRatio.toFixed(2)}× wall, ${cpuRatio.toFixed(2)}× CPU` +
              (compaction === "pgo" ? ` — ${wallRatio <= 1.2 && cpuRatio <= 1.2 ? "met" : "not met"}` : ""),
          );
        }
      }
    } finally {
      for (const base of opened) await base.close();
    }
  }
  const args = `--bases ${bases.join(",")} --runs ${runs} --compaction ${compactions.join(",")}`;
  return [
    `Measured ${new Date().toISOString().slice(0, 16)}Z on ${machine}; the machine was shared with other work. ` +
    `Data: ${bodies.length} real labelled CPU profiles of 100 ms from the hotpath fixture (unique stacks and span ` +
    `labels). Per compaction, one base per row is built from that many uploads (in batches, each base in its own ` +
    `store with its own decode pool); then ${runs} rounds (after ${WARMUP_ROUNDS} warm-up rounds) each stage one ` +
    `new upload for every base, in turn (order reversed every other round), handled by \`processUpload\` (stat, ` +
    `listing, base read, merge in the decode pool's Web Worker, conditional write, clean-up; the worker's default ` +
    `batch limits); each base grows by one upload a round. Medians; "vs smallest base" is the median of per-round ratios, so load from other work hits ` +
    `both sides of each ratio alike. CPU is user + system time of the process, the Worker thread included.`,
    "",
    "| compaction | base holds (uploads) | base size (built) | one more upload, wall | vs smallest base | CPU | vs smallest base |",
    "|---|---|---|---|---|---|---|",
    ...rows,
    "",
    `Target ≤1.2× from ${bases[0]} to ${bases.at(-1)} uploads with the default compaction: ${verdicts.join("; ")}.`,
    "",
    `Reproduce: \`deno task bench:scaling ${args}\``,
  ].join("\n");
}

async function main(): Promise<void> {
  const { values } = benchArgs(import.meta.url, {
    options: {
      bases: { type: "string", default: "10,100,1000" },
      runs: { type: "string", default: "30" },
      compaction: { type: "string", default: "pgo,none" },
      "no-write": { type: "boolean", default: false },
    },
  });
  const body = await measureScaling({
    bases: values.bases.split(",").map(Number),
    runs: Number(values.runs),
    compactions: values.compaction.split(",") as CompactionMode[],
  });
  console.log(body);
  if (!values["no-write"]) {
    await Deno.writeTextFile(BENCHMARKS_MD, replaceSection(await Deno.readTextFile(BENCHMARKS_MD), "scaling", body));
    await formatMarkdown(BENCHMARKS_MD);
  }
}

if (import.meta.main) await main();
