/**
 * Locating the Go toolchain for tests that need it, and the shared skip rule: a test that needs Go prints why it
 * skips when Go is missing, except under `CI=true`, where a missing Go is a failure.
 *
 * @module
 */

/** Where Go is installed when it is not on PATH. */
const FALLBACK_GO = "/usr/local/go/bin/go";

let cachedGo: { path: string | undefined } | undefined;

function isExecutableFile(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * Returns the path of the `go` binary: the first `go` on PATH, else `/usr/local/go/bin/go`, else `undefined`.
 * The answer is cached for the process.
 */
export function goBinary(): string | undefined {
  if (cachedGo) return cachedGo.path;
  const dirs = (Deno.env.get("PATH") ?? "").split(":").filter((dir) => dir !== "");
  const candidates = [...dirs.map((dir) => `${dir}/go`), FALLBACK_GO];
  cachedGo = { path: candidates.find(isExecutableFile) };
  return cachedGo.path;
}

/** True when a Go toolchain is available to the tests. */
export function goAvailable(): boolean {
  return goBinary() !== undefined;
}

/** True when running under CI (`CI=true`), where missing prerequisites are failures rather than skips. */
export function isCi(): boolean {
  return Deno.env.get("CI") === "true";
}

/**
 * Guard for tests that need Go. Returns true when Go is present. When it is missing, prints
 * `skipping <testName>: go not found` and returns false — or throws under `CI=true`.
 *
 * @example
 * ```ts
 * Deno.test("merge matches go tool pprof", async () => {
 *   if (!skipUnlessGo("merge matches go tool pprof")) return;
 *   // ...
 * });
 * ```
 */
export function skipUnlessGo(testName: string): boolean {
  if (goAvailable()) return true;
  if (isCi()) throw new Error(`${testName}: go not found (required when CI=true)`);
  console.log(`skipping ${testName}: go not found`);
  return false;
}

/** Output of a finished `go` invocation. */
export interface GoResult {
  /** Raw standard output. */
  stdout: Uint8Array;
  /** Standard error decoded as text. */
  stderr: string;
}

/**
 * Runs `go ARGS...` and resolves with its output; rejects with a one-line error carrying the command and the end of
 * stderr when it exits non-zero. `GOTOOLCHAIN=local` keeps Go from downloading toolchains.
 */
export async function runGo(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<GoResult> {
  const go = goBinary();
  if (!go) throw new Error(`go ${args.join(" ")}: go not found`);
  const output = await new Deno.Command(go, {
    args,
    cwd: options.cwd,
    env: { GOTOOLCHAIN: "local", ...options.env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  if (!output.success) {
    const tail = stderr.trim().split("\n").slice(-5).join(" | ");
    throw new Error(`go ${args.join(" ")} failed (exit ${output.code}): ${tail}`);
  }
  return { stdout: output.stdout, stderr };
}
