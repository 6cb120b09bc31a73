/**
 * End-to-end PGO proof: a real Go service under load is scraped through the pipeline (embedded
 * `autopgo server` + `autopgo scrape` in file mode, real processes on 127.0.0.1), its
 * `default.pgo` is downloaded with `autopgo download`, and the service is built with it.
 *
 * Asserts only what must hold: the pipeline produced a profile the Go compiler uses (edges,
 * `go tool preprofile` accepts it and agrees with our edge map, `-d=pgodebug=1` reports PGO
 * inlinings or devirtualizations in the service's package) and the PGO binary differs from the
 * `-pgo=off` one. It also runs the fixture's `BenchmarkWorkload` test binaries built with the
 * profile and without, alternately, and prints the speed-up (no timing assertion: the machine is
 * shared and noisy). A test binary links the package under test as `hotpath`, not `main`, so the
 * benchmark build uses the profile with `main.` function names mapped to `hotpath.` (without that
 * the profile matches nothing in the benchmark and PGO changes nothing).
 *
 * Run: `deno test -A tests/pgo_e2e_test.ts` (prints `PGO e2e: …` figures). Env
 * `AUTOPGO_E2E_SCRAPE_SECONDS` (default 16) sets how long the service is scraped.
 *
 * Skips with a printed reason when Go is missing; fails under CI=true.
 *
 * @module
 */

import { deepStrictEqual as assertEquals, notDeepStrictEqual, ok } from "node:assert/strict";
import { decodeProfile } from "../core/pprof/decode.ts";
import { encodeProfile } from "../core/pprof/encode.ts";
import type { Profile } from "../core/pprof/profile.ts";
import { edgeMap, serializePreprofile } from "../core/pprof/edges.ts";
import { checkPgo } from "../core/pprof/pgo.ts";
import { runGo, skipUnlessGo } from "./support/go.ts";
import { HOTPATH_DIR, startHotpathServer } from "./support/fixtures.ts";
import { runAutopgo } from "./support/cli.ts";
import {
  type AutopgoProcess,
  type AutopgoServer,
  eventually,
  spawnAutopgo,
  startAutopgoServer,
} from "./support/autopgo_processes.ts";

const TEXT = new TextDecoder();

/** Returns a copy of `p` whose function names starting with `from` start with `to` instead. */
function renamePackage(p: Profile, from: string, to: string): Profile {
  const copy = structuredClone(p);
  for (const fn of copy.function) {
    if (fn.name.startsWith(from)) fn.name = to + fn.name.slice(from.length);
  }
  return copy;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Parses `BenchmarkWorkload-N  iters  123 ns/op` lines and returns the median ns/op. */
function medianNsPerOp(output: string): number {
  const values = [...output.matchAll(/^BenchmarkWorkload\S*\s+\d+\s+([\d.]+) ns\/op/gm)].map((m) => Number(m[1]));
  if (values.length === 0) throw new Error(`no BenchmarkWorkload result in:\n${output}`);
  return median(values);
}

Deno.test({
  name: "e2e: scraped default.pgo builds a different, PGO-optimized service",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    if (!skipUnlessGo("PGO end-to-end")) return;
    const scrapeSeconds = Number(Deno.env.get("AUTOPGO_E2E_SCRAPE_SECONDS") ?? "16");
    const dir = await Deno.makeTempDir({ prefix: "autopgo-pgo-e2e-" });
    const service = await startHotpathServer({ duty: 0.6 });
    let serverProcess: AutopgoServer | undefined;
    let scrapeProcess: AutopgoProcess | undefined;
    try {
      const server = serverProcess = await startAutopgoServer();
      const api = server.url;
      const targets = `${dir}/targets.json`;
      await Deno.writeTextFile(targets, JSON.stringify([{ address: service.address }]));
      const scrape = scrapeProcess = spawnAutopgo([
        "scrape",
        "--mode=file",
        "--app=hotpath",
        "--sample-size=1",
        "--duration=3s",
        "--frequency=1s",
        "--port=0",
        "--host=127.0.0.1",
        `--api-url=${api}`,
        targets,
      ]);
      await new Promise((r) => setTimeout(r, scrapeSeconds * 1000));
      await scrape.stop();

      const pgo = `${dir}/default.pgo`;
      let lastError = "";
      await eventually("default.pgo to be downloadable", async () => {
        const run = await runAutopgo(["download", "hotpath", `--api-url=${api}`, "-o", pgo]);
        lastError = run.stderr.trim();
        return run.code === 0;
      }, 60_000).catch((error) => {
        const tail = (p: AutopgoProcess) => p.lines.slice(-8).join("\n");
        throw new Error(
          `${error.message}; last download error: ${lastError}\n--- server log:\n${tail(server)}\n--- scrape log:\n${
            tail(scrape)
          }`,
        );
      });
      const bytes = await Deno.readFile(pgo);
      const profile = decodeProfile(bytes);
      const verdict = checkPgo(profile);
      ok(verdict.usable, `downloaded default.pgo not usable: ${verdict.reasons.join("; ")}`);
      const edges = edgeMap(profile);
      ok(edges.byWeight.length > 10, `only ${edges.byWeight.length} call edges: ${server.lines.slice(-20).join("\n")}`);
      const preprofiled = await runGo(["tool", "preprofile", "-i", pgo]);
      assertEquals(TEXT.decode(preprofiled.stdout), serializePreprofile(edges));
      const maxDepth = Math.max(...profile.sample.map((s) => s.location.length));

      // Build the service with and without the profile.
      const build = async (flag: string) => {
        const out = `${dir}/hotpath-${flag === "off" ? "off" : "pgo"}`;
        await runGo(["build", "-trimpath", `-pgo=${flag}`, "-o", out, "."], { cwd: HOTPATH_DIR, env: { GOFLAGS: "" } });
        return await Deno.readFile(out);
      };
      const withPgo = await build(pgo);
      const withoutPgo = await build("off");
      notDeepStrictEqual(withPgo, withoutPgo, "the PGO build is identical to -pgo=off");
      // The compiler's own account of what the profile changed in the service's package.
      const debug = await runGo(
        ["build", "-o", `${dir}/hotpath-debug`, `-pgo=${pgo}`, "-gcflags=hotpath=-d=pgodebug=1", "."],
        { cwd: HOTPATH_DIR, env: { GOFLAGS: "" } },
      );
      const inlined = debug.stderr.match(/hot-budget check allows inlining/g)?.length ?? 0;
      const devirtualized = debug.stderr.match(/PGO devirtualizing/g)?.length ?? 0;
      ok(inlined + devirtualized > 0, `the profile changed no compiler decision:\n${debug.stderr.slice(-2000)}`);

      // Measure (report only): test binaries built once, then run alternately so load drifts hit both.
      const testBinary = async (flag: string, name: string) => {
        const out = `${dir}/bench-${name}.test`;
        await runGo(["test", "-c", `-pgo=${flag}`, "-o", out, "."], { cwd: HOTPATH_DIR, env: { GOFLAGS: "" } });
        return out;
      };
      // In the test binary the package under test is linked as "hotpath", not "main": the service's
      // profile names (main.X) would match nothing there, so map them to the test binary's names.
      const testPgo = `${dir}/test-default.pgo`;
      await Deno.writeFile(testPgo, encodeProfile(renamePackage(profile, "main.", "hotpath.")));
      const binaries = { off: await testBinary("off", "off"), on: await testBinary(testPgo, "pgo") };
      const results = { off: [] as number[], on: [] as number[] };
      const rounds = 7;
      for (let round = 0; round < rounds; round++) {
        for (const side of ["off", "on"] as const) {
          const run = await new Deno.Command(binaries[side], {
            args: ["-test.run", "^$", "-test.bench", "^BenchmarkWorkload$", "-test.benchtime", "1s", "-test.cpu", "1"],
            cwd: HOTPATH_DIR,
            stdout: "piped",
            stderr: "piped",
          }).output();
          ok(run.success, TEXT.decode(run.stderr));
          results[side].push(medianNsPerOp(TEXT.decode(run.stdout)));
        }
      }
      const off = median(results.off);
      const on = median(results.on);
      const best = { off: Math.min(...results.off), on: Math.min(...results.on) };
      console.log(
        `PGO e2e: default.pgo ${bytes.length} bytes, ${profile.sample.length} samples (max depth ${maxDepth}), ` +
          `${edges.byWeight.length} edges, total weight ${edges.totalWeight}; BenchmarkWorkload median ns/op: ` +
          `-pgo=off ${off}, -pgo=default.pgo (names mapped for the test binary) ${on} → ${
            ((off / on - 1) * 100).toFixed(1)
          }% faster; best of ${rounds}: ` +
          `${best.off} vs ${best.on} → ${((best.off / best.on - 1) * 100).toFixed(1)}% faster ` +
          `(alternating runs; off ${results.off.join("/")}, pgo ${results.on.join("/")}); ` +
          `compiler: ${inlined} hot-call-site inlinings, ${devirtualized} devirtualizations in package hotpath`,
      );
    } finally {
      await scrapeProcess?.stop();
      await serverProcess?.close();
      await service.close().catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
