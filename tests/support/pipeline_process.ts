/**
 * Test support for the pipeline process tests: start real `autopgo server|worker` processes on
 * 127.0.0.1 (`--port 0`, the bound address read from the `listening on` log line), talk to them,
 * poll for conditions, stop them with signals, and compute `go tool pprof -proto` oracles.
 *
 * @module
 */

import { decodeProfile } from "../../core/pprof/decode.ts";
import { guardedName, noInlineGuards } from "../../core/pprof/noinline.ts";
import type { Profile } from "../../core/pprof/profile.ts";
import { goBinary } from "./go.ts";
import { spawnAutopgo, type SpawnOptions } from "./autopgo_processes.ts";

/**
 * Worker flags for tests of workers racing each other: every local worker consumes at once,
 * where by default those beyond the first on a machine help only with a backlog
 * (cmd/worker_helpers.ts).
 */
export const RACING: readonly string[] = ["--local-workers", "0"];

/** A running autopgo process. */
export interface AutopgoProcess {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  child: Deno.ChildProcess;
  /** Everything the process logged so far. */
  logs(): string;
  /** Sends `signal` and waits for the exit code (kills after `timeoutMs`). */
  stop(signal?: Deno.Signal, timeoutMs?: number): Promise<number>;
}

/** Options of {@link startAutopgo}. */
export interface StartOptions extends SpawnOptions {
  timeoutMs?: number;
}

/** Starts `autopgo ARGS` and resolves once it logged its listening address and /api/ready answers 200. */
export async function startAutopgo(args: string[], opts: StartOptions = {}): Promise<AutopgoProcess> {
  const proc = spawnAutopgo(args, opts);
  let url: string;
  try {
    url = (await proc.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/, opts.timeoutMs ?? 60_000))[1];
  } catch (error) {
    const code = await proc.stop("SIGKILL");
    throw new Error(`autopgo ${args.join(" ")} did not start (exit ${code}): ${(error as Error).message}`);
  }
  await waitFor(async () => (await fetchStatus(`${url}/api/ready`)) === 200, 30_000, `${url}/api/ready`);
  return { url, child: proc.child, logs: () => proc.lines.join("\n"), stop: proc.stop };
}

async function fetchStatus(url: string): Promise<number> {
  try {
    const response = await fetch(url);
    await response.body?.cancel();
    return response.status;
  } catch {
    return 0;
  }
}

/** Sleeps `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every 100 ms until true; throws naming `what` after `timeoutMs`. */
export async function waitFor(
  condition: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(100);
  }
}

/** POSTs `data` to `/api/profile/{app}`. */
export async function upload(
  url: string,
  app: string,
  data: Uint8Array | ReadableStream<Uint8Array>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}/api/profile/${app}`, { method: "POST", body: data as BodyInit, headers });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text);
  } catch {
    body = { raw: text };
  }
  return { status: response.status, body };
}

/** Downloads and decodes an app's base profile; undefined on 404. */
export async function download(
  url: string,
  app: string,
  headers: Record<string, string> = {},
): Promise<Profile | undefined> {
  const response = await fetch(`${url}/api/profile/${app}`, { headers });
  if (response.status === 404) {
    await response.body?.cancel();
    return undefined;
  }
  if (response.status !== 200) throw new Error(`GET ${app}: ${response.status} ${await response.text()}`);
  return decodeProfile(new Uint8Array(await response.arrayBuffer()));
}

/** Lists every file below `dir` (relative paths), ignoring the stores' internal `.autopgo-*` files. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(rel: string) {
    for await (const entry of Deno.readDir(`${dir}/${rel}`)) {
      if (entry.name.startsWith(".autopgo-")) continue;
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory) await walk(path);
      else out.push(path);
    }
  }
  try {
    await walk("");
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return out.sort();
}

/**
 * What the pipeline stores for `files`: `go tool pprof -proto FILES…` decoded (Go's own merge, the
 * oracle), with the functions that the default no-inline guards match renamed
 * `DO NOT INLINE: <name>`, as every stored base has them (core/pprof/noinline.ts: names only, no
 * sample or value changes). Without the renaming, inputs that happen to sample `runtime.gopark`
 * (real CPU profiles sometimes do) would differ from the stored base.
 */
export async function pprofMergeOracle(files: string[]): Promise<Profile> {
  const go = goBinary();
  if (!go) throw new Error("go not found");
  const out = await new Deno.Command(go, {
    args: ["tool", "pprof", "-proto", ...files],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) throw new Error(`go tool pprof -proto failed: ${new TextDecoder().decode(out.stderr)}`);
  const merged = decodeProfile(out.stdout);
  const guards = noInlineGuards(); // the defaults
  for (const fn of merged.function) fn.name = guardedName(fn.name, guards);
  return merged;
}
