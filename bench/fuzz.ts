/**
 * `deno task fuzz`: mutation fuzzing of the decoder and the upload route (tests/support/fuzz.ts)
 * for a million inputs or more — as long as that takes; not part of `deno task test`, which runs a
 * small seeded sample in tests/robustness_test.ts. Every input must end as a decoded profile
 * within the upload budget or a one-line ProfileError, never a crash or a hang; one input in
 * `--route-every` also goes through the Hono upload route with a real decode pool. The figures go
 * into BENCHMARKS.md between `<!-- bench:fuzz:start -->` and `<!-- bench:fuzz:end -->`; a failing
 * input is printed with its seed and index (rerun with the same `--seed` to reproduce) and the
 * run exits 1.
 *
 * Usage: deno task fuzz [--inputs 1000000] [--seed 1] [--route-every 100] [--no-write]
 *
 * @module
 */

import { benchArgs } from "./cli.ts";
import { fileURLToPath } from "node:url";
import { type FuzzReport, runFuzz } from "../tests/support/fuzz.ts";
import { formatMarkdown, replaceSection } from "./run.ts";

const BENCHMARKS_MD = fileURLToPath(new URL("../BENCHMARKS.md", import.meta.url));

function counts(record: Record<string, number>): string {
  return Object.entries(record).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n.toLocaleString("en")}`).join(
    ", ",
  );
}

/** The BENCHMARKS.md section for a finished run. */
export function fuzzSection(r: FuzzReport, routeEvery: number): string {
  return [
    "Seeded stacked mutations (1–3 of bit flips, inserted/deleted/duplicated bytes, truncation, varint tampering,",
    "random overwrites) of the committed profiles (raw and gzip) and of small crafted profiles sitting just inside",
    "the upload budget's limits, decoded under the upload limits. Each input must decode within the budget (then",
    "pass the server's checks; every 16th also the merge preparation and an encode/decode round trip) or fail with a",
    `one-line ProfileError; one in ${routeEvery} also goes through the upload route, checked in a decode-pool Worker.`,
    "",
    "| inputs | seed | time | rate | outcomes | through the route | slowest input | failures |",
    "|---|---|---|---|---|---|---|---|",
    `| ${r.inputs.toLocaleString("en")} | ${r.seed} | ${r.seconds.toFixed(0)} s | ${
      Math.round(r.rate).toLocaleString("en")
    }/s | ${counts(r.outcomes)} | ${r.routed.toLocaleString("en")}: ${counts(r.routeStatuses)} | ${
      r.slowestMs.toFixed(0)
    } ms | ${r.failures.length} |`,
    "",
    `Reproduce: \`deno task fuzz --inputs ${r.inputs} --seed ${r.seed} --route-every ${routeEvery}\``,
  ].join("\n");
}

async function main(): Promise<number> {
  const { values } = benchArgs(import.meta.url, {
    options: {
      inputs: { type: "string", default: "1000000" },
      seed: { type: "string", default: "1" },
      "route-every": { type: "string", default: "100" },
      "no-write": { type: "boolean", default: false },
    },
  });
  const routeEvery = Number(values["route-every"]);
  const report = await runFuzz({
    seed: Number(values.seed),
    inputs: Number(values.inputs),
    routeEvery,
    onProgress: (r) =>
      console.log(
        `${r.inputs.toLocaleString("en")} inputs, ${r.seconds.toFixed(0)} s (${Math.round(r.rate)}/s): ` +
          `${counts(r.outcomes)}; ${r.failures.length} failures`,
      ),
  });
  const section = fuzzSection(report, routeEvery);
  console.log(section);
  for (const failure of report.failures.slice(0, 20)) console.error(`FAIL ${failure}`);
  if (report.failures.length > 0) return 1;
  if (!values["no-write"]) {
    await Deno.writeTextFile(BENCHMARKS_MD, replaceSection(await Deno.readTextFile(BENCHMARKS_MD), "fuzz", section));
    await formatMarkdown(BENCHMARKS_MD);
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
