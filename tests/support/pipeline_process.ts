/**
 * Test support for the pipeline process tests: start real `autopgo server|worker` processes on
 * 127.0.0.1 (`--port 0`, the bound address read from the `listening on` log line), talk to them,
 * poll for conditions, stop them with signals, and compute `go tool pprof -proto` oracles.
 *
 * @module
 */

import { decodeProfile } from "../../core/pprof/decode.ts";
import type { Profile } from "../../core/pprof/profile.ts";
import { goBinary } from "./go.ts";

/** Absolute path of main.ts. */
export const MAIN_TS = new URL("../../main.ts", import.meta.url).pathname;

/** A running autopgo process. */
export interface AutopgoProcess {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  child: Deno.ChildProcess;
  /** Everything the process logged so far (stderr + stdout). */
  logs(): string;
  /** Sends `signal` and waits for the exit code (kills after `timeoutMs`). */
  stop(signal?: Deno.Signal, timeoutMs?: number): Promise<number>;
}

/** Options of {@link startAutopgo}. */
export interface StartOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Command instead of `deno run -A main.ts` (e.g. `["deno", "task", "start"]`). */
  command?: string[];
  timeoutMs?: number;
}

/** Starts `autopgo ARGS` and resolves once it logged its listening address and /api/ready answers 200. */
export async function startAutopgo(args: string[], opts: StartOptions = {}): Promise<AutopgoProcess> {
  const [cmd, ...pre] = opts.command ?? [Deno.execPath(), "run", "-A", MAIN_TS];
  const child = new Deno.Command(cmd, {
    args: [...pre, ...args],
    env: { NO_COLOR: "1", ...opts.env },
    cwd: opts.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text += chunk;
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exited: number | undefined;
  const status = child.status.then((s) => exited = s.code);
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let url: string | undefined;
  while (!url) {
    url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(text)?.[1];
    if (url) break;
    if (exited !== undefined || Date.now() > deadline) {
      if (exited === undefined) child.kill("SIGKILL");
      await status;
      await pumps;
      throw new Error(`autopgo ${args.join(" ")} did not start (exit ${exited}): ${text}`);
    }
    await delay(50);
  }
  const proc: AutopgoProcess = {
    url,
    child,
    logs: () => text,
    async stop(signal: Deno.Signal = "SIGTERM", timeoutMs = 30_000) {
      if (exited === undefined) {
        try {
          child.kill(signal);
        } catch { /* already gone */ }
        const timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch { /* already gone */ }
        }, timeoutMs);
        await status;
        clearTimeout(timer);
      }
      await pumps;
      return exited!;
    },
  };
  await waitFor(async () => (await fetchStatus(`${url}/api/ready`)) === 200, 30_000, `${url}/api/ready`);
  return proc;
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

/** `go tool pprof -proto FILES…` decoded: Go's own merge of the files (the oracle). */
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
  return decodeProfile(out.stdout);
}
