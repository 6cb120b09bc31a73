/**
 * Oracle tests for the PGO edge map and PGO-lossless compaction, against the machine's Go toolchain:
 * - our edge-map serializer equals `go tool preprofile` output byte for byte (real fixture profiles,
 *   labelled ones, their merges, and hand-built edge cases incl. Go's error messages);
 * - `go tool preprofile` gives byte-identical output for a full and a compacted profile;
 * - `go build -pgo` of a real program gives byte-identical binaries for the full and the compacted
 *   profile (independent build caches), different from `-pgo=off`;
 * - `autopgo explain` and `autopgo merge --compact` agree with `go tool preprofile`.
 *
 * Skips with a printed reason when Go is missing; fails under CI=true.
 *
 * @module
 */

import { deepStrictEqual as assertEquals, notDeepStrictEqual, ok } from "node:assert/strict";
import { decodeProfile } from "../core/pprof/decode.ts";
import { encodeProfile } from "../core/pprof/encode.ts";
import { mergeProfiles } from "../core/pprof/merge.ts";
import { compactForPgo } from "../core/pprof/compact_pgo.ts";
import { devirtualizationCandidates, edgeMap, parsePreprofile, serializePreprofile } from "../core/pprof/edges.ts";
import { funcValueTarget, indirectCallSites } from "../core/pprof/explain.ts";
import type { Profile } from "../core/pprof/profile.ts";
import { at, buildProfile, randomProfile, type SampleSpec } from "../core/pprof/pgo_test_profiles.ts";
import { goBinary, runGo, skipUnlessGo } from "./support/go.ts";
import { generateProfiles, HOTPATH_DIR } from "./support/fixtures.ts";
import { runAutopgo } from "./support/cli.ts";

const TEXT = new TextDecoder();

/** Real fixture profiles: unlabelled and labelled, decoded. */
async function corpus(): Promise<{ paths: string[]; profiles: Profile[] }> {
  const plain = await generateProfiles({ count: 3, durationMs: 700, rate: 500 });
  const labelled = await generateProfiles({ count: 3, durationMs: 700, rate: 500, labels: true, seed: 2 });
  const paths = [...plain, ...labelled];
  return { paths, profiles: paths.map((p) => decodeProfile(Deno.readFileSync(p))) };
}

/** `go tool preprofile -i path` output, or `error: <stderr>` when it fails. */
async function preprofile(path: string): Promise<string> {
  const out = await new Deno.Command(goBinary()!, {
    args: ["tool", "preprofile", "-i", path],
    env: { GOTOOLCHAIN: "local", GOFLAGS: "" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return out.success ? TEXT.decode(out.stdout) : `error: ${TEXT.decode(out.stderr).trim()}`;
}

/** Our view: the serialized edge map, or the error message. */
function ours(p: Profile): string {
  try {
    return serializePreprofile(edgeMap(p));
  } catch (e) {
    return `error: ${(e as Error).message}`;
  }
}

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "autopgo-pgo-oracle-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function writeProfile(path: string, p: Profile): Promise<string> {
  await Deno.writeFile(path, encodeProfile(p));
  return path;
}

Deno.test("edge map serializer equals go tool preprofile on real profiles and merges", async () => {
  if (!skipUnlessGo("edge map vs go tool preprofile")) return;
  const { paths, profiles } = await corpus();
  for (let i = 0; i < paths.length; i++) {
    const expected = await preprofile(paths[i]);
    ok(expected.split("\n").length > 30, `${paths[i]}: too few edges to be a meaningful oracle:\n${expected}`);
    assertEquals(ours(profiles[i]), expected, paths[i]);
  }
  await withTempDir(async (dir) => {
    const merged = mergeProfiles(profiles);
    assertEquals(ours(merged), await preprofile(await writeProfile(`${dir}/merged.pb.gz`, merged)));
  });
});

Deno.test("go tool preprofile output is byte-identical for full and compacted profiles", async () => {
  if (!skipUnlessGo("preprofile full vs compacted")) return;
  const { profiles } = await corpus();
  await withTempDir(async (dir) => {
    const merged = mergeProfiles(profiles);
    const cases: [string, Profile, Profile][] = [
      ["labelled", profiles[3], compactForPgo(profiles[3])],
      ["merged", merged, compactForPgo(merged)],
      ["merged, addresses kept", merged, compactForPgo(merged, { addresses: "keep" })],
      ["merge of compacted", merged, mergeProfiles(profiles.map((p) => compactForPgo(p)))],
      [
        "raw upload into compacted base",
        merged,
        mergeProfiles([profiles[5], compactForPgo(mergeProfiles(profiles.slice(0, 5)))]),
      ],
    ];
    for (const [name, full, compacted] of cases) {
      const fullPath = await writeProfile(`${dir}/full.pb.gz`, full);
      const compactPath = await writeProfile(`${dir}/compact.pb.gz`, compacted);
      const [a, b] = [await preprofile(fullPath), await preprofile(compactPath)];
      ok(!a.startsWith("error"), a);
      assertEquals(b, a, name);
      ok((await Deno.stat(compactPath)).size < (await Deno.stat(fullPath)).size, `${name}: compacted is not smaller`);
    }
  });
});

Deno.test("edge map agrees with go tool preprofile on hand-built edge cases", async () => {
  if (!skipUnlessGo("edge map edge cases vs go tool preprofile")) return;
  const cases: Record<string, SampleSpec[]> = {
    recursionSamePc: [{ stack: [at(0x10, "f:10:12"), at(0x10, "f:10:12")], value: [2, 2] }],
    recursionOtherPc: [{ stack: [at(0x11, "f:10:12"), at(0x10, "f:10:12")], value: [2, 2] }],
    inlineRepeat: [{
      stack: [{ address: 0x10, frames: ["B:20:21", "A:10:11"] }, { address: 0x10, frames: ["B:20:21", "A:10:11"] }],
      value: [4, 4],
    }],
    unsymbolized: [
      { stack: [at(0x99, "?"), at(0x10, "f:10:12")], value: [1, 1] },
      { stack: [{ address: 0x98, frames: [] }, at(0x10, "f:10:12"), at(0x5, "main:1:1")], value: [1, 1] },
    ],
    ties: [
      { stack: [at(1, "z:1:2"), at(2, "b:1:5")], value: [3, 0] },
      { stack: [at(3, "y:1:2"), at(4, "b:1:2")], value: [3, 0] },
      { stack: [at(6, "x:1:2"), at(7, "a:1:9")], value: [3, 0] },
      { stack: [at(8, "w:1:2"), at(9, "c:1:9")], value: [8, 0] },
    ],
    negativeOffset: [{ stack: [at(1, "b:30:31"), at(2, "a:50:40")], value: [1, 0] }],
    zeroWeights: [{ stack: [at(1, "b:1:2"), at(2, "a:1:2")], value: [0, 9] }],
    noStartLine: [{ stack: [at(1, "b:0:2"), at(2, "a:0:2")], value: [1, 1] }],
    singleFrames: [{ stack: [at(1, "b:1:2")], value: [4, 4] }],
  };
  await withTempDir(async (dir) => {
    for (const [name, specs] of Object.entries(cases)) {
      const p = buildProfile(specs);
      const expected = await preprofile(await writeProfile(`${dir}/${name}.pb.gz`, p));
      const got = ours(p);
      if (got.startsWith("error: ")) {
        ok(expected.startsWith("error") && expected.includes(got.slice(7)), `${name}: ${expected}`);
      } else assertEquals(got, expected, name);
      if (!got.startsWith("error: ")) {
        assertEquals(await preprofile(await writeProfile(`${dir}/c.pb.gz`, compactForPgo(p))), expected, name);
      }
    }
    const noIndex = buildProfile([{ stack: [at(1, "b:1:2"), at(2, "a:1:2")], value: [1] }], [{
      type: "alloc",
      unit: "bytes",
    }]);
    const expected = await preprofile(await writeProfile(`${dir}/heap.pb.gz`, noIndex));
    ok(expected.includes(ours(noIndex).slice(7)), expected);
  });
});

Deno.test("edge map and compaction agree with go tool preprofile on random profiles (recursion, inlining, zeros)", async () => {
  if (!skipUnlessGo("random profiles vs go tool preprofile")) return;
  await withTempDir(async (dir) => {
    let usable = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const p = randomProfile(seed, 30 + seed);
      const expected = await preprofile(await writeProfile(`${dir}/r.pb.gz`, p));
      const got = ours(p);
      if (got.startsWith("error: ")) {
        ok(expected.startsWith("error") && expected.includes(got.slice(7)), `seed ${seed}: ${expected}`);
        continue;
      }
      usable++;
      assertEquals(got, expected, `seed ${seed}`);
      const compacted = await preprofile(await writeProfile(`${dir}/c.pb.gz`, compactForPgo(p)));
      assertEquals(compacted, expected, `seed ${seed}: compacted`);
    }
    ok(usable >= 30, `only ${usable} random profiles were usable`);
  });
});

/** Builds the hotpath fixture with `-pgo=<pgo>`; `cache` = a GOCACHE to use instead of the default one. */
async function goBuild(dir: string, pgo: string, cache?: string): Promise<Uint8Array> {
  const out = `${dir}/hotpath-${crypto.randomUUID().slice(0, 8)}`;
  await runGo(["build", "-trimpath", `-pgo=${pgo}`, "-o", out, "."], {
    cwd: HOTPATH_DIR,
    env: { GOFLAGS: "", CGO_ENABLED: "0", ...(cache ? { GOCACHE: cache } : {}) },
  });
  return await Deno.readFile(out);
}

Deno.test("go build -pgo: full and compacted profiles give byte-identical binaries, unlike -pgo=off", async () => {
  if (!skipUnlessGo("go build -pgo full vs compacted")) return;
  const { profiles } = await corpus();
  await withTempDir(async (dir) => {
    const merged = mergeProfiles(profiles);
    // Same base name: with -trimpath the go command records only the profile's base name.
    await Deno.mkdir(`${dir}/full`);
    await Deno.mkdir(`${dir}/compacted`);
    const full = await writeProfile(`${dir}/full/default.pgo`, merged);
    const compacted = await writeProfile(`${dir}/compacted/default.pgo`, compactForPgo(merged));
    // The compacted build uses a fresh cache, so it really compiles every package (the go command
    // keys compiles by the preprofile output, which is identical: a shared cache would just reuse
    // the full build's objects). The full and -pgo=off builds use the default cache.
    const fullBinary = await goBuild(dir, full);
    const compactedBinary = await goBuild(dir, compacted, `${dir}/cache-compacted`);
    const offBinary = await goBuild(dir, "off");
    ok(fullBinary.length > 100_000);
    ok(equalBytes(fullBinary, compactedBinary), "binaries built with the full and the compacted profile differ");
    notDeepStrictEqual(fullBinary, offBinary, "-pgo made no difference: the oracle would prove nothing");
  });
});

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

Deno.test("autopgo explain and merge --compact agree with go tool preprofile", async () => {
  if (!skipUnlessGo("explain and merge --compact vs go tool preprofile")) return;
  const { paths } = await corpus();
  await withTempDir(async (dir) => {
    const compacted = `${dir}/compacted.pb.gz`;
    const full = `${dir}/full.pb.gz`;
    for (const [args, out] of [[["--compact"], compacted], [[], full]] as const) {
      const run = await runAutopgo(["merge", ...args, "-o", out, ...paths]);
      assertEquals(run.code, 0, run.stderr);
    }
    const expectedText = await preprofile(full);
    assertEquals(await preprofile(compacted), expectedText);
    const expected = parsePreprofile(expectedText);
    // explain lists only the call sites the profile proves indirect (interface or function-value calls).
    const indirectSites = indirectCallSites(expected);

    // --threshold 100: every edge is "hot", so the report lists the whole edge map in ByWeight order.
    for (const input of [compacted, full]) {
      const run = await runAutopgo(["explain", "--json", "--threshold", "100", input]);
      assertEquals(run.code, 0, run.stderr);
      const report = JSON.parse(run.stdout);
      assertEquals(report.totalWeight, expected.totalWeight);
      assertEquals(
        report.hotEdges.map((e: Record<string, unknown>) => [e.caller, e.callee, e.callSiteOffset, e.weight]),
        expected.byWeight.map((e) => [e.caller, e.callee, e.callSiteOffset, e.weight]),
      );
      assertEquals(
        report.devirtualization.map((c: Record<string, unknown>) => [c.caller, c.callSiteOffset, c.callee, c.weight]),
        devirtualizationCandidates(expected)
          .filter((c) => {
            // Function values: only a plain hottest callee is devirtualized (never a closure).
            const kind = indirectSites.get(`${c.callSiteOffset}\u0000${c.caller}`);
            return kind === "interface" || (kind === "func value" && funcValueTarget(c.callee));
          })
          .map((c) => [c.caller, c.callSiteOffset, c.callee, c.weight]),
      );
    }
    // The preprocessed file itself is accepted too, and explained the same way.
    await Deno.writeTextFile(`${dir}/edges.pre`, expectedText);
    const fromPre = JSON.parse((await runAutopgo(["explain", "--json", "--top", "0", `${dir}/edges.pre`])).stdout);
    const fromPprof = JSON.parse((await runAutopgo(["explain", "--json", "--top", "0", full])).stdout);
    assertEquals(fromPre.hotEdges, fromPprof.hotEdges);
    ok(fromPprof.hotEdges.length < expected.byWeight.length, "99% CDF cut should leave some edges cold");

    const table = await runAutopgo(["explain", full]);
    assertEquals(table.code, 0, table.stderr);
    ok(table.stdout.includes("Hot call sites") && table.stdout.includes(expected.byWeight[0].caller), table.stdout);
    const bad = await runAutopgo(["explain", `${dir}/missing.pb.gz`]);
    assertEquals(bad.code, 1);
    assertEquals(bad.stderr.trim().split("\n").length, 1, bad.stderr);
  });
});
