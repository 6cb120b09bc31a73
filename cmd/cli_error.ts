/**
 * Errors meant for the person at the terminal: printed as one line, exit code non-zero, in the
 * `autopgo: <what went wrong> (<what to do next>)` style; in `--log-format json` mode as one JSON
 * log line instead, so that every line on stderr parses.
 *
 * @module
 */

import { jsonLogLine, type LogFormat } from "./logging.ts";
import { oneLine } from "./cli_problem.ts";

export { CliError, describeProfileProblem, oneLine } from "./cli_problem.ts";

let outputFormat: LogFormat = "text";

/** Sets how {@link printProblem} writes (the CLI calls it once, from `--log-format`). */
export function setProblemFormat(format: LogFormat): void {
  outputFormat = format;
}

/**
 * Writes one problem line to stderr: `autopgo: <message>` (`autopgo: warning: <message>`), or in
 * JSON mode a JSON log line of logger `autopgo` whose properties carry `properties`.
 */
export function printProblem(
  message: string,
  level: "error" | "warning" = "error",
  properties: Record<string, unknown> = {},
): void {
  const line = message.replace(/\s*\n\s*/g, " ").trim();
  if (outputFormat === "json") {
    Deno.stderr.writeSync(new TextEncoder().encode(jsonLogLine(level, "autopgo", line, properties)));
  } else {
    console.error(`autopgo: ${level === "warning" ? "warning: " : ""}${line}`);
  }
}

/**
 * The message of a fatal error with the next step a person can take: for a server that cannot be
 * reached, the flag that names it; for a refused token, the flag that sets it; for an upload over
 * the server's limit, the limit's flag. Other errors keep their message. Recognises the API
 * client's `ApiError` by its shape.
 */
export function withNextStep(error: unknown): string {
  const message = oneLine(error);
  if ((error as Error)?.name !== "ApiError") return message;
  const status = (error as { status?: unknown }).status;
  if (status === 0 && /(cannot reach|no answer from) /.test(message)) {
    return `${message} — is the server running? (--api-url / AUTOPGO_API_URL)`;
  }
  if (status === 401 || status === 403) return `${message} (--token / AUTOPGO_TOKEN)`;
  if (status === 413) return `${message} (the server's --max-upload-size)`;
  return message;
}
