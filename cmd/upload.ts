/**
 * `autopgo upload` (not implemented yet: being built).
 *
 * @module
 */

import { Command } from "commander";
import { CliError } from "./cli_error.ts";

/** Builds the `upload` command. */
export function uploadCommand(): Command {
  return new Command("upload").description("(not implemented yet)").action(() => {
    throw new CliError("upload: not implemented yet");
  });
}
