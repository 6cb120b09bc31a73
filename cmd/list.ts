/**
 * `autopgo list`: the merged profiles on the server as a table (`NAME  SIZE  UPDATED  UPLOADS
 * MERGED`: human sizes, the time since the last write, and how many uploads each profile holds,
 * read from the server's `/api/apps`; `-` where unknown), or as JSON with `--json`, which keeps
 * the raw numbers (bytes, ISO-8601 times, `uploadsMerged`, and `windows`: the retention window
 * range of a profile rebuilt from windows, issue 14, or null). Apps whose uploads the worker set
 * aside follow, when there are any, as a second table (`APP  SET ASIDE  LAST  LAST REASON`) or the JSON's `rejected` array.
 *
 * @module
 */

import { Command, Option } from "commander";
import { ApiClient, type ProfileInfo, type RejectedInfo } from "../core/api_client.ts";
import { formatAge, formatBytes } from "./human.ts";
import { apiUrlOption, tokenOption } from "./options.ts";

export { formatAge } from "./human.ts";

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
      const client = new ApiClient({ baseUrl: opts.apiUrl, token: opts.token });
      const { profiles, rejected } = await client.listing();
      profiles.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
      // The counts are an extra: a server without /api/apps (or a failure) leaves them unknown.
      const facts = profiles.length > 0 ? await client.appFacts().catch(() => undefined) : undefined;
      const merged = facts && new Map([...facts].map(([app, f]) => [app, f.uploadsMerged]));
      if (opts.json) {
        const json = profiles.map((p) => ({
          key: p.key,
          size: p.size,
          lastModified: p.lastModified.toISOString(),
          uploadsMerged: merged?.get(p.key) ?? null,
          windows: facts?.get(p.key)?.windows ?? null,
        }));
        const aside = rejected.map((r) => ({ ...r, lastRejectedAt: r.lastRejectedAt.toISOString() }));
        console.log(JSON.stringify({ profiles: json, rejected: aside }, null, 2));
      } else {
        if (profiles.length === 0) {
          console.log("no merged profiles yet (upload one with `autopgo upload` or `autopgo scrape`)");
        } else console.log(formatProfileTable(profiles, Date.now(), merged).trimEnd());
        if (rejected.length > 0) console.log("\n" + formatRejectedTable(rejected, Date.now()).trimEnd());
      }
    });
}

/** Aligns rows like Go's tabwriter (min width 0, padding 2, spaces). */
export function tabulate(rows: readonly string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => widths[i] = Math.max(widths[i] ?? 0, cell.length));
  return rows.map((row) => row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i] + 2)).join(""))
    .join("\n") + "\n";
}

/**
 * The list table: header `NAME  SIZE  UPDATED  UPLOADS MERGED`, one row per profile; `merged`
 * maps app names to upload counts (`-` when absent or unknown).
 */
export function formatProfileTable(
  profiles: readonly ProfileInfo[],
  nowMs: number,
  merged?: ReadonlyMap<string, number | null>,
): string {
  return tabulate([
    ["NAME", "SIZE", "UPDATED", "UPLOADS MERGED"],
    ...profiles.map((p) => [
      p.key,
      formatBytes(p.size),
      `${formatAge(p.lastModified, nowMs)} ago`,
      String(merged?.get(p.key) ?? "-"),
    ]),
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
