/**
 * `autopgo worker` (not implemented yet: being built).
 *
 * @module
 */

import { Command } from "commander";
import { CliError } from "./cli_error.ts";

/** Builds the `worker` command. */
export function workerCommand(): Command {
  return new Command("worker").description("(not implemented yet)").action(() => {
    throw new CliError("worker: not implemented yet");
  });
}
