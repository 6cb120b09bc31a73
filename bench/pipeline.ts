/**
 * `deno task bench:pipeline`: upload-to-merged latency and ingest rate of the deployed pipeline
 * (one `autopgo server`, two `autopgo worker` processes) on each blob store and event bus that
 * has a local server here, side by side in one run, with `file://` + `file://` as the reference.
 * Also the raw rate of each bus (events/s and send-to-receive latency through the portable
 * Topic/Subscription layer), and what a consumer's process pays to receive and ack an event: the
 * CPU time (user + system) of this process while one Subscription drains as many events again,
 * sent beforehand, one receive at a time as a worker with `--concurrency 1` does (the bus's own
 * server is another process and not counted). Results go into BENCHMARKS.md between
 * `<!-- bench:pipeline:start -->` / `<!-- bench:pipeline:end -->` and `bench:bus`.
 *
 * A latency is the time from the start of an upload's POST to the moment its staged blob is
 * gone (merged and cleaned), seen by listing `*\/staging/` every 25 ms.
 *
 * Usage: deno task bench:pipeline [--uploads 100] [--events 1000] [--only NAME,…] [--no-write]
 *
 * @module
 */

import process from "node:process";
import { benchArgs } from "./cli.ts";
import { fileURLToPath } from "node:url";
import { registerBuiltinDrivers } from "../adapters/mod.ts";
import { openBlobStore, openEventReader, openEventWriter } from "../core/registry.ts";
import { generateProfiles } from "../tests/support/fixtures.ts";
import { startAutopgo } from "../tests/support/pipeline_process.ts";
import { formatMarkdown, replaceSection } from "./run.ts";
import { type BenchSetup, benchSetups, pipelineCommands } from "./setups.ts";

const BENCHMARKS_MD = fileURLToPath(new URL("../BENCHMARKS.md", import.meta.url));

/** Percentile of sorted values (nearest rank). */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

interface PipelineResult {
  name: string;
  p50: number;
  p99: number;
  uploadsPerSecond: number;
}

async function measurePipeline(setup: BenchSetup, files: string[], uploads: number): Promise<PipelineResult> {
  const store = await openBlobStore(setup.blobUrl);
  const commands = pipelineCommands(setup);
  const env = setup.env;
  const server = await startAutopgo(commands.server, { env });
  const workers = await Promise.all([startAutopgo(commands.worker, { env }), startAutopgo(commands.worker, { env })]);
  try {
    const startedAt = new Map<string, number>();
    const mergedAt = new Map<string, number>();
    let done = false;
    const watcher = (async () => {
      while (!done || mergedAt.size < startedAt.size) {
        const staged = new Set<string>();
        for await (const info of store.list("")) if (info.key.includes("/staging/")) staged.add(info.key);
        const now = performance.now();
        for (const key of startedAt.keys()) if (!staged.has(key) && !mergedAt.has(key)) mergedAt.set(key, now);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();
    const first = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < uploads) {
        const i = next++;
        const body = await Deno.readFile(files[i % files.length]);
        const t = performance.now();
        const response = await fetch(`${server.url}/api/profile/bench-${i % 3}`, { method: "POST", body });
        const json = await response.json();
        if (response.status !== 201) throw new Error(`upload ${i}: ${response.status} ${JSON.stringify(json)}`);
        startedAt.set(json.key, t);
      }
    }));
    done = true;
    await watcher;
    const last = Math.max(...mergedAt.values());
    const latencies = [...startedAt].map(([key, t]) => mergedAt.get(key)! - t).sort((a, b) => a - b);
    return {
      name: setup.name,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      uploadsPerSecond: uploads / ((last - first) / 1000),
    };
  } finally {
    await Promise.all([server, ...workers].map((p) => p.stop("SIGTERM")));
    await store.close();
  }
}

interface BusResult {
  name: string;
  eventsPerSecond: number;
  p50: number;
  p99: number;
  /** CPU of this process per event received and acked from a backlog, µs. */
  drainCpuUs: number;
}

async function measureBus(
  setup: { name: string; writerUrl: string; readerUrl: string },
  events: number,
): Promise<BusResult> {
  const writer = await openEventWriter(setup.writerUrl);
  const reader = await openEventReader(setup.readerUrl);
  try {
    const sentAt: number[] = [];
    const latencies: number[] = [];
    const receiving = (async () => {
      while (latencies.length < events) {
        const message = await reader.receive(AbortSignal.timeout(60_000));
        if (!message) throw new Error(`${setup.name}: no event within 60 s (${latencies.length}/${events})`);
        const i = Number(new TextDecoder().decode(message.body).split(":")[1]);
        latencies.push(performance.now() - sentAt[i]);
        await message.ack();
      }
    })();
    const first = performance.now();
    for (let i = 0; i < events; i++) {
      sentAt[i] = performance.now();
      await writer.send({ body: new TextEncoder().encode(`event:${i}`), orderingKey: `app-${i % 3}` });
    }
    await receiving;
    const seconds = (performance.now() - first) / 1000;
    latencies.sort((a, b) => a - b);
    for (let i = 0; i < events; i++) {
      await writer.send({ body: new TextEncoder().encode(`backlog:${i}`), orderingKey: `app-${i % 3}` });
    }
    const cpu = process.cpuUsage();
    for (let i = 0; i < events; i++) {
      const message = await reader.receive(AbortSignal.timeout(60_000));
      if (!message) throw new Error(`${setup.name}: backlog event ${i}/${events} not received within 60 s`);
      await message.ack();
    }
    const used = process.cpuUsage(cpu);
    return {
      name: setup.name,
      eventsPerSecond: events / seconds,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      drainCpuUs: (used.user + used.system) / events,
    };
  } finally {
    await Promise.allSettled([reader.close(), writer.close()]);
  }
}

const ms = (v: number) => `${v.toFixed(0)} ms`;

async function main(): Promise<void> {
  const { values } = benchArgs(import.meta.url, {
    options: {
      uploads: { type: "string", default: "100" },
      events: { type: "string", default: "1000" },
      only: { type: "string" },
      "no-write": { type: "boolean", default: false },
    },
  });
  registerBuiltinDrivers();
  const uploads = Number(values.uploads), events = Number(values.events);
  const only = values.only?.split(",");
  const files = await generateProfiles({ count: 50, durationMs: 100, rate: 1000 });
  const pipeline: PipelineResult[] = [];
  const buses: BusResult[] = [];
  for (const make of benchSetups()) {
    const setup = await make();
    if (!setup) continue;
    try {
      if (only && !only.includes(setup.name)) continue;
      // This process reads the store and opens the buses too: give it the set-up's environment.
      for (const [name, value] of Object.entries(setup.env)) Deno.env.set(name, value);
      console.log(`${setup.name}: pipeline, ${uploads} uploads`);
      pipeline.push(await measurePipeline(setup, files, uploads));
      console.log(`  ${JSON.stringify(pipeline.at(-1))}`);
      if (setup.busBench) {
        const busSetup = await setup.busBench();
        console.log(`${busSetup.name}: bus, ${events} events`);
        buses.push(await measureBus(busSetup, events));
        console.log(`  ${JSON.stringify(buses.at(-1))}`);
      }
    } finally {
      await setup.stop();
    }
  }
  const reference = pipeline[0];
  const pipelineTable = [
    `${uploads} uploads of real CPU profiles (8 concurrent clients, 3 apps) into one server and two worker processes.`,
    "",
    "| store + bus | p50 upload→merged | p99 upload→merged | uploads/s | uploads/s vs file+file |",
    "|---|---|---|---|---|",
    ...pipeline.map((r) =>
      `| ${r.name} | ${ms(r.p50)} | ${ms(r.p99)} | ${r.uploadsPerSecond.toFixed(1)} | ${
        (r.uploadsPerSecond / reference.uploadsPerSecond).toFixed(2)
      }× |`
    ),
  ].join("\n");
  const busReference = buses[0];
  const busTable = [
    `${events} events sent one after another through the portable Topic, received and acked through one Subscription; then ${events} more sent first and drained.`,
    "",
    "| bus | events/s | p50 send→receive | p99 send→receive | events/s vs file | receive + ack CPU per event (backlog) | vs file |",
    "|---|---|---|---|---|---|---|",
    ...buses.map((r) =>
      `| ${r.name} | ${r.eventsPerSecond.toFixed(0)} | ${ms(r.p50)} | ${ms(r.p99)} | ${
        (r.eventsPerSecond / busReference.eventsPerSecond).toFixed(2)
      }× | ${r.drainCpuUs.toFixed(0)} µs | ${(r.drainCpuUs / busReference.drainCpuUs).toFixed(2)}× |`
    ),
  ].join("\n");
  console.log(`\n${pipelineTable}\n\n${busTable}`);
  if (!values["no-write"] && !only) {
    let doc = await Deno.readTextFile(BENCHMARKS_MD);
    doc = replaceSection(doc, "pipeline", pipelineTable);
    doc = replaceSection(doc, "bus", busTable);
    await Deno.writeTextFile(BENCHMARKS_MD, doc);
    await formatMarkdown(BENCHMARKS_MD);
  }
}

if (import.meta.main) await main();
