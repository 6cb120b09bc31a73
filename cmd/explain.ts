/**
 * `autopgo explain` (not implemented yet: being built).
 *
 * @module
 */

import { Command } from "commander";
import { CliError } from "./cli_error.ts";

/** Builds the `explain` command. */
export function explainCommand(): Command {
  return new Command("explain").description("(not implemented yet)").action(() => {
    throw new CliError("explain: not implemented yet");
  });
}
