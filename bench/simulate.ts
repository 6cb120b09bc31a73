/**
 * `deno task simulate` (issue 13): the capacity model's simulation. Simulated scrapers upload real
 * labelled CPU profiles (the cached hotpath profiles of `bench:ingest`) to one `autopgo server` on
 * a fixed schedule (open loop: an upload starts at its time whether or not earlier ones have
 * answered, as independent scrapers do), spread over `--apps` apps, and M `autopgo worker`
 * processes merge them (file:// store; NATS JetStream bus, or the file bus). The offered rate
 * rises step by step (`--rates`, uploads/s, each for `--step` seconds) until the pipeline stops
 * keeping up. Per step it measures what the capacity model needs: uploads accepted and merged per
 * second, upload→merged latency, the backlog left when the step ends, CPU per upload of the
 * server and of the workers, batch writes, and the store and bus operations per upload (from
 * every process's `/metrics`). From the measured curve it fits worker CPU = a·uploads + b·batches
 * and extrapolates (simulate_model.ts) to one worker process, to many machines, and to 10,000
 * services scraped every minute. Written into SCALING.md between `<!-- bench:simulate:start -->`
 * and `<!-- bench:simulate:end -->`.
 *
 * Usage: deno task simulate [--workers 1,2] [--bus nats|file] [--apps 20] [--rates 50,100,200,400,800]
 *                           [--step 15] [--services 10000] [--period 60] [--no-write]
 *
 * @module
 */

import { benchArgs } from "./cli.ts";
import { fileURLToPath } from "node:url";
import { registerBuiltinDrivers } from "../adapters/mod.ts";
import { type AutopgoProcess, startAutopgo } from "../tests/support/pipeline_process.ts";
import { cachedProfiles, machineLine, usableProfiles } from "./ingest.ts";
import { batchesInLogs, percentile } from "./ingest_run.ts";
import { cpuSeconds } from "./proc_stats.ts";
import { benchTempDir, storeFilesystemLine, tmpdirPrefix } from "./fs_probe.ts";
import { formatMarkdown, replaceSection } from "./run.ts";
import { type BenchSetup, fileFile, natsJetStream, pipelineCommands } from "./setups.ts";
import { extrapolate, type StepResult, stepsTable } from "./simulate_model.ts";

const SCALING_MD = fileURLToPath(new URL("../SCALING.md", import.meta.url));

/** The profiles `bench:ingest` caches (generated once when missing: minutes), as the server accepts them. */
async function profiles(): Promise<Uint8Array[]> {
  return await usableProfiles(await cachedProfiles(1010, 100));
}

/** Counters of one process's `/metrics`: blob and bus operations by operation. */
async function operations(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const counts = new Map<string, number>();
  for (const m of text.matchAll(/^autopgo_(blob|bus)_operations_total\{operation="(\w+)"\} (\S+)$/gm)) {
    counts.set(`${m[1]} ${m[2]}`, (counts.get(`${m[1]} ${m[2]}`) ?? 0) + Number(m[3]));
  }
  return counts;
}

async function allOperations(processes: AutopgoProcess[]): Promise<Map<string, number>> {
  const total = new Map<string, number>();
  for (const p of processes) for (const [k, v] of await operations(p.url)) total.set(k, (total.get(k) ?? 0) + v);
  return total;
}

async function stagedCount(storeDir: string, apps: string[]): Promise<Set<string>> {
  const keys = new Set<string>();
  for (const app of apps) {
    try {
      for await (const e of Deno.readDir(`${storeDir}/${app}/staging`)) keys.add(`${app}/staging/${e.name}`);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return keys;
}

async function post(url: string, app: string, body: Uint8Array): Promise<string | undefined> {
  try {
    const response = await fetch(`${url}/api/profile/${app}`, { method: "POST", body: body as BodyInit });
    const json = await response.json();
    return response.status === 201 ? json.key : undefined;
  } catch {
    return undefined;
  }
}

/** Runs the rising steps against one server and `workers` worker processes; stops after the first step not kept up with. */
async function simulate(
  make: () => Promise<BenchSetup | undefined>,
  workers: number,
  apps: number,
  rates: number[],
  stepS: number,
  bodies: Uint8Array[],
): Promise<StepResult[]> {
  const setup = await make();
  if (!setup) throw new Error("bus not available");
  const storeDir = fileURLToPath(setup.blobUrl);
  const commands = pipelineCommands(setup);
  const names = Array.from({ length: apps }, (_, i) => `svc-${i}`);
  const processes: AutopgoProcess[] = [];
  const results: StepResult[] = [];
  try {
    processes.push(await startAutopgo(commands.server, { env: setup.env }));
    for (let i = 0; i < workers; i++) processes.push(await startAutopgo(commands.worker, { env: setup.env }));
    const [server, ...pool] = processes;
    // Warm-up: every app gets a base, every worker compiles its hot paths.
    await Promise.all(names.map((app, i) => post(server.url, app, bodies[i % bodies.length])));
    while ((await stagedCount(storeDir, names)).size > 0) await new Promise((r) => setTimeout(r, 50));
    let n = 0;
    for (const rate of rates) {
      const before = {
        ops: await allOperations(processes),
        server: cpuSeconds(server.child.pid),
        workers: pool.map((w) => cpuSeconds(w.child.pid)),
        batches: batchesInLogs(pool.map((w) => w.logs()), names).batches,
      };
      const started = new Map<string, number>();
      const merged = new Map<string, number>();
      const total = Math.round(rate * stepS);
      const t0 = performance.now();
      let accepted = 0, refused = 0, sending = true, backlogAtEnd = -1, sendEnd = Infinity;
      // Watches the staging folders while the step runs, and afterwards until everything accepted
      // is merged (at most 4 step lengths after sending ended).
      const watcher = (async () => {
        for (;;) {
          const wasSending = sending;
          const staged = await stagedCount(storeDir, names);
          const now = performance.now();
          for (const k of started.keys()) if (!staged.has(k) && !merged.has(k)) merged.set(k, now);
          if (!wasSending && backlogAtEnd < 0) backlogAtEnd = [...started.keys()].filter((k) => staged.has(k)).length;
          if (!wasSending && (merged.size === started.size || now - sendEnd > 4 * stepS * 1000)) return;
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const sends: Promise<void>[] = [];
      for (let i = 0; i < total; i++) {
        const due = t0 + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        const body = bodies[n++ % bodies.length], app = names[i % apps];
        const t = performance.now();
        sends.push(
          post(server.url, app, body).then((key) => {
            if (key) started.set(key, t), accepted++;
            else refused++;
          }),
        );
      }
      const scheduledEnd = performance.now();
      await Promise.all(sends);
      sendEnd = performance.now();
      sending = false;
      await watcher;
      const last = Math.max(...merged.values());
      const latencies = [...merged].map(([k, t]) => t - started.get(k)!).sort((a, b) => a - b);
      const ops = await allOperations(processes);
      const opsDelta = new Map([...ops].map(([k, v]) => [k, v - (before.ops.get(k) ?? 0)]));
      const workerCpu = pool.reduce((s, w, i) => s + cpuSeconds(w.child.pid) - before.workers[i], 0);
      const result: StepResult = {
        workers,
        apps,
        offered: rate,
        seconds: (scheduledEnd - t0) / 1000,
        accepted,
        refused,
        merged: merged.size,
        mergedPerSecond: merged.size / ((last - t0) / 1000),
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        backlogAtEnd,
        unmerged: started.size - merged.size,
        serverCpuS: cpuSeconds(server.child.pid) - before.server,
        workerCpuS: workerCpu,
        batches: batchesInLogs(pool.map((w) => w.logs()), names).batches - before.batches,
        operations: Object.fromEntries(opsDelta),
      };
      results.push(result);
      console.log(`  ${JSON.stringify(result, (_k, v) => typeof v === "number" ? Math.round(v * 10) / 10 : v)}`);
      if (!keptUp(result)) break;
    }
  } finally {
    for (const p of processes.reverse()) await p.stop("SIGTERM");
    await setup.stop();
  }
  return results;
}

/**
 * A step was kept up with when 95% of the offered uploads were accepted, every one was merged, and
 * when sending ended no more than 2 seconds' worth of uploads were still waiting.
 */
export function keptUp(r: StepResult): boolean {
  return r.accepted >= 0.95 * r.offered * r.seconds && r.unmerged === 0 && r.backlogAtEnd <= 2 * r.offered;
}

async function main(): Promise<void> {
  const { values } = benchArgs(import.meta.url, {
    options: {
      workers: { type: "string", default: "1,2" },
      bus: { type: "string", default: "nats" },
      apps: { type: "string", default: "20" },
      rates: { type: "string", default: "50,100,200,400,800" },
      step: { type: "string", default: "15" },
      services: { type: "string", default: "10000" },
      period: { type: "string", default: "60" },
      "no-write": { type: "boolean", default: false },
    },
  });
  registerBuiltinDrivers();
  const bodies = await profiles();
  const make = values.bus === "file" ? fileFile : natsJetStream;
  const steps: StepResult[] = [];
  const machine = `${await machineLine()}; ${storeFilesystemLine(benchTempDir())}`;
  const when = new Date().toISOString().slice(0, 16) + "Z";
  for (const workers of values.workers.split(",").map(Number)) {
    console.log(`${workers} worker(s), bus ${values.bus}`);
    steps.push(
      ...await simulate(
        make,
        workers,
        Number(values.apps),
        values.rates.split(",").map(Number),
        Number(values.step),
        bodies,
      ),
    );
  }
  const kib = bodies.reduce((s, b) => s + b.length, 0) / bodies.length / 1024;
  const body = [
    `Measured ${when} on ${machine}; file:// store, ${values.bus === "file" ? "file" : "NATS JetStream"} bus; ` +
    `${values.apps} apps; real labelled profiles of 100 ms, ${kib.toFixed(1)} KiB on average; default compaction.`,
    stepsTable(steps, keptUp),
    extrapolate(steps, keptUp, { services: Number(values.services), periodS: Number(values.period), kib }),
    `Reproduce: \`${tmpdirPrefix()}deno task simulate${
      Deno.args.length ? ` ${Deno.args.filter((a) => a !== "--no-write").join(" ")}` : ""
    }\``,
  ].join("\n\n");
  console.log(`\n${body}`);
  if (!values["no-write"]) {
    await Deno.writeTextFile(SCALING_MD, replaceSection(await Deno.readTextFile(SCALING_MD), "simulate", body));
    await formatMarkdown(SCALING_MD);
  }
}

if (import.meta.main) await main();
