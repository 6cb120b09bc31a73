/**
 * `autopgo download` (not implemented yet: being built).
 *
 * @module
 */

import { Command } from "commander";
import { CliError } from "./cli_error.ts";

/** Builds the `download` command. */
export function downloadCommand(): Command {
  return new Command("download").description("(not implemented yet)").action(() => {
    throw new CliError("download: not implemented yet");
  });
}
