/**
 * Entry point of the `autopgo` binary: runs the CLI and exits with its code.
 *
 * In a plain one-file bundle (`deno bundle main.ts`) the decode pool's Web Workers run this same
 * file (core/pipeline/decode_pool.ts): started as a Worker, it serves profile jobs instead of
 * running the CLI. `import.meta.main` is true in a Worker's main module too, so the scope decides.
 * The single-file release build's loader (build/bundle_loader.js) imports this module and calls
 * {@link main}.
 *
 * The CLI itself (cmd/program.ts: commander, logging, the command modules) is imported only when
 * needed: `autopgo --version` alone prints the version line directly, and a plain `autopgo merge`
 * command line runs the fused merge directly (cmd/merge_plain.ts), because its start-up is most of
 * what a merge costs.
 *
 * @module
 */

import { plainMergeArgs, runPlainMerge } from "./cmd/merge_plain.ts";
import { isBareVersionRequest, versionLine } from "./cmd/version.ts";

/** True when this code runs in a Web Worker rather than on the main thread. */
function inWorker(): boolean {
  const scope = (globalThis as { WorkerGlobalScope?: abstract new () => unknown }).WorkerGlobalScope;
  return scope !== undefined && globalThis instanceof scope;
}

/** Runs the CLI on `Deno.args` and exits with its code; in a Web Worker, serves profile jobs instead. */
export async function main(): Promise<void> {
  if (inWorker()) await import("./core/pipeline/decode_worker.ts");
  else {
    if (isBareVersionRequest(Deno.args)) {
      try {
        Deno.stdout.writeSync(new TextEncoder().encode(`${versionLine()}\n`));
      } catch (e) {
        if (e instanceof Deno.errors.BrokenPipe) Deno.exit(0);
        Deno.stderr.writeSync(new TextEncoder().encode(`autopgo: writing the version: ${(e as Error).message}\n`));
        Deno.exit(1);
      }
      Deno.exit(0);
    }
    // A plain `autopgo merge` starts without commander and logging (cmd/merge_plain.ts); the rest builds the program.
    const merge = plainMergeArgs(Deno.args);
    Deno.exit(merge ? await runPlainMerge(merge) : await (await import("./cmd/program.ts")).runCli(Deno.args));
  }
}

if (import.meta.main) await main();
