/**
 * Builds the `autopgo` commander program: global options (log level and format), the
 * component commands (server, worker, scrape) and the utilities, and runs it with one-line
 * errors and proper exit codes. Argument errors (a missing option, an unknown command or flag, a
 * bad value) come out in the same `autopgo: …` style as every other error, naming the command,
 * the environment variable where there is one, and the help to read.
 *
 * @module
 */

import { Command, CommanderError, Option } from "commander";
import { dispose, getLogger } from "@logtape/logtape";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, resolveLogLevel, setupLogging } from "./logging.ts";
import { CliError, printProblem, setProblemFormat, withNextStep } from "./cli_error.ts";
import { componentEnvName, preferComponentEnv } from "./options.ts";
import { VERSION_FLAGS, versionLine } from "./version.ts";

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

/**
 * The word of a command line that names no command where one is expected: the topic of
 * `autopgo help WORD`, or a word after `--version` (`autopgo --version extra`). Commander would
 * print the whole usage for the first and the version for the second, ignoring the word.
 */
export function strayWordIn(args: readonly string[]): string | undefined {
  const words: string[] = [];
  let version = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") break;
    if (ROOT_OPTIONS_WITH_VALUE.has(arg)) i++;
    else if (VERSION_FLAGS.has(arg)) version = true;
    else if (!arg.startsWith("-")) words.push(arg);
  }
  const known = (word: string) => word in COMPONENTS || word in UTILITIES;
  if (words[0] === "help") return words[1] !== undefined && !known(words[1]) ? words[1] : undefined;
  return version && words[0] !== undefined && !known(words[0]) ? words[0] : undefined;
}

/**
 * True when `args` only ask for the version (a version flag and root options, no command and no help): the
 * program is then built without any command module, so `autopgo --version` loads none of them.
 */
export function asksOnlyVersion(args: readonly string[]): boolean {
  let version = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (VERSION_FLAGS.has(arg)) version = true;
    else if (ROOT_OPTIONS_WITH_VALUE.has(arg)) i++;
    else if (!/^--(log-level|log-format)=/.test(arg)) return false;
  }
  return version;
}

/** Global options every command accepts (root options are recognised before and after the subcommand). */
export interface GlobalOptions {
  /** As given; resolved by {@link resolveLogLevel} (unknown values fall back to `info` with a warning). */
  logLevel: string;
  logFormat: LogFormat;
}

/**
 * Creates the program. With `only`, just that command's module is loaded (the others are
 * not needed to parse and run it); with `null`, none (for `--version`); without, every command
 * is loaded (for help output). Nothing runs until `parseAsync`.
 */
export async function buildProgram(only?: string | null): Promise<Command> {
  const program = new Command("autopgo")
    .description("Continuous profile-guided optimization for Go services")
    .version(versionLine(), "-v, --version", "print the version")
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
        { level: unknown, expected: LOG_LEVELS },
      );
    }
  });

  const load = (loaders: Record<string, CommandLoader>) =>
    Promise.all(
      Object.entries(loaders).filter(([name]) => only === undefined || name === only).map(([, loader]) => loader()),
    );
  const [components, utilities] = await Promise.all([load(COMPONENTS), load(UTILITIES)]);
  if (components.length) program.commandsGroup("Components:");
  for (const c of components) program.addCommand(c);
  if (utilities.length) program.commandsGroup("Utilities:");
  for (const c of utilities) program.addCommand(c);
  for (const c of [...components, ...utilities]) c.exitOverride().configureHelp({ showGlobalOptions: true });
  // Argument errors are printed by runCli, in autopgo's style; commander only prints help.
  for (const c of [program, ...components, ...utilities]) {
    c.configureOutput({ ...c.configureOutput(), outputError: () => {} });
  }
  for (const c of components) preferComponentEnv(c);
  return program;
}

/**
 * Runs the CLI with `args` (without the executable) and returns the exit code. Errors are
 * printed as one line on stderr: `autopgo: <message>`.
 */
export async function runCli(args: string[]): Promise<number> {
  const name = commandNameIn(args);
  setProblemFormat(logFormatIn(args));
  const stray = strayWordIn(args);
  if (stray !== undefined) {
    printProblem(`unknown command ${JSON.stringify(stray)} (see \`autopgo --help\`)`, "error", {
      code: "commander.unknownCommand",
    });
    return 1;
  }
  const program = await buildProgram(asksOnlyVersion(args) ? null : name);
  try {
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version exit through here with code 0 (commander printed them), as does
      // help shown for a missing command (code 1); argument errors are ours to print.
      if (error.exitCode === 0 || SILENT_CODES.has(error.code)) return error.exitCode;
      printProblem(describeCommanderError(error, program, name), "error", { command: name, code: error.code });
      return error.exitCode;
    }
    const code = error instanceof CliError ? error.exitCode : 1;
    try {
      getLogger(["autopgo"]).debug("command failed: {error}", { error });
    } catch { /* logging not configured */ }
    printProblem(withNextStep(error), "error", { command: name, exitCode: code });
    return code;
  } finally {
    // Flush buffered log records before the caller exits the process.
    await dispose();
  }
}

/** An option's variable as a component's help names it: its own name or the shared one (options.ts). */
function envNames(command: string | undefined, envVar: string): string {
  if (command === undefined || !(command in COMPONENTS)) return envVar;
  const own = componentEnvName(command, envVar);
  return own === envVar || !envVar.startsWith("AUTOPGO_") ? envVar : `${own} or ${envVar}`;
}

/** Commander exits that print nothing of ours (help and version output). */
const SILENT_CODES = new Set(["commander.help", "commander.helpDisplayed", "commander.version"]);

/**
 * The `--log-format` the arguments (or `AUTOPGO_LOG_FORMAT`) ask for, read before parsing so that
 * argument errors too come out as JSON in JSON mode.
 */
export function logFormatIn(args: readonly string[], env: (name: string) => string | undefined = readEnv): LogFormat {
  let value: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--") break;
    if (args[i] === "--log-format") value = args[i + 1];
    else if (args[i].startsWith("--log-format=")) value = args[i].slice("--log-format=".length);
  }
  return (value ?? env("AUTOPGO_LOG_FORMAT")) === "json" ? "json" : "text";
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/**
 * Rewrites a commander parse error in autopgo's style: one line naming the command, what is
 * wrong, and what to do (pass the option or set its variable, see the command's help).
 */
export function describeCommanderError(error: CommanderError, program: Command, name?: string): string {
  const text = error.message.replace(/^error:\s*/, "").replace(/\s*\n\s*/g, " ").replace(
    "(Did you mean",
    "(did you mean",
  );
  const command = name === undefined ? undefined : program.commands.find((c) => c.name() === name);
  const scope = name === undefined ? "" : `${name}: `;
  const help = `see \`autopgo${name === undefined ? "" : ` ${name}`} --help\``;
  const optionOf = (flags: string | undefined) => command?.options.find((o) => o.flags === flags);
  switch (error.code) {
    case "commander.missingMandatoryOptionValue": {
      const flags = /'([^']+)'/.exec(text)?.[1];
      const option = optionOf(flags);
      const long = option?.long ?? flags;
      const env = option?.envVar ? ` or set ${envNames(name, option.envVar)}` : "";
      return `${scope}${long} is required: pass ${flags?.replace(/^-\w, /, "") ?? long}${env} (${help})`;
    }
    case "commander.missingArgument": {
      const argument = /'([^']+)'/.exec(text)?.[1] ?? "argument";
      return `${scope}missing <${argument}> (${help})`;
    }
    case "commander.optionMissingArgument": {
      const flags = /'([^']+)'/.exec(text)?.[1];
      return `${scope}${optionOf(flags)?.long ?? flags} needs a value (${help})`;
    }
    case "commander.invalidArgument": {
      const option = /^option '([^']+)' argument '(.*)' is invalid\. ?(.*)$/.exec(text);
      if (option) return `${scope}${optionOf(option[1])?.long ?? option[1]} ${JSON.stringify(option[2])}: ${option[3]}`;
      const argument = /^command-argument value '(.*)' is invalid for argument '([^']+)'\. ?(.*)$/.exec(text);
      if (argument) return `${scope}<${argument[2]}> ${JSON.stringify(argument[1])}: ${argument[3]}`;
      return `${scope}${text}`;
    }
    case "commander.unknownCommand": {
      const m = /^unknown command '([^']*)'(.*)$/.exec(text);
      return m ? `unknown command ${JSON.stringify(m[1])}${m[2]} (${help})` : `${text} (${help})`;
    }
    default:
      return `${scope}${text} (${help})`;
  }
}
