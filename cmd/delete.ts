/**
 * `autopgo delete` (not implemented yet: being built).
 *
 * @module
 */

import { Command } from "commander";
import { CliError } from "./cli_error.ts";

/** Builds the `delete` command. */
export function deleteCommand(): Command {
  return new Command("delete").description("(not implemented yet)").action(() => {
    throw new CliError("delete: not implemented yet");
  });
}
