/**
 * Builds the `autopgo` commander program: global options (log level and format), the
 * component commands (server, worker, scrape) and the utilities, and runs it with one-line
 * errors and proper exit codes.
 *
 * @module
 */

import { Command, CommanderError, Option } from "commander";
import { dispose, getLogger } from "@logtape/logtape";
import { type CliLogLevel, LOG_FORMATS, LOG_LEVELS, type LogFormat, setupLogging } from "./logging.ts";
import { CliError, oneLine } from "./cli_error.ts";
import { versionString } from "./version.ts";
import { serverCommand } from "./server.ts";
import { workerCommand } from "./worker.ts";
import { scrapeCommand } from "./scrape.ts";
import { uploadCommand } from "./upload.ts";
import { downloadCommand } from "./download.ts";
import { listCommand } from "./list.ts";
import { deleteCommand } from "./delete.ts";
import { cleanCommand } from "./clean.ts";
import { mergeCommand } from "./merge.ts";
import { inspectCommand } from "./inspect.ts";
import { explainCommand } from "./explain.ts";

/** Global options every command accepts (root options are recognised before and after the subcommand). */
export interface GlobalOptions {
  logLevel: CliLogLevel;
  logFormat: LogFormat;
}

/** Creates the full program. Nothing runs until `parseAsync`. */
export function buildProgram(): Command {
  const program = new Command("autopgo")
    .description("Continuous profile-guided optimization for Go services")
    .version(versionString(Deno.env.get("AUTOPGO_COMMIT") ?? "HEAD"), "-v, --version", "print the version")
    .addOption(
      new Option("-l, --log-level <level>", "log verbosity").choices(LOG_LEVELS).default("info").env(
        "AUTOPGO_LOG_LEVEL",
      ),
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
    await setupLogging(opts.logLevel, opts.logFormat);
  });

  const components = [serverCommand(), workerCommand(), scrapeCommand()];
  const utilities = [
    uploadCommand(),
    downloadCommand(),
    listCommand(),
    deleteCommand(),
    cleanCommand(),
    mergeCommand(),
    inspectCommand(),
    explainCommand(),
  ];
  program.commandsGroup("Components:");
  for (const c of components) program.addCommand(c);
  program.commandsGroup("Utilities:");
  for (const c of utilities) program.addCommand(c);
  for (const c of [...components, ...utilities]) c.exitOverride().configureHelp({ showGlobalOptions: true });
  return program;
}

/**
 * Runs the CLI with `args` (without the executable) and returns the exit code. Errors are
 * printed as one line on stderr: `autopgo: <message>`.
 */
export async function runCli(args: string[]): Promise<number> {
  const program = buildProgram();
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
