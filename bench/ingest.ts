/**
 * `deno task bench:ingest` (issue 13): the deployed pipeline's ingest with batched merges against
 * itself with one merge per upload (`--batch-max-uploads 1`, the path before batching), in one
 * run, and ingest with 1, 2 and 4 worker processes on the file:// bus and on NATS JetStream.
 * Results go into BENCHMARKS.md between `<!-- bench:ingest:start -->` / `<!-- bench:ingest:end -->`.
 *
 * Batching: one `autopgo server` and one `autopgo worker` on a file:// store and bus, 8 concurrent
 * clients uploading real labelled CPU profiles of the hotpath fixture (unique stacks and labels:
 * tests/support/fixtures.ts `generateProfiles`) to one app, with `--compaction none` and the
 * default (`pgo`), 200 and 1,000 uploads. Lone uploads: the worker's own latency for one upload
 * into such bases, batched and not (bench/ingest_lone.ts). Workers: 1,000 uploads to 4 apps,
 * batching on, default compaction, uploaded while the workers run ("live") and uploaded before they
 * start ("backlog"). Each row is one run (bench/ingest_run.ts says what is timed). The profiles are
 * generated once and cached in `$AUTOPGO_BENCH_DATA` (default `$TMPDIR/autopgo-bench`).
 *
 * Usage: deno task bench:ingest [--sizes 200,1000] [--worker-uploads 1000] [--profile-ms 100] [--no-lone]
 *                               [--lone 10] [--warmup 50] [--no-batching] [--no-workers] [--no-write]
 *                               [--backlog-uploads N] [--workers 1,2,4] [--buses file,nats] [--repeat 1]
 *                               [--worker-nice N]
 *
 * The worker runs are bench/ingest_workers.ts, written between their own markers
 * (`bench:ingest-workers`), so `--no-batching --no-lone` re-measures only them. `--worker-nice N`
 * starts their workers under `nice -n N`, below the server's CPU priority.
 *
 * @module
 */

import { benchArgs } from "./cli.ts";
import { fileURLToPath } from "node:url";
import { registerBuiltinDrivers } from "../adapters/mod.ts";
import { DEFAULT_BATCH_LIMITS } from "../core/pipeline/merge_batch.ts";
import { checkUploadBytes } from "../core/pipeline/profile_jobs.ts";
import { generateProfiles } from "../tests/support/fixtures.ts";
import { type LoneResult, measureLone } from "./ingest_lone.ts";
import { type IngestConfig, type IngestResult, measureIngest } from "./ingest_run.ts";
import { formatMarkdown, replaceSection } from "./run.ts";
import { measureWorkerScaling, type WorkerScalingOptions, workersIntro, workersTable } from "./ingest_workers.ts";
import { type BenchSetup, fileFile } from "./setups.ts";
import { benchDataRoot } from "./data.ts";
import { benchTempDir, fileCreateMicros, storeFilesystemLine, tmpdirPrefix } from "./fs_probe.ts";

const BENCHMARKS_MD = fileURLToPath(new URL("../BENCHMARKS.md", import.meta.url));

const ms = (v: number) => Number.isNaN(v) ? "–" : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v.toFixed(0)} ms`;
const mib = (v: number) => `${v.toFixed(0)} MiB`;
const ratio = (v: number) => `${v.toFixed(2)}×`;

async function run(make: () => Promise<BenchSetup | undefined>, config: IngestConfig, bodies: Uint8Array[]) {
  const setup = await make();
  if (!setup) return undefined;
  try {
    for (const [name, value] of Object.entries(setup.env)) Deno.env.set(name, value);
    console.log(`${setup.name}: ${JSON.stringify(config)}`);
    const result = await measureIngest(setup, config, bodies);
    const { config: _, ...shown } = result;
    console.log(`  ${JSON.stringify(shown, (_k, v) => typeof v === "number" ? Math.round(v * 10) / 10 : v)}`);
    return result;
  } finally {
    await setup.stop();
  }
}

function batchingTable(results: IngestResult[]): string {
  const rows: string[] = [];
  const verdicts: string[] = [];
  for (let i = 0; i + 1 < results.length; i += 2) {
    const [on, off] = [results[i], results[i + 1]];
    const speed = on.uploadsPerSecond / off.uploadsPerSecond;
    const rss = Math.max(on.serverRssMiB, ...on.workerRssMiB) / Math.max(off.serverRssMiB, ...off.workerRssMiB);
    const workerRss = on.workerRssMiB[0] / off.workerRssMiB[0];
    for (const [name, r] of [["batched", on], ["one merge per upload", off]] as const) {
      rows.push(
        `| ${r.config.uploads} | ${r.config.compaction} | ${name} | ${r.uploadsPerSecond.toFixed(1)} | ${
          ms(r.drainMs)
        } | ${ms(r.mergedP50)} / ${ms(r.mergedP99)} | ${ms(r.postP50)} / ${ms(r.postP99)} | ${ms(r.loneMs)} | ${
          mib(r.serverRssMiB)
        } / ${mib(r.workerRssMiB[0])} | ${r === on ? `**${ratio(speed)}**, worker RSS ${ratio(workerRss)}` : ""} |`,
      );
    }
    if (on.config.compaction === "none") {
      const met = speed >= 3 && rss <= 1;
      verdicts.push(
        `${on.config.uploads} uploads: ${met ? "met" : "not met"} (${ratio(speed)} uploads/s, peak RSS of the ` +
          `largest process ${ratio(rss)})`,
      );
    }
  }
  return [
    "| uploads | compaction | worker | uploads/s | first upload → all merged | upload→merged p50 / p99 | POST p50 / p99 | lone upload→merged (median) | peak RSS server / worker | batched vs one per upload |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
    "",
    `Target ≥3× the uploads/s of one merge per upload with \`--compaction none\`, at no more peak RSS: ${
      verdicts.join("; ") || "not measured"
    }.`,
  ].join("\n");
}

/**
 * `count` labelled profiles of `profileMs` from the hotpath fixture, generated once (minutes) and kept in
 * `$AUTOPGO_BENCH_DATA` (default `$TMPDIR/autopgo-bench`) so later runs upload the same profiles.
 */
export async function cachedProfiles(count: number, profileMs: number): Promise<string[]> {
  const root = benchDataRoot();
  const dir = `${root}/ingest-${count}x${profileMs}ms-labelled`;
  const names = Array.from({ length: count }, (_, i) => `${dir}/cpu-${String(i).padStart(4, "0")}.pb.gz`);
  if (await Deno.stat(`${dir}/complete`).then(() => true, () => false)) return names;
  console.log(`generating ${count} labelled profiles of ${profileMs} ms (hotpath fixture, once) into ${dir}…`);
  const files = await generateProfiles({ count, durationMs: profileMs, labels: true, rate: 1000 });
  await Deno.mkdir(dir, { recursive: true });
  for (const [i, file] of files.entries()) await Deno.copyFile(file, names[i]);
  await Deno.writeTextFile(`${dir}/complete`, `${new Date().toISOString()}\n`);
  return names;
}

/**
 * The bytes of `files` that the server accepts: a short profile of an unlucky run can hold no sample, and the
 * server would refuse it (422).
 */
export async function usableProfiles(files: string[]): Promise<Uint8Array[]> {
  const all = await Promise.all(files.map((f) => Deno.readFile(f)));
  return all.filter((b) => checkUploadBytes(b, {}).status === "usable");
}

/** CPU count and model, Deno version and the load average now: the first line of a benchmark report. */
export async function machineLine(): Promise<string> {
  const cpu = (await Deno.readTextFile("/proc/cpuinfo")).match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU";
  const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  return `${navigator.hardwareConcurrency} × ${cpu}; Deno ${Deno.version.deno}; load average at start ${load}`;
}

async function main(): Promise<void> {
  const { values } = benchArgs(import.meta.url, {
    options: {
      sizes: { type: "string", default: "200,1000" },
      "worker-uploads": { type: "string", default: "1000" },
      "profile-ms": { type: "string", default: "100" },
      lone: { type: "string", default: "10" },
      warmup: { type: "string", default: "50" },
      "no-lone": { type: "boolean", default: false },
      "no-batching": { type: "boolean", default: false },
      "no-workers": { type: "boolean", default: false },
      "no-write": { type: "boolean", default: false },
      "backlog-uploads": { type: "string" },
      workers: { type: "string", default: "1,2,4" },
      buses: { type: "string", default: "file,nats" },
      modes: { type: "string", default: "live,backlog" },
      repeat: { type: "string", default: "1" },
      "worker-nice": { type: "string" },
    },
  });
  registerBuiltinDrivers();
  const sizes = values.sizes.split(",").map(Number);
  const workerUploads = Number(values["worker-uploads"]);
  const profileMs = Number(values["profile-ms"]);
  const lone = Number(values.lone);
  const warmup = Number(values.warmup);
  const count = Math.max(...sizes, workerUploads) + lone;
  const machine = await machineLine();
  const tempDir = benchTempDir();
  const filesystemAtStart = storeFilesystemLine(tempDir);
  const files = await cachedProfiles(count, profileMs);
  const bodies = await usableProfiles(files);
  const skipped = files.length - bodies.length;
  const sizeKiB = bodies.reduce((s, b) => s + b.length, 0) / bodies.length / 1024;
  const started = new Date().toISOString().slice(0, 16) + "Z";
  const sections: string[] = [
    `Measured ${started} on ${machine}; ${filesystemAtStart}. Data: ${files.length} real CPU profiles of ${profileMs} ms written by the ` +
    `hotpath fixture with labels (\`generateProfiles\`, ${sizeKiB.toFixed(1)} KiB on average)` +
    (skipped ? `, ${skipped} of them without any sample left out (the last uploads reuse the first profiles)` : "") +
    ".",
  ];
  if (!values["no-batching"]) {
    const results: IngestResult[] = [];
    for (const uploads of sizes) {
      for (const compaction of ["none", "pgo"] as const) {
        for (const batchMaxUploads of [DEFAULT_BATCH_LIMITS.maxUploads, 1]) {
          const config = { uploads, apps: 1, compaction, batchMaxUploads, workers: 1, lone, warmup };
          results.push((await run(fileFile, config, bodies))!);
        }
      }
    }
    sections.push(
      `### Batched merges against one merge per upload\n\n${sizes.join(" and ")} uploads of real labelled CPU ` +
        `profiles (${sizeKiB.toFixed(1)} KiB on average, every sample with its own span labels) from 8 concurrent ` +
        `clients to one app, into one \`autopgo server\` and one \`autopgo worker\` (file:// store and bus); ` +
        `"batched" is the default (\`--batch-max-uploads ${DEFAULT_BATCH_LIMITS.maxUploads}\`), "one merge per ` +
        `upload" is \`--batch-max-uploads 1\`, the path before batching. The worker is warmed up first (${warmup} ` +
        `uploads to another app, merged before the clock starts). Lone uploads: ${lone} more, one at a time, ` +
        `each waited for until merged, into the base the run built.\n\n${batchingTable(results)}`,
    );
    const insane = results.filter((r) => r.sanity);
    if (insane.length) sections.push(`Sanity failures: ${insane.map((r) => r.sanity).join("; ")}`);
  }
  if (!values["no-lone"]) {
    const lones: LoneResult[] = [];
    for (const compaction of ["none", "pgo"] as const) {
      for (const baseUploads of sizes) {
        console.log(`lone uploads into a base of ${baseUploads}, compaction ${compaction}`);
        lones.push(await measureLone(bodies, compaction, baseUploads, 20));
        console.log(`  ${JSON.stringify(lones.at(-1))}`);
      }
    }
    sections.push(
      "### A lone upload, in the worker alone\n\nOne staged upload handled by `processUpload` on a file:// store " +
        "(stat, listing, base read, merge in a decode pool of one Web Worker, conditional write, clean-up; no bus), " +
        "batched and unbatched alternately into the same growing base; medians of 20 each after 4 warm-up rounds " +
        "(bench/ingest_lone.ts).\n\n" + [
        "| compaction | base holds | base size | batched | one merge per upload | batched / unbatched |",
        "|---|---|---|---|---|---|",
        ...lones.map((l) =>
          `| ${l.compaction} | ${l.baseUploads} uploads | ${(l.baseBytes / 1024).toFixed(0)} KiB | ${
            ms(l.batchedMs)
          } | ${ms(l.singleMs)} | ${ratio(l.batchedMs / l.singleMs)} |`
        ),
      ].join("\n"),
    );
  }
  let workersBody: string | undefined;
  if (!values["no-workers"]) {
    const options: WorkerScalingOptions = {
      uploads: workerUploads,
      backlogUploads: Number(values["backlog-uploads"] ?? workerUploads),
      workers: values.workers.split(",").map(Number),
      repeat: Number(values.repeat),
      warmup,
      buses: values.buses.split(","),
      modes: values.modes.split(","),
      workerNice: values["worker-nice"] === undefined ? undefined : Number(values["worker-nice"]),
    };
    const results = await measureWorkerScaling(options, bodies, run);
    workersBody = [
      `Measured ${started} on ${machine}; ${filesystemAtStart} at start, ` +
      `${fileCreateMicros(tempDir).toFixed(0)} µs at the end (bench/fs_probe.ts says why it matters).`,
      workersIntro(options, navigator.hardwareConcurrency),
      workersTable(results, navigator.hardwareConcurrency),
    ].join("\n\n");
  }
  const args = Deno.args.filter((a) => a !== "--no-write").join(" ");
  const reproduce = `Reproduce: \`${tmpdirPrefix()}deno task bench:ingest${args ? ` ${args}` : ""}\``;
  // Only the parts that ran are replaced: the batching tables and the workers table have markers of their own.
  const body = sections.length > 1 ? [...sections, reproduce].join("\n\n") : undefined;
  if (body) console.log(`\n${body}`);
  if (workersBody) console.log(`\n${workersBody}\n\n${reproduce}`);
  if (!values["no-write"]) {
    let doc = await Deno.readTextFile(BENCHMARKS_MD);
    if (body) doc = replaceSection(doc, "ingest", body);
    if (workersBody) doc = replaceSection(doc, "ingest-workers", `${workersBody}\n\n${reproduce}`);
    await Deno.writeTextFile(BENCHMARKS_MD, doc);
    await formatMarkdown(BENCHMARKS_MD);
  }
}

if (import.meta.main) await main();
