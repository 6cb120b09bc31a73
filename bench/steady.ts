/**
 * `deno task bench:steady` (issue 13): the server's memory under a steady load. One `autopgo server` (embedded
 * worker, file store, default compaction) and N `autopgo scrape` processes, one target each, run for `--minutes`;
 * every target is a stand-in pprof endpoint on 127.0.0.1 that answers each request with the next of the cached
 * real labelled profiles of the hotpath fixture (bench/ingest.ts `cachedProfiles`), so every round uploads a
 * profile with new stacks and span labels. The server's resident set (`VmRSS`) and CPU time are sampled every
 * `--sample-every` seconds. Reported: the RSS at the end of the warm-up (median of the minute after it), at the
 * end (median of the last minute), the growth between them (target < 10%), the least-squares slope after the
 * warm-up, and the median of every minute. Written into BENCHMARKS.md between `<!-- bench:steady:start -->` and
 * `<!-- bench:steady:end -->`.
 *
 * Usage: deno task bench:steady [--minutes 10] [--warmup-minutes 2] [--scrapers 20] [--apps 5] [--frequency 5s]
 *                               [--sample-every 5] [--server-v8-flags FLAGS] [--section steady] [--no-write]
 *
 * `--server-v8-flags` runs the server as `deno run --v8-flags=FLAGS` (e.g. `--max-semi-space-size=4`, which caps
 * V8's young generation; `DENO_V8_FLAGS` does the same for a deployed binary).
 *
 * @module
 */

import { benchArgs } from "./cli.ts";
import { fileURLToPath } from "node:url";
import { type AutopgoProcess, spawnAutopgo, startAutopgoServer } from "../tests/support/autopgo_processes.ts";
import { MAIN_TS } from "../tests/support/cli.ts";
import { startFakePprofTarget } from "../tests/support/fake_targets.ts";
import { delay, listFiles } from "../tests/support/pipeline_process.ts";
import { cachedProfiles, machineLine, usableProfiles } from "./ingest.ts";
import { median } from "./measure.ts";
import { cpuSeconds, peakRssMiB, rssMiB } from "./proc_stats.ts";
import { formatMarkdown, replaceSection } from "./run.ts";

const BENCHMARKS_MD = fileURLToPath(new URL("../BENCHMARKS.md", import.meta.url));

/** One reading of the server process. */
export interface RssSample {
  /** Seconds since the scrapers were started. */
  t: number;
  rssMiB: number;
  cpuS: number;
  /** The main isolate's V8 heap in use and its young generation's size, from the server's /metrics (NaN without). */
  heapUsedMiB?: number;
  youngMiB?: number;
}

/** The main isolate's heap in use and young-generation size, read from prom-client's metrics on `/metrics`. */
async function v8Heap(url: string): Promise<{ heapUsedMiB: number; youngMiB: number }> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]) / 1048576;
    return {
      heapUsedMiB: read("nodejs_heap_size_used_bytes"),
      youngMiB: read(`nodejs_heap_space_size_total_bytes\\{space="new"\\}`),
    };
  } catch {
    return { heapUsedMiB: NaN, youngMiB: NaN };
  }
}

/** What the samples of a run say about memory after the warm-up. */
export interface RssSummary {
  warmRssMiB: number;
  endRssMiB: number;
  /** end / warm - 1. */
  growth: number;
  minAfterWarmMiB: number;
  maxAfterWarmMiB: number;
  /** Least-squares slope of the samples after the warm-up, MiB per minute. */
  slopeMiBPerMin: number;
  /** Median RSS of each whole minute. */
  perMinute: number[];
}

/** The median of `pick` over each whole minute of `samples` (NaN values left out). */
export function perMinute(samples: RssSample[], pick: (s: RssSample) => number | undefined): number[] {
  const last = samples.at(-1)!.t;
  return Array.from({ length: Math.round(last / 60) }, (_, m) => {
    const values = samples.filter((s) => s.t >= m * 60 && s.t < m * 60 + 60).map(pick).filter((v) =>
      v !== undefined && !Number.isNaN(v)
    ) as number[];
    return values.length ? median(values) : NaN;
  });
}

/** Summarises `samples` taken over a run whose warm-up lasted `warmupS` seconds. */
export function summariseRss(samples: RssSample[], warmupS: number): RssSummary {
  const last = samples.at(-1)!.t;
  const within = (from: number, to: number) => samples.filter((s) => s.t >= from && s.t < to).map((s) => s.rssMiB);
  const after = samples.filter((s) => s.t >= warmupS);
  const meanT = after.reduce((a, s) => a + s.t, 0) / after.length;
  const meanR = after.reduce((a, s) => a + s.rssMiB, 0) / after.length;
  const cov = after.reduce((a, s) => a + (s.t - meanT) * (s.rssMiB - meanR), 0);
  const varT = after.reduce((a, s) => a + (s.t - meanT) ** 2, 0);
  const warmRssMiB = median(within(warmupS, warmupS + 60));
  const endRssMiB = median(within(last - 60, last + 1));
  return {
    warmRssMiB,
    endRssMiB,
    growth: endRssMiB / warmRssMiB - 1,
    minAfterWarmMiB: Math.min(...after.map((s) => s.rssMiB)),
    maxAfterWarmMiB: Math.max(...after.map((s) => s.rssMiB)),
    slopeMiBPerMin: varT > 0 ? (cov / varT) * 60 : 0,
    perMinute: perMinute(samples, (s) => s.rssMiB),
  };
}

/** Per-minute medians of one field, as a comma-separated list of whole MiB. */
function perMinuteList(samples: RssSample[], pick: (s: RssSample) => number | undefined): string {
  return perMinute(samples, pick).map((v) => v.toFixed(0)).join(", ");
}

async function main(): Promise<void> {
  const { values } = benchArgs(import.meta.url, {
    options: {
      minutes: { type: "string", default: "10" },
      "warmup-minutes": { type: "string", default: "2" },
      scrapers: { type: "string", default: "20" },
      apps: { type: "string", default: "5" },
      frequency: { type: "string", default: "5s" },
      "sample-every": { type: "string", default: "5" },
      "server-v8-flags": { type: "string" },
      section: { type: "string", default: "steady" },
      "no-write": { type: "boolean", default: false },
    },
  });
  const minutes = Number(values.minutes), warmupMinutes = Number(values["warmup-minutes"]);
  const scrapers = Number(values.scrapers), apps = Number(values.apps), everyS = Number(values["sample-every"]);
  if (!(minutes >= warmupMinutes + 2)) throw new Error("--minutes must exceed --warmup-minutes by 2 or more");
  const machine = await machineLine();
  const bodies = await usableProfiles(await cachedProfiles(1010, 100));
  const root = await Deno.makeTempDir({ prefix: "autopgo-steady-" });
  let served = 0;
  const targets = Array.from({ length: scrapers }, (_, i) => {
    let next = i * 37;
    return startFakePprofTarget(() => (served++, bodies[next++ % bodies.length]));
  });
  const v8Flags = values["server-v8-flags"];
  if (!/^[a-z][a-z0-9-]*$/.test(values.section)) throw new Error(`--section ${values.section}: use a-z0-9-`);
  const server = await startAutopgoServer(
    [],
    v8Flags ? { command: [Deno.execPath(), "run", "-A", `--v8-flags=${v8Flags}`, MAIN_TS] } : {},
  );
  const pid = server.child.pid;
  const running: AutopgoProcess[] = [];
  try {
    console.log(`server ${server.url} (pid ${pid}); starting ${scrapers} scrapers for ${apps} apps`);
    for (const [i, target] of targets.entries()) {
      const file = `${root}/targets-${i}.json`;
      await Deno.writeTextFile(file, JSON.stringify([{ address: target.url }]));
      running.push(spawnAutopgo([
        ...["scrape", file, "--app", `steady-${i % apps}`, "--sample-size", "1", "--duration", "1s"],
        ...["--frequency", values.frequency, "--port", "0", "--host", "127.0.0.1", "--api-url", server.url],
      ]));
    }
    const started = performance.now();
    const samples: RssSample[] = [];
    const cpuAtStart = cpuSeconds(pid);
    while (performance.now() - started < minutes * 60_000) {
      const t = (performance.now() - started) / 1000;
      samples.push({ t, rssMiB: rssMiB(pid), cpuS: cpuSeconds(pid) - cpuAtStart, ...await v8Heap(server.url) });
      if (samples.length % Math.max(1, Math.round(60 / everyS)) === 0) {
        console.log(
          `  ${t.toFixed(0)} s: server RSS ${samples.at(-1)!.rssMiB.toFixed(1)} MiB, V8 heap used ${
            samples.at(-1)!.heapUsedMiB?.toFixed(1)
          } MiB, young generation ${samples.at(-1)!.youngMiB?.toFixed(1)} MiB, ${served} profiles served`,
        );
      }
      await delay(everyS * 1000);
    }
    const scraperRss = running.map((p) => rssMiB(p.child.pid));
    const uploaded = running.reduce((n, p) => n + p.lines.filter((l) => / bytes uploaded as /.test(l)).length, 0);
    const failedRounds = running.reduce((n, p) => n + p.lines.filter((l) => /\b(ERROR|WARN)/i.test(l)).length, 0);
    await Promise.all(running.map((p) => p.stop("SIGTERM")));
    let staged = Infinity;
    for (let i = 0; i < 120 && staged > 0; i++) {
      staged = (await listFiles(server.dataDir)).filter((f) => f.includes("/staging/")).length;
      if (staged > 0) await delay(500);
    }
    const summary = summariseRss(samples, warmupMinutes * 60);
    const serverCpuS = samples.at(-1)!.cpuS, wallS = samples.at(-1)!.t;
    const pct = (v: number) => `${v >= 0 ? "+" : ""}${(v * 100).toFixed(1)}%`;
    const mib = (v: number) => `${v.toFixed(1)} MiB`;
    const body = [
      `Measured ${new Date(Date.now() - wallS * 1000).toISOString().slice(0, 16)}Z on ${machine}; the machine ` +
      `was shared with other work during the run.`,
      "",
      `One \`autopgo server\` (embedded worker, file store, default compaction${
        v8Flags ? `, run with \`--v8-flags=${v8Flags}\`` : ""
      }) and ${scrapers} \`autopgo scrape\` ` +
      `processes (one target each, ${apps} apps, \`--frequency ${values.frequency} --duration 1s\`) for ${minutes} ` +
      `minutes; each target is a stand-in pprof endpoint that answers every request with the next of ` +
      `${bodies.length} real labelled profiles of the hotpath fixture, so every upload brings new stacks and span ` +
      `labels. Server RSS (\`VmRSS\`) sampled every ${everyS} s; warm-up ${warmupMinutes} minutes.`,
      "",
      "| scrapers | uploads | RSS after warm-up | RSS at end | growth | min / max after warm-up | slope after warm-up | peak RSS (VmHWM) | server CPU | staged at end |",
      "|---|---|---|---|---|---|---|---|---|---|",
      `| ${scrapers} processes | ${uploaded} (${(uploaded / wallS).toFixed(1)}/s) | ${mib(summary.warmRssMiB)} | ${
        mib(summary.endRssMiB)
      } | **${pct(summary.growth)}** | ${mib(summary.minAfterWarmMiB)} / ${mib(summary.maxAfterWarmMiB)} | ${
        summary.slopeMiBPerMin.toFixed(2)
      } MiB/min | ${mib(peakRssMiB(pid))} | ${serverCpuS.toFixed(0)} s (${
        (100 * serverCpuS / wallS).toFixed(0)
      }% of one core) | ${staged} |`,
      "",
      `Server RSS, median of each minute (MiB): ${summary.perMinute.map((v) => v.toFixed(0)).join(", ")}; ` +
      `of it, the main isolate's V8 heap in use: ${perMinuteList(samples, (s) => s.heapUsedMiB)}, and its young ` +
      `generation's size: ${
        perMinuteList(samples, (s) => s.youngMiB)
      } (prom-client's \`nodejs_heap_*\` on /metrics). ` +
      `Scrapers at the end: median RSS ${mib(median(scraperRss))} each; warning or error lines logged: ` +
      `${failedRounds}.`,
      "",
      `Target: growth after warm-up < 10%: ${summary.growth < 0.1 ? "met" : "not met"} (${pct(summary.growth)}).`,
      "",
      `Reproduce: \`deno task bench:steady --minutes ${minutes} --warmup-minutes ${warmupMinutes} --scrapers ` +
      `${scrapers} --apps ${apps} --frequency ${values.frequency} --sample-every ${everyS}` +
      `${v8Flags ? ` --server-v8-flags=${v8Flags}` : ""}${
        values.section !== "steady" ? ` --section ${values.section}` : ""
      }\``,
    ].join("\n");
    console.log(`\n${body}`);
    if (!values["no-write"]) {
      await Deno.writeTextFile(
        BENCHMARKS_MD,
        replaceSection(await Deno.readTextFile(BENCHMARKS_MD), values.section, body),
      );
      await formatMarkdown(BENCHMARKS_MD);
    }
  } finally {
    await Promise.all(running.map((p) => p.stop("SIGKILL", 1000)));
    await server.close();
    await Promise.all(targets.map((t) => t.close()));
    await Deno.remove(root, { recursive: true });
  }
}

if (import.meta.main) await main();
