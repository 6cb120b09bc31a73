/**
 * `autopgo upload FILE --app APP`: sends a pprof profile to the server to be merged into the
 * app's base profile. The file is streamed, never read whole into memory.
 *
 * @module
 */

import { Command } from "commander";
import { ApiClient, ApiError } from "../core/api_client.ts";
import { CliError } from "./cli_error.ts";
import { apiUrlOption, appNameArg, envOption, tokenOption } from "./options.ts";

/** Options of `upload`. */
interface UploadOptions {
  app: string;
  apiUrl: string;
  token?: string;
}

/** Builds the `upload` command. */
export function uploadCommand(): Command {
  return new Command("upload")
    .description("upload a pprof profile to be merged into an application's profile")
    .argument("<file>", "path of the pprof profile (gzip or raw protobuf)")
    .addOption(
      envOption("-a, --app <name>", "application the profile belongs to", "APP").argParser(appNameArg)
        .makeOptionMandatory(),
    )
    .addOption(apiUrlOption())
    .addOption(tokenOption())
    .action(async (file: string, opts: UploadOptions) => {
      const client = new ApiClient({ baseUrl: opts.apiUrl, token: opts.token });
      const handle = await openProfile(file);
      try {
        // Profiles up to 256 MiB are read first so that transient failures can be retried with
        // the same Idempotency-Key (merged once); larger files are streamed in one attempt.
        const size = (await handle.stat()).size;
        const body = size <= RETRYABLE_UPLOAD_BYTES ? await readAll(handle, file) : handle.readable;
        const { key } = await client.upload(opts.app, body).catch((e) => {
          throw describeRefusal(e, file);
        });
        console.log(`Uploaded ${file} for '${opts.app}' as ${key}`);
      } finally {
        try {
          handle.close();
        } catch { /* already closed by the stream */ }
      }
    });
}

const RETRYABLE_UPLOAD_BYTES = 256 * 1024 * 1024;

/**
 * The server's refusal of a file that is no profile at all, said as such (what the file should
 * have been), with the server's reason; other failures pass through.
 */
export function describeRefusal(error: unknown, file: string): unknown {
  if (!(error instanceof ApiError) || error.status !== 400) return error;
  const detail = /invalid profile: (.*)$/.exec(error.message)?.[1];
  if (detail === undefined || !/^(parsing profile|decompressing profile|empty input)/.test(detail)) return error;
  return new CliError(`${file} is not a pprof profile (expected gzip or protobuf): ${detail}`);
}

async function readAll(handle: Deno.FsFile, file: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await new Response(handle.readable).arrayBuffer());
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${(e as Error).message}`);
  }
}

async function openProfile(file: string): Promise<Deno.FsFile> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new CliError(`file ${file} does not exist`);
    if (e instanceof Deno.errors.PermissionDenied) throw new CliError(`cannot read ${file}: permission denied`);
    throw new CliError(`cannot read ${file}: ${(e as Error).message}`);
  }
  if (!info.isFile) throw new CliError(`${file} is not a regular file`);
  if (info.size === 0) throw new CliError(`${file} is empty`);
  try {
    return await Deno.open(file, { read: true });
  } catch (e) {
    throw new CliError(`cannot open ${file}: ${(e as Error).message}`);
  }
}
