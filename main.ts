/**
 * Entry point of the `autopgo` binary: runs the CLI and exits with its code.
 *
 * @module
 */

import { runCli } from "./cmd/program.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
