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
 * The fused path and the file I/O live in cmd/merge_io.ts; a plain command line (inputs and
 * `-o` only) runs them from main.ts without commander (cmd/merge_plain.ts).
 *
 * @module
 */

import { Command, Option } from "commander";
import { CliError, describeProfileProblem, oneLine } from "./cli_error.ts";
import { decodeProfile } from "../core/pprof/decode.ts";
import { encodeProfile } from "../core/pprof/encode.ts";
import { ProfileMerger } from "../core/pprof/merge.ts";
import { compactForPgo } from "../core/pprof/compact_pgo.ts";
import type { Profile } from "../core/pprof/profile.ts";
import { applyNoInlineGuards } from "../core/pprof/noinline.ts";
import { addMergeNoInlineOptions, noInlineGuardsOf } from "./noinline_flags.ts";
import { checkMergeOutput, mergeProfileFilesEncoded, readProfileBytes, writeProfileOutput } from "./merge_io.ts";

export {
  checkMergeOutput,
  mergeProfileFilesEncoded,
  readProfileBytes,
  runFusedMerge,
  writeFileAtomic,
  writeProfileOutput,
} from "./merge_io.ts";

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

/** Runs `merge`: decode and merge `paths`, encode (gzip), write to `opts.output`. */
export async function runMerge(paths: readonly string[], opts: MergeCommandOptions): Promise<void> {
  // Refuse a terminal or a missing folder before doing the work.
  await checkMergeOutput(opts.output);
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
