/**
 * Errors meant for the person at the terminal: printed as one line, exit code non-zero.
 *
 * @module
 */

/** A user-facing failure: `message` is printed as `autopgo: <message>` and the process exits with `exitCode`. */
export class CliError extends Error {
  /** Process exit code (default 1). */
  readonly exitCode: number;

  /** Creates a CLI error with a single-line message. */
  constructor(message: string, exitCode = 1) {
    super(message.replace(/\s*\n\s*/g, " "));
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

/** Renders any thrown value as one line (no stack traces for users). */
export function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s*\n\s*/g, " ").trim() || "unknown error";
}
