/**
 * `autopgo download APP [-o FILE]`: fetches an application's merged profile. The file is
 * written to a temporary file in the same directory and renamed into place only once the whole
 * profile has arrived, so a failed download never creates, truncates or replaces the output.
 * `-o -` writes to stdout; `--ignore-errors` turns failures into a warning and exit code 0.
 *
 * @module
 */

import { Command, Option } from "commander";
import { getLogger } from "@logtape/logtape";
import { ApiClient, ApiError } from "../core/api_client.ts";
import { CliError, printProblem, withNextStep } from "./cli_error.ts";
import { apiUrlOption, appNameArg, envOption, tokenOption } from "./options.ts";

/** Options of `download`. */
interface DownloadOptions {
  output: string;
  apiUrl: string;
  token?: string;
  ignoreErrors?: boolean;
}

/** Builds the `download` command. */
export function downloadCommand(): Command {
  return new Command("download")
    .description("download an application's merged profile (default.pgo)")
    .argument("<app>", "application name", appNameArg)
    .addOption(
      envOption("-o, --output <path>", "where to write the profile ('-' for stdout)", "OUTPUT").default(
        "default.pgo",
      ),
    )
    .addOption(apiUrlOption())
    .addOption(tokenOption())
    .addOption(
      new Option("--ignore-errors", "on failure print a warning and exit 0 (for build steps that must not break)"),
    )
    .action(async (app: string, opts: DownloadOptions) => {
      try {
        if (opts.output !== "-") await checkOutputFolder(opts.output);
        const client = new ApiClient({ baseUrl: opts.apiUrl, token: opts.token });
        const result = await client.download(app).catch((e) => {
          if (e instanceof ApiError && e.status === 404) {
            throw new CliError(`no merged profile for app ${JSON.stringify(app)} yet (see \`autopgo list\`)`);
          }
          throw e;
        });
        if (result.notModified) throw new CliError(`download ${app}: unexpected 304 Not Modified`);
        if (opts.output === "-") {
          await result.body.pipeTo(Deno.stdout.writable, { preventClose: true });
        } else {
          const bytes = await writeAtomically(opts.output, result.body);
          getLogger(["autopgo", "download"]).info("wrote {bytes} bytes to {path}", { bytes, path: opts.output });
        }
      } catch (e) {
        if (!opts.ignoreErrors) throw e;
        printProblem(`${withNextStep(e)} (ignored because of --ignore-errors)`, "warning");
      }
    });
}

/** The folder `path` would be written into, without touching the file system. */
function folderOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
}

/** Throws a one-line CliError when the folder of `path` does not exist or is no folder. */
export async function checkOutputFolder(path: string): Promise<void> {
  const dir = folderOf(path);
  try {
    if (!(await Deno.stat(dir)).isDirectory) throw new CliError(`output folder ${dir} is not a folder`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new CliError(`output folder ${dir} does not exist`);
    if (e instanceof CliError) throw e;
  }
}

/**
 * Streams `body` into a temporary file next to `path`, flushes it and renames it over `path`.
 * On any failure the temporary file is removed and `path` is untouched. Resolves the byte count.
 */
export async function writeAtomically(path: string, body: ReadableStream<Uint8Array>): Promise<number> {
  const dir = folderOf(path);
  const base = path.slice(path.lastIndexOf("/") + 1);
  if (!base) throw new CliError(`output ${path} names a directory, not a file`);
  try {
    await checkOutputFolder(path);
  } catch (e) {
    await body.cancel().catch(() => {});
    throw e;
  }
  let mode = 0o644;
  try {
    const existing = await Deno.stat(path);
    if (existing.isDirectory) throw new CliError(`output ${path} is a directory`);
    if (existing.mode !== null) mode = existing.mode & 0o777;
  } catch (e) {
    if (e instanceof CliError) throw e;
    if (!(e instanceof Deno.errors.NotFound)) throw new CliError(`cannot write ${path}: ${(e as Error).message}`);
  }
  let temp: string;
  try {
    temp = await Deno.makeTempFile({ dir, prefix: `.${base}.`, suffix: ".tmp" });
  } catch (e) {
    await body.cancel().catch(() => {});
    throw new CliError(`cannot write ${path}: ${(e as Error).message}`);
  }
  let bytes = 0;
  try {
    const file = await Deno.open(temp, { write: true, truncate: true });
    try {
      for await (const chunk of body) {
        bytes += chunk.byteLength;
        let written = 0;
        while (written < chunk.byteLength) written += await file.write(chunk.subarray(written));
      }
      await file.sync();
    } finally {
      file.close();
    }
    if (bytes === 0) throw new CliError("server sent an empty profile");
    if (Deno.build.os !== "windows") await Deno.chmod(temp, mode);
    await Deno.rename(temp, path);
    return bytes;
  } catch (e) {
    await Deno.remove(temp).catch(() => {});
    throw e;
  }
}
