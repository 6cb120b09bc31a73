/**
 * Build identity printed by `autopgo --version`, e.g. `autopgo 0.1.0 (commit 1a2b3c4, deno 2.9.6)`.
 * The version is kept in code (not read from deno.json at run time) so a compiled binary is
 * self-contained; the commit is stamped by compile.sh (build_info.ts); the Deno version is the
 * runtime's own (denort's in a compiled binary, the running deno's for `autopgo.js`).
 *
 * @module
 */

import { BUILD_COMMIT } from "./build_info.ts";

/** Release version; a release tag must be `v` + this (compile.sh checks `RELEASE_TAG`). */
export const VERSION = "0.1.0";

/**
 * `autopgo <version> (commit <commit>, deno <deno>)`. The commit is the stamped one; `unstamped`
 * (default `HEAD`) stands in for it when running from source.
 */
export function versionString(unstamped = "HEAD", deno: string = Deno.version.deno): string {
  return `autopgo ${VERSION} (commit ${BUILD_COMMIT || unstamped}, deno ${deno})`;
}

/** Root flags that print the version (commander's `-v, --version`, cmd/program.ts). */
export const VERSION_FLAGS: ReadonlySet<string> = new Set(["-v", "--version"]);

/** The version line as `autopgo --version` prints it: the commit is `AUTOPGO_COMMIT` (else `HEAD`) when unstamped. */
export function versionLine(): string {
  let commit: string | undefined;
  try {
    commit = Deno.env.get("AUTOPGO_COMMIT");
  } catch { /* no env permission: HEAD */ }
  return versionString(commit ?? "HEAD");
}

/**
 * True for a command line of exactly `--version` or `-v`: main.ts then prints {@link versionLine}
 * without building the CLI, whose argument parser (commander, an npm CommonJS package) alone takes
 * about 40 ms to load. Anything else, root options included, goes through the CLI.
 */
export function isBareVersionRequest(args: readonly string[]): boolean {
  return args.length === 1 && VERSION_FLAGS.has(args[0]);
}
