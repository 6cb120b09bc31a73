/**
 * Build identity printed by `autopgo --version`. Kept in code (not read from deno.json at
 * run time) so the compiled binary is self-contained; compile.sh may override COMMIT via env.
 *
 * @module
 */

/** Release version. */
export const VERSION = "0.1.0";

/** `"<version> (<commit>)"`, as the original prints it. */
export function versionString(commit = "HEAD"): string {
  return `${VERSION} (${commit})`;
}
