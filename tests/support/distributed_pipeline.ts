/**
 * The multi-machine set-up of the original, as separate OS processes on 127.0.0.1: one
 * `autopgo server`, two `autopgo worker`s and one `autopgo scrape`, sharing a blob store and a
 * bus given by URL (file://, s3://, gs://, azblob://; file://, nats://, kafka://…). It uploads
 * real CPU profiles concurrently for three apps while the scraper feeds a fourth, optionally
 * kills each worker with SIGKILL mid-run and restarts it, waits until nothing is staged, and
 * checks every app's merged profile against `go tool pprof -proto` of exactly what was accepted
 * (with `--compaction none`, so the comparison is sample for sample): 0 lost, 0 counted twice.
 *
 * @module
 */

import assert from "node:assert/strict";
import { registerBuiltinDrivers } from "../../adapters/mod.ts";
import { openBlobStore } from "../../core/registry.ts";
import { spawnAutopgo } from "./autopgo_processes.ts";
import { startFakePprofTarget } from "./fake_targets.ts";
import { generateProfiles } from "./fixtures.ts";
import {
  type AutopgoProcess,
  delay,
  download,
  pprofMergeOracle,
  startAutopgo,
  upload,
  waitFor,
} from "./pipeline_process.ts";
import { assertSameSamples } from "./samples.ts";

/** Where the pipeline keeps its data, and how its processes reach it. */
export interface DistributedSetup {
  /** `--blob-store-url` of every process. */
  blobUrl: string;
  /** `--event-writer-url` of the server and the workers. */
  writerUrl: string;
  /** `--event-reader-url` of the workers (one subscription they compete on). */
  readerUrl: string;
  /** Extra environment (credentials, broker addresses). */
  env?: Record<string, string>;
  /** Uploads over HTTP, spread over three apps (default 200). */
  uploads?: number;
  /** SIGKILL each worker this many times mid-run, restarting it each time (default 0). */
  killsPerWorker?: number;
  /** Extra worker flags (e.g. a short `--sweep-interval` for at-most-once buses). */
  workerArgs?: string[];
}

/** What a run measured. */
export interface DistributedReport {
  /** Uploads accepted over HTTP plus those the scraper made. */
  accepted: number;
  /** Profiles the scraper uploaded. */
  scraped: number;
  /** Successful merges logged by all worker processes (kills included). */
  merges: number;
  /** Milliseconds from the first upload until nothing was staged. */
  drainMs: number;
}

const APPS = ["alpha", "beta", "gamma"];
const SCRAPED_APP = "scraped";

/** Counts the profiles the scraper reports as uploaded. */
function scrapedCount(scraper: { lines: string[] }): number {
  return (scraper.lines.join("\n").match(/profiled \S+: \d+ bytes uploaded as/g) ?? []).length;
}

/** Runs the whole set-up once and asserts exactness; returns what it measured. */
export async function runDistributedPipeline(setup: DistributedSetup): Promise<DistributedReport> {
  registerBuiltinDrivers();
  const total = setup.uploads ?? 200;
  const files = await generateProfiles({ count: 50, durationMs: 100, rate: 1000 });
  const inputs = Array.from({ length: total }, (_, i) => files[i % files.length]);
  const scrapedProfile = await Deno.readFile(files[0]);
  const target = startFakePprofTarget(scrapedProfile);
  const dir = await Deno.makeTempDir({ prefix: "autopgo-distributed-" });
  const env = setup.env ?? {};
  const common = ["--port", "0", "--host", "127.0.0.1", "--blob-store-url", setup.blobUrl, "--compaction", "none"];
  const workerArgs = [
    "worker",
    ...common,
    "--event-reader-url",
    setup.readerUrl,
    "--event-writer-url",
    setup.writerUrl,
    ...(setup.workerArgs ?? []),
  ];
  const processes: AutopgoProcess[] = [];
  const workerLogs: string[] = [];
  // The test process reads the store too (to see when nothing is staged): same environment.
  const saved = Object.keys(env).map((name) => [name, Deno.env.get(name)] as const);
  for (const [name, value] of Object.entries(env)) Deno.env.set(name, value);
  const restoreEnv = () => {
    for (const [name, value] of saved) value === undefined ? Deno.env.delete(name) : Deno.env.set(name, value);
  };
  const store = await openBlobStore(setup.blobUrl).catch((e) => {
    restoreEnv();
    throw new Error(`the test cannot open ${setup.blobUrl}: ${e.message}`);
  });
  let scraper: ReturnType<typeof spawnAutopgo> | undefined;
  try {
    const server = await startAutopgo(["server", ...common, "--event-writer-url", setup.writerUrl], { env });
    processes.push(server);
    const workers = await Promise.all([startAutopgo(workerArgs, { env }), startAutopgo(workerArgs, { env })]);
    processes.push(...workers);
    const targets = `${dir}/targets.json`;
    await Deno.writeTextFile(targets, JSON.stringify([{ address: target.url }]));
    scraper = spawnAutopgo([
      "scrape",
      targets,
      `--app=${SCRAPED_APP}`,
      "--sample-size=1",
      "--duration=1s",
      "--frequency=1s",
      "--port=0",
      "--host=127.0.0.1",
      `--api-url=${server.url}`,
    ], { env });

    const started = Date.now();
    const kills = setup.killsPerWorker ?? 0;
    const killPoints = new Set(
      Array.from({ length: kills * 2 }, (_, k) => Math.floor((total * (k + 1)) / (kills * 2 + 1))),
    );
    let killIndex = 0;
    const results: number[] = new Array(total);
    let next = 0;
    const uploader = async () => {
      while (next < total) {
        const i = next++;
        if (killPoints.has(i)) {
          const w = killIndex++ % 2;
          workerLogs.push(workers[w].logs());
          await workers[w].stop("SIGKILL");
          workers[w] = await startAutopgo(workerArgs, { env });
          processes.push(workers[w]);
        }
        results[i] = (await upload(server.url, APPS[i % APPS.length], await Deno.readFile(inputs[i]))).status;
      }
    };
    await Promise.all(Array.from({ length: 8 }, uploader));
    assert.deepEqual(results.filter((s) => s !== 201), [], "every upload is accepted with 201");
    // Let the scraper upload a few profiles, then stop it cleanly so its count is final.
    await waitFor(() => scrapedCount(scraper!) >= 3, 60_000, "three scraped uploads");
    assert.equal(await scraper.stop("SIGTERM"), 0, scraper.lines.join("\n").slice(-2000));
    const scraped = scrapedCount(scraper);

    const staged = async () => {
      for await (const info of store.list("")) if (info.key.includes("/staging/")) return true;
      return false;
    };
    await waitFor(async () => !(await staged()), 300_000, "every staged upload merged");
    const drainMs = Date.now() - started;
    for (const [a, app] of APPS.entries()) {
      const actual = await download(server.url, app);
      assert.ok(actual, `${app} has a merged profile`);
      const expected = await pprofMergeOracle(inputs.filter((_, i) => i % APPS.length === a));
      assertSameSamples(actual, expected, `${app} vs go tool pprof -proto`);
    }
    const scrapedBase = await download(server.url, SCRAPED_APP);
    assert.ok(scrapedBase, "the scraped app has a merged profile");
    assertSameSamples(
      scrapedBase,
      await pprofMergeOracle(Array.from({ length: scraped }, () => files[0])),
      "scraped app vs go tool pprof -proto",
    );
    await delay(500);
    for (const w of workers) workerLogs.push(w.logs());
    const merges = workerLogs.join("\n").match(/merged \S+\/staging\/\S+ into/g)?.length ?? 0;
    return { accepted: total + scraped, scraped, merges, drainMs };
  } finally {
    await scraper?.stop("SIGKILL");
    await Promise.all(processes.map((p) => p.stop("SIGKILL")));
    await store.close();
    restoreEnv();
    target.close();
    await Deno.remove(dir, { recursive: true });
  }
}
