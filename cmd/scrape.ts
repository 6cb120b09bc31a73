/**
 * `autopgo scrape` (not implemented yet: being built).
 *
 * @module
 */

import { Command } from "commander";
import { CliError } from "./cli_error.ts";

/** Builds the `scrape` command. */
export function scrapeCommand(): Command {
  return new Command("scrape").description("(not implemented yet)").action(() => {
    throw new CliError("scrape: not implemented yet");
  });
}
