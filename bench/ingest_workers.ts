/**
 * The worker-scaling part of `deno task bench:ingest` (issue 13): 1, 2 and 4 `autopgo worker`
 * processes on the file:// bus and on NATS JetStream, live (the workers run while 8 clients upload)
 * and backlog (everything uploaded first, then cold workers start: a restart after an outage),
 * each configuration `repeat` times in interleaved order (1, 2, 4, then 2, 4, 1, …) so that load from
 * other work on the machine spreads over all of them; the table shows medians. Besides uploads/s
 * it counts what scaling costs: batch writes of the measured apps, writes that lost a
 * compare-and-swap race to another worker, and CPU per 1,000 uploads. Written into BENCHMARKS.md
 * between `<!-- bench:ingest-workers:start -->` and `<!-- bench:ingest-workers:end -->`.
 *
 * @module
 */

import { DEFAULT_BATCH_LIMITS } from "../core/pipeline/merge_batch.ts";
import type { IngestConfig, IngestResult } from "./ingest_run.ts";
import { type BenchSetup, fileFile, natsJetStream } from "./setups.ts";

/** What the worker-scaling runs cover. */
export interface WorkerScalingOptions {
  /** Uploads of a live run. */
  uploads: number;
  /** Uploads of a backlog run. */
  backlogUploads: number;
  /** Worker counts, ascending (default 1, 2, 4). */
  workers: number[];
  /** Runs per configuration. */
  repeat: number;
  /**
   * Warm-up uploads per worker of the largest worker count before a live run: every run gets the
   * same total (so the server and a lone consuming worker are as warm with 1 worker as with 4).
   */
  warmup: number;
  /** Bus names to run: `file`, `nats`. */
  buses: string[];
  /** Modes to run: `live`, `backlog` (default both). */
  modes?: string[];
  /** Runs the workers under `nice -n N` (undefined: at the server's priority). */
  workerNice?: number;
}

type Runner = (
  make: () => Promise<BenchSetup | undefined>,
  config: IngestConfig,
  bodies: Uint8Array[],
) => Promise<IngestResult | undefined>;

const SETUPS: Record<string, () => Promise<BenchSetup | undefined>> = { file: fileFile, nats: natsJetStream };

/** Runs every configuration `options.repeat` times, interleaved; results in run order. */
export async function measureWorkerScaling(
  options: WorkerScalingOptions,
  bodies: Uint8Array[],
  run: Runner,
): Promise<IngestResult[]> {
  const results: IngestResult[] = [];
  for (let round = 0; round < options.repeat; round++) {
    for (const bus of options.buses) {
      for (const backlog of modesToRun(options.modes)) {
        // Each round starts one worker count later (1, 2, 4; then 2, 4, 1; …), so no count always runs
        // first or last in its round: a drift within a round would otherwise favour or burden one count.
        for (const workers of rotated(options.workers, round)) {
          const config: IngestConfig = {
            uploads: backlog ? options.backlogUploads : options.uploads,
            apps: 4,
            compaction: "pgo",
            batchMaxUploads: DEFAULT_BATCH_LIMITS.maxUploads,
            workers,
            lone: 0,
            backlog,
            warmup: warmupPerWorker(options, workers),
            workerNice: options.workerNice,
          };
          console.log(`round ${round + 1}/${options.repeat}`);
          const result = await run(SETUPS[bus], config, bodies);
          if (result) results.push(result);
        }
      }
    }
  }
  return results;
}

/** The `backlog` flags of the modes named (`live`, `backlog`; default both), in that order. */
export function modesToRun(modes: readonly string[] = ["live", "backlog"]): boolean[] {
  const unknown = modes.filter((m) => m !== "live" && m !== "backlog");
  if (unknown.length) throw new Error(`unknown worker benchmark mode ${unknown.join(", ")}: use live, backlog`);
  return [false, true].filter((backlog) => modes.includes(backlog ? "backlog" : "live"));
}

/** Warm-up uploads per worker of a `workers` run, so that every run's total is the same. */
export function warmupPerWorker(options: WorkerScalingOptions, workers: number): number {
  return Math.ceil(options.warmup * Math.max(...options.workers) / workers);
}

/** `items` rotated left by `by` places. */
export function rotated<T>(items: readonly T[], by: number): T[] {
  const k = items.length === 0 ? 0 : by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

function median(values: number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const ms = (v: number) => Number.isNaN(v) ? "–" : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v.toFixed(0)} ms`;
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
const modeOf = (r: IngestResult) => r.config.backlog ? "backlog" : "live";

/** The markdown table of medians and the verdict on "grows up to the cores, never shrinks". */
export function workersTable(results: IngestResult[], cores: number): string {
  const rows: string[] = [];
  const verdicts: string[] = [];
  const groups = [...new Set(results.map((r) => `${r.setup}|${modeOf(r)}`))];
  for (const group of groups) {
    const mine = results.filter((r) => `${r.setup}|${modeOf(r)}` === group);
    const counts = [...new Set(mine.map((r) => r.config.workers))].sort((a, b) => a - b);
    const ones = mine.filter((r) => r.config.workers === counts[0]);
    const ratios: number[] = [];
    for (const workers of counts) {
      const runs = mine.filter((r) => r.config.workers === workers);
      const rate = median(runs.map((r) => r.uploadsPerSecond));
      // Run k of every worker count belongs to round k: compare within rounds, as load drifts between them.
      const ratio = median(runs.slice(0, ones.length).map((r, k) => r.uploadsPerSecond / ones[k].uploadsPerSecond));
      ratios.push(ratio);
      const live = !runs[0].config.backlog;
      const per1000 = (cpu: (r: IngestResult) => number) => median(runs.map((r) => cpu(r) / r.config.uploads * 1000));
      const all = runs.map((r) => r.uploadsPerSecond.toFixed(0)).join(", ");
      rows.push(
        `| ${runs[0].setup} | ${modeOf(runs[0])} | ${runs[0].config.uploads} | ${workers} | ${
          rate.toFixed(1)
        } (${all}) | **${ratio.toFixed(2)}×** | ${median(runs.map((r) => r.acceptedPerSecond)).toFixed(0)} | ${
          median(runs.map((r) => r.batches)).toFixed(0)
        } | ${median(runs.map((r) => r.conflicts)).toFixed(0)} | ${per1000((r) => sum(r.workerCpuS)).toFixed(1)} s / ${
          per1000((r) => r.serverCpuS).toFixed(1)
        } s | ${(median(runs.map((r) => r.machineBusy)) * 100).toFixed(0)}% | ${
          live ? `${ms(median(runs.map((r) => r.mergedP50)))} / ${ms(median(runs.map((r) => r.mergedP99)))}` : "–"
        } | ${live ? ms(median(runs.map((r) => r.postP50))) : "–"} | ${
          median(runs.map((r) => Math.max(...r.workerRssMiB))).toFixed(0)
        } MiB | ${per1000((r) => r.workerOps.store).toFixed(0)} / ${per1000((r) => r.workerOps.bus).toFixed(0)} / ${
          per1000((r) => r.workerOps.kept).toFixed(0)
        } |`,
      );
    }
    const upToCores = ratios.filter((_, i) => counts[i] <= cores);
    const grows = upToCores.every((v, i) => i === 0 || v > upToCores[i - 1]);
    const neverShrinks = ratios.every((v, i) => i === 0 || v >= 0.95 * Math.max(...ratios.slice(0, i)));
    verdicts.push(
      `${group.replace("|", ", ")}: grows up to ${cores} workers ${grows ? "yes" : "no"}; never shrinks (within 5%) ${
        neverShrinks ? "yes" : "no"
      }`,
    );
  }
  const sanity = results.filter((r) => r.sanity).map((r) => `${r.setup} ${r.config.workers}: ${r.sanity}`);
  return [
    "| store + bus | mode | uploads | workers | uploads/s, median (each run, in round order) | vs 1 worker, median of the rounds' ratios | uploads answered/s | batch writes | lost write races | CPU per 1,000 uploads: workers / server | machine CPU busy | upload→merged p50 / p99 | POST p50 | peak RSS, largest worker | worker store / bus operations, kept events per 1,000 uploads |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
    "",
    `Target: ingest grows with workers up to the ${cores} cores here and never shrinks (on the rounds' ratios): ${
      verdicts.join("; ")
    }.`,
    sanity.length ? `\nSanity failures: ${sanity.join("; ")}` : "\nSanity: every run merged every upload exactly once.",
  ].join("\n");
}

/** The section's text above the table. */
export function workersIntro(options: WorkerScalingOptions, cores: number): string {
  return `${options.uploads} uploads (live) or ${options.backlogUploads} (backlog) from 8 concurrent clients to 4 ` +
    `apps, batched, default compaction, one \`autopgo server\` and ${options.workers.join(", ")} \`autopgo worker\` ` +
    `processes (file:// store) with the default \`--local-workers\` (${cores}, the cores): of more worker ` +
    `processes than that, the others stand by (cmd/worker_standby.ts), and of those, the ones beyond the first ` +
    `consume only while events wait longer than \`--local-helper-lag\` (default 2 s; cmd/worker_helpers.ts). ` +
    `"live": the workers, warmed up with ` +
    `${options.warmup * Math.max(...options.workers)} uploads to other apps (the same for every worker count), ` +
    `run while the clients upload; uploads/s from the first POST to the last merge (the server's acceptance and ` +
    `the workers share the machine's ${cores} cores). "backlog": everything is uploaded first with no worker ` +
    `running, then cold workers start (a restart after an outage); uploads/s from the last worker ready to the ` +
    `last merge, counting the uploads merged after it (start-up is not ingest). Each configuration ran ` +
    `${options.repeat} times in interleaved rounds (${options.workers.join(", ")} workers, then the ` +
    `next bus or mode; each round starts one worker count later than the one before); "vs 1 worker" is the median over the rounds of the ratio to the 1-worker run of the same ` +
    `round, which cancels load that drifts between rounds; other columns are medians. Batch ` +
    `writes and lost write races count the measured apps' base writes (from the workers' logs); CPU is user + ` +
    `system time while the uploads were ingested (backlog workers: their whole life, start-up included); ` +
    `"machine CPU busy" is the share of all cores' time that every process on the machine (server, workers, ` +
    `bus, the benchmark's clients) kept busy over the measured span, so what is left is the idle CPU more ` +
    `workers could grow into. "Uploads answered/s" is the rate of the server's answers to the 8 clients: ` +
    `in a backlog run no worker is running, so it is what the server accepts alone; a live run cannot ingest ` +
    `faster than it.` +
    (options.workerNice === undefined
      ? ""
      : ` The workers ran under \`nice -n ${options.workerNice}\`: the server (and the bus) before them for the CPU.`);
}
