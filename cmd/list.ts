/**
 * `autopgo list`: the merged profiles on the server as the original's table
 * (`NAME  SIZE  LAST MODIFIED`, the last column being the time since the last write), or as
 * JSON with `--json`. Apps whose uploads the worker set aside follow, when there are any, as a
 * second table (`APP  SET ASIDE  LAST  LAST REASON`) or the JSON's `rejected` array.
 *
 * @module
 */

import { Command, Option } from "commander";
import { ApiClient, type ProfileInfo, type RejectedInfo } from "../core/api_client.ts";
import { formatDuration } from "../core/duration.ts";
import { apiUrlOption, tokenOption } from "./options.ts";

/** Options of `list`. */
interface ListOptions {
  apiUrl: string;
  token?: string;
  json?: boolean;
}

/** Builds the `list` command. */
export function listCommand(): Command {
  return new Command("list")
    .description("list the merged profiles held by the server")
    .addOption(apiUrlOption())
    .addOption(tokenOption())
    .addOption(new Option("--json", "print JSON instead of a table"))
    .action(async (opts: ListOptions) => {
      const { profiles, rejected } = await new ApiClient({ baseUrl: opts.apiUrl, token: opts.token }).listing();
      profiles.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
      if (opts.json) {
        const json = profiles.map((p) => ({ key: p.key, size: p.size, lastModified: p.lastModified.toISOString() }));
        const aside = rejected.map((r) => ({ ...r, lastRejectedAt: r.lastRejectedAt.toISOString() }));
        console.log(JSON.stringify({ profiles: json, rejected: aside }, null, 2));
      } else {
        console.log(formatProfileTable(profiles, Date.now()).trimEnd());
        if (rejected.length > 0) console.log("\n" + formatRejectedTable(rejected, Date.now()).trimEnd());
      }
    });
}

/** Go-style "time since" truncated to whole seconds (`3h2m1s`, `0s`). */
export function formatAge(lastModified: Date, nowMs: number): string {
  const seconds = Math.max(0, Math.floor((nowMs - lastModified.getTime()) / 1000));
  return seconds === 0 ? "0s" : formatDuration(seconds * 1000);
}

/** Aligns rows like Go's tabwriter (min width 0, padding 2, spaces). */
export function tabulate(rows: readonly string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => widths[i] = Math.max(widths[i] ?? 0, cell.length));
  return rows.map((row) => row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i] + 2)).join(""))
    .join("\n") + "\n";
}

/** The list table: header `NAME  SIZE  LAST MODIFIED`, one row per profile. */
export function formatProfileTable(profiles: readonly ProfileInfo[], nowMs: number): string {
  return tabulate([
    ["NAME", "SIZE", "LAST MODIFIED"],
    ...profiles.map((p) => [p.key, String(p.size), formatAge(p.lastModified, nowMs)]),
  ]);
}

/**
 * The set-aside table: header `APP  SET ASIDE  LAST  LAST REASON`, one row per app; SET ASIDE
 * counts uploads (plus `+<n> base` for bases that could not be normalised), LAST is the time since.
 */
export function formatRejectedTable(rejected: readonly RejectedInfo[], nowMs: number): string {
  return tabulate([
    ["APP", "SET ASIDE", "LAST", "LAST REASON"],
    ...rejected.map((r) => [
      r.key,
      r.bases > 0 ? `${r.count}+${r.bases} base` : String(r.count),
      formatAge(r.lastRejectedAt, nowMs),
      r.lastReason,
    ]),
  ]);
}
