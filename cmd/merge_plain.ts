/**
 * A start-up path for a plain `autopgo merge`: a command line that commander would parse into
 * `merge` with only input files and `-o`/`--output` is run by main.ts without building the
 * commander program, without logging set-up and without the object path (cmd/merge_io.ts loads
 * the fused merger and node:zlib, nothing else). Start-up was most of a merge's cost: commander,
 * logtape and the command's other imports took ~30 ms CPU and ~10 MiB of every run.
 *
 * Only command lines whose meaning is certain are taken: `merge` first, then input paths (`-`
 * for stdin) and at most one `-o FILE` / `--output FILE` / `--output=FILE`; no other flag, no
 * `--`, no root option, and neither `AUTOPGO_LOG_LEVEL` nor `AUTOPGO_LOG_FORMAT` set (they change
 * logging and how errors print). Everything else — help, `--compact`, `--noinline`, argument
 * errors — goes through commander (cmd/program.ts) as before, so help text and argument errors
 * stay commander's. Failures print exactly as cmd/program.ts `runCli` prints them.
 *
 * @module
 */

/** A plain merge command line, parsed. */
export interface PlainMergeArgs {
  /** Input paths in order ("-" is stdin). */
  paths: string[];
  /** Output path, "-" for stdout (the default). */
  output: string;
}

/** Environment variables that change what `autopgo merge` does beyond its arguments (logging, error format). */
const MERGE_ENV = ["AUTOPGO_LOG_LEVEL", "AUTOPGO_LOG_FORMAT"] as const;

/**
 * The paths and output of `args` when they are a plain merge (see the module doc), else
 * `undefined` (then commander parses them). `envSet` tells whether an environment variable is
 * set; by default it reads the environment only where env access is already granted.
 */
export function plainMergeArgs(
  args: readonly string[],
  envSet: (name: string) => boolean = envIsSet,
): PlainMergeArgs | undefined {
  if (args[0] !== "merge") return undefined;
  const paths: string[] = [];
  let output: string | undefined;
  for (let i = 1; i < args.length; i++) {
    const arg = args[i];
    let value: string | undefined;
    if (arg === "-o" || arg === "--output") value = args[++i];
    else if (arg.startsWith("--output=")) value = arg.slice("--output=".length);
    else if (arg === "-" || !arg.startsWith("-")) {
      paths.push(arg);
      continue;
    } else return undefined;
    // A repeated output, a missing or empty one, or one that looks like a flag: commander decides.
    if (output !== undefined || value === undefined || value === "" || (value !== "-" && value.startsWith("-"))) {
      return undefined;
    }
    output = value;
  }
  if (paths.length === 0 || MERGE_ENV.some((name) => envSet(name))) return undefined;
  return { paths, output: output ?? "-" };
}

/**
 * True when `name` is set. Without env permission granted up front (a prompt, a denial) it
 * answers true, so that commander's path handles the environment exactly as before.
 */
function envIsSet(name: string): boolean {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") return true;
    return Deno.env.get(name) !== undefined;
  } catch {
    return true;
  }
}

/**
 * Runs a plain merge and returns the exit code; a failure is printed the way cmd/program.ts
 * `runCli` prints it (`autopgo: merge: …`, exit code 1 or the error's own).
 */
export async function runPlainMerge(args: PlainMergeArgs): Promise<number> {
  try {
    const { runFusedMerge } = await import("./merge_io.ts");
    await runFusedMerge(args.paths, args.output);
    return 0;
  } catch (error) {
    const { CliError, printProblem, withNextStep } = await import("./cli_error.ts");
    const code = error instanceof CliError ? error.exitCode : 1;
    printProblem(withNextStep(error), "error", { command: "merge", exitCode: code });
    return code;
  }
}
