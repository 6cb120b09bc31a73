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

/** Directory of the google/pprof side (a Go module). */
export const PPROF_SIDE_DIR: string = fileURLToPath(new URL("./go/", import.meta.url));

/** How the benchmark profiles are generated. */
export interface DataParams {
  /** Profiles merged by the merge-many case (one more is generated as the upload of the merge-into case). */
  profiles: number;
  /** Units of fixture work per profile; with `rate` this sets the profile size (~50 KB at 36000). */
  unitsPerProfile: number;
  /** CPU profiling rate in Hz (Linux delivers at most CONFIG_HZ, often 250, samples per thread-second). */
  rate: number;
  /** Goroutines doing the work while profiling. */
  workers: number;
}

/** Default parameters: 100 labelled profiles of roughly 50 KB each. */
export const DEFAULT_DATA_PARAMS: DataParams = { profiles: 100, unitsPerProfile: 36_000, rate: 250, workers: 2 };

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
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
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

function cacheRoot(): string {
  const explicit = Deno.env.get("AUTOPGO_BENCH_DATA");
  if (explicit) return explicit;
  return `${Deno.env.get("TMPDIR") ?? "/tmp"}/autopgo-bench`;
}

/** Builds the google/pprof side into `dir` (offline once its module is in the Go module cache). */
async function buildPprofSide(dir: string): Promise<string> {
  const out = `${dir}/pprofmerge`;
  await runGo(["build", "-o", out, "."], { cwd: PPROF_SIDE_DIR });
  return out;
}

/**
 * Returns the benchmark data for `params`, generating it on first use (this takes minutes: the profiles are real and
 * Linux samples at most ~250 Hz per thread). `log` receives progress lines.
 */
export async function benchData(params: DataParams, log: (line: string) => void): Promise<BenchData> {
  const key = await sha256Hex([
    ...await sourceFiles(HOTPATH_DIR),
    ...await sourceFiles(PPROF_SIDE_DIR),
    new TextEncoder().encode(JSON.stringify(params)),
  ]);
  const dir = `${cacheRoot()}/${key.slice(0, 16)}`;
  const profilesDir = `${dir}/profiles`;
  const names = Array.from(
    { length: params.profiles + 1 },
    (_, i) => `${profilesDir}/cpu-${String(i).padStart(3, "0")}.pb.gz`,
  );
  const data: BenchData = {
    dir,
    profiles: names.slice(0, params.profiles),
    upload: names[params.profiles],
    base: `${dir}/base.pb.gz`,
    pprofMerge: `${dir}/pprofmerge`,
  };
  await Deno.mkdir(dir, { recursive: true });
  await buildPprofSide(dir);
  if (await exists(`${dir}/complete`)) {
    log(`data: reusing ${dir}`);
    return data;
  }
  log(`data: generating ${params.profiles + 1} real profiles into ${dir} (one-time, takes minutes)`);
  const hotpath = `${dir}/hotpath`;
  await runGo(["build", "-o", hotpath, "."], { cwd: HOTPATH_DIR });
  const started = performance.now();
  await run(hotpath, [
    "profile",
    "-o",
    profilesDir,
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
  log(`data: profiles written in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  await run(data.pprofMerge, ["merge-many", data.base, ...data.profiles]);
  await Deno.writeTextFile(`${dir}/complete`, new Date().toISOString() + "\n");
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
