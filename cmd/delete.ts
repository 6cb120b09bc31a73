/**
 * `autopgo delete APP`: deletes an application's merged profile (and any staged uploads).
 *
 * @module
 */

import { Command } from "commander";
import { ApiClient, ApiError } from "../core/api_client.ts";
import { CliError } from "./cli_error.ts";
import { apiUrlOption, appNameArg, tokenOption } from "./options.ts";

/** Options of `delete`. */
interface DeleteOptions {
  apiUrl: string;
  token?: string;
}

/** Builds the `delete` command. */
export function deleteCommand(): Command {
  return new Command("delete")
    .description("delete an application's merged profile")
    .argument("<app>", "application name", appNameArg)
    .addOption(apiUrlOption())
    .addOption(tokenOption())
    .action(async (app: string, opts: DeleteOptions) => {
      await new ApiClient({ baseUrl: opts.apiUrl, token: opts.token }).delete(app).catch((e) => {
        if (e instanceof ApiError && e.noSuchProfile) {
          throw new CliError(`no profile for app ${JSON.stringify(app)} to delete (see \`autopgo list\`)`);
        }
        throw e;
      });
      console.log(`Deleted profile '${app}'`);
    });
}
