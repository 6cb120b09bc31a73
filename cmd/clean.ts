/**
 * `autopgo clean --older-than D --larger-than N`: deletes merged profiles not updated for longer
 * than D or strictly larger than N bytes (the original's rules; at least one must be set).
 * Unlike the original it carries on past a failed delete and reports every failure at the end.
 *
 * @module
 */

import { Command, Option } from "commander";
import { ApiClient, ApiError, type ProfileInfo } from "../core/api_client.ts";
import { CliError, oneLine } from "./cli_error.ts";
import { formatSpan } from "./human.ts";
import { apiUrlOption, durationArg, envOption, nonNegativeIntArg, tokenOption } from "./options.ts";

/** Options of `clean`. */
interface CleanOptions {
  apiUrl: string;
  token?: string;
  olderThan?: number;
  largerThan?: number;
  dryRun?: boolean;
}

/** Cleaning thresholds; 0 or undefined disables a rule. */
export interface CleanRules {
  /** Milliseconds since the last write after which a profile is removed. */
  olderThanMs?: number;
  /** Size in bytes above which a profile is removed. */
  largerThanBytes?: number;
}

/** True when `p` matches a rule: size strictly greater, or last write strictly before now − age. */
export function shouldClean(p: ProfileInfo, rules: CleanRules, nowMs: number): boolean {
  if (rules.largerThanBytes && p.size > rules.largerThanBytes) return true;
  if (rules.olderThanMs && p.lastModified.getTime() + rules.olderThanMs < nowMs) return true;
  return false;
}

/** The rules in words, as in "no profile is larger than 1000 bytes or older than 1h". */
export function describeRules(opts: { olderThan?: number; largerThan?: number }): string {
  const parts: string[] = [];
  if (opts.largerThan) parts.push(`is larger than ${opts.largerThan} bytes`);
  if (opts.olderThan) parts.push(`was last updated more than ${formatSpan(opts.olderThan)} ago`);
  return parts.join(" or ");
}

/** Builds the `clean` command. */
export function cleanCommand(): Command {
  return new Command("clean")
    .description("delete merged profiles older than a duration and/or larger than a size")
    .addOption(apiUrlOption())
    .addOption(tokenOption())
    .addOption(
      envOption("-d, --older-than <duration>", "delete profiles not updated for longer than this", "OLDER_THAN")
        .argParser(durationArg),
    )
    .addOption(
      envOption("-s, --larger-than <bytes>", "delete profiles larger than this many bytes", "LARGER_THAN")
        .argParser(nonNegativeIntArg),
    )
    .addOption(new Option("--dry-run", "print what would be deleted without deleting"))
    .action(async (opts: CleanOptions) => {
      const rules: CleanRules = { olderThanMs: opts.olderThan, largerThanBytes: opts.largerThan };
      if (!rules.olderThanMs && !rules.largerThanBytes) {
        const zero = opts.olderThan === 0 ? "--older-than 0" : opts.largerThan === 0 ? "--larger-than 0" : undefined;
        const why = zero === undefined ? "" : `${zero} sets no rule (0 means unset, as in the original); `;
        throw new CliError(
          `${why}one of --older-than or --larger-than must be set above 0 (see \`autopgo clean --help\`)`,
        );
      }
      const client = new ApiClient({ baseUrl: opts.apiUrl, token: opts.token });
      const now = Date.now();
      const doomed = (await client.list()).filter((p) => shouldClean(p, rules, now));
      if (doomed.length === 0) {
        console.log(`Nothing to delete: no profile ${describeRules(opts)}`);
        return;
      }
      const failures: string[] = [];
      for (const p of doomed) {
        if (opts.dryRun) {
          console.log(`Would delete profile '${p.key}'`);
          continue;
        }
        try {
          await client.delete(p.key);
          console.log(`Deleted profile '${p.key}'`);
        } catch (e) {
          if (e instanceof ApiError && e.noSuchProfile) continue; // deleted meanwhile
          failures.push(`${p.key}: ${oneLine(e)}`);
        }
      }
      if (failures.length) {
        throw new CliError(`failed to delete ${failures.length} of ${doomed.length} profiles: ${failures.join("; ")}`);
      }
    });
}
