/**
 * What no-inline guards (core/pprof/noinline.ts) cost the worker's merges: the same batch job
 * (batch_job.ts, the fused engine: a base plus `--batch` uploads, compaction pgo) and the same
 * single merge (profile_jobs.ts `mergeBytes`, the object path) run without guards, with the
 * built-in list, with the built-in list plus 8 user regexps, and, for the batch, with a base that
 * records no guards yet (the one-time rewrite after the guard list changed). Each run is timed in
 * process CPU time (user + system; the work is single-threaded), which other processes on a shared
 * machine disturb far less than wall time, and cases alternate within each round; medians and
 * ratios to the unguarded case are printed.
 *
 * Usage: deno run -A bench/noinline.ts [--dir DIR] [--batch 64] [--rounds 7]
 * (DIR holds the `*.pb.gz` uploads; default tests/fixtures/profiles, or the bench data set of
 * bench/data.ts, e.g. /tmp/autopgo-bench/<key>/profiles).
 *
 * @module
 */

import process from "node:process";
import { benchArgs } from "./cli.ts";
import { fileURLToPath } from "node:url";
import { mergeBatchBytes } from "../core/pipeline/batch_job.ts";
import { mergeBytes } from "../core/pipeline/profile_jobs.ts";
import { type NoInlineGuards, noInlineGuards } from "../core/pprof/noinline.ts";
import { median } from "./measure.ts";

const { values } = benchArgs(import.meta.url, {
  options: {
    dir: { type: "string", default: fileURLToPath(new URL("../tests/fixtures/profiles/", import.meta.url)) },
    batch: { type: "string", default: "64" },
    rounds: { type: "string", default: "7" },
  },
});
const batch = Number(values.batch), rounds = Number(values.rounds);
const names = [...Deno.readDirSync(values.dir!)].map((e) => e.name).filter((n) => /^cpu.*\.pb\.gz$/.test(n)).sort();
if (names.length === 0) throw new Error(`no cpu*.pb.gz in ${values.dir}`);
const uploads = names.map((n) => Deno.readFileSync(`${values.dir}/${n}`));
const staged = Array.from({ length: batch }, (_, i) => uploads[i % uploads.length]);
const keys = staged.map((_, i) => `svc/staging/${i}`);
const state = { absorbed: [], deletedBefore: 0n, merged: 0 };

const builtIn = noInlineGuards();
const many = noInlineGuards({
  patterns: Array.from({ length: 8 }, (_, i) => String.raw`^example\.com/svc/pkg${i}\.\(\*T\)\.Handle$`),
});

function baseWith(noinline: NoInlineGuards | undefined): Uint8Array {
  const job = { staged: uploads, keys: uploads.map((_, i) => `b/${i}`), rules: [], compaction: "pgo" as const, state };
  const result = mergeBatchBytes({ ...job, noinline });
  if (result.status !== "merged") throw new Error(`building the base: ${result.status}`);
  return result.data;
}

const bases = { none: baseWith(undefined), builtIn: baseWith(builtIn), many: baseWith(many) };
const batchJob = (base: Uint8Array, noinline?: NoInlineGuards) => () => {
  const result = mergeBatchBytes({ base, staged, keys, rules: [], compaction: "pgo", state, noinline });
  if (result.status !== "merged") throw new Error(result.status);
};
const singleJob = (base: Uint8Array, noinline?: NoInlineGuards) => () => {
  const result = mergeBytes({ base, staged: uploads[0], rules: [], compaction: "pgo", state, noinline });
  if (result.status !== "merged") throw new Error(result.status);
};

const cases: [string, () => void][] = [
  [`fused batch of ${batch}: no guards`, batchJob(bases.none)],
  [`fused batch of ${batch}: built-in list (2)`, batchJob(bases.builtIn, builtIn)],
  [`fused batch of ${batch}: built-in + 8 regexps`, batchJob(bases.many, many)],
  [`fused batch of ${batch}: built-in, base rewritten once`, batchJob(bases.none, builtIn)],
  ["object path, 1 upload: no guards", singleJob(bases.none)],
  ["object path, 1 upload: built-in list (2)", singleJob(bases.builtIn, builtIn)],
  ["object path, 1 upload: built-in + 8 regexps", singleJob(bases.many, many)],
];
const times = cases.map(() => [] as number[]);
for (const [, run] of cases) run(); // warm-up
for (let round = 0; round < rounds; round++) {
  for (const [i, [, run]] of cases.entries()) {
    const start = process.cpuUsage();
    run();
    const used = process.cpuUsage(start);
    times[i].push((used.user + used.system) / 1000);
  }
}
console.log(
  `no-inline guards: ${uploads.length} uploads from ${values.dir} (${
    uploads.reduce((n, u) => n + u.length, 0)
  } bytes), base ${bases.none.length} bytes, ${rounds} rounds`,
);
console.log("| case | median CPU ms | ratio to no guards |");
console.log("| --- | ---: | ---: |");
for (const [i, [name]] of cases.entries()) {
  const reference = median(times[name.startsWith("fused") ? 0 : 4]);
  console.log(`| ${name} | ${median(times[i]).toFixed(1)} | ${(median(times[i]) / reference).toFixed(3)} |`);
}
