/**
 * `autopgo clean` (not implemented yet: being built).
 *
 * @module
 */

import { Command } from "commander";
import { CliError } from "./cli_error.ts";

/** Builds the `clean` command. */
export function cleanCommand(): Command {
  return new Command("clean").description("(not implemented yet)").action(() => {
    throw new CliError("clean: not implemented yet");
  });
}
