/**
 * `autopgo server` (not implemented yet: being built).
 *
 * @module
 */

import { Command } from "commander";
import { CliError } from "./cli_error.ts";

/** Builds the `server` command. */
export function serverCommand(): Command {
  return new Command("server").description("(not implemented yet)").action(() => {
    throw new CliError("server: not implemented yet");
  });
}
