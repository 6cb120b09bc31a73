/**
 * `autopgo download APP [-o FILE]`: fetches an application's merged profile. The file is
 * written to a temporary file in the same directory and renamed into place only once the whole
 * profile has arrived and proved to be a profile, so a failed download never creates, truncates or
 * replaces the output; an output that is a symbolic link is written where it points, a device or
 * a FIFO is written into. `-o -` writes to stdout (never a terminal); `--ignore-errors` turns
 * failures into a warning and exit code 0.
 *
 * @module
 */

import { Command, Option } from "commander";
import { getLogger } from "@logtape/logtape";
import { ApiClient, ApiError, readAnswer } from "../core/api_client.ts";
import { replaceControlCharacters } from "../core/control_chars.ts";
import { countSamples } from "../core/pprof/sample_count.ts";
import { CliError, printProblem, withNextStep } from "./cli_error.ts";
import { apiUrlOption, appNameArg, envOption, tokenOption } from "./options.ts";

/** Options of `download`. */
interface DownloadOptions {
  output: string;
  apiUrl: string;
  token?: string;
  ignoreErrors?: boolean;
}

/**
 * Most bytes of a downloaded profile: four times the largest profile autopgo decodes (64 MiB of
 * gzip, core/pprof/limits.ts), so no base a worker can write comes near it, while whatever answers
 * at `--api-url` with an endless body is stopped there instead of taking the machine's memory.
 */
export const MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024;

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
        else if (Deno.stdout.isTerminal()) {
          throw new CliError("refusing to write a binary profile to a terminal: use -o FILE or redirect stdout");
        }
        const client = new ApiClient({ baseUrl: opts.apiUrl, token: opts.token });
        const result = await client.download(app).catch((e) => {
          if (e instanceof ApiError && e.noSuchProfile) {
            throw new CliError(`no merged profile for app ${JSON.stringify(app)} yet (see \`autopgo list\`)`);
          }
          throw e;
        });
        if (result.notModified) throw new CliError(`download ${app}: unexpected 304 Not Modified`);
        // The whole answer is checked before anything is written: a proxy's login page or a cut
        // gzip stream answered with 200 replaced a good default.pgo, and go build then failed.
        const profile = await readAnswer(result.body, MAX_DOWNLOAD_BYTES, `download ${app}`, 200).catch((e) => {
          throw new CliError(`${(e as Error).message}; nothing was written`);
        });
        if (profile.byteLength > 0 && countSamples(profile) === undefined) {
          throw new CliError(
            `download ${app}: the server's answer (${profile.byteLength} bytes) is not a profile; nothing was written`,
          );
        }
        if (opts.output === "-") await writeToStdout(profile);
        else {
          const bytes = await writeAtomically(opts.output, new Blob([profile]).stream());
          getLogger(["autopgo", "download"]).info("wrote {bytes} bytes to {path}", { bytes, path: opts.output });
        }
      } catch (e) {
        if (!opts.ignoreErrors) throw e;
        printProblem(`${withNextStep(e)} (ignored because of --ignore-errors)`, "warning");
      }
    });
}

/** Writes `data` to standard output; a reader that went away is no error, a failed write is. */
async function writeToStdout(data: Uint8Array): Promise<void> {
  try {
    for (let written = 0; written < data.byteLength;) written += await Deno.stdout.write(data.subarray(written));
  } catch (e) {
    if (e instanceof Deno.errors.BrokenPipe) return;
    throw new CliError(`writing to standard output: ${(e as Error).message}`);
  }
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
    if ((await Deno.lstat(path)).isSymlink) {
      // Written where the link points, as other tools do; the link itself stays.
      return await writeAtomically(await Deno.realPath(path), body);
    }
    const existing = await Deno.stat(path);
    if (existing.isDirectory) throw new CliError(`output ${path} is a directory`);
    // A device or a FIFO (/dev/stdout, a named pipe) is written into, never replaced by a file.
    if (!existing.isFile) return await writeInto(path, body);
    if (existing.mode !== null) mode = existing.mode & 0o777;
  } catch (e) {
    if (e instanceof CliError) throw e;
    if (!(e instanceof Deno.errors.NotFound)) throw new CliError(`cannot write ${path}: ${(e as Error).message}`);
  }
  let temp: string;
  try {
    const prefix = `.${replaceControlCharacters(base, "_")}.`; // Deno refuses control characters here
    temp = await Deno.makeTempFile({ dir, prefix, suffix: ".tmp" });
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

/** Streams `body` into the existing special file `path` (a device, a FIFO); resolves the byte count. */
async function writeInto(path: string, body: ReadableStream<Uint8Array>): Promise<number> {
  let bytes = 0;
  try {
    const file = await Deno.open(path, { write: true });
    try {
      for await (const chunk of body) {
        for (let written = 0; written < chunk.byteLength;) written += await file.write(chunk.subarray(written));
        bytes += chunk.byteLength;
      }
    } finally {
      file.close();
    }
  } catch (e) {
    await body.cancel().catch(() => {});
    throw new CliError(`cannot write ${path}: ${(e as Error).message}`);
  }
  return bytes;
}
