/**
 * Benchmark data: real labelled CPU profiles written by the hotpath fixture, a large base (the Go merge of all of
 * them) and one extra upload, plus the google/pprof side's binary. Everything is cached outside the repository
 * (`$AUTOPGO_BENCH_DATA`, default `$TMPDIR/autopgo-bench`) under a key of the fixture sources and the parameters, so
 * later runs are offline and start at once.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { runGo } from "../tests/support/go.ts";
import { HOTPATH_DIR } from "../tests/support/fixtures.ts";
import { sha256Hex as digestHex } from "../core/hex.ts";
import { benchTempDir } from "./fs_probe.ts";

/** Directory of the google/pprof side (a Go module). */
export const PPROF_SIDE_DIR: string = fileURLToPath(new URL("./go/", import.meta.url));

/** How the benchmark profiles are generated. */
export interface DataParams {
  /** Profiles merged by the merge-many case (one more is generated as the upload of the merge-into case). */
  profiles: number;
  /** Units of fixture work per profile; with `rate` this sets the profile size (~50 KB at 50000). */
  unitsPerProfile: number;
  /** CPU profiling rate in Hz (Linux delivers at most CONFIG_HZ, often 250, samples per thread-second). */
  rate: number;
  /** Goroutines doing the work while profiling. */
  workers: number;
}

/** Default parameters: 100 labelled profiles of roughly 50 KB each. */
export const DEFAULT_DATA_PARAMS: DataParams = { profiles: 100, unitsPerProfile: 50_000, rate: 250, workers: 2 };

/** Paths of the generated data. */
export interface BenchData {
  /** Cache directory of this data set. */
  dir: string;
  /** Inputs of the merge-many case. */
  profiles: string[];
  /** The large base of the merge-into case (google/pprof merge of all `profiles`). */
  base: string;
  /** The upload merged into `base` (a profile not in the base). */
  upload: string;
  /** The built google/pprof side. */
  pprofMerge: string;
}

async function sha256Hex(parts: Uint8Array[]): Promise<string> {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const all = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  return await digestHex(all);
}

async function sourceFiles(dir: string): Promise<Uint8Array[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && /\.(go|mod|sum)$/.test(entry.name)) names.push(entry.name);
  }
  names.sort();
  const encoder = new TextEncoder();
  return Promise.all(names.map(async (n) => {
    const body = await Deno.readFile(dir + n);
    return new Uint8Array([...encoder.encode(n), 0, ...body]);
  }));
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function run(binary: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(binary, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    const tail = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ");
    throw new Error(`${binary} ${args.slice(0, 3).join(" ")} … failed (exit ${out.code}): ${tail}`);
  }
}

/** Where generated benchmark data is kept: `$AUTOPGO_BENCH_DATA`, else `autopgo-bench` in the temporary folder. */
export function benchDataRoot(): string {
  return Deno.env.get("AUTOPGO_BENCH_DATA") || `${benchTempDir()}/autopgo-bench`;
}

/** Builds the google/pprof side into `dir` (offline once its module is in the Go module cache). */
export async function buildPprofSide(dir: string): Promise<string> {
  const out = `${dir}/pprofmerge`;
  await runGo(["build", "-o", out, "."], { cwd: PPROF_SIDE_DIR });
  return out;
}

/** A lock older than this is left over from a killed run. */
const STALE_LOCK_MS = 30 * 60_000;

/** Takes `${path}` as a lock file; false when another live run holds it. */
async function tryLock(path: string): Promise<boolean> {
  try {
    (await Deno.open(path, { createNew: true, write: true })).close();
    return true;
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    const age = Date.now() - ((await Deno.stat(path).catch(() => undefined))?.mtime?.getTime() ?? 0);
    if (age > STALE_LOCK_MS) await Deno.remove(path).catch(() => {});
    return false;
  }
}

/** Generates the data set into a fresh directory `dir` (profiles, then google/pprof's merge of them as base). */
async function generate(dir: string, params: DataParams, pprofMerge: string, log: (line: string) => void) {
  await Deno.mkdir(dir, { recursive: true });
  const hotpath = `${dir}/hotpath`;
  await runGo(["build", "-o", hotpath, "."], { cwd: HOTPATH_DIR });
  const started = performance.now();
  await run(hotpath, [
    "profile",
    "-o",
    `${dir}/profiles`,
    "-n",
    String(params.profiles + 1),
    "-units",
    String(params.unitsPerProfile),
    "-rate",
    String(params.rate),
    "-workers",
    String(params.workers),
    "-labels",
  ]);
  await Deno.remove(hotpath);
  log(`data: profiles written in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  const names = Array.from({ length: params.profiles }, (_, i) => `${dir}/profiles/${profileName(i)}`);
  await run(pprofMerge, ["merge-many", `${dir}/base.pb.gz`, ...names]);
  await Deno.writeTextFile(`${dir}/complete`, new Date().toISOString() + "\n");
}

function profileName(i: number): string {
  return `cpu-${String(i).padStart(3, "0")}.pb.gz`;
}

/**
 * Returns the benchmark data for `params`, generating it on first use (this takes minutes: the profiles are real and
 * Linux samples at most ~250 Hz per thread). The data set appears atomically (generated aside, then renamed into
 * place), and concurrent runs wait for the one generating it. The google/pprof side is built into `binDir` (default: a
 * temp dir removed at exit). `log` receives progress lines.
 */
export async function benchData(
  params: DataParams,
  log: (line: string) => void,
  binDir?: string,
): Promise<BenchData> {
  const key = await sha256Hex([
    ...await sourceFiles(HOTPATH_DIR),
    ...await sourceFiles(PPROF_SIDE_DIR),
    new TextEncoder().encode(JSON.stringify(params)),
  ]);
  const root = benchDataRoot();
  const dir = `${root}/${key.slice(0, 16)}`;
  if (!binDir) {
    const temp = binDir = await Deno.makeTempDir({ prefix: "autopgo-bench-bin-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(temp, { recursive: true }));
  }
  const pprofMerge = await buildPprofSide(binDir);
  const data: BenchData = {
    dir,
    profiles: Array.from({ length: params.profiles }, (_, i) => `${dir}/profiles/${profileName(i)}`),
    upload: `${dir}/profiles/${profileName(params.profiles)}`,
    base: `${dir}/base.pb.gz`,
    pprofMerge,
  };
  await Deno.mkdir(root, { recursive: true });
  const lock = `${dir}.lock`;
  for (let waited = 0; !(await exists(`${dir}/complete`)); waited++) {
    if (!(await tryLock(lock))) {
      if (waited % 30 === 0) log(`data: another run is generating ${dir}; waiting`);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      continue;
    }
    try {
      if (await exists(`${dir}/complete`)) break;
      log(`data: generating ${params.profiles + 1} real profiles for ${dir} (one-time, takes minutes)`);
      const partial = `${dir}.partial-${crypto.randomUUID().slice(0, 8)}`;
      try {
        await generate(partial, params, pprofMerge, log);
        await Deno.remove(dir, { recursive: true }).catch(() => {}); // an incomplete leftover
        await Deno.rename(partial, dir);
      } finally {
        await Deno.remove(partial, { recursive: true }).catch(() => {});
      }
    } finally {
      await Deno.remove(lock).catch(() => {});
    }
  }
  log(`data: using ${dir}`);
  return data;
}

/** Byte sizes of files: total, smallest, median, largest. */
export async function sizeStats(paths: string[]): Promise<{ total: number; min: number; median: number; max: number }> {
  const sizes = (await Promise.all(paths.map((p) => Deno.stat(p)))).map((s) => s.size).sort((a, b) => a - b);
  return {
    total: sizes.reduce((a, b) => a + b, 0),
    min: sizes[0],
    median: sizes[Math.floor(sizes.length / 2)],
    max: sizes[sizes.length - 1],
  };
}
