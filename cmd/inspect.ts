/**
 * `autopgo inspect` (not implemented yet: being built).
 *
 * @module
 */

import { Command } from "commander";
import { CliError } from "./cli_error.ts";

/** Builds the `inspect` command. */
export function inspectCommand(): Command {
  return new Command("inspect").description("(not implemented yet)").action(() => {
    throw new CliError("inspect: not implemented yet");
  });
}
