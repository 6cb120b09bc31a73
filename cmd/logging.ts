/**
 * Logging set-up for every command: logtape to stderr, human-readable text by default,
 * JSON lines with `--log-format json`. Logs never go to stdout so `-o -` stays clean.
 *
 * Both formats name loggers the same way (`autopgo.worker`) and render messages the same way
 * (string values bare, errors by their message). A JSON line holds `@timestamp`, `level`,
 * `message`, `logger` and the structured `properties` of the record (errors as `{name, message}`);
 * the CLI's own error line is a JSON line too in JSON mode ({@link jsonLogLine}).
 *
 * @module
 */

import { replaceControlCharacters } from "../core/control_chars.ts";
import {
  configure,
  getStreamSink,
  getTextFormatter,
  type LogLevel,
  type LogRecord,
  type TextFormatter,
} from "@logtape/logtape";

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
  const formatter = format === "json"
    ? jsonLinesFormatter
    : getTextFormatter({ timestamp: "date-time-tz", category: ".", value: renderValue });
  await configure({
    reset: true,
    sinks: { main: getStreamSink(sink, { formatter }) },
    loggers: [
      { category: ["autopgo"], lowestLevel: toLogtapeLevel(level), sinks: ["main"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["main"] },
    ],
  });
}

const LEVEL_NAMES: Record<LogLevel, string> = {
  trace: "TRACE",
  debug: "DEBUG",
  info: "INFO",
  warning: "WARN",
  error: "ERROR",
  fatal: "FATAL",
};

/** A value inside a message: strings bare, errors by their message, the rest as JSON (or inspected). */
function renderValue(value: unknown): string {
  if (typeof value === "string") return safeText(value);
  if (value instanceof Error) return safeText(value.message);
  if (typeof value === "bigint") return value.toString();
  try {
    return safeText(JSON.stringify(value) ?? String(value));
  } catch {
    return safeText(Deno.inspect(value));
  }
}

/** Longest logged value; values come from clients too (an event's id, a key), and one was 50 MB. */
const MAX_LOGGED_CHARS = 2048;

/**
 * `text` fit for one log line: control characters escaped (a line feed in a client's value would
 * forge a log line of its own) and cut at {@link MAX_LOGGED_CHARS}.
 */
export function safeText(text: string): string {
  const cut = text.length > MAX_LOGGED_CHARS
    ? `${text.slice(0, MAX_LOGGED_CHARS)}… (${text.length - MAX_LOGGED_CHARS} more characters)`
    : text;
  return replaceControlCharacters(
    cut,
    (c) => c === "\t" ? "\\t" : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** A property value as JSON: errors become `{name, message}`, bigints strings, long strings cut. */
function jsonValue(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message.slice(0, MAX_LOGGED_CHARS) };
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "string" && value.length > MAX_LOGGED_CHARS) return safeText(value);
  return value;
}

/**
 * One JSON log line in the shape every autopgo JSON line has:
 * `{"@timestamp","level","message","logger","properties"}`, ending in a newline.
 */
export function jsonLogLine(
  level: LogLevel,
  logger: string,
  message: string,
  properties: Record<string, unknown> = {},
  timestamp = Date.now(),
): string {
  const line = {
    "@timestamp": new Date(timestamp).toISOString(),
    level: LEVEL_NAMES[level],
    message,
    logger,
    properties,
  };
  try {
    return JSON.stringify(line, jsonValue) + "\n";
  } catch {
    return JSON.stringify({ ...line, properties: { unserializable: String(Object.keys(properties)) } }) + "\n";
  }
}

/** The logtape formatter of `--log-format json`. */
const jsonLinesFormatter: TextFormatter = (record: LogRecord) => {
  const message = record.message.map((part, i) => i % 2 === 0 ? String(part) : renderValue(part)).join("");
  return jsonLogLine(record.level, record.category.join("."), message, { ...record.properties }, record.timestamp);
};
