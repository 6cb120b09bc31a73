/**
 * `autopgo list` (not implemented yet: being built).
 *
 * @module
 */

import { Command } from "commander";
import { CliError } from "./cli_error.ts";

/** Builds the `list` command. */
export function listCommand(): Command {
  return new Command("list").description("(not implemented yet)").action(() => {
    throw new CliError("list: not implemented yet");
  });
}
