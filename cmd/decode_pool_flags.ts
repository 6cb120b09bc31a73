/**
 * The decode-pool flags of `autopgo server` and `autopgo worker` (`--decode-workers`,
 * `--decode-queue`) and the pool they open: profile decoding, checking and merging run in these
 * Web Workers, never on the thread that serves HTTP (core/pipeline/decode_pool.ts).
 *
 * @module
 */

import { type Command, InvalidArgumentError } from "commander";
import { getLogger } from "@logtape/logtape";
import { DecodePool, DEFAULT_QUEUE_LIMIT, defaultPoolSize } from "../core/pipeline/decode_pool.ts";
import { envOption, nonNegativeIntArg } from "./options.ts";

/** Resolved decode-pool flags. */
export interface DecodePoolFlags {
  decodeWorkers: number;
  decodeQueue: number;
}

const log = getLogger(["autopgo", "decode"]);

function positiveIntArg(value: string): number {
  const n = nonNegativeIntArg(value);
  if (n < 1) throw new InvalidArgumentError(`expected at least 1, got ${n}`);
  return n;
}

/** Adds `--decode-workers` and `--decode-queue` to `command`. */
export function addDecodePoolOptions(command: Command): Command {
  return command
    .addOption(
      envOption("--decode-workers <n>", "Web Workers decoding and merging profiles", "DECODE_WORKERS")
        .argParser(positiveIntArg).default(defaultPoolSize()),
    )
    .addOption(
      envOption(
        "--decode-queue <n>",
        "uploads that may wait for a decode worker before more are answered 503",
        "DECODE_QUEUE",
      ).argParser(nonNegativeIntArg).default(DEFAULT_QUEUE_LIMIT),
    );
}

/** Opens the pool the flags describe (workers start on first use); close it on shutdown. */
export function openDecodePool(flags: DecodePoolFlags): DecodePool {
  const pool = new DecodePool({ size: flags.decodeWorkers, queueLimit: flags.decodeQueue });
  log.info("decode pool: {workers} workers, queue of {queue}, module {module}", {
    workers: flags.decodeWorkers,
    queue: flags.decodeQueue,
    module: pool.workerUrl.href,
  });
  return pool;
}
