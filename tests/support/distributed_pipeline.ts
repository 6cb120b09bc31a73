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
import { decodeProfile } from "../../core/pprof/decode.ts";
import { openBlobStore } from "../../core/registry.ts";
import { spawnAutopgo } from "./autopgo_processes.ts";
import { startFakePprofTarget } from "./fake_targets.ts";
import { generateProfiles } from "./fixtures.ts";
import { freePort } from "./services/service.ts";
import {
  type AutopgoProcess,
  delay,
  download,
  pprofMergeOracle,
  RACING,
  startAutopgo,
  upload,
  waitFor,
} from "./pipeline_process.ts";
import { assertSameSamples, totalSamples } from "./samples.ts";

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
  /**
   * SIGKILL the server this many times mid-run, restarting it on the same port (default 0).
   * Uploads carry an `Idempotency-Key` and are retried until accepted, as the CLI does.
   */
  serverKills?: number;
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
  /** Worker processes killed with SIGKILL (and restarted). */
  workerKills: number;
  /** Server processes killed with SIGKILL (and restarted). */
  serverKills: number;
}

/** `count` upload indexes spread evenly over `total`, shifted by `offset` so kill kinds do not coincide. */
function spread(count: number, total: number, offset: number): Set<number> {
  return new Set(Array.from({ length: count }, (_, k) => Math.floor((total * (k + 1)) / (count + 1)) + offset));
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
  // A 100 ms profile of a starved process can hold no sample (the server refuses it with 422):
  // upload only profiles with samples, as a scraper does.
  const files = (await generateProfiles({ count: 50, durationMs: 100, rate: 1000 }))
    .filter((file) => decodeProfile(Deno.readFileSync(file)).sample.length > 0);
  assert.ok(files.length >= 10, `only ${files.length} of 50 generated profiles hold samples`);
  const inputs = Array.from({ length: total }, (_, i) => files[i % files.length]);
  const scrapedProfile = await Deno.readFile(files[0]);
  const target = startFakePprofTarget(scrapedProfile);
  const dir = await Deno.makeTempDir({ prefix: "autopgo-distributed-" });
  const env = setup.env ?? {};
  const common = ["--host", "127.0.0.1", "--blob-store-url", setup.blobUrl, "--compaction", "none"];
  const serverArgs = ["server", ...common, "--port", String(freePort()), "--event-writer-url", setup.writerUrl];
  const workerArgs = [
    "worker",
    "--port",
    "0",
    ...common,
    "--event-reader-url",
    setup.readerUrl,
    "--event-writer-url",
    setup.writerUrl,
    ...RACING,
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
    let server = await startAutopgo(serverArgs, { env });
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
    const killPoints = spread(kills * 2, total, 0);
    const serverKillPoints = spread(setup.serverKills ?? 0, total, 3);
    let killIndex = 0;
    let serverKills = 0;
    const results: number[] = new Array(total);
    let next = 0;
    // One logical upload: the same Idempotency-Key until the (possibly restarted) server accepts it.
    const uploadOnce = async (app: string, body: Uint8Array): Promise<number> => {
      const key = crypto.randomUUID();
      for (let attempt = 0;; attempt++) {
        const r = await upload(server.url, app, body, { "idempotency-key": key }).catch(() => ({ status: 0 }));
        if (r.status === 201 || ![0, 502, 503, 504].includes(r.status) || attempt >= 300) return r.status;
        await delay(100);
      }
    };
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
        if (serverKillPoints.has(i)) {
          serverKills++;
          await server.stop("SIGKILL");
          server = await startAutopgo(serverArgs, { env });
          processes.push(server);
        }
        results[i] = await uploadOnce(APPS[i % APPS.length], await Deno.readFile(inputs[i]));
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
    // Every acknowledged scrape is merged once. A scrape whose answer never reached the scraper
    // (lost to a server kill, or cut by the scraper's own shutdown) may still have been taken, and
    // is then merged once too: so the merged profile holds k copies, where k is at least the
    // acknowledged scrapes and at most the profiles the target served.
    const one = totalSamples(decodeProfile(scrapedProfile));
    const copies = totalSamples(scrapedBase) / one;
    assert.ok(
      Number.isInteger(copies) && copies >= scraped && copies <= target.hits,
      `the scraped app holds ${copies} copies; ${scraped} acknowledged, ${target.hits} served`,
    );
    assertSameSamples(
      scrapedBase,
      await pprofMergeOracle(Array.from({ length: copies }, () => files[0])),
      "scraped app vs go tool pprof -proto",
    );
    await delay(500);
    for (const w of workers) workerLogs.push(w.logs());
    const merges = workerLogs.join("\n").match(/merged \S+\/staging\/\S+ into/g)?.length ?? 0;
    return { accepted: total + scraped, scraped, merges, drainMs, workerKills: killIndex, serverKills };
  } finally {
    await scraper?.stop("SIGKILL");
    await Promise.all(processes.map((p) => p.stop("SIGKILL")));
    await store.close();
    restoreEnv();
    target.close();
    await Deno.remove(dir, { recursive: true });
  }
}
