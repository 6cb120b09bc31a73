/**
 * The no-inline guard flags (issue 14; core/pprof/noinline.ts): `--noinline REGEXP` (repeatable)
 * and `--no-default-noinline` on `worker`, the embedded worker of `server` and `merge`.
 *
 * The worker guards the built-in list (golang/go#65532, golang/go#74045) unless
 * `--no-default-noinline` is given; `merge` keeps google/pprof's merge semantics and guards only
 * with `--noinline` or `--default-noinline`. Environment: `AUTOPGO_NOINLINE` (one regexp; write
 * `a|b` for several) and `AUTOPGO_NO_DEFAULT_NOINLINE` (true/false), or their per-component
 * `AUTOPGO_WORKER_*` / `AUTOPGO_SERVER_*` names. A regexp that does not compile is a one-line
 * argument error before anything starts.
 *
 * @module
 */

import { type Command, InvalidArgumentError, Option } from "commander";
import {
  compileNoInlinePattern,
  DEFAULT_NOINLINE_GUARDS,
  NoInlineGuardError,
  type NoInlineGuards,
  noInlineGuards,
} from "../core/pprof/noinline.ts";
import { envOption } from "./options.ts";

/** The parsed flags. */
export interface NoInlineFlags {
  /** `--noinline` regexps in the order given. */
  noinline: string[];
  /** False with `--no-default-noinline` (worker) / true with `--default-noinline` (merge). */
  defaultNoinline: boolean;
}

/** commander argParser collecting repeated `--noinline` values; a bad regexp is an argument error. */
export function collectNoInline(value: string, previous: string[] = []): string[] {
  try {
    compileNoInlinePattern(value);
  } catch (error) {
    if (error instanceof NoInlineGuardError) throw new InvalidArgumentError(error.message);
    throw error;
  }
  return [...previous, value];
}

const BUILT_IN = DEFAULT_NOINLINE_GUARDS.map((g) => g.issue).join(", ");

function noInlineOption(): Option {
  return envOption(
    "--noinline <regexp>",
    "never let PGO inline functions whose name matches <regexp>, nor inline into them: they are renamed in the " +
      "stored profile, no sample is dropped (repeatable)",
    "NOINLINE",
  ).argParser(collectNoInline).default([], "none");
}

/** Adds `--noinline` and `--no-default-noinline` (the worker's flags: the built-in list is on by default). */
export function addNoInlineOptions(command: Command): Command {
  return command
    .addOption(noInlineOption())
    .addOption(
      envOption(
        "--no-default-noinline",
        `do not guard the built-in list (${BUILT_IN}: gRPC loopyWriter.processData, runtime.gopark)`,
        "NO_DEFAULT_NOINLINE",
      ),
    );
}

/** Adds `--noinline` and `--default-noinline` (`merge`: no guard unless asked, pprof merge semantics). */
export function addMergeNoInlineOptions(command: Command): Command {
  return command
    .addOption(new Option("--noinline <regexp>", noInlineOption().description).argParser(collectNoInline).default([]))
    .addOption(
      new Option("--default-noinline", `also guard the built-in list (${BUILT_IN})`).default(false),
    );
}

/**
 * The guards the flags ask for; undefined when there is nothing to apply and nothing to undo
 * (`merge` without guard flags). The worker always gets a guard list, so that dropping a guard
 * restores the functions it renamed.
 */
export function noInlineGuardsOf(flags: NoInlineFlags, always = true): NoInlineGuards | undefined {
  if (!always && !flags.defaultNoinline && flags.noinline.length === 0) return undefined;
  return noInlineGuards({ patterns: flags.noinline, defaults: flags.defaultNoinline });
}
