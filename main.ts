/**
 * Entry point of the `autopgo` binary: runs the CLI and exits with its code.
 *
 * In a bundle (`deno bundle`) the decode pool's Web Workers run this same file (every module of a
 * bundle shares its URL): started as a Worker, it serves profile jobs instead of running the CLI
 * (core/pipeline/decode_pool.ts). `import.meta.main` is true in a Worker's main module too, so the
 * scope decides.
 *
 * @module
 */

import { runCli } from "./cmd/program.ts";

/** True when this code runs in a Web Worker rather than on the main thread. */
function inWorker(): boolean {
  const scope = (globalThis as { WorkerGlobalScope?: abstract new () => unknown }).WorkerGlobalScope;
  return scope !== undefined && globalThis instanceof scope;
}

if (import.meta.main) {
  if (inWorker()) await import("./core/pipeline/decode_worker.ts");
  else Deno.exit(await runCli(Deno.args));
}
