/**
 * The exactness oracle: a tiny Go program (tests/fixtures/pproforacle) that runs
 * github.com/google/pprof/profile operations so tests can compare the engine against
 * the reference implementation byte for byte.
 *
 * Subcommands (see the program's doc comment): `write-uncompressed IN`, `write OUT IN`,
 * `merge OUT IN...`, `prune OUT DROP_RX KEEP_RX|"" IN`, `prune-from OUT RX IN`,
 * `compact OUT IN`, `check IN...` (one line per input: "ok" or pprof's error),
 * `runtime-profiles DIR` (real heap/allocs/goroutine/mutex/block/threadcreate profiles and
 * a legacy goroutine.txt), `time-parse N IN...`, `time-encode N IN` (print wall and CPU ns
 * per operation). OUT "-" writes to stdout.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { goBinary, isCi, runGo } from "./go.ts";

const ORACLE_DIR = fileURLToPath(new URL("../fixtures/pproforacle/", import.meta.url));

let built: Promise<string | undefined> | undefined;

async function build(): Promise<string | undefined> {
  if (!goBinary()) {
    const reason = "pproforacle: go not found";
    if (isCi()) throw new Error(`${reason} (required when CI=true)`);
    console.log(`skipping oracle checks: ${reason}`);
    return undefined;
  }
  const dir = await Deno.makeTempDir({ prefix: "pproforacle-" });
  const binary = `${dir}/pproforacle${Deno.build.os === "windows" ? ".exe" : ""}`;
  await runGo(["build", "-o", binary, "."], { cwd: ORACLE_DIR });
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // best effort cleanup of the temp dir
    }
  });
  return binary;
}

/**
 * Builds the oracle once per process and returns its path; `undefined` (with a printed
 * reason) when Go is missing. Throws when Go is missing and env `CI=true`, or when the
 * build fails.
 */
export function oracleBinary(): Promise<string | undefined> {
  built ??= build();
  return built;
}

/**
 * Runs the oracle with `args` and returns its stdout. Throws when Go is unavailable or the
 * oracle exits non-zero (the error carries the oracle's stderr).
 */
export async function runOracle(args: string[]): Promise<Uint8Array> {
  const binary = await oracleBinary();
  if (!binary) throw new Error("pproforacle unavailable: Go toolchain not found");
  const out = await new Deno.Command(binary, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    const stderr = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`pproforacle ${args[0]} failed (exit ${out.code}): ${stderr}`);
  }
  return out.stdout;
}
