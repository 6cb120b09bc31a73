/**
 * `deno task bench`: autopgo's merge engine side by side with github.com/google/pprof/profile (the original autopgo
 * worker's Parse → Merge → Write path), whole process against whole process, on real labelled profiles from the
 * hotpath fixture. Two cases: merge N profiles, and merge one upload into a large base. Runs alternate A B A B …;
 * wall time and peak RSS medians and per-pair ratios are printed and written into BENCHMARKS.md between the
 * `<!-- bench:merge:start -->` / `<!-- bench:merge:end -->` markers (phases: `bench:phases`).
 * Before it, issue 13's cold start (bench/cold_start.ts) and the cost of one upload as the base grows
 * (bench/scaling.ts), each in its own section; the 10-minute steady load is `deno task bench:steady`.
 *
 * Usage: deno task bench [--runs 5] [--warmups 1] [--profiles 100] [--units 50000] [--no-phases] [--no-write]
 *                        [--v8-flags FLAGS]   (passed to our `deno run`; default --max-semi-space-size=4, the flag the
 *                                              release binaries carry (compile.sh), so our side runs as users run it;
 *                                              --v8-flags= for V8's defaults)
 *                        [--section NAME]     (BENCHMARKS.md section for the table, default "merge")
 *                        [--autopgo-bin PATH]   (a compiled autopgo instead of `deno run main.ts`)
 *                        [--no-cold-start] [--no-scaling]
 *
 * @module
 */

import { benchArgs } from "./cli.ts";
import { fileURLToPath } from "node:url";
import { decodeProfile } from "../core/pprof/decode.ts";
import { goBinary } from "../tests/support/go.ts";
import { benchData, DEFAULT_DATA_PARAMS, sizeStats } from "./data.ts";
import { measureColdStart } from "./cold_start.ts";
import { measureScaling } from "./scaling.ts";
import { compareSides, type Comparison, type Measurement, median, requireGnuTime, type Side } from "./measure.ts";
import { fusedPath, medianPhases, objectPath, phasesTable } from "./phases.ts";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const BENCHMARKS_MD = `${REPO}BENCHMARKS.md`;
/** The V8 flags the release binaries are compiled with (compile.sh) and `deno task start` sets: how users run autopgo. */
const USER_V8_FLAGS = "--max-semi-space-size=4";

/** Replaces the text between `<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->` (appends the pair if absent). */
export function replaceSection(doc: string, name: string, body: string): string {
  const start = `<!-- bench:${name}:start -->`, end = `<!-- bench:${name}:end -->`;
  const block = `${start}\n${body.trim()}\n${end}`;
  const i = doc.indexOf(start), j = doc.indexOf(end);
  if (i >= 0 && j > i) return doc.slice(0, i) + block + doc.slice(j + end.length);
  return `${doc.trimEnd()}\n\n${block}\n`;
}

/** Formats a markdown file with `deno fmt` so generated tables keep `deno task check` clean. */
export async function formatMarkdown(path: string): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", path], stderr: "piped" }).output();
  if (!out.success) throw new Error(`deno fmt ${path} failed: ${new TextDecoder().decode(out.stderr).trim()}`);
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

function mib(kibValue: number): string {
  return `${(kibValue / 1024).toFixed(0)} MiB`;
}

/** Sample count and per-type value totals: a cheap check that both sides produced the same merge. */
function digest(path: string): string {
  const p = decodeProfile(Deno.readFileSync(path));
  const totals = p.sampleType.map(() => 0);
  for (const s of p.sample) s.value.forEach((v, i) => totals[i] += Number(v));
  return `${p.sample.length} samples, totals ${totals.join("/")}`;
}

async function machineLine(): Promise<string> {
  const text = async (cmd: string, args: string[]) =>
    new TextDecoder().decode((await new Deno.Command(cmd, { args, stdout: "piped" }).output()).stdout).trim();
  const cpu = (await Deno.readTextFile("/proc/cpuinfo")).match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU";
  const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  const go = await text(goBinary()!, ["version"]);
  return `${navigator.hardwareConcurrency} × ${cpu}; Deno ${Deno.version.deno}; ${go}; load average at start ${load}`;
}

function caseRow(name: string, inputs: string, c: Comparison): string {
  const med = (ms: Measurement[], pick: (m: Measurement) => number) => median(ms.map(pick));
  const wall = (m: Measurement) => m.wallMs, cpu = (m: Measurement) => m.cpuMs, rss = (m: Measurement) => m.peakRssKiB;
  const wallRatio = median(c.wallRatios);
  const cells = [
    name,
    inputs,
    `${med(c.a, wall).toFixed(0)} ms`,
    `${med(c.b, wall).toFixed(0)} ms`,
    `**${wallRatio.toFixed(2)}×** (${(1 / wallRatio).toFixed(2)}× faster)`,
    `${med(c.a, cpu).toFixed(0)} ms`,
    `${med(c.b, cpu).toFixed(0)} ms`,
    `${median(c.cpuRatios).toFixed(2)}×`,
    mib(med(c.a, rss)),
    mib(med(c.b, rss)),
    `**${median(c.rssRatios).toFixed(2)}×**`,
  ];
  return `| ${cells.join(" | ")} |`;
}

function verdict(c: Comparison): string {
  const speed = 1 / median(c.wallRatios), memory = median(c.rssRatios);
  const ok = speed >= 2 && memory <= 0.5;
  return `${ok ? "met" : "not met"} (${speed.toFixed(2)}× faster, ${memory.toFixed(2)}× memory)`;
}

async function main(): Promise<void> {
  const { values: flags } = benchArgs(import.meta.url, {
    options: {
      runs: { type: "string", default: "5" },
      warmups: { type: "string", default: "1" },
      profiles: { type: "string", default: String(DEFAULT_DATA_PARAMS.profiles) },
      units: { type: "string", default: String(DEFAULT_DATA_PARAMS.unitsPerProfile) },
      "no-phases": { type: "boolean", default: false },
      "no-write": { type: "boolean", default: false },
      "autopgo-bin": { type: "string" },
      "v8-flags": { type: "string", default: USER_V8_FLAGS },
      section: { type: "string", default: "merge" },
      "no-cold-start": { type: "boolean", default: false },
      "no-scaling": { type: "boolean", default: false },
    },
  });
  const runs = Number(flags.runs), warmups = Number(flags.warmups);
  const v8Args = flags["v8-flags"] ? [`--v8-flags=${flags["v8-flags"]}`] : [];
  if (!/^[a-z][a-z0-9-]*$/.test(flags.section)) throw new Error(`--section ${flags.section}: use a-z0-9-`);
  if (!(runs >= 1 && warmups >= 0)) throw new Error("--runs must be >= 1 and --warmups >= 0");
  requireGnuTime();
  if (!goBinary()) throw new Error("go not found: the benchmark needs Go to generate profiles and run google/pprof");
  const params = { ...DEFAULT_DATA_PARAMS, profiles: Number(flags.profiles), unitsPerProfile: Number(flags.units) };
  const log = (line: string) => console.error(line);
  const issue13: [string, string][] = [];
  if (!flags["no-cold-start"]) issue13.push(["cold-start", await measureColdStart({ log })]);
  if (!flags["no-scaling"]) issue13.push(["scaling", await measureScaling({ log })]);
  for (const [, body] of issue13) console.log(`${body}\n`);
  console.log("Steady load (10 minutes, 20 scrapers) is its own task: deno task bench:steady --minutes 10\n");
  const machine = await machineLine();
  const scratch = await Deno.makeTempDir({ prefix: "autopgo-bench-run-" });
  try {
    const data = await benchData(params, log, scratch);
    const sizes = await sizeStats(data.profiles), baseSize = (await Deno.stat(data.base)).size;
    const uploadSize = (await Deno.stat(data.upload)).size;
    const ours = (args: string[]): Side =>
      flags["autopgo-bin"] ? { name: "autopgo", command: flags["autopgo-bin"], args } : {
        name: "autopgo",
        command: Deno.execPath(),
        args: ["run", ...v8Args, "--allow-read", "--allow-write", "--allow-env", `${REPO}main.ts`, ...args],
      };
    const cases = [
      {
        name: "merge-many",
        inputs: `${data.profiles.length} profiles, ${kib(sizes.total / data.profiles.length)} avg ` +
          `(${kib(sizes.min)}–${kib(sizes.max)})`,
        go: {
          name: "google/pprof",
          command: data.pprofMerge,
          args: ["merge-many", `${scratch}/go-many.pb.gz`, ...data.profiles],
        },
        ours: ours(["merge", "-o", `${scratch}/ours-many.pb.gz`, ...data.profiles]),
        outputs: [`${scratch}/go-many.pb.gz`, `${scratch}/ours-many.pb.gz`],
      },
      {
        name: "merge-into",
        inputs: `base ${kib(baseSize)} + upload ${kib(uploadSize)}`,
        go: {
          name: "google/pprof",
          command: data.pprofMerge,
          args: ["merge-into", `${scratch}/go-into.pb.gz`, data.base, data.upload],
        },
        ours: ours(["merge", "-o", `${scratch}/ours-into.pb.gz`, data.upload, data.base]),
        outputs: [`${scratch}/go-into.pb.gz`, `${scratch}/ours-into.pb.gz`],
      },
    ];
    const rows: string[] = [], verdicts: string[] = [], checks: string[] = [];
    for (const c of cases) {
      log(`${c.name}: ${warmups} warm-up pair(s), ${runs} measured pairs`);
      const result = await compareSides(c.go, c.ours, {
        runs,
        warmups,
        scratchDir: scratch,
        onRun: (side, m) =>
          log(
            `  ${side.name.padEnd(12)} wall ${m.wallMs.toFixed(0)} ms  cpu ${m.cpuMs.toFixed(0)} ms  ${
              mib(m.peakRssKiB)
            }`,
          ),
      });
      rows.push(caseRow(c.name, c.inputs, result));
      verdicts.push(`${c.name}: ${verdict(result)}`);
      const [goDigest, ourDigest] = c.outputs.map(digest);
      if (goDigest !== ourDigest) {
        throw new Error(`${c.name}: outputs differ: google/pprof ${goDigest}, ours ${ourDigest}`);
      }
      checks.push(`${c.name}: both outputs hold ${goDigest}`);
    }
    const command = `deno task bench --runs ${runs} --warmups ${warmups} --profiles ${params.profiles} ` +
      `--units ${params.unitsPerProfile}${flags["autopgo-bin"] ? ` --autopgo-bin ${flags["autopgo-bin"]}` : ""}` +
      `${v8Args.length ? ` --v8-flags=${flags["v8-flags"]}` : ""}` +
      `${flags.section !== "merge" ? ` --section ${flags.section}` : ""}${flags["no-phases"] ? " --no-phases" : ""}`;
    const ourCommand = flags["autopgo-bin"]
      ? `${flags["autopgo-bin"]} merge -o OUT IN…`
      : `deno run ${
        v8Args.map((a) => a + " ").join("")
      }--allow-read --allow-write --allow-env main.ts merge -o OUT IN…`;
    const mergeSection = [
      `Measured ${new Date().toISOString().slice(0, 16)}Z on ${machine}.`,
      "",
      "| case | inputs | Go wall | ours wall | wall ratio (ours/Go) | Go CPU | ours CPU | CPU ratio | " +
      "Go peak RSS | ours peak RSS | RSS ratio (ours/Go) |",
      "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
      ...rows,
      "",
      `Medians of ${runs} alternated runs per side after ${warmups} warm-up pair(s); ratios are medians of per-pair ` +
      `ratios. "Go" is google/pprof; CPU is user + system time (the machine is shared, so wall time carries noise ` +
      `that CPU time largely avoids). Whole processes: \`bench/go\` (\`pprofmerge\`: profile.Parse each, profile.Merge, Write) against ` +
      `\`${ourCommand}\` (Deno start-up included${
        flags["v8-flags"] === USER_V8_FLAGS
          ? "; V8 flags as in the release binaries, so our side runs as users run it"
          : ""
      }). Target ≥2× faster with ≤0.5× memory: ${verdicts.join("; ")}.`,
      `Sanity: ${checks.join("; ")}.`,
      "",
      `Reproduce: \`${command}\``,
    ].join("\n");
    let doc = await Deno.readTextFile(BENCHMARKS_MD).catch(() => "# Benchmarks\n");
    for (const [name, body] of issue13) doc = replaceSection(doc, name, body);
    doc = replaceSection(doc, flags.section, mergeSection);
    console.log(mergeSection);
    if (!flags["no-phases"]) {
      log("phases: timing the engine in-process");
      const many = data.profiles, into = [data.upload, data.base];
      const table = phasesTable([
        { name: `fused, merge-many (${many.length})`, times: medianPhases(fusedPath, many, 3) },
        { name: "fused, merge-into", times: medianPhases(fusedPath, into, 5) },
        { name: `object, merge-many (${many.length})`, times: medianPhases(objectPath, many, 3) },
        { name: "object, merge-into", times: medianPhases(objectPath, into, 5) },
      ]);
      const phasesSection =
        `In-process medians (\`bench/phases.ts\`, same data, Deno ${Deno.version.deno}). "fused" is ` +
        `what \`autopgo merge\` runs (\`EncodedProfileMerger\`: decode and merge on the wire format); "object" ` +
        `decodes to \`Profile\` objects, merges with \`ProfileMerger\` and encodes with \`encodeProfile\`.\n\n${table}`;
      doc = replaceSection(doc, "phases", phasesSection);
      console.log(`\n${phasesSection}`);
    }
    if (!flags["no-write"]) {
      await Deno.writeTextFile(BENCHMARKS_MD, doc);
      await formatMarkdown(BENCHMARKS_MD);
      log(`wrote ${BENCHMARKS_MD}`);
    }
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    Deno.exit(1);
  }
}
