/**
 * No-inline guards proven with the real Go compiler (issue 14). The fixture tests/fixtures/noinline
 * writes a real CPU profile of its hot loop; that upload is merged by the worker's merge path
 * (mergeUpload, then mergeBatch: the object and the fused engine) without guards and with
 * `--noinline '^main\.mix$'` (plus the built-in list), and by `autopgo merge --noinline`. Then
 * `go build -gcflags=-m -pgo=<profile>` must show:
 * - unguarded: main.mix PGO-inlined into main.work (it is not inlinable without a profile) and
 *   main.scramble PGO-inlined into main.mix;
 * - guarded: neither (no edge into mix, no edge out of it), and every other line of the compiler's
 *   `-m` report, main.fold's PGO inlining included, identical;
 * - `go tool preprofile` of both: the same edges and weights once the guarded name is mapped back
 *   (totals unchanged).
 *
 * `go build -pgo` compiles every package, the standard library included, anew for each distinct
 * profile, so the recorded profile is kept in the test cache (`AUTOPGO_TEST_CACHE`, default
 * `~/.cache/autopgo-test/noinline-<hash of the fixture and the Go version>.pprof`): later runs reuse
 * it and hit Go's build cache. Delete it to record a fresh one.
 *
 * Run: `deno test -A tests/noinline_go_build_test.ts`. Skips with a printed reason when Go is
 * missing; fails under CI=true. The Go module has no dependencies (builds offline).
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { openMemBlobStore } from "../adapters/blob/mem_blob.ts";
import { stagingKey } from "../core/pipeline/keys.ts";
import { mergeBatch } from "../core/pipeline/merge_batch.ts";
import { mergeUpload } from "../core/pipeline/merge_upload.ts";
import { readBase } from "../core/pipeline/profiles_view.ts";
import { parsePreprofile } from "../core/pprof/edges.ts";
import { NOINLINE_PREFIX, type NoInlineGuards, noInlineGuards } from "../core/pprof/noinline.ts";
import { runAutopgo } from "./support/cli.ts";
import { runGo, skipUnlessGo } from "./support/go.ts";
import { serviceCacheDir } from "./support/services/service.ts";
import { sha256Hex } from "../core/hex.ts";

const FIXTURE = fileURLToPath(new URL("./fixtures/noinline/", import.meta.url));
const MIX = String.raw`^main\.mix$`;
const TEXT = new TextDecoder();

/** The compiler's `-m` lines about the fixture's own file, sorted. */
async function inliningReport(dir: string, pgo: string): Promise<string[]> {
  const build = await runGo(["build", "-gcflags=-m", `-pgo=${pgo}`, "-o", `${dir}/bin-${crypto.randomUUID()}`, "."], {
    cwd: FIXTURE,
    env: { GOFLAGS: "" },
  });
  return build.stderr.split("\n").filter((l) => l.startsWith("./main.go:")).sort();
}

/** A real CPU profile of the fixture's hot loop, recorded once per fixture and Go version (see the module doc). */
async function recordedProfile(dir: string): Promise<Uint8Array> {
  const version = TEXT.decode((await runGo(["version"])).stdout);
  const source = [await Deno.readTextFile(`${FIXTURE}/main.go`), await Deno.readTextFile(`${FIXTURE}/go.mod`), version];
  const hash = await sha256Hex(source.join("\0"), 8);
  const cached = `${serviceCacheDir()}/noinline-${hash}.pprof`;
  try {
    return await Deno.readFile(cached);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await runGo(["build", "-o", `${dir}/noinline`, "."], { cwd: FIXTURE, env: { GOFLAGS: "" } });
  const run = await new Deno.Command(`${dir}/noinline`, {
    args: ["-cpuprofile", `${dir}/cpu.pprof`, "-duration", "2s"],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(run.success, TEXT.decode(run.stderr));
  const profile = await Deno.readFile(`${dir}/cpu.pprof`);
  await Deno.mkdir(serviceCacheDir(), { recursive: true });
  const temp = `${cached}.${crypto.randomUUID()}.tmp`;
  await Deno.writeFile(temp, profile);
  await Deno.rename(temp, cached);
  return profile;
}

/** The worker's stored base after merging `upload` with `noinline` (object path, or fused with `batch`). */
async function workerBase(upload: Uint8Array, noinline: NoInlineGuards | undefined, batch: boolean) {
  const store = await openMemBlobStore("mem://");
  const key = stagingKey("svc", 1_700_000_000_000_000_000n, "u1");
  await store.write(key, upload, { ifAbsent: true });
  const deps = { store, pruneConfig: [], compaction: "pgo" as const, noinline, sleep: () => Promise.resolve() };
  if (batch) await mergeBatch({ ...deps, random: () => 0 }, "svc", [key]);
  else await mergeUpload({ ...deps, random: () => 0 }, "svc", key);
  return (await readBase(store, "svc"))!.data;
}

/** `go tool preprofile` edges as `caller -> callee +offset` → weight, with guarded names mapped back. */
async function preprofileEdges(path: string): Promise<Map<string, number>> {
  const text = TEXT.decode((await runGo(["tool", "preprofile", "-i", path])).stdout);
  const plain = (name: string) => name.startsWith(NOINLINE_PREFIX) ? name.slice(NOINLINE_PREFIX.length) : name;
  const edges = new Map<string, number>();
  for (const e of parsePreprofile(text).byWeight) {
    const key = `${plain(e.caller)} -> ${plain(e.callee)} +${e.callSiteOffset}`;
    edges.set(key, (edges.get(key) ?? 0) + e.weight);
  }
  return edges;
}

Deno.test({
  name: "no-inline guards: go build -pgo no longer PGO-inlines a guarded function, and changes nothing else",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    if (!skipUnlessGo("no-inline guards with go build")) return;
    const dir = await Deno.makeTempDir({ prefix: "autopgo-noinline-" });
    try {
      const upload = await recordedProfile(dir);
      await Deno.writeFile(`${dir}/cpu.pprof`, upload);

      const guards = noInlineGuards({ patterns: [MIX] });
      const files: Record<string, string> = {};
      for (
        const [name, noinline, batch] of [
          ["unguarded", undefined, false],
          ["guarded", guards, false],
          ["guarded-fused", guards, true],
        ] as const
      ) {
        files[name] = `${dir}/${name}.pgo`;
        await Deno.writeFile(files[name], await workerBase(upload, noinline, batch));
      }
      files.cli = `${dir}/cli.pgo`;
      const cli = await runAutopgo(["merge", "--compact", "--noinline", MIX, "-o", files.cli, `${dir}/cpu.pprof`]);
      assert.equal(cli.code, 0, cli.stderr);

      const off = await inliningReport(dir, "off");
      const unguarded = await inliningReport(dir, files.unguarded);
      const pgoInlined = (lines: string[], callee: string) =>
        lines.filter((l) => new RegExp(`: inlining call to ${callee}$`).test(l));
      // Without a profile none of the three is inlinable; the unguarded profile makes all three hot.
      for (const f of ["mix", "scramble", "fold"]) {
        assert.ok(
          !off.some((l) => l.endsWith(`: can inline ${f}`)),
          `${f} is inlinable without PGO:\n${off.join("\n")}`,
        );
        assert.ok(
          unguarded.some((l) => l.endsWith(`: can inline ${f}`)),
          `${f} not PGO-inlinable:\n${unguarded.join("\n")}`,
        );
      }
      assert.equal(pgoInlined(unguarded, "mix").length, 1, unguarded.join("\n"));
      assert.equal(pgoInlined(unguarded, "scramble").length, 1, unguarded.join("\n"));
      assert.equal(pgoInlined(unguarded, "fold").length, 1, unguarded.join("\n"));

      const expectedGone = [
        ...unguarded.filter((l) => l.endsWith(": can inline mix")),
        ...pgoInlined(unguarded, "mix"),
        ...pgoInlined(unguarded, "scramble"), // its call site is inside mix: no edge out of a guarded function
      ].sort();
      const unguardedEdges = await preprofileEdges(files.unguarded);
      for (const name of ["guarded", "guarded-fused", "cli"]) {
        const guarded = await inliningReport(dir, files[name]);
        assert.deepEqual(
          unguarded.filter((l) => !guarded.includes(l)),
          expectedGone,
          `${name}: the lines the guard removed`,
        );
        assert.deepEqual(guarded.filter((l) => !unguarded.includes(l)), [], `${name}: lines the guard added`);
        assert.deepEqual(await preprofileEdges(files[name]), unguardedEdges, `${name}: edges and weights`);
      }
      console.log(
        `no-inline guards: ${upload.length}-byte profile, ${unguardedEdges.size} edges; -m lines removed by ` +
          `--noinline '${MIX}': ${expectedGone.map((l) => l.replace(/^\.\/main\.go:\d+:\d+: /, "")).join("; ")}`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
