/**
 * One ingest measurement for `bench/ingest.ts`: start `autopgo server` and N `autopgo worker`
 * processes on a store and bus set-up (bench/setups.ts), upload profiles with 8 concurrent
 * clients, and time every upload from the start of its POST to the moment its staged blob is gone
 * (merged and cleaned), seen by reading the file:// store's staging folders every 20 ms. Workers
 * that run while the clients upload are warmed up first, as long-running workers are; a backlog is
 * uploaded before cold workers start and timed from the last one ready, counting the uploads merged
 * after it (timed from the first one ready, as before, the others' start-up on the same cores
 * counted against every extra worker's throughput: unfair to more workers). Then a
 * few lone uploads, one at a time, each waited for until merged (the latency a single upload
 * sees on an idle worker), and the peak RSS (`VmHWM`) of every process. Finally a sanity check:
 * the `cpu/nanoseconds` totals of the merged bases equal those of the uploads as the worker
 * prepares them (every upload merged exactly once).
 *
 * @module
 */

import { type Dir, opendirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { prepareProfile } from "../core/pipeline/profile_jobs.ts";
import { decodeProfile } from "../core/pprof/decode.ts";
import type { Profile } from "../core/pprof/profile.ts";
import { type AutopgoProcess, startAutopgo } from "../tests/support/pipeline_process.ts";
import { MAIN_TS } from "../tests/support/cli.ts";
import { parsePrometheusText } from "../tests/support/prom_text.ts";
import { busyShare, cpuSeconds, machineCpu, peakRssMiB } from "./proc_stats.ts";
import { type BenchSetup, pipelineCommands } from "./setups.ts";

/** What one run measures. */
export interface IngestConfig {
  uploads: number;
  apps: number;
  compaction: "none" | "pgo";
  /** `--batch-max-uploads` (1: one merge per upload). */
  batchMaxUploads: number;
  workers: number;
  /** Lone uploads after the run (0: none). */
  lone: number;
  /**
   * Upload everything first with no worker running, then start the workers and time them from
   * their start to the last merge (the workers' own ingest rate, without the server competing).
   */
  backlog?: boolean;
  /** Warm-up uploads per worker before a live run (default 50). */
  warmup?: number;
  /** Runs the workers under `nice -n N` (a lower CPU priority than the server's); default: as the server. */
  workerNice?: number;
}

/** What one run found; times in ms, RSS in MiB. */
export interface IngestResult {
  config: IngestConfig;
  setup: string;
  uploadsPerSecond: number;
  /** First POST started (backlog: last worker ready) → last upload merged. */
  drainMs: number;
  mergedP50: number;
  mergedP99: number;
  postP50: number;
  postP99: number;
  /** Median upload → merged of the lone uploads (NaN without). */
  loneMs: number;
  serverRssMiB: number;
  workerRssMiB: number[];
  /** CPU time (user + system) of each process while the uploads were ingested (backlog workers: whole life), s. */
  serverCpuS: number;
  workerCpuS: number[];
  /**
   * Share of the machine's CPU time (all cores, every process) that was busy while the workers ingested:
   * live, from the first POST to the last merge; backlog, from the last worker ready to the last merge.
   */
  machineBusy: number;
  /**
   * Uploads the server answered per second, from the first POST to the last answer: in a backlog run
   * with no worker running (the server's own rate), in a live one beside the workers.
   */
  acceptedPerSecond: number;
  /** Batch writes of the measured apps, counted from the workers' `merged … (batch of N)` log lines. */
  batches: number;
  /** Compare-and-swap writes of those batches that lost to another worker and were redone. */
  conflicts: number;
  /**
   * What the workers did while the uploads were ingested, summed over them (from their `/metrics`):
   * store and bus operations, and events of busy apps kept (core/pipeline/parked_events.ts).
   */
  workerOps: WorkerOps;
  /** Empty when the merged totals equal the uploaded ones. */
  sanity: string;
}

/** Operation counts of worker processes (see {@link IngestResult.workerOps}). */
export interface WorkerOps {
  store: number;
  bus: number;
  kept: number;
}

/** The workers' operation counts so far, summed. */
async function workerOps(workers: AutopgoProcess[]): Promise<WorkerOps> {
  const total: WorkerOps = { store: 0, bus: 0, kept: 0 };
  for (const w of workers) {
    const families = parsePrometheusText(await (await fetch(`${w.url}/metrics`)).text());
    const sum = (name: string, keep: (labels: Record<string, string>) => boolean = () => true) =>
      (families.get(name)?.samples ?? []).filter((s) => keep(s.labels)).reduce((n, s) => n + s.value, 0);
    total.store += sum("autopgo_blob_operations_total");
    total.bus += sum("autopgo_bus_operations_total");
    total.kept += sum("autopgo_busy_app_events_total", (labels) => labels.action === "kept");
  }
  return total;
}

/** Batches and lost write races of `apps` in worker logs (each merged upload logs its batch's size). */
export function batchesInLogs(logs: string[], apps: string[]): { batches: number; conflicts: number } {
  const line = /merged (\S+?)\/staging\/\S+ into \S+ after (\d+) write conflicts \(batch of (\d+)\)/g;
  let batches = 0, conflicts = 0;
  for (const text of logs) {
    for (const m of text.matchAll(line)) {
      if (!apps.includes(m[1])) continue;
      batches += 1 / Number(m[3]);
      conflicts += Number(m[2]) / Number(m[3]);
    }
  }
  return { batches: Math.round(batches), conflicts: Math.round(conflicts) };
}

/** Percentile of sorted values (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** The `cpu/nanoseconds` total of a profile (decoded from `data`, or given). */
function cpuTotal(data: Uint8Array | Profile): number {
  const p = data instanceof Uint8Array ? decodeProfile(data) : data;
  const cpu = p.sampleType.findIndex((t) => t.type === "cpu" && t.unit === "nanoseconds");
  return p.sample.reduce((sum, s) => sum + Number(s.value[cpu]), 0);
}

/**
 * The staged uploads' keys now, of every app (a plain directory read of the file:// store, no
 * stat). Synchronous: this runs every 20 ms on the machine it measures, and the async iterator
 * cost a third of a core with 4,000 uploads staged.
 */
function stagedNow(storeDir: string, apps: string[]): Set<string> {
  const keys = new Set<string>();
  for (const app of apps) {
    try {
      for (const entry of Deno.readDirSync(`${storeDir}/${app}/staging`)) {
        if (!entry.name.startsWith(".")) keys.add(`${app}/staging/${entry.name}`);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return keys;
}

/** True while any app has a staged upload; reads each folder only up to its first upload. */
function anyStaged(storeDir: string, apps: string[]): boolean {
  for (const app of apps) {
    let dir: Dir;
    try {
      dir = opendirSync(`${storeDir}/${app}/staging`);
    } catch (error) {
      if ((error as { code?: string }).code === "ENOENT") continue;
      throw error;
    }
    try {
      for (let entry = dir.readSync(); entry; entry = dir.readSync()) if (!entry.name.startsWith(".")) return true;
    } finally {
      dir.closeSync();
    }
  }
  return false;
}

async function post(url: string, app: string, body: Uint8Array): Promise<string> {
  const response = await fetch(`${url}/api/profile/${app}`, { method: "POST", body: body as BodyInit });
  const json = await response.json();
  if (response.status !== 201) throw new Error(`upload to ${app}: ${response.status} ${JSON.stringify(json)}`);
  return json.key;
}

/**
 * Warms the workers up as long-running ones are: `each` uploads per worker to as many other apps,
 * merged before the measured uploads start (each process JIT-compiles its decoder and merger on
 * first use, which a short run would otherwise charge to every extra worker).
 */
async function warmUp(url: string, storeDir: string, workers: number, each: number, bodies: Uint8Array[]) {
  const apps = Array.from({ length: workers }, (_, i) => `warmup-${i}`);
  const total = each * workers;
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < total) {
      const i = next++;
      await post(url, apps[i % workers], bodies[bodies.length - 1 - (i % 100)]);
    }
  }));
  while (anyStaged(storeDir, apps)) await new Promise((resolve) => setTimeout(resolve, 20));
}

/** Runs `config` on a fresh `setup` (whose store must be file://); `bodies` are the profiles uploaded, in order. */
export async function measureIngest(
  setup: BenchSetup,
  config: IngestConfig,
  bodies: Uint8Array[],
  onLogs?: (process: string, logs: string) => void,
): Promise<IngestResult> {
  const storeDir = fileURLToPath(setup.blobUrl);
  const apps = Array.from({ length: config.apps }, (_, i) => `ingest-${i}`);
  const commands = pipelineCommands(setup, [
    ...["--compaction", config.compaction, "--batch-max-uploads", String(config.batchMaxUploads)],
  ]);
  const env = setup.env;
  const server = await startAutopgo(commands.server, { env });
  const workerArgs = commands.worker;
  const workers: AutopgoProcess[] = [];
  const readyAt: number[] = [];
  const startWorkers = async () => {
    const started = Array.from({ length: config.workers }, async () => {
      const command = config.workerNice === undefined
        ? undefined
        : ["nice", "-n", String(config.workerNice), Deno.execPath(), "run", "-A", MAIN_TS];
      const worker = await startAutopgo(workerArgs, { env, command });
      readyAt.push(performance.now());
      return worker;
    });
    workers.push(...await Promise.all(started));
  };
  try {
    if (!config.backlog) {
      await startWorkers();
      await warmUp(server.url, storeDir, config.workers, config.warmup ?? 50, bodies);
    }
    const cpuBefore = { server: cpuSeconds(server.child.pid), workers: workers.map((w) => cpuSeconds(w.child.pid)) };
    let machineBefore = machineCpu();
    const opsBefore = await workerOps(workers);
    const startedAt = new Map<string, number>();
    const mergedAt = new Map<string, number>();
    const posts: number[] = [];
    let uploading = true;
    const watch = async (until: () => boolean, everyMs: number) => {
      while (!until()) {
        const staged = stagedNow(storeDir, apps);
        const now = performance.now();
        for (const key of startedAt.keys()) if (!staged.has(key) && !mergedAt.has(key)) mergedAt.set(key, now);
        await new Promise((resolve) => setTimeout(resolve, everyMs));
      }
    };
    const watcher = config.backlog ? undefined : watch(() => !uploading && mergedAt.size === startedAt.size, 20);
    let first = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < config.uploads) {
        const i = next++;
        const t = performance.now();
        const key = await post(server.url, apps[i % apps.length], bodies[i % bodies.length]);
        posts.push(performance.now() - t);
        startedAt.set(key, t);
      }
    }));
    const acceptedPerSecond = config.uploads / ((performance.now() - first) / 1000);
    uploading = false;
    let last = 0;
    let measured = config.uploads;
    if (config.backlog) {
      // Only when the last upload merged, and how many were still staged when the last worker was
      // ready: a full listing every 20 ms (4 ms for 4,000 staged uploads) took a fifth of a core
      // from the workers it measured.
      const started = startWorkers().then(() => {
        machineBefore = machineCpu();
        measured = stagedNow(storeDir, apps).size;
      });
      while (anyStaged(storeDir, apps)) await new Promise((resolve) => setTimeout(resolve, 20));
      last = performance.now();
      await started;
      // From the last worker ready: start-up is not ingest, and N workers starting at once on shared
      // cores would otherwise charge each one's start-up to the others' throughput.
      first = Math.max(...readyAt);
    } else {
      await watcher;
      last = Math.max(...mergedAt.values());
    }
    const machineBusy = busyShare(machineBefore, machineCpu());
    const serverCpuS = cpuSeconds(server.child.pid) - cpuBefore.server;
    const workerCpuS = workers.map((w, i) => cpuSeconds(w.child.pid) - (cpuBefore.workers[i] ?? 0));
    const opsAfter = await workerOps(workers);
    const ops: WorkerOps = {
      store: opsAfter.store - opsBefore.store,
      bus: opsAfter.bus - opsBefore.bus,
      kept: opsAfter.kept - opsBefore.kept,
    };
    // A backlog run only times its last merge (the latency of an upload that waited for the workers to start says nothing).
    const latencies = [...mergedAt].map(([key, t]) => t - startedAt.get(key)!).sort((a, b) => a - b);
    posts.sort((a, b) => a - b);
    const lone: number[] = [];
    for (let i = 0; i < config.lone; i++) {
      const t = performance.now();
      const key = await post(server.url, apps[0], bodies[(config.uploads + i) % bodies.length]);
      startedAt.set(key, t);
      await watch(() => mergedAt.has(key), 5);
      lone.push(mergedAt.get(key)! - t);
    }
    lone.sort((a, b) => a - b);
    const result: IngestResult = {
      config,
      setup: setup.name,
      uploadsPerSecond: measured / ((last - first) / 1000),
      drainMs: last - first,
      mergedP50: percentile(latencies, 50),
      mergedP99: percentile(latencies, 99),
      postP50: percentile(posts, 50),
      postP99: percentile(posts, 99),
      loneMs: percentile(lone, 50),
      serverRssMiB: peakRssMiB(server.child.pid),
      workerRssMiB: workers.map((w) => peakRssMiB(w.child.pid)),
      serverCpuS,
      workerCpuS,
      machineBusy,
      acceptedPerSecond,
      batches: 0,
      conflicts: 0,
      workerOps: ops,
      sanity: "",
    };
    const uploaded = Array.from({ length: config.uploads + config.lone }, (_, i) => bodies[i % bodies.length]);
    // What the worker merges of each upload (`pgo` compaction drops samples without locations).
    const want = uploaded.reduce((sum, b) => {
      const prepared = prepareProfile(b, [], config.compaction);
      return sum + ("profile" in prepared ? cpuTotal(prepared.profile) : 0);
    }, 0);
    let got = 0;
    for (const app of apps) got += cpuTotal(await Deno.readFile(`${storeDir}/${app}/default.pgo`));
    if (got !== want) result.sanity = `merged cpu total ${got} != uploaded ${want}`;
    await new Promise((resolve) => setTimeout(resolve, 100)); // the last log lines
    Object.assign(result, batchesInLogs(workers.map((w) => w.logs()), apps));
    return result;
  } finally {
    for (const [i, p] of [server, ...workers].entries()) {
      const code = await p.stop("SIGTERM");
      if (code !== 0) console.warn(`process ${i} exited ${code}: ${p.logs().slice(-1500)}`);
      onLogs?.(i === 0 ? "server" : `worker-${i}`, p.logs());
    }
  }
}
