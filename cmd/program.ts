/**
 * Builds the `autopgo` commander program: global options (log level and format), the
 * component commands (server, worker, scrape) and the utilities, and runs it with one-line
 * errors and proper exit codes.
 *
 * @module
 */

import { Command, CommanderError, Option } from "commander";
import { dispose, getLogger } from "@logtape/logtape";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, resolveLogLevel, setupLogging } from "./logging.ts";
import { CliError, oneLine } from "./cli_error.ts";
import { preferComponentEnv } from "./options.ts";
import { versionString } from "./version.ts";

/** How a command module is loaded: a literal dynamic import, so only the command being run is loaded (fast start-up). */
type CommandLoader = () => Promise<Command>;

const COMPONENTS: Record<string, CommandLoader> = {
  server: () => import("./server.ts").then((m) => m.serverCommand()),
  worker: () => import("./worker.ts").then((m) => m.workerCommand()),
  scrape: () => import("./scrape.ts").then((m) => m.scrapeCommand()),
};

const UTILITIES: Record<string, CommandLoader> = {
  upload: () => import("./upload.ts").then((m) => m.uploadCommand()),
  download: () => import("./download.ts").then((m) => m.downloadCommand()),
  list: () => import("./list.ts").then((m) => m.listCommand()),
  delete: () => import("./delete.ts").then((m) => m.deleteCommand()),
  clean: () => import("./clean.ts").then((m) => m.cleanCommand()),
  merge: () => import("./merge.ts").then((m) => m.mergeCommand()),
  inspect: () => import("./inspect.ts").then((m) => m.inspectCommand()),
  explain: () => import("./explain.ts").then((m) => m.explainCommand()),
};

/** Root options that take a separate value (`-l debug`), skipped when looking for the command name. */
const ROOT_OPTIONS_WITH_VALUE = new Set(["-l", "--log-level", "--log-format"]);

/** The subcommand named in `args`, if it is one of ours; `undefined` for help, version or unknown words. */
export function commandNameIn(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (ROOT_OPTIONS_WITH_VALUE.has(arg)) {
      i++;
      continue;
    }
    if (arg.startsWith("-")) continue;
    return arg in COMPONENTS || arg in UTILITIES ? arg : undefined;
  }
  return undefined;
}

/** Global options every command accepts (root options are recognised before and after the subcommand). */
export interface GlobalOptions {
  /** As given; resolved by {@link resolveLogLevel} (unknown values fall back to `info` with a warning). */
  logLevel: string;
  logFormat: LogFormat;
}

/**
 * Creates the program. With `only`, just that command's module is loaded (the others are
 * not needed to parse and run it); without, every command is loaded (for help output).
 * Nothing runs until `parseAsync`.
 */
export async function buildProgram(only?: string): Promise<Command> {
  const program = new Command("autopgo")
    .description("Continuous profile-guided optimization for Go services")
    .version(versionString(Deno.env.get("AUTOPGO_COMMIT") ?? "HEAD"), "-v, --version", "print the version")
    .addOption(
      new Option("-l, --log-level <level>", `log verbosity: ${LOG_LEVELS.join(", ")} (any case; others mean info)`)
        .default("info").env("AUTOPGO_LOG_LEVEL"),
    )
    .addOption(
      new Option("--log-format <format>", "log output format").choices(LOG_FORMATS).default("text").env(
        "AUTOPGO_LOG_FORMAT",
      ),
    )
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError(false)
    .exitOverride();

  program.hook("preAction", async (root) => {
    const opts = root.opts<GlobalOptions>();
    const { level, unknown } = resolveLogLevel(opts.logLevel);
    await setupLogging(level, opts.logFormat);
    if (unknown !== undefined) {
      getLogger(["autopgo"]).warn(
        `unknown log level ${JSON.stringify(unknown)}; using info (expected one of ${LOG_LEVELS.join(", ")})`,
      );
    }
  });

  const load = (loaders: Record<string, CommandLoader>) =>
    Promise.all(Object.entries(loaders).filter(([name]) => !only || name === only).map(([, loader]) => loader()));
  const [components, utilities] = await Promise.all([load(COMPONENTS), load(UTILITIES)]);
  if (components.length) program.commandsGroup("Components:");
  for (const c of components) program.addCommand(c);
  if (utilities.length) program.commandsGroup("Utilities:");
  for (const c of utilities) program.addCommand(c);
  for (const c of [...components, ...utilities]) c.exitOverride().configureHelp({ showGlobalOptions: true });
  for (const c of components) preferComponentEnv(c);
  return program;
}

/**
 * Runs the CLI with `args` (without the executable) and returns the exit code. Errors are
 * printed as one line on stderr: `autopgo: <message>`.
 */
export async function runCli(args: string[]): Promise<number> {
  const program = await buildProgram(commandNameIn(args));
  try {
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version exit through here with code 0; commander already printed its message.
      return error.exitCode;
    }
    const code = error instanceof CliError ? error.exitCode : 1;
    try {
      getLogger(["autopgo"]).debug("command failed: {error}", { error });
    } catch { /* logging not configured */ }
    console.error(`autopgo: ${oneLine(error)}`);
    return code;
  } finally {
    // Flush buffered log records before the caller exits the process.
    await dispose();
  }
}
