/**
 * `deno task bench:cold-start` (issue 13, also part of `deno task bench`): start-up time of `autopgo --version` and
 * `autopgo download` (against a refused port with `--ignore-errors`, so start-up and one request are timed) from
 * an empty Deno cache. A fresh `DENO_DIR` is made; the first run of each command fills it (for `deno run main.ts`
 * that includes downloading the npm packages of deno.lock, so it needs the npm registry once) and is reported
 * apart; then every command runs `--runs` more times in turn, whole process under GNU time (bench/measure.ts).
 * Two builds: from source (`deno run -A main.ts`) and the single-file `autopgo.js` release users run
 * (build/bundle.ts, as compile.sh's `js` target, run as `deno run -A autopgo.js`; its first run also unpacks its
 * modules into a fresh cache folder, `XDG_CACHE_HOME`). Target: ≤100 ms wall, median. Written into BENCHMARKS.md
 * between `<!-- bench:cold-start:start -->` and `<!-- bench:cold-start:end -->`.
 *
 * Usage: deno task bench:cold-start [--runs 15] [--no-bundle] [--no-write]
 *
 * @module
 */

import { benchArgs } from "./cli.ts";
import { fileURLToPath } from "node:url";
import { machineLine } from "./ingest.ts";
import { type Measurement, measureOnce, median, requireGnuTime, type Side } from "./measure.ts";
import { formatMarkdown, replaceSection } from "./run.ts";
import { buildBundle } from "../build/bundle.ts";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const BENCHMARKS_MD = `${REPO}BENCHMARKS.md`;

/** The CLI arguments timed: `--version`, and a download that fails at once on a refused port. */
const COMMANDS: [string, string[]][] = [
  ["--version", ["--version"]],
  ["download", ["download", "nosuch", "-o", "-", "--api-url", "http://127.0.0.1:9", "--ignore-errors"]],
];

/** Options of {@link measureColdStart}. */
export interface ColdStartOptions {
  /** Measured runs per command after the first (default 15). */
  runs?: number;
  /** Also time the single-file bundle (default true). */
  bundle?: boolean;
  log?: (line: string) => void;
}

/** Measures every build and command from a fresh `DENO_DIR`; resolves the BENCHMARKS.md section. */
export async function measureColdStart(options: ColdStartOptions = {}): Promise<string> {
  const runs = options.runs ?? 15;
  const log = options.log ?? console.error;
  requireGnuTime();
  const machine = await machineLine();
  const scratch = await Deno.makeTempDir({ prefix: "autopgo-cold-start-" });
  try {
    const env = { DENO_DIR: `${scratch}/deno-dir`, XDG_CACHE_HOME: `${scratch}/cache`, NO_COLOR: "1" };
    // [label, deno run flags and file]: the bundle runs without the repository's deno.json, as release users run it.
    const builds: [string, string[]][] = [["from source: `deno run -A main.ts`", [`${REPO}main.ts`]]];
    let bundleNote = "";
    if (options.bundle ?? true) {
      const { size, modules } = await buildBundle({
        entry: `${REPO}main.ts`,
        output: `${scratch}/autopgo.js`,
        cwd: REPO,
      });
      builds.push(["bundle: `deno run -A autopgo.js`", ["--no-config", `${scratch}/autopgo.js`]]);
      bundleNote = ` autopgo.js is ${(size / 1024 / 1024).toFixed(1)} MiB; its first run also unpacks its ${modules} ` +
        `modules into an empty cache folder.`;
    }
    const sides = builds.flatMap(([build, file]) =>
      COMMANDS.map(([name, args]): Side & { build: string; shown: string } => ({
        name: `${build} ${name}`,
        build,
        shown: args.join(" "),
        command: Deno.execPath(),
        args: ["run", "-A", ...file, ...args],
        env,
      }))
    );
    // The yardstick: bare Deno start-up, `deno run` of an empty module, timed in the same rounds.
    await Deno.writeTextFile(`${scratch}/empty.js`, "");
    const bare: Side = { name: "bare deno", command: Deno.execPath(), args: ["run", `${scratch}/empty.js`], env };
    const first = new Map<Side, Measurement>();
    for (const side of sides) {
      log(`cold start: first run of ${side.name} (fills the empty DENO_DIR)`);
      first.set(side, await measureOnce(side, scratch));
    }
    await measureOnce(bare, scratch);
    const all = [bare, ...sides];
    const results = new Map<Side, Measurement[]>(all.map((s) => [s, []]));
    for (let i = 0; i < runs; i++) {
      for (const side of i % 2 ? [...all].reverse() : all) results.get(side)!.push(await measureOnce(side, scratch));
    }
    const bareRuns = results.get(bare)!;
    const row = (build: string, args: string, firstRun: string, ms: Measurement[]) => {
      const wall = ms.map((m) => m.wallMs), med = median(wall);
      const vsBare = median(ms.map((m, i) => m.wallMs / bareRuns[i].wallMs));
      const cells = [
        build,
        args,
        firstRun,
        `**${med.toFixed(0)} ms** (${Math.min(...wall).toFixed(0)}–${Math.max(...wall).toFixed(0)})`,
        `${vsBare.toFixed(2)}×`,
        `${median(ms.map((m) => m.cpuMs)).toFixed(0)} ms`,
        `${(median(ms.map((m) => m.peakRssKiB)) / 1024).toFixed(0)} MiB`,
        ms === bareRuns ? "" : med <= 100 ? "met" : "not met",
      ];
      return `| ${cells.join(" | ")} |`;
    };
    const rows = sides.map((side) =>
      row(
        side.build,
        `\`${side.shown}\``,
        `${(first.get(side)!.wallMs / 1000).toFixed(1)} s`,
        results.get(side)!,
      )
    );
    rows.push(row("bare Deno: `deno run empty.js`", "", "", bareRuns));
    return [
      `Measured ${new Date().toISOString().slice(0, 16)}Z on ${machine}; the machine was shared with other work ` +
      `(wall times carry that load; CPU time much less).${bundleNote}`,
      "",
      "| build | arguments | first run (empty DENO_DIR) | wall, median (min–max) | wall vs bare Deno | CPU, median | peak RSS, median | ≤100 ms |",
      "|---|---|---|---|---|---|---|---|",
      ...rows,
      "",
      `${runs} runs per command after the first, commands in turn (order reversed every other round); whole ` +
      `processes under GNU time with \`DENO_DIR\` set to a directory that was empty before the first run. ` +
      `"vs bare Deno" is the median of per-round ratios to \`deno run\` of an empty module timed in the same ` +
      `rounds: what autopgo adds to Deno's own start-up, less sensitive to the machine's load than wall time.`,
      "",
      `Reproduce: \`deno task bench:cold-start --runs ${runs}${options.bundle === false ? " --no-bundle" : ""}\``,
    ].join("\n");
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
}

async function main(): Promise<void> {
  const { values } = benchArgs(import.meta.url, {
    options: {
      runs: { type: "string", default: "15" },
      "no-bundle": { type: "boolean", default: false },
      "no-write": { type: "boolean", default: false },
    },
  });
  const body = await measureColdStart({ runs: Number(values.runs), bundle: !values["no-bundle"] });
  console.log(body);
  if (!values["no-write"]) {
    await Deno.writeTextFile(BENCHMARKS_MD, replaceSection(await Deno.readTextFile(BENCHMARKS_MD), "cold-start", body));
    await formatMarkdown(BENCHMARKS_MD);
  }
}

if (import.meta.main) await main();
