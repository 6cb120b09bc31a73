/**
 * Test helpers that run real `autopgo` processes on 127.0.0.1: the embedded server
 * (`autopgo server --data-dir <tmp> --port 0`) and long-running commands such as `scrape`, with
 * their stderr logs captured line by line so tests can wait for what they print.
 *
 * @module
 */

import { MAIN_TS } from "./cli.ts";

/** A long-running autopgo process. */
export interface AutopgoProcess {
  /** Captured stderr lines so far. */
  lines: string[];
  /**
   * Resolves the first captured line at index ≥ `from` matching `pattern` (waiting up to
   * `timeoutMs`); the match carries the line index as `line`.
   */
  waitFor(pattern: RegExp, timeoutMs?: number, from?: number): Promise<RegExpMatchArray & { line: number }>;
  /** Sends `signal` (default SIGTERM) and resolves the exit code; SIGKILL after `timeoutMs` (default 30 s). */
  stop(signal?: Deno.Signal, timeoutMs?: number): Promise<number>;
  /** The underlying child. */
  child: Deno.ChildProcess;
}

/** Where and how to spawn (defaults: `deno run -A main.ts` in the current directory). */
export interface SpawnOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Command instead of `deno run -A main.ts` (e.g. `[Deno.execPath(), "task", "start"]`). */
  command?: string[];
}

/** Spawns `autopgo ARGS` with stderr (where autopgo logs) captured. */
export function spawnAutopgo(args: string[], opts: SpawnOptions = {}): AutopgoProcess {
  const [cmd, ...pre] = opts.command ?? [Deno.execPath(), "run", "-A", MAIN_TS];
  const child = new Deno.Command(cmd, {
    args: [...pre, ...args],
    env: { NO_COLOR: "1", ...opts.env },
    cwd: opts.cwd,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const pump = (async () => {
    let buffer = "";
    for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
      buffer += text;
      const parts = buffer.split("\n");
      buffer = parts.pop()!;
      lines.push(...parts);
      for (const w of waiters) w();
    }
    if (buffer) lines.push(buffer);
    for (const w of waiters) w();
  })();
  let exited: number | undefined;
  const status = child.status.then((s) => exited = s.code);
  const waitFor = (pattern: RegExp, timeoutMs = 30_000, from = 0) =>
    new Promise<RegExpMatchArray & { line: number }>((resolve, reject) => {
      const check = () => {
        for (let i = from; i < lines.length; i++) {
          const m = lines[i].match(pattern);
          if (m) {
            done();
            return resolve(Object.assign(m, { line: i }));
          }
        }
        if (exited !== undefined) {
          done();
          reject(new Error(`process exited (${exited}) before printing ${pattern}: ${lines.slice(-5).join(" | ")}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no line matching ${pattern} within ${timeoutMs}ms: ${lines.slice(-5).join(" | ")}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      status.then(check);
      check();
    });
  return {
    lines,
    waitFor,
    child,
    async stop(signal: Deno.Signal = "SIGTERM", timeoutMs = 30_000) {
      try {
        child.kill(signal);
      } catch { /* already exited */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* already exited */ }
      }, timeoutMs);
      const code = (await child.status).code;
      clearTimeout(timer);
      await pump;
      return code;
    },
  };
}

/** A running embedded autopgo server. */
export interface AutopgoServer extends AutopgoProcess {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** Its data directory (removed by `close`). */
  dataDir: string;
  /** Stops the server (SIGTERM), removes its data and resolves the exit code. */
  close(): Promise<number>;
}

/** Starts `autopgo server` (embedded store + worker) on 127.0.0.1 with a fresh data dir. */
export async function startAutopgoServer(extraArgs: string[] = [], opts: SpawnOptions = {}): Promise<AutopgoServer> {
  const dataDir = await Deno.makeTempDir({ prefix: "autopgo-test-server-" });
  const proc = spawnAutopgo(
    ["server", "--data-dir", dataDir, "--port", "0", "--host", "127.0.0.1", ...extraArgs],
    opts,
  );
  try {
    const m = await proc.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 60_000);
    return {
      ...proc,
      url: m[1],
      dataDir,
      async close() {
        const code = await proc.stop();
        await Deno.remove(dataDir, { recursive: true }).catch(() => {});
        return code;
      },
    };
  } catch (e) {
    await proc.stop("SIGKILL");
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    throw e;
  }
}

/** Polls `probe` every 200 ms until it resolves a truthy value or `timeoutMs` passes. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `${what}: not reached within ${timeoutMs}ms${last ? ` (last error: ${(last as Error).message})` : ""}`,
  );
}
