/**
 * `deno run -A bench/decay_pgo.ts [--days 4] [--half-life-hours 24]` (issue 14): what decay changes
 * in a `go build -pgo` binary. Two real workloads of the hotpath fixture — only its sort endpoint,
 * then only its hash endpoint, `--days` apart — are merged by the worker (processUpload with
 * retention windows, injected clock) into two `default.pgo`: undecayed (every window weighs 1) and
 * decayed (`--half-life`). For each it prints the hot call sites `explain` lists (99% CDF), then
 * builds the fixture with each profile (`-gcflags=-d=pgodebug=1`) and compares the compiler's PGO
 * inlining decisions ("hot-budget check allows inlining"): every call site inlined by one build and
 * not the other must be a hot call site of that profile and not of the other. The binaries' hashes
 * are printed too. Needs Go.
 *
 * @module
 */

import { benchArgs } from "./cli.ts";
import { openMemBlobStore } from "../adapters/blob/mem_blob.ts";
import { runExplain } from "../cmd/explain.ts";
import { NO_METRICS } from "../core/metrics.ts";
import { stagingKey } from "../core/pipeline/keys.ts";
import { readBase } from "../core/pipeline/profiles_view.ts";
import type { WindowConfig } from "../core/pipeline/windows.ts";
import { processUpload } from "../core/pipeline/worker_events.ts";
import { fixtureTempDir, generateProfiles, HOTPATH_DIR } from "../tests/support/fixtures.ts";
import { runGo } from "../tests/support/go.ts";
import { sha256Hex } from "../core/hex.ts";

const HOUR = 3_600_000;
const DAY0 = Date.UTC(2026, 2, 2, 9, 30);

/** Builds `default.pgo` from the two workloads, `days` apart, under `windows` (minus the clock). */
async function rebuild(
  paths: [string, string],
  days: number,
  halfLifeMs: number | undefined,
  out: string,
): Promise<void> {
  const store = await openMemBlobStore("mem://");
  const clock = { now: DAY0 };
  const windows: WindowConfig = { windowMs: HOUR, halfLifeMs, clock: () => new Date(clock.now) };
  const deps = {
    store,
    pruneConfig: [],
    compaction: "pgo" as const,
    windows,
    sleep: () => Promise.resolve(),
    random: Math.random,
    metrics: NO_METRICS,
    publisher: { publish: () => Promise.resolve() },
  };
  for (const [i, path] of paths.entries()) {
    if (i === 1) clock.now = DAY0 + days * 24 * HOUR;
    const key = stagingKey("shop", BigInt(clock.now) * 1_000_000n, `u${i}`);
    await store.write(key, await Deno.readFile(path), { ifAbsent: true });
    await processUpload(deps, "shop", key);
  }
  await Deno.writeFile(out, (await readBase(store, "shop"))!.data);
}

/** The compiler's PGO inlining decisions: `caller → callee @ file:line`. */
async function pgoInlines(profile: string, binary: string): Promise<Set<string>> {
  const { stderr } = await runGo(
    ["build", "-trimpath", "-o", binary, `-pgo=${profile}`, "-gcflags=-d=pgodebug=1", "."],
    { cwd: HOTPATH_DIR, env: { GOFLAGS: "" } },
  );
  const out = new Set<string>();
  for (
    const m of stderr.matchAll(
      /hot-budget check allows inlining for call (\S+) \(cost \d+\) at (\S+) in function (.+)$/gm,
    )
  ) {
    out.add(`${m[3]} → ${m[1]} @ ${m[2]}`);
  }
  return out;
}

async function sha(path: string): Promise<string> {
  return await sha256Hex(await Deno.readFile(path), 8);
}

if (import.meta.main) {
  const { values } = benchArgs(import.meta.url, {
    options: { days: { type: "string" }, "half-life-hours": { type: "string" } },
  });
  const days = Number(values.days ?? 4);
  const halfLifeMs = Number(values["half-life-hours"] ?? 24) * HOUR;
  const [sortProfile] = await generateProfiles({ count: 1, durationMs: 0, units: 6000, rate: 250, only: "/api/sort" });
  const [hashProfile] = await generateProfiles({ count: 1, durationMs: 0, units: 8000, rate: 250, only: "/api/hash" });
  const dir = await fixtureTempDir();
  const files = { flat: `${dir}/undecayed.pgo`, decayed: `${dir}/decayed.pgo` };
  await rebuild([sortProfile, hashProfile], days, undefined, files.flat);
  await rebuild([sortProfile, hashProfile], days, halfLifeMs, files.decayed);
  const hot: Record<string, Set<string>> = {};
  for (const [name, file] of Object.entries(files)) {
    const report = await runExplain(file, { threshold: 99 });
    hot[name] = new Set(report.hotEdges.map((e) => `${e.caller} → ${e.callee}`));
    console.log(`${name}: ${report.edgeCount} edges, ${report.hotEdges.length} hot; windows ${report.windows?.from}..`);
  }
  const inlines: Record<string, Set<string>> = {};
  for (const [name, file] of Object.entries(files)) inlines[name] = await pgoInlines(file, `${dir}/hotpath-${name}`);
  await runGo(["build", "-trimpath", "-o", `${dir}/hotpath-off`, "-pgo=off", "."], {
    cwd: HOTPATH_DIR,
    env: { GOFLAGS: "" },
  });
  const only = (a: Set<string>, b: Set<string>) => [...a].filter((x) => !b.has(x)).sort();
  const site = (decision: string) => decision.split(" @ ")[0];
  let consistent = true;
  for (const [name, other] of [["flat", "decayed"], ["decayed", "flat"]]) {
    const extra = only(inlines[name], inlines[other]);
    console.log(`\ninlined only with the ${name === "flat" ? "undecayed" : "decayed"} profile (${extra.length}):`);
    for (const d of extra) {
      const hotHere = hot[name].has(site(d)), hotThere = hot[other].has(site(d));
      consistent &&= hotHere && !hotThere;
      console.log(`  ${d}  [hot here: ${hotHere}, hot in the other: ${hotThere}]`);
    }
  }
  console.log(`\ninlined by both: ${[...inlines.flat].filter((d) => inlines.decayed.has(d)).length}`);
  console.log(`every difference follows the edge weights: ${consistent}`);
  for (const name of ["off", "flat", "decayed"]) {
    console.log(`sha256 hotpath-${name}: ${await sha(`${dir}/hotpath-${name}`)}`);
  }
}
