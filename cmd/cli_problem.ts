/**
 * The light half of cmd/cli_error.ts: {@link CliError} and the one-line renderings of thrown
 * values, with no imports, so that a start-up path that loads no logging (`autopgo merge`,
 * cmd/merge_plain.ts) can throw and describe the same errors. cmd/cli_error.ts re-exports them.
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

/**
 * A one-line description of a pprof decoding failure that says what the input should have
 * been: `not a pprof profile (expected gzip or protobuf): <detail>` for bytes that are no
 * profile, the message unchanged otherwise. Recognises the engine's `ProfileError` by its shape
 * (this module stays free of engine imports).
 */
export function describeProfileProblem(error: unknown): string {
  const kind = (error as { kind?: unknown })?.kind;
  const message = oneLine(error);
  if ((error as Error)?.name === "ProfileError" && (kind === "malformed" || kind === "decompress")) {
    return `not a pprof profile (expected gzip or protobuf): ${message}`;
  }
  return message;
}
