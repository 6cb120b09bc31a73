/**
 * Build stamp. compile.sh replaces this file, in the copy of the sources it builds from, with the
 * git commit of the build, so release binaries and `autopgo.js` carry it. Empty here: a run from a
 * source checkout (`deno run`) is unstamped.
 *
 * @module
 */

/** Short git commit of a release build (e.g. `1a2b3c4`), or `""` when unstamped. */
export const BUILD_COMMIT: string = "";
