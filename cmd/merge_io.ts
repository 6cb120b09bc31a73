/**
 * The fused `autopgo merge` path and the file I/O every merge shares: reading a profile file or
 * standard input (size-checked), merging files with the fused merger (core/pprof/fast_merge.ts:
 * each input decoded straight into merged tables, one input at a time, so memory is bounded by
 * the merged result), and writing the output to stdout or atomically to a file.
 *
 * This module loads only what a plain merge needs — the fused merger and node:zlib, no
 * commander, no logging, no object-path decoder — because a plain `autopgo merge` command line
 * (cmd/merge_plain.ts) runs it directly from main.ts: start-up is most of a merge's cost.
 * cmd/merge.ts builds the commander command on top of it and adds the object path (`--compact`,
 * `--noinline`).
 *
 * @module
 */

import { dirname, join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { CliError, describeProfileProblem, oneLine } from "./cli_problem.ts";
import { DEFAULT_DECODE_LIMITS } from "../core/pprof/limits.ts";
import { joinChunks } from "../core/body_read.ts";
import { EncodedProfileMerger } from "../core/pprof/fast_merge.ts";

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
  return joinChunks(chunks, total);
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

/**
 * Merges the profile files in order with the fused path and returns the gzip-compressed
 * result (the bytes `encodeProfile(mergeProfileFiles(paths))` would give). Errors name the
 * failing file.
 */
export function mergeProfileFilesEncoded(paths: readonly string[]): Uint8Array {
  const merger = new EncodedProfileMerger({ expectedBytes: inputBytes(paths) });
  let read = 0;
  for (const path of paths) {
    try {
      const data = readProfileBytes(path);
      read += data.length;
      merger.add(data);
    } catch (e) {
      throw new CliError(`merge: profile ${JSON.stringify(path)}: ${describeProfileProblem(e)}`);
    }
  }
  try {
    if (read >= GC_BEFORE_FINISH_BYTES) collectGarbage();
    return merger.finish();
  } catch (e) {
    throw new CliError(`merge: ${oneLine(e)}`);
  }
}

/**
 * The bytes of the input files in all (the merger sizes its tables from it); 0 when unknown: one
 * input, standard input, or a file that cannot be read (its error comes when it is read).
 */
function inputBytes(paths: readonly string[]): number {
  if (paths.length < 2) return 0;
  let total = 0;
  for (const path of paths) {
    if (path === "-") return 0;
    try {
      total += Deno.statSync(path).size;
    } catch {
      return 0;
    }
  }
  return total;
}

/**
 * Writes `data` to `path` atomically: a temp file in the same directory, then a rename over
 * the target. On failure the temp file is removed and any existing target is untouched.
 */
export function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  // A symbolic link is written where it points; a device or a FIFO is written into, never
  // replaced by a regular file (`-o /dev/stdout` as root replaced the device).
  try {
    if (Deno.lstatSync(path).isSymlink) return writeFileAtomic(Deno.realPathSync(path), data);
    const existing = Deno.statSync(path);
    if (!existing.isFile && !existing.isDirectory) {
      Deno.writeFileSync(path, data, { create: false });
      return Promise.resolve();
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) return Promise.reject(e);
  }
  const dir = dirname(path);
  const temp = join(dir, `.${crypto.randomUUID()}.autopgo-tmp`);
  try {
    Deno.writeFileSync(temp, data, { createNew: true, mode: 0o644 });
    Deno.renameSync(temp, path);
  } catch (e) {
    try {
      Deno.removeSync(temp);
    } catch { /* never created */ }
    return Promise.reject(e);
  }
  return Promise.resolve();
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

/**
 * Refuses an output `merge` cannot write before any work is done: a terminal for "-", a file in
 * a folder that does not exist.
 */
export async function checkMergeOutput(output: string): Promise<void> {
  if (output === "-" && Deno.stdout.isTerminal()) {
    throw new CliError("merge: refusing to write a binary profile to a terminal: use -o FILE or redirect stdout");
  }
  if (output !== "-") {
    const folder = dirname(output);
    const info = await Deno.stat(folder).catch(() => undefined);
    if (!info?.isDirectory) throw new CliError(`merge: output folder ${folder} does not exist`);
  }
}

/** Runs a merge without post-merge transformations: check the output, merge fused, write. */
export async function runFusedMerge(paths: readonly string[], output: string): Promise<void> {
  await checkMergeOutput(output);
  await writeProfileOutput(output, mergeProfileFilesEncoded(paths));
}

/** Inputs of at least this many bytes in all get {@link collectGarbage} before the output is encoded. */
const GC_BEFORE_FINISH_BYTES = 1024 * 1024;

/**
 * Asks V8 for a garbage collection once the last input is merged and before the output is
 * encoded: the inputs' bytes and the decoding garbage are still held then (V8 has had no reason
 * to collect them), and the encoded output and its gzip would come on top of them. Whole process,
 * one upload into a 2 MB base: peak RSS ~106 → ~95 MiB; 100 inputs of 38 KiB: ~98 → ~91 MiB. It
 * costs ~10–15 ms, so merges of less than {@link GC_BEFORE_FINISH_BYTES} of input skip it. V8
 * exposes `gc` only behind `--expose-gc`; set at run time, it shows in a new context (node:vm).
 * Called that way, V8 (Deno 2.9) answers with full, memory-reducing mark-compact collections
 * whatever type is asked for: `--trace-gc` shows two "Mark-Compact (reduce) … low memory
 * notification" of ~6 ms each in a merge of 100 inputs, for `minor`, `major` or no options alike
 * (with `--expose-gc` given at start-up, `minor` is a scavenge). Where that fails, nothing is
 * collected and the merge goes on.
 */
export function collectGarbage(): void {
  try {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc");
    if (typeof gc === "function") gc({ type: "minor" });
  } catch { /* no gc here: the merge only peaks higher */ }
}
