/**
 * `autopgo merge [-o FILE|-] PROFILE...`: merges pprof profiles locally with google/pprof
 * `Merge` semantics (the samples `go tool pprof -proto a b …` holds), faster.
 *
 * Inputs are read one at a time into the fused merger (core/pprof/fast_merge.ts: decodes
 * each input's bytes straight into merged tables and encodes the result from them, with no
 * per-input object graph), so memory is bounded by the merged result; its output is byte for
 * byte the object path's. `--compact` needs the merged object graph and uses the streaming
 * object merger. Output is gzip-compressed profile.proto, to stdout by default (but
 * never to a terminal) or to a file written atomically: a temp file in the same directory
 * renamed over the target, so a failure never truncates an existing file.
 *
 * `--noinline REGEXP` (repeatable) and `--default-noinline` apply no-inline guards to the result
 * (core/pprof/noinline.ts, cmd/noinline_flags.ts): matching functions are renamed so that Go's
 * PGO inlines them nowhere and nothing into them; no sample is dropped. Without them the output
 * is pprof's merge, unchanged.
 *
 * @module
 */

import { Command, Option } from "commander";
import { dirname, join } from "node:path";
import { CliError, describeProfileProblem, oneLine } from "./cli_error.ts";
import { decodeProfile } from "../core/pprof/decode.ts";
import { encodeProfile } from "../core/pprof/encode.ts";
import { DEFAULT_DECODE_LIMITS } from "../core/pprof/limits.ts";
import { ProfileMerger } from "../core/pprof/merge.ts";
import { EncodedProfileMerger } from "../core/pprof/fast_merge.ts";
import { compactForPgo } from "../core/pprof/compact_pgo.ts";
import type { Profile } from "../core/pprof/profile.ts";
import { applyNoInlineGuards } from "../core/pprof/noinline.ts";
import { addMergeNoInlineOptions, noInlineGuardsOf } from "./noinline_flags.ts";

/** Options of the `merge` command. */
export interface MergeCommandOptions {
  /** Output path, "-" for stdout. */
  output: string;
  /** Compact the result for Go PGO (same compiler input, far smaller). */
  compact?: boolean;
  /** `--noinline` regexps: functions renamed so that PGO never inlines them. */
  noinline?: string[];
  /** `--default-noinline`: also guard the built-in list. */
  defaultNoinline?: boolean;
}

/**
 * Reads and decodes one profile file (gzip or raw protobuf, default decode limits). Throws
 * an Error with a one-line message (no file name: callers add it). Reads synchronously: the
 * CLI does one thing at a time, and a sync read is far cheaper than an async op per file.
 */
export function readProfileFile(path: string): Profile {
  return decodeProfile(readProfileBytes(path));
}

/** Reads all of stdin synchronously, failing once more than `max` bytes arrive. */
function readStdinSync(max: number): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const chunk = new Uint8Array(64 * 1024);
    const n = Deno.stdin.readSync(chunk);
    if (n === null) break;
    total += n;
    if (total > max) throw new Error(`standard input is over the ${max}-byte input limit`);
    chunks.push(chunk.subarray(0, n));
  }
  const data = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    data.set(c, at);
    at += c.length;
  }
  return data;
}

/**
 * Reads one profile file's bytes, or standard input for "-" (size-checked against the decode
 * limit); one-line errors without the file name.
 */
export function readProfileBytes(path: string): Uint8Array {
  if (path === "-") return readStdinSync(DEFAULT_DECODE_LIMITS.maxCompressedBytes);
  let data: Uint8Array;
  try {
    const info = Deno.statSync(path);
    if (!info.isFile) throw new Error("not a regular file");
    const max = DEFAULT_DECODE_LIMITS.maxCompressedBytes;
    if (info.size > max) throw new Error(`file is ${info.size} bytes, over the ${max}-byte input limit`);
    data = Deno.readFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error("no such file");
    if (e instanceof Deno.errors.PermissionDenied) throw new Error("permission denied");
    if (e instanceof Deno.errors.IsADirectory) throw new Error("not a regular file");
    throw e;
  }
  return data;
}

/** Merges the profile files in order, decoding one at a time. Errors name the failing file. */
export function mergeProfileFiles(paths: readonly string[]): Profile {
  const merger = new ProfileMerger({ adoptInputs: true }); // each input is dropped after add
  for (const path of paths) {
    try {
      merger.add(readProfileFile(path));
    } catch (e) {
      throw new CliError(`merge: profile ${JSON.stringify(path)}: ${describeProfileProblem(e)}`);
    }
  }
  try {
    return merger.result();
  } catch (e) {
    throw new CliError(`merge: ${oneLine(e)}`);
  }
}

/**
 * Merges the profile files in order with the fused path and returns the gzip-compressed
 * result (the bytes `encodeProfile(mergeProfileFiles(paths))` would give). Errors name the
 * failing file.
 */
export function mergeProfileFilesEncoded(paths: readonly string[]): Uint8Array {
  const merger = new EncodedProfileMerger();
  for (const path of paths) {
    try {
      merger.add(readProfileBytes(path));
    } catch (e) {
      throw new CliError(`merge: profile ${JSON.stringify(path)}: ${describeProfileProblem(e)}`);
    }
  }
  try {
    return merger.finish();
  } catch (e) {
    throw new CliError(`merge: ${oneLine(e)}`);
  }
}

/**
 * Writes `data` to `path` atomically: a temp file in the same directory, then a rename over
 * the target. On failure the temp file is removed and any existing target is untouched.
 */
export async function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${crypto.randomUUID()}.autopgo-tmp`);
  try {
    await Deno.writeFile(temp, data, { createNew: true, mode: 0o644 });
    await Deno.rename(temp, path);
  } catch (e) {
    await Deno.remove(temp).catch(() => {});
    throw e;
  }
}

/** Writes the encoded profile to `output` ("-" = stdout, refused when stdout is a terminal). */
export async function writeProfileOutput(output: string, data: Uint8Array, command = "merge"): Promise<void> {
  if (output === "-") {
    if (Deno.stdout.isTerminal()) {
      throw new CliError(
        `${command}: refusing to write a binary profile to a terminal: use -o FILE or redirect stdout`,
      );
    }
    let written = 0;
    while (written < data.length) written += await Deno.stdout.write(data.subarray(written));
    return;
  }
  try {
    await writeFileAtomic(output, data);
  } catch (e) {
    throw new CliError(`${command}: writing ${JSON.stringify(output)}: ${oneLine(e)}`);
  }
}

/** Runs `merge`: decode and merge `paths`, encode (gzip), write to `opts.output`. */
export async function runMerge(paths: readonly string[], opts: MergeCommandOptions): Promise<void> {
  // Refuse a terminal before doing the work.
  if (opts.output === "-" && Deno.stdout.isTerminal()) {
    throw new CliError("merge: refusing to write a binary profile to a terminal: use -o FILE or redirect stdout");
  }
  if (opts.output !== "-") {
    const folder = dirname(opts.output);
    const info = await Deno.stat(folder).catch(() => undefined);
    if (!info?.isDirectory) throw new CliError(`merge: output folder ${folder} does not exist`);
  }
  const guards = noInlineGuardsOf(
    { noinline: opts.noinline ?? [], defaultNoinline: opts.defaultNoinline ?? false },
    false,
  );
  if (!opts.compact && !guards) {
    await writeProfileOutput(opts.output, mergeProfileFilesEncoded(paths));
    return;
  }
  // Post-merge transformations need the object graph.
  let result = mergeProfileFiles(paths);
  if (opts.compact) {
    try {
      result = compactForPgo(result);
    } catch (e) {
      throw new CliError(`merge: --compact: ${oneLine(e)}`);
    }
  }
  if (guards) result = applyNoInlineGuards(result, guards);
  await writeProfileOutput(opts.output, encodeProfile(result));
}

/** Builds the `merge` command. */
export function mergeCommand(): Command {
  const command = new Command("merge")
    .description("merge pprof profiles into one (google/pprof Merge semantics), written gzip-compressed")
    .argument("<profiles...>", "profile files (gzip or raw profile.proto; - for stdin)")
    .addOption(new Option("-o, --output <file>", 'output file, "-" for stdout').default("-"))
    .option(
      "--compact",
      "keep only what Go PGO reads (leaf + caller frames, no labels/mappings): same build, smaller file",
    );
  return addMergeNoInlineOptions(command).action(async (paths: string[], opts: MergeCommandOptions) => {
    await runMerge(paths, opts);
  });
}
