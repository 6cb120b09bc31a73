/**
 * `deno task mutate`: the full upload mutation run of issue 15 (tests/support/upload_mutations.ts)
 * — 20,000 mutated uploads of real profiles against a running `autopgo server`, then the real
 * profiles — where `deno task test` runs a seeded sample (tests/upload_mutation_test.ts). The run
 * fails (exit 1) on any 5xx, a real profile refused, an upload left in staging, anything set
 * aside by the worker, or a 201 that was not merged. The figures go into BENCHMARKS.md between
 * `<!-- bench:mutations:start -->` and `<!-- bench:mutations:end -->` unless `--no-write`.
 *
 * Usage: deno task mutate [--uploads 20000] [--seed 20261201] [--compaction pgo|none] [--no-write]
 *
 * @module
 */

import { benchArgs } from "./cli.ts";
import { fileURLToPath } from "node:url";
import {
  mutationRunProblems,
  runUploadMutations,
  type UploadMutationReport,
} from "../tests/support/upload_mutations.ts";
import { formatMarkdown, replaceSection } from "./run.ts";

const BENCHMARKS_MD = fileURLToPath(new URL("../BENCHMARKS.md", import.meta.url));

function counts(record: Record<string, number>): string {
  return Object.entries(record).map(([k, n]) => `${k}: ${n.toLocaleString("en")}`).join(", ");
}

/** The BENCHMARKS.md section for finished runs (one row per compaction mode). */
export function mutationsSection(runs: { compaction: string; report: UploadMutationReport }[]): string {
  const rows = runs.map(({ compaction, report: r }) =>
    `| ${r.uploads.toLocaleString("en")} + ${r.real} real | ${r.seed} | ${compaction} | ${counts(r.statuses)} | ${
      r.accepted.toLocaleString("en")
    } | ${r.merged.toLocaleString("en")} | ${r.setAside} | ${r.leftInStaging} | ${r.serverErrors} | ${
      r.sendSeconds.toFixed(0)
    } s + ${r.drainSeconds.toFixed(0)} s |`
  );
  const r0 = runs[0].report;
  return [
    "Issue 15: mutated uploads (seeded 1–3 stacked byte mutations of the committed CPU profiles, raw or gzip, 1 in 16",
    "first rewritten to a sample-type variant) against a running `autopgo server` (embedded store and worker), then the",
    "real profiles. Judged by: no 5xx, every real profile accepted, staging empty, the base counting every 201 as merged,",
    "nothing set aside by the worker.",
    "",
    "| uploads | seed | compaction | answers | 201 | merged | set aside | left staged | 5xx | send + drain |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
    "",
    `Reproduce: \`deno task mutate --uploads ${r0.uploads} --seed ${r0.seed}${
      runs.map((r) => ` --compaction ${r.compaction}`).join("")
    }\``,
  ].join("\n");
}

async function main(): Promise<number> {
  const { values } = benchArgs(import.meta.url, {
    options: {
      uploads: { type: "string", default: "20000" },
      seed: { type: "string", default: "20261201" },
      compaction: { type: "string", multiple: true },
      "no-write": { type: "boolean", default: false },
    },
  });
  const modes = values.compaction?.length ? values.compaction : ["pgo"];
  const runs: { compaction: string; report: UploadMutationReport }[] = [];
  let failed = false;
  for (const compaction of modes) {
    if (compaction !== "pgo" && compaction !== "none") throw new Error(`--compaction must be pgo or none`);
    const started = performance.now();
    const report = await runUploadMutations({
      seed: Number(values.seed),
      uploads: Number(values.uploads),
      compaction,
      onProgress: (sent, statuses) =>
        console.log(
          `${compaction}: ${sent} sent in ${((performance.now() - started) / 1000).toFixed(0)} s, ${counts(statuses)}`,
        ),
      progressEvery: 2_000,
    });
    runs.push({ compaction, report });
    for (const problem of mutationRunProblems(report)) {
      console.error(`FAIL (${compaction}) ${problem}`);
      failed = true;
    }
  }
  const section = mutationsSection(runs);
  console.log(section);
  if (failed) return 1;
  if (!values["no-write"]) {
    await Deno.writeTextFile(
      BENCHMARKS_MD,
      replaceSection(await Deno.readTextFile(BENCHMARKS_MD), "mutations", section),
    );
    await formatMarkdown(BENCHMARKS_MD);
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
