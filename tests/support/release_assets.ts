/**
 * Builds a release directory like the one `.github/workflows/release.yml` publishes, as far as
 * this machine can, for the install.sh and GitHub Action tests:
 *
 * - REAL: `autopgo.js` and `install.sh`, built by `compile.sh js` (so stamped with the version and
 *   commit), and `SHA256SUMS`, written by `compile.sh --checksums` over every asset.
 * - STAND-IN: the five binaries `autopgo-<target>[.exe]`. `deno compile` must download its denort
 *   runtime from Deno's download host, which this machine cannot reach, so each is a small shell
 *   script that runs the real `autopgo.js` with this machine's deno. It is named, listed and
 *   checksummed like a real binary, and only the host's is ever run.
 *
 * @module
 */

import { join } from "node:path";

/** The five compile targets, in compile.sh's order. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

/** Absolute path of the repository root. */
export const REPO_ROOT: string = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** Result of a command run to completion. */
export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `cmd args` to completion with `env` added to this process's environment. */
export async function run(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; clearEnv?: boolean } = {},
): Promise<Ran> {
  const out = await new Deno.Command(cmd, {
    args,
    env: { NO_COLOR: "1", ...opts.env },
    cwd: opts.cwd,
    clearEnv: opts.clearEnv,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The asset name of `target`'s binary. */
export function assetName(target: string): string {
  return `autopgo-${target}${target.includes("windows") ? ".exe" : ""}`;
}

/** The compile target of this machine, as install.sh picks it. */
export function hostTarget(): string {
  const arch = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
  if (Deno.build.os === "darwin") return `${arch}-apple-darwin`;
  if (Deno.build.os === "windows") return "x86_64-pc-windows-msvc";
  return `${arch}-unknown-linux-gnu`;
}

/** A built release directory. */
export interface BuiltRelease {
  dir: string;
  /** What compile.sh printed. */
  log: string;
}

/**
 * Builds a release into `dir` (created): `compile.sh js` with `env`, the stand-in binaries, then
 * `compile.sh --checksums`. Throws with compile.sh's output if a step fails.
 */
export async function buildRelease(dir: string, env: Record<string, string> = {}): Promise<BuiltRelease> {
  const compile = join(REPO_ROOT, "compile.sh");
  const js = await run("bash", [compile, "js"], { env: { DIST_DIR: dir, ...env } });
  if (js.code !== 0) throw new Error(`compile.sh js failed: ${js.stderr}`);
  for (const target of TARGETS) {
    const path = join(dir, assetName(target));
    await Deno.writeTextFile(
      path,
      [
        "#!/bin/sh",
        `# STAND-IN for the release binary ${assetName(target)} (tests/support/release_assets.ts): runs autopgo.js.`,
        `exec '${Deno.execPath()}' run -A --no-config '${join(dir, "autopgo.js")}' "$@"`,
        "",
      ].join("\n"),
    );
    await Deno.chmod(path, 0o755);
  }
  const sums = await run("bash", [compile, "--checksums"], { env: { DIST_DIR: dir } });
  if (sums.code !== 0) throw new Error(`compile.sh --checksums failed: ${sums.stderr}`);
  return { dir, log: js.stdout + js.stderr + sums.stdout };
}

/**
 * Copies release `from` into `to`, then changes the bytes of `target`'s binary without updating
 * SHA256SUMS: a release whose checksum does not match.
 */
export async function tamperedCopy(from: string, to: string, target: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (entry.isFile) await Deno.copyFile(join(from, entry.name), join(to, entry.name));
  }
  const binary = join(to, assetName(target));
  await Deno.writeTextFile(binary, (await Deno.readTextFile(binary)) + "# tampered\n");
}
