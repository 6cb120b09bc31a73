/**
 * Command-line options of the benchmark scripts: node:util `parseArgs` with the two answers a
 * person expects from a command. `--help` (or `-h`) prints the script's own module doc, which
 * holds its usage, and exits 0; an unknown or malformed option is one line on standard error and
 * exit code 2, instead of a stack trace.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { parseArgs, type ParseArgsConfig } from "node:util";

/** The leading doc comment of the module at `moduleUrl`, without its comment markers and tags. */
export function moduleUsage(moduleUrl: string): string {
  const source = Deno.readTextFileSync(fileURLToPath(moduleUrl));
  const doc = source.match(/\/\*\*([\s\S]*?)\*\//)?.[1] ?? "";
  return doc.split("\n").map((line) => line.replace(/^\s*\* ?/, ""))
    .filter((line) => !line.startsWith("@module")).join("\n").trim();
}

/**
 * Parses `config.args` (default `Deno.args`) for the script at `moduleUrl` (its `import.meta.url`);
 * answers `--help` and bad options itself (see the module doc).
 */
export function benchArgs<T extends ParseArgsConfig>(moduleUrl: string, config: T): ReturnType<typeof parseArgs<T>> {
  const args = config.args ?? Deno.args;
  const script = fileURLToPath(moduleUrl).split("/").slice(-2).join("/");
  if (args.includes("--help") || args.includes("-h")) {
    console.log(moduleUsage(moduleUrl));
    Deno.exit(0);
  }
  try {
    return parseArgs<T>({ ...config, args });
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).split(". ")[0];
    console.error(`${script}: ${message} (--help lists the options)`);
    Deno.exit(2);
  }
}
