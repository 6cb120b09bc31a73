/**
 * Logging set-up for every command: logtape to stderr, human-readable text by default,
 * JSON lines with `--log-format json`. Logs never go to stdout so `-o -` stays clean.
 *
 * @module
 */

import { configure, getJsonLinesFormatter, getStreamSink, getTextFormatter, type LogLevel } from "@logtape/logtape";

/** Log levels accepted by `--log-level` (the original's names; `warn` maps to logtape's `warning`). */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** A `--log-level` value. */
export type CliLogLevel = typeof LOG_LEVELS[number];

/** A `--log-level` value as resolved: the level used and, when the input was not a level, that input. */
export interface ResolvedLogLevel {
  level: CliLogLevel;
  /** The value that was not understood (the level then falls back to `info`, as the original does). */
  unknown?: string;
}

/**
 * Resolves a `--log-level`/`AUTOPGO_LOG_LEVEL` value case-insensitively: `debug`, `info`, `warn`
 * (also `warning`) and `error`. Anything else falls back to `info`, as in the original, and is
 * reported in `unknown` so the caller can warn about it; it never stops the program.
 */
export function resolveLogLevel(value: string | undefined): ResolvedLogLevel {
  const normalised = (value ?? "info").trim().toLowerCase();
  if (normalised === "warning") return { level: "warn" };
  if ((LOG_LEVELS as readonly string[]).includes(normalised)) return { level: normalised as CliLogLevel };
  return { level: "info", unknown: value };
}
/** Output formats accepted by `--log-format`. */
export const LOG_FORMATS = ["text", "json"] as const;
/** A `--log-format` value. */
export type LogFormat = typeof LOG_FORMATS[number];

function toLogtapeLevel(level: CliLogLevel): LogLevel {
  return level === "warn" ? "warning" : level;
}

/**
 * Configures logtape once for the process. `sink` defaults to stderr; tests pass their own
 * writable stream.
 */
export async function setupLogging(
  level: CliLogLevel,
  format: LogFormat,
  sink: WritableStream<Uint8Array> = Deno.stderr.writable,
): Promise<void> {
  const formatter = format === "json" ? getJsonLinesFormatter() : getTextFormatter({ timestamp: "date-time-tz" });
  await configure({
    reset: true,
    sinks: { main: getStreamSink(sink, { formatter }) },
    loggers: [
      { category: ["autopgo"], lowestLevel: toLogtapeLevel(level), sinks: ["main"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["main"] },
    ],
  });
}
