/**
 * The HTTP connection limits every component with a port applies (`server`, `worker`, `scrape`):
 * `--header-timeout`, `--idle-timeout` and `--max-connections`, turned into the connection guard's
 * options (core/pipeline/conn_guard.ts).
 *
 * @module
 */

import type { Command } from "commander";
import { type ConnGuardOptions, DEFAULT_CONN_GUARD, DEFAULT_MAX_CONNECTIONS } from "../core/pipeline/conn_guard.ts";
import { MAX_PROFILE_SECONDS } from "../core/debug/pprof_routes.ts";
import { CliError } from "./cli_error.ts";
import { envOption, nonNegativeIntArg, timerDurationArg } from "./options.ts";

/** HTTP connection limits of `server`, `worker` and `scrape`. */
export interface HttpTimeoutFlags {
  headerTimeout: number;
  idleTimeout: number;
  maxConnections: number;
}

/** Adds `--header-timeout` and `--idle-timeout` (slow-client protection, conn_guard.ts). */
export function addHttpTimeoutOptions(command: Command): Command {
  return command
    .addOption(
      envOption("--header-timeout <duration>", "time a client has to send a request head", "HEADER_TIMEOUT")
        .argParser(timerDurationArg).default(DEFAULT_CONN_GUARD.headerTimeoutMs, "10s"),
    )
    .addOption(
      envOption("--idle-timeout <duration>", "time a keep-alive connection may sit idle", "IDLE_TIMEOUT")
        .argParser(timerDurationArg).default(DEFAULT_CONN_GUARD.idleTimeoutMs, "2m"),
    )
    .addOption(
      envOption(
        "--max-connections <n>",
        "client connections served at once; more are answered 503 (lowered to fit the open-file limit)",
        "MAX_CONNECTIONS",
      ).argParser(nonNegativeIntArg).default(DEFAULT_MAX_CONNECTIONS),
    );
}

/** Connection guard limits from the flags; bodies are bounded by `bodyTimeoutMs`. */
export function connGuardOptions(flags: HttpTimeoutFlags, bodyTimeoutMs: number): ConnGuardOptions {
  if (flags.headerTimeout <= 0 || flags.idleTimeout <= 0) {
    throw new CliError("--header-timeout and --idle-timeout must be positive");
  }
  if (flags.maxConnections < 1) throw new CliError("--max-connections must be at least 1");
  return {
    headerTimeoutMs: flags.headerTimeout,
    idleTimeoutMs: flags.idleTimeout,
    bodyTimeoutMs,
    // A request's work is bounded by the server's deadlines; `--debug`'s profile takes up to 300 s.
    responseTimeoutMs: Math.max(bodyTimeoutMs, flags.idleTimeout, (MAX_PROFILE_SECONDS + 10) * 1000),
    maxHeaderBytes: DEFAULT_CONN_GUARD.maxHeaderBytes,
    maxConnections: flags.maxConnections,
  };
}
