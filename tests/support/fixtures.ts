/**
 * Real test data from the `hotpath` Go fixture (tests/fixtures/hotpath): its binary, CPU and heap profiles it writes,
 * a running instance serving net/http/pprof, and the small profiles committed for machines without Go.
 *
 * Everything is built or generated once per process into one temp dir (removed at exit); nothing is written into the
 * repository. Callers check Go first with `skipUnlessGo` from `./go.ts` (except for `committedProfiles`).
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { runGo } from "./go.ts";

/** Directory of the hotpath Go module. */
export const HOTPATH_DIR: string = fileURLToPath(new URL("../fixtures/hotpath/", import.meta.url));

/** Directory of the committed profiles. */
export const COMMITTED_PROFILES_DIR: string = fileURLToPath(new URL("../fixtures/profiles/", import.meta.url));

let tempRoot: Promise<string> | undefined;
let tempRootPath: string | undefined;
const liveServers = new Set<Deno.ChildProcess>();

function removeAtExit(): void {
  for (const child of liveServers) {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }
  if (!tempRootPath) return;
  try {
    Deno.removeSync(tempRootPath, { recursive: true });
  } catch { /* best effort */ }
}

/** The per-process temp dir holding everything this module builds or generates (created on first use). */
export function fixtureTempDir(): Promise<string> {
  if (!tempRoot) {
    tempRoot = Deno.makeTempDir({ prefix: "autopgo-fixtures-" }).then((dir) => tempRootPath = dir);
    globalThis.addEventListener("unload", removeAtExit);
  }
  return tempRoot;
}

let hotpathBinary: Promise<string> | undefined;

/** Builds the hotpath fixture once per process (concurrent callers share the build) and returns the binary path. */
export function buildHotpath(): Promise<string> {
  if (!hotpathBinary) {
    hotpathBinary = (async () => {
      const out = `${await fixtureTempDir()}/hotpath`;
      await runGo(["build", "-o", out, "."], { cwd: HOTPATH_DIR });
      return out;
    })();
    hotpathBinary.catch(() => hotpathBinary = undefined);
  }
  return hotpathBinary;
}

/** Options of {@link generateProfiles}. */
export interface ProfileOptions {
  /** Number of CPU profiles to write. */
  count: number;
  /** Work covered by each profile, in milliseconds. */
  durationMs: number;
  /**
   * Run the work under pprof labels (`endpoint`, `tenant`, and per-unit `span_id`/`local_root_span_id` as tracing
   * profilers add), which makes larger, label-carrying profiles whose samples hardly aggregate.
   */
  labels?: boolean;
  /** CPU profiling rate in Hz (Go's default is 100); higher rates give richer short profiles. */
  rate?: number;
  /** Seed of the work mix (default 1): different seeds give different profiles. */
  seed?: number;
  /** When set, each profile covers exactly this many units of work instead of `durationMs` (load-independent size). */
  units?: number;
  /** Run only this endpoint of the fixture (e.g. `/api/sort`): a workload with one hot path. */
  only?: string;
}

const generated = new Map<string, Promise<string[]>>();

async function runHotpath(args: string[]): Promise<void> {
  const output = await new Deno.Command(await buildHotpath(), { args, stdout: "piped", stderr: "piped" }).output();
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim().split("\n").slice(-3).join(" | ");
    throw new Error(`hotpath ${args.join(" ")} failed (exit ${output.code}): ${stderr}`);
  }
}

/**
 * Writes `count` real CPU profiles with the hotpath fixture and returns their paths (`cpu-000.pb.gz`, …). Memoised per
 * option set, so tests asking for the same profiles share one run.
 */
export function generateProfiles(options: ProfileOptions): Promise<string[]> {
  const { count, durationMs, labels = false, rate = 0, seed = 1, units = 0, only = "" } = options;
  const key = JSON.stringify([count, durationMs, labels, rate, seed, units, only]);
  let paths = generated.get(key);
  if (!paths) {
    paths = (async () => {
      const dir = `${await fixtureTempDir()}/profiles-${generated.size}-${crypto.randomUUID().slice(0, 8)}`;
      const args = ["profile", "-o", dir, "-n", String(count), "-d", `${durationMs}ms`, "-seed", String(seed)];
      if (labels) args.push("-labels");
      if (rate > 0) args.push("-rate", String(rate));
      if (units > 0) args.push("-units", String(units));
      if (only) args.push("-only", only);
      await runHotpath(args);
      return Array.from({ length: count }, (_, i) => `${dir}/cpu-${String(i).padStart(3, "0")}.pb.gz`);
    })();
    generated.set(key, paths);
    paths.catch(() => generated.delete(key));
  }
  return paths;
}

let heapPath: Promise<string> | undefined;

/** Writes (once per process) a real heap profile — not a CPU profile — and returns its path. */
export function heapProfile(): Promise<string> {
  if (!heapPath) {
    heapPath = (async () => {
      const out = `${await fixtureTempDir()}/heap.pb.gz`;
      await runHotpath(["heap", "-o", out]);
      return out;
    })();
    heapPath.catch(() => heapPath = undefined);
  }
  return heapPath;
}

/** A running hotpath service. */
export interface HotpathServer {
  /** Base URL, `http://127.0.0.1:PORT` (the form scrape target files use). */
  address: string;
  /** The TCP port it listens on. */
  port: number;
  /** Sends SIGTERM and waits for the process to exit and its output to drain; rejects if it did not exit cleanly. */
  close(): Promise<void>;
}

/** Options of {@link startHotpathServer}. */
export interface ServerOptions {
  /** Fraction of one core used by background load (default 0.5; 0 disables it). */
  duty?: number;
  /** Milliseconds to wait for the `listening on` line (default 30000). */
  readyTimeoutMs?: number;
}

async function drainText(stream: ReadableStream<Uint8Array>, keep: { text: string }): Promise<void> {
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    keep.text = (keep.text + chunk).slice(-4000);
  }
}

/**
 * Starts `hotpath serve` on 127.0.0.1 (random port): net/http/pprof at `/debug/pprof/`, `/work` running one unit of
 * work, and continuous background CPU load. Resolves once it printed its `listening on` line.
 */
export async function startHotpathServer(options: ServerOptions = {}): Promise<HotpathServer> {
  const { duty = 0.5, readyTimeoutMs = 30_000 } = options;
  const binary = await buildHotpath();
  const child = new Deno.Command(binary, {
    args: ["serve", "-addr", "127.0.0.1:0", "-duty", String(duty)],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  liveServers.add(child);
  const stderr = { text: "" };
  const stderrDone = drainText(child.stderr, stderr);
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stdoutRest = { text: "" };
  let stdoutDone: Promise<void> = Promise.resolve();

  const close = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already exited */ }
    const status = await child.status;
    liveServers.delete(child);
    await Promise.all([stdoutDone, stderrDone]);
    if (!status.success) {
      const detail = stderr.text.trim().split("\n").slice(-3).join(" | ");
      throw new Error(`hotpath serve did not exit cleanly on SIGTERM (code ${status.code}): ${detail}`);
    }
  };

  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`hotpath serve: not ready after ${readyTimeoutMs} ms`)),
        readyTimeoutMs,
      );
    });
    const listening = readListeningLine(lines);
    listening.catch(() => {}); // may reject after a timeout already won the race
    const address = await Promise.race([listening, timeout]);
    stdoutDone = (async () => {
      for (let r = await lines.read(); !r.done; r = await lines.read()) stdoutRest.text += r.value;
    })();
    return { address, port: Number(new URL(address).port), close };
  } catch (error) {
    await lines.cancel().catch(() => {});
    await close().catch(() => {});
    const detail = stderr.text.trim().split("\n").slice(-3).join(" | ");
    throw new Error(`${(error as Error).message}${detail ? `: ${detail}` : ""}`);
  } finally {
    clearTimeout(timer);
  }
}

async function readListeningLine(lines: ReadableStreamDefaultReader<string>): Promise<string> {
  let buffered = "";
  for (;;) {
    const { done, value } = await lines.read();
    if (done) throw new Error(`hotpath serve exited before listening (stdout: ${JSON.stringify(buffered)})`);
    buffered += value;
    const match = buffered.match(/^listening on (http:\/\/127\.0\.0\.1:\d+)$/m);
    if (match) return match[1];
  }
}

/** Paths of the small real profiles committed under tests/fixtures/profiles/ (usable without Go). */
export interface CommittedProfiles {
  /** CPU profiles without labels. */
  cpu: string[];
  /** CPU profiles whose samples carry `endpoint`, `tenant`, `span_id` and `local_root_span_id` labels. */
  cpuLabelled: string[];
  /** A heap profile (not a CPU profile). */
  heap: string;
}

/** Lists the committed profiles (sorted), written by tests/fixtures/profiles/generate.sh. */
export function committedProfiles(): CommittedProfiles {
  const names = Array.from(Deno.readDirSync(COMMITTED_PROFILES_DIR), (entry) => entry.name).sort();
  const pick = (pattern: RegExp) => names.filter((name) => pattern.test(name)).map((n) => COMMITTED_PROFILES_DIR + n);
  const heap = pick(/^heap\.pb\.gz$/);
  if (heap.length !== 1) throw new Error(`committed profiles: heap.pb.gz missing in ${COMMITTED_PROFILES_DIR}`);
  return { cpu: pick(/^cpu-\d+\.pb\.gz$/), cpuLabelled: pick(/^cpu-labelled-\d+\.pb\.gz$/), heap: heap[0] };
}
