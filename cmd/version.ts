/**
 * Build identity printed by `autopgo --version`, e.g. `autopgo 0.2.0 (commit 1a2b3c4, deno 2.9.6)`.
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
