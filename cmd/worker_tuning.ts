/**
 * The flags and pieces `autopgo worker` shares with the embedded worker of `autopgo server`: the
 * worker tuning flags and their resolution into the worker's dependencies, byte sizes and `--host`.
 *
 * @module
 */

import { type Command, InvalidArgumentError, type Option } from "commander";
import { getLogger } from "@logtape/logtape";
import type { BlobStore } from "../core/blob.ts";
import type { EventWriter } from "../core/events.ts";
import type { Metrics } from "../core/metrics.ts";
import { DEFAULT_BATCH_LIMITS } from "../core/pipeline/merge_batch.ts";
import type { CompactionMode } from "../core/pipeline/merge_upload.ts";
import { loadPruneConfig, type PruneConfig, PruneConfigError } from "../core/pipeline/prune_config.ts";
import { eventPublisher } from "../core/pipeline/publisher.ts";
import { uploadDecodeLimits } from "../core/pipeline/upload_limits.ts";
import type { WorkerDeps } from "../core/pipeline/worker.ts";
import { CliError } from "./cli_error.ts";
import { durationArg, envOption, nonNegativeIntArg, timerDurationArg } from "./options.ts";
import { addWindowOptions, windowConfigOf, type WindowFlags } from "./window_flags.ts";
import { addNoInlineOptions, type NoInlineFlags, noInlineGuardsOf } from "./noinline_flags.ts";
import { ALL_INTERFACES, ALL_INTERFACES_HELP } from "./listen.ts";

const log = getLogger(["autopgo", "worker"]);

/** Worker tuning shared by `worker` and the embedded worker of `server`. */
export interface WorkerTuningFlags extends WindowFlags, NoInlineFlags {
  prune?: string;
  compaction: CompactionMode;
  concurrency: number;
  sweepInterval: number;
  sweepGrace: number;
  batchMaxUploads: number;
  batchMaxBytes: number;
}

/** Parses byte sizes: `1048576`, `512k`, `64MiB`, `1G` (binary multiples). */
export function byteSizeArg(value: string): number {
  const m = /^\s*(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$/i.exec(value);
  if (!m) throw new InvalidArgumentError(`expected a size like 1048576, 512KiB or 64MiB, got "${value}"`);
  const unit = (m[2] ?? "b").toLowerCase()[0];
  const n = Number(m[1]) * ({ b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as Record<string, number>)[unit];
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`size is too large (at most 8 PiB), got "${value}"`);
  if (n <= 0) throw new InvalidArgumentError(`size must be positive, got "${value}"`);
  return n;
}

/** The `--host` option (`AUTOPGO_HOST`); the original listened on all interfaces (Go's `:port`). */
export function hostOption(): Option {
  return envOption("--host <address>", "interface to listen on", "HOST").default(
    ALL_INTERFACES,
    ALL_INTERFACES_HELP,
  );
}

function batchCountArg(value: string): number {
  const n = nonNegativeIntArg(value);
  if (n < 1) throw new InvalidArgumentError(`expected at least 1 (1: one merge per upload), got ${n}`);
  return n;
}

/**
 * Adds the worker tuning flags (`--prune`, `--compaction`, `--concurrency`, `--sweep-*`, `--batch-*`,
 * and the retention flags of window_flags.ts) to `command`.
 */
export function addWorkerTuningOptions(command: Command): Command {
  return addNoInlineOptions(addWindowOptions(command))
    .addOption(envOption("--prune <file>", "JSON pruning rules applied to every merged upload", "PRUNE"))
    .addOption(
      envOption("--compaction <mode>", "store bases compacted to what Go PGO reads (pgo) or full (none)", "COMPACTION")
        .choices(["pgo", "none"]).default("pgo"),
    )
    .addOption(
      envOption("--concurrency <n>", "events merged in parallel (at most 1024)", "CONCURRENCY").argParser(
        concurrencyArg,
      ).default(
        1,
      ),
    )
    .addOption(
      envOption(
        "--sweep-interval <duration>",
        "period of the sweep that merges orphaned uploads (0: only at start)",
        "SWEEP_INTERVAL",
      )
        .argParser(timerDurationArg).default(60_000, "1m"),
    )
    .addOption(
      envOption("--sweep-grace <duration>", "age before the sweep takes over an upload from its event", "SWEEP_GRACE")
        .argParser(durationArg).default(60_000, "1m"),
    )
    .addOption(
      envOption(
        "--batch-max-uploads <n>",
        "waiting uploads of one app merged in one write at most (1: one merge per upload)",
        "BATCH_MAX_UPLOADS",
      ).argParser(batchCountArg).default(DEFAULT_BATCH_LIMITS.maxUploads),
    )
    .addOption(
      envOption("--batch-max-bytes <size>", "staged bytes merged in one write at most", "BATCH_MAX_BYTES")
        .argParser(byteSizeArg).default(DEFAULT_BATCH_LIMITS.maxBytes, "16MiB"),
    );
}

/** Logs the no-inline guards the worker applies (flags checked by their parser). */
export function logNoInlineGuards(flags: NoInlineFlags): void {
  const guards = noInlineGuardsOf(flags)!.patterns.map((p) => p.source);
  if (guards.length === 0) log.info("no-inline guards: none");
  else log.info("no-inline guards: {guards}", { guards: guards.join(" ") });
}

/** Loads the pruning file (one-line CliError when unusable). */
export async function loadPruneFlag(path: string | undefined): Promise<PruneConfig> {
  try {
    const config = await loadPruneConfig(path);
    if (config.length === 0) log.info("starting with no prune rules");
    else log.info("loaded prune rules for {apps} apps from {path}", { apps: config.length, path });
    return config;
  } catch (error) {
    if (error instanceof PruneConfigError) throw new CliError(error.message);
    throw error;
  }
}

/** Builds the worker's dependencies from opened resources and resolved flags. */
export function workerDeps(
  store: BlobStore,
  writer: EventWriter,
  pruneConfig: PruneConfig,
  flags: WorkerTuningFlags,
  maxUploadBytes?: number,
  metrics?: Metrics,
): WorkerDeps {
  return {
    metrics,
    store,
    pruneConfig,
    compaction: flags.compaction,
    batch: { maxUploads: flags.batchMaxUploads, maxBytes: flags.batchMaxBytes },
    windows: windowConfigOf(flags),
    noinline: noInlineGuardsOf(flags),
    uploadLimits: maxUploadBytes ? uploadDecodeLimits(maxUploadBytes) : undefined,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    random: Math.random,
    publisher: eventPublisher({ writer, clock: () => new Date(), newEventId: () => crypto.randomUUID() }),
  };
}

/** `--concurrency`: 0–1024 (99,999,999 made the worker spin at start, deaf to health checks and SIGTERM). */
function concurrencyArg(value: string): number {
  const n = nonNegativeIntArg(value);
  if (n > 1024) throw new InvalidArgumentError(`concurrency must be at most 1024, got ${n}`);
  return n;
}
