/**
 * The retention and decay flags of `worker` and of the embedded worker of `server` (issue 14):
 * `--retention`, `--half-life` and `--window`, with their environment variables
 * (`AUTOPGO_RETENTION`, `AUTOPGO_HALF_LIFE`, `AUTOPGO_WINDOW`, or the per-component
 * `AUTOPGO_WORKER_*` / `AUTOPGO_SERVER_*`). Neither `--retention` nor `--half-life` set keeps the
 * worker as it was: one growing `default.pgo`, no windows written.
 *
 * @module
 */

import type { Command } from "commander";
import { DEFAULT_WINDOW_MS, type WindowConfig, windowConfigProblem } from "../core/pipeline/windows.ts";
import { CliError } from "./cli_error.ts";
import { durationArg, envOption } from "./options.ts";

/** The parsed flags. */
export interface WindowFlags {
  /** Retention of the merged data in ms; absent: everything is kept. */
  retention?: number;
  /** Decay half-life in ms; absent: no decay. */
  halfLife?: number;
  /** Window length in ms (default 1h). */
  window: number;
}

/** Adds `--retention`, `--half-life` and `--window` to `command`. */
export function addWindowOptions(command: Command): Command {
  return command
    .addOption(
      envOption(
        "--retention <duration>",
        "keep merged data in time windows; default.pgo merges the last <duration> (e.g. 7d; default: all)",
        "RETENTION",
      ).argParser(durationArg),
    )
    .addOption(
      envOption("--half-life <duration>", "weigh each window by 2^(-age/<duration>) in default.pgo", "HALF_LIFE")
        .argParser(durationArg),
    )
    .addOption(
      envOption("--window <duration>", "length of one retention window", "WINDOW").argParser(durationArg)
        .default(DEFAULT_WINDOW_MS, "1h"),
    );
}

/**
 * The windows the flags ask for: undefined when neither `--retention` nor `--half-life` is set;
 * throws a one-line {@link CliError} when they do not fit together (e.g. a window longer than the
 * retention).
 */
export function windowConfigOf(flags: WindowFlags, clock: () => Date = () => new Date()): WindowConfig | undefined {
  if (flags.retention === undefined && flags.halfLife === undefined) return undefined;
  const config = { windowMs: flags.window, retentionMs: flags.retention, halfLifeMs: flags.halfLife };
  const problem = windowConfigProblem(config);
  if (problem) throw new CliError(problem);
  return { ...config, clock };
}
