/**
 * `autopgo merge` (not implemented yet: being built).
 *
 * @module
 */

import { Command } from "commander";
import { CliError } from "./cli_error.ts";

/** Builds the `merge` command. */
export function mergeCommand(): Command {
  return new Command("merge").description("(not implemented yet)").action(() => {
    throw new CliError("merge: not implemented yet");
  });
}
