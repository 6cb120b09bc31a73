/**
 * The one helper that starts real servers and brokers for tests (MinIO, fake-gcs-server,
 * Azurite, NATS, Kafka, goaws, pstest): find the binary that `.ci/install-services.sh` cached,
 * pick a free port on 127.0.0.1, spawn, keep the log tail, poll until ready, stop or kill.
 *
 * A missing service skips its tests with a printed reason outside CI, and fails them under
 * `CI=true` ({@link serviceSkip}), so CI cannot go green by testing nothing.
 *
 * Each `<service>.ts` beside this file describes one service in a few lines on top of
 * {@link launch}; tests call its `start…()` and `stop()` it when done.
 *
 * @module
 */

import { join } from "node:path";

/** Where `.ci/install-services.sh` caches binaries (`AUTOPGO_TEST_CACHE`, default `~/.cache/autopgo-test`). */
export function serviceCacheDir(): string {
  return Deno.env.get("AUTOPGO_TEST_CACHE") ?? join(Deno.env.get("HOME") ?? "/root", ".cache", "autopgo-test");
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** The path of a cached (or `PATH`) executable named `name`, or `undefined`. */
export function cachedBinary(name: string): string | undefined {
  const cached = join(serviceCacheDir(), "bin", name);
  if (isFile(cached)) return cached;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && isFile(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** True when running under CI (`CI=true`), where a missing service is a failure, not a skip. */
export function underCi(): boolean {
  return /^(1|true|yes)$/i.test(Deno.env.get("CI") ?? "");
}

/**
 * Decides whether tests that need `service` run: `false` when `available`, else the skip reason
 * (printed once). Under CI a missing service throws at registration, failing the file loudly.
 */
export function serviceSkip(service: string, available: boolean, reason: string): string | false {
  if (available) return false;
  const text = `${service} is not installed (${reason}); run .ci/install-services.sh`;
  if (underCi()) throw new Error(`CI=true but ${text}`);
  console.warn(`skipping ${service} tests: ${text}`);
  return text;
}

/** A free TCP port on 127.0.0.1 (bound and released; the kernel does not hand it out again at once). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** True once a TCP connection to 127.0.0.1:`port` succeeds. */
export async function portOpen(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** True once `url` answers with a status below 500 (any answer at all when `anyStatus`). */
export async function httpAnswers(url: string, init: RequestInit = {}, anyStatus = false): Promise<boolean> {
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(2_000) });
    await response.body?.cancel();
    return anyStatus || response.status < 500;
  } catch {
    return false;
  }
}

/** Options of {@link launch}. */
export interface LaunchOptions {
  /** Names the service in errors. */
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Polled every 100 ms until true. */
  ready: () => Promise<boolean>;
  /** How long start-up may take (default 60 s). */
  readyTimeoutMs?: number;
}

/** A running service process. */
export interface LaunchedProcess {
  readonly name: string;
  readonly pid: number;
  /** The last lines it printed. */
  logs(): string;
  /** SIGTERM, then SIGKILL after `graceMs` (default 5 s); resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once; resolves when it has exited. */
  kill(): Promise<void>;
  /** Resolves with the exit code when the process exits. */
  readonly exited: Promise<number>;
}

const LOG_LINES = 200;

async function drain(stream: ReadableStream<Uint8Array>, lines: string[]): Promise<void> {
  const decoder = new TextDecoder();
  let partial = "";
  try {
    for await (const chunk of stream) {
      const parts = (partial + decoder.decode(chunk, { stream: true })).split("\n");
      partial = parts.pop() ?? "";
      lines.push(...parts);
      if (lines.length > LOG_LINES) lines.splice(0, lines.length - LOG_LINES);
    }
  } catch { /* the process went away */ }
}

/**
 * Spawns a service and waits until `ready()`; throws with the log tail if it exits or does not
 * become ready in time (the process is killed then).
 */
export async function launch(options: LaunchOptions): Promise<LaunchedProcess> {
  const lines: string[] = [];
  const child = new Deno.Command(options.command, {
    args: options.args,
    env: options.env,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const drained = Promise.all([drain(child.stdout, lines), drain(child.stderr, lines)]);
  let exitCode: number | undefined;
  const exited = child.status.then(async (status) => {
    exitCode = status.code;
    await drained;
    return status.code;
  });
  const signal = (sig: Deno.Signal) => {
    try {
      child.kill(sig);
    } catch { /* already gone */ }
  };
  const proc: LaunchedProcess = {
    name: options.name,
    pid: child.pid,
    logs: () => lines.join("\n"),
    exited,
    async stop(graceMs = 5_000) {
      if (exitCode !== undefined) return void await exited;
      signal("SIGTERM");
      const timer = setTimeout(() => signal("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (exitCode === undefined) signal("SIGKILL");
      await exited;
    },
  };
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  while (true) {
    if (exitCode !== undefined) {
      await exited;
      throw new Error(`${options.name} exited with ${exitCode} during start-up:\n${proc.logs().slice(-3000)}`);
    }
    if (await options.ready()) return proc;
    if (Date.now() > deadline) {
      await proc.kill();
      throw new Error(
        `${options.name} was not ready within ${options.readyTimeoutMs ?? 60_000} ms:\n${proc.logs().slice(-3000)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A fresh temporary directory for a service's data, removed by the returned cleanup. */
export async function serviceDataDir(name: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await Deno.makeTempDir({ prefix: `autopgo-${name}-` });
  return { path, remove: () => Deno.remove(path, { recursive: true }).catch(() => {}) };
}
