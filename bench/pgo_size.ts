/**
 * PGO compaction benchmark: size of the full merged `default.pgo` (what the original autopgo stores) against the
 * PGO-compacted one (`compactForPgo`), on the real labelled bench profiles of `bench/data.ts`, and `go build -pgo`
 * wall time with each (a fresh GOCACHE per build, so every package is compiled), plus `go tool preprofile` time.
 * Before any figure is written it checks that the compiler input is identical: `go tool preprofile` output of
 * both files must be byte-identical (and the two binaries are compared too).
 *
 * Writes its section between `<!-- bench:pgo:start -->` / `<!-- bench:pgo:end -->` in BENCHMARKS.md (appended when
 * absent; other sections untouched).
 *
 * Usage: deno run -A bench/pgo_size.ts [--builds 2] [--preprofile-runs 5] [--subsets 10,30] [--no-write]
 *
 * @module
 */

import { benchArgs } from "./cli.ts";
import { fileURLToPath } from "node:url";
import { decodeProfile } from "../core/pprof/decode.ts";
import { encodeProfile } from "../core/pprof/encode.ts";
import { mergeProfiles } from "../core/pprof/merge.ts";
import { compactForPgo } from "../core/pprof/compact_pgo.ts";
import { edgeMap } from "../core/pprof/edges.ts";
import type { Profile } from "../core/pprof/profile.ts";
import { goBinary } from "../tests/support/go.ts";
import { HOTPATH_DIR } from "../tests/support/fixtures.ts";
import { benchData, DEFAULT_DATA_PARAMS } from "./data.ts";
import { median } from "./measure.ts";
import { formatMarkdown, replaceSection } from "./run.ts";
import { sha256Hex } from "../core/hex.ts";

const BENCHMARKS_MD = fileURLToPath(new URL("../BENCHMARKS.md", import.meta.url));

/** One row of the size table. */
interface SizeRow {
  profiles: number;
  inputBytes: number;
  fullBytes: number;
  compactBytes: number;
  /** Compacted with `addresses: "keep"` (no address canonicalization), for comparison. */
  keptAddressBytes: number;
  fullSamples: number;
  compactSamples: number;
  compactMs: number;
}

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Runs a command, returns stdout and wall milliseconds; throws one line on failure. */
async function timed(cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const started = performance.now();
  const out = await new Deno.Command(cmd, { args, cwd: opts.cwd, env: opts.env, stdout: "piped", stderr: "piped" })
    .output();
  const ms = performance.now() - started;
  if (!out.success) {
    const tail = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ");
    throw new Error(`${cmd} ${args.join(" ")} failed (exit ${out.code}): ${tail}`);
  }
  return { stdout: out.stdout, ms };
}

function sizeRow(profiles: Profile[], inputBytes: number): { row: SizeRow; full: Uint8Array; compact: Uint8Array } {
  const merged = mergeProfiles(profiles);
  const started = performance.now();
  const compacted = compactForPgo(merged);
  const compactMs = performance.now() - started;
  const full = encodeProfile(merged);
  const compact = encodeProfile(compacted);
  const keptAddressBytes = encodeProfile(compactForPgo(merged, { addresses: "keep" })).length;
  return {
    row: {
      profiles: profiles.length,
      inputBytes,
      fullBytes: full.length,
      compactBytes: compact.length,
      keptAddressBytes,
      fullSamples: merged.sample.length,
      compactSamples: compacted.sample.length,
      compactMs,
    },
    full,
    compact,
  };
}

async function main(): Promise<void> {
  const { values: flags } = benchArgs(import.meta.url, {
    options: {
      builds: { type: "string", default: "2" },
      "preprofile-runs": { type: "string", default: "5" },
      subsets: { type: "string", default: "10,30" },
      "no-write": { type: "boolean", default: false },
    },
  });
  const go = goBinary();
  if (!go) throw new Error("bench/pgo_size.ts needs Go ≥ 1.23 (go not found)");
  const log = (line: string) => console.error(line);
  const data = await benchData(DEFAULT_DATA_PARAMS, log);
  const inputs = data.profiles.map((p) => Deno.readFileSync(p));
  const profiles = inputs.map((bytes) => decodeProfile(bytes));
  const counts = [...flags.subsets.split(",").map(Number).filter((n) => n > 0 && n < profiles.length), profiles.length];

  const rows: SizeRow[] = [];
  let last: { full: Uint8Array; compact: Uint8Array } | undefined;
  for (const n of counts) {
    const inputBytes = inputs.slice(0, n).reduce((a, b) => a + b.length, 0);
    const r = sizeRow(profiles.slice(0, n), inputBytes);
    rows.push(r.row);
    last = r;
    log(`sizes: ${n} profiles: full ${kib(r.row.fullBytes)}, compacted ${kib(r.row.compactBytes)}`);
  }
  const { full, compact } = last!;
  const edges = edgeMap(decodeProfile(full));

  const dir = await Deno.makeTempDir({ prefix: "autopgo-pgo-bench-" });
  try {
    for (const [name, bytes] of [["full", full], ["compacted", compact]] as const) {
      await Deno.mkdir(`${dir}/${name}`);
      await Deno.writeFile(`${dir}/${name}/default.pgo`, bytes);
    }
    const env = { GOTOOLCHAIN: "local", GOFLAGS: "", CGO_ENABLED: "0" };
    // 1. Identical compiler input, or no figures at all.
    const pre = { full: [] as number[], compacted: [] as number[] };
    let preText = new Uint8Array();
    for (let i = 0; i < Number(flags["preprofile-runs"]); i++) {
      for (const name of ["full", "compacted"] as const) {
        const r = await timed(go, ["tool", "preprofile", "-i", `${dir}/${name}/default.pgo`], { env });
        if (name === "full") preText = r.stdout;
        else if (await sha256Hex(r.stdout) !== await sha256Hex(preText)) {
          throw new Error("go tool preprofile output differs between full and compacted: compaction is lossy");
        }
        pre[name].push(r.ms);
      }
    }
    // 2. go build -pgo with a fresh GOCACHE per build, alternating.
    const build = { full: [] as number[], compacted: [] as number[] };
    const binaries: Record<string, string> = {};
    for (let i = 0; i < Number(flags.builds); i++) {
      for (const name of ["full", "compacted"] as const) {
        const cache = `${dir}/cache-${name}-${i}`;
        const out = `${dir}/bin-${name}-${i}`;
        log(`build ${i + 1}/${flags.builds}: -pgo=${name}/default.pgo, fresh GOCACHE`);
        const r = await timed(
          go,
          ["build", "-trimpath", `-pgo=${dir}/${name}/default.pgo`, "-o", out, "."],
          { cwd: HOTPATH_DIR, env: { ...env, GOCACHE: cache } },
        );
        build[name].push(r.ms);
        binaries[name] = await sha256Hex(await Deno.readFile(out));
        await Deno.remove(cache, { recursive: true });
      }
    }
    const identical = binaries.full === binaries.compacted;
    const goVersion = new TextDecoder().decode((await timed(go, ["version"], { env })).stdout).trim();
    const section = render(
      rows,
      edges.byWeight.length,
      await sha256Hex(preText),
      pre,
      build,
      identical,
      binaries.full,
      goVersion,
    );
    console.log(section);
    if (!flags["no-write"]) {
      const doc = await Deno.readTextFile(BENCHMARKS_MD).catch(() => "# Benchmarks\n");
      await Deno.writeTextFile(BENCHMARKS_MD, replaceSection(doc, "pgo", section));
      await formatMarkdown(BENCHMARKS_MD);
      log(`wrote the bench:pgo section of ${BENCHMARKS_MD}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function render(
  rows: SizeRow[],
  edgeCount: number,
  preprofileSha: string,
  pre: { full: number[]; compacted: number[] },
  build: { full: number[]; compacted: number[] },
  identicalBinaries: boolean,
  binarySha: string,
  goVersion: string,
): string {
  const load = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  const p = DEFAULT_DATA_PARAMS;
  const out = [
    "## PGO-lossless compaction: full vs compacted `default.pgo`",
    "",
    `Measured ${new Date().toISOString().slice(0, 16)}Z by \`deno run -A bench/pgo_size.ts\` ` +
    `(${goVersion}, ${navigator.hardwareConcurrency} CPUs, load average at end ${load}).`,
    `Data: the merge bench's real labelled profiles (\`hotpath profile -labels -units ${p.unitsPerProfile} -rate ${p.rate}` +
    ` -workers ${p.workers}\`, every sample labelled endpoint/tenant/span ids). "Full" = our merge of the first N profiles`,
    '(what the original autopgo stores as `default.pgo`), "compacted" = `compactForPgo` of it (`autopgo merge --compact`,',
    "the worker's default). Both gzip-encoded by our encoder.",
    "",
    "| merged profiles | inputs | full | compacted | ratio | samples full → compacted | compaction time | " +
    "compacted, addresses kept |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map((r) =>
      `| ${r.profiles} | ${kib(r.inputBytes)} | ${kib(r.fullBytes)} | ${kib(r.compactBytes)} | ` +
      `**${(r.fullBytes / r.compactBytes).toFixed(1)}×** | ${r.fullSamples} → ${r.compactSamples} | ${
        r.compactMs.toFixed(0)
      } ms | ${kib(r.keptAddressBytes)} (${(r.fullBytes / r.keptAddressBytes).toFixed(1)}×) |`
    ),
    "",
    `Compiler input: \`go tool preprofile\` output byte-identical for both files (${edgeCount} edges, SHA-256 ` +
    `\`${preprofileSha.slice(0, 16)}…\`); \`go build -trimpath -pgo\` binaries of \`tests/fixtures/hotpath\` ` +
    (identicalBinaries ? `byte-identical (SHA-256 \`${binarySha.slice(0, 16)}…\`).` : "**DIFFER** (investigate)."),
    "",
    "| largest merge as `default.pgo` | full | compacted |",
    "|---|---:|---:|",
    `| \`go tool preprofile\` (median of ${pre.full.length}) | ${median(pre.full).toFixed(0)} ms | ${
      median(pre.compacted).toFixed(0)
    } ms |`,
    `| \`go build -pgo\`, fresh GOCACHE (median of ${build.full.length}) | ${seconds(median(build.full))} | ${
      seconds(median(build.compacted))
    } |`,
    "",
    "Go ≥ 1.23 parses the profile once per build (`preprofile`) and keys every compile by the preprofile *output*, so",
    "a cold build mostly pays for compiling with PGO, and the profile's size shows in the preprofile step; Go ≤ 1.22",
    "parsed the full profile in every compile invocation (golang/go#58102), where the size matters per package.",
    '"Addresses kept" shows what the per-sample address canonicalization adds (equal-line PCs collapse; see',
    "core/pprof/compact_pgo.ts). The compacted profile keeps both sample types, period and duration, so it still merges",
    "with raw uploads and reads normally in `go tool pprof` (flat/cum of the two innermost frames).",
  ];
  return out.join("\n");
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    console.error(`bench/pgo_size.ts: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
