/**
 * Issue 15 against the real `autopgo server` (embedded store and worker): one odd upload must
 * never block an app.
 *
 * - The reproduction: a real CPU profile with `samples/count` renamed `simples/count` uploaded
 *   first, then real profiles; all are accepted and merged, exactly `go tool pprof -proto` of the
 *   normalised inputs (which, for a variant of a Go runtime profile, are the profiles it was made
 *   from: the derived column equals the original one).
 * - Type-order, extra-type and single-type variants merge into the same base as their sources, and
 *   `go tool preprofile` of a base built from the variants equals that of the plain profiles.
 * - Unmappable uploads are refused at the door with 422 and a one-line reason; nothing is staged.
 * - Existing bases written before normalisation: a mappable one is normalised on its next merge,
 *   an unmappable one is set aside with a log line and listed (`GET /api/profile`, `list --json`)
 *   while the upload starts a new base.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileUrlFromPath, openFileBlobStore } from "../adapters/mod.ts";
import { writeBaseState } from "../core/pipeline/base_state.ts";
import { baseKey } from "../core/pipeline/keys.ts";
import { isCanonical } from "../core/pprof/canonical.ts";
import { decodeProfile } from "../core/pprof/decode.ts";
import { encodeProfile } from "../core/pprof/encode.ts";
import { runAutopgo } from "./support/cli.ts";
import { committedProfiles } from "./support/fixtures.ts";
import { goBinary, skipUnlessGo } from "./support/go.ts";
import {
  type AutopgoProcess,
  download,
  listFiles,
  pprofMergeOracle,
  startAutopgo,
  upload,
  waitFor,
} from "./support/pipeline_process.ts";
import { MAPPABLE_VARIANTS, UNMAPPABLE_VARIANTS, variantBytes } from "./support/profile_variants.ts";
import { assertSameSamples } from "./support/samples.ts";

const REAL = [...committedProfiles().cpu, ...committedProfiles().cpuLabelled];

async function startServer(dataDir: string, ...extra: string[]): Promise<AutopgoProcess> {
  return await startAutopgo(["server", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir, ...extra]);
}

async function accept(url: string, app: string, data: Uint8Array, what: string): Promise<void> {
  const r = await upload(url, app, data);
  assert.equal(r.status, 201, `${what}: ${JSON.stringify(r.body)}`);
}

/** Waits until `apps` have a base and nothing of theirs is staged. */
async function waitMerged(dataDir: string, apps: string[]): Promise<void> {
  await waitFor(
    async () => {
      const files = await listFiles(dataDir);
      return apps.every((a) => files.includes(`${a}/default.pgo`) && !files.some((f) => f.startsWith(`${a}/staging/`)));
    },
    60_000,
    `${apps.join(", ")} merged`,
  );
}

async function listing(url: string): Promise<{ profiles: { key: string }[]; rejected: Record<string, unknown>[] }> {
  return await (await fetch(`${url}/api/profile`)).json();
}

async function preprofile(path: string): Promise<string> {
  const out = await new Deno.Command(goBinary()!, {
    args: ["tool", "preprofile", "-i", path],
    env: { GOTOOLCHAIN: "local", GOFLAGS: "" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

Deno.test("issue 15 reproduction: the renamed-type profile first, then real ones: all merge, exactly go tool pprof's", async () => {
  if (!skipUnlessGo("issue 15 reproduction vs go tool pprof")) return;
  const dataDir = await Deno.makeTempDir({ prefix: "autopgo-issue15-" });
  const server = await startServer(dataDir, "--compaction", "none");
  try {
    const bytes = REAL.map((f) => Deno.readFileSync(f));
    await accept(server.url, "victim", variantBytes(bytes[0], MAPPABLE_VARIANTS.renamed), "the odd profile");
    await waitMerged(dataDir, ["victim"]);
    for (const [i, data] of bytes.slice(1).entries()) await accept(server.url, "victim", data, `real ${i + 1}`);
    // The same sources as variants of every mappable kind, into a second app.
    const variants = Object.entries(MAPPABLE_VARIANTS);
    for (const [i, [name, variant]] of variants.entries()) {
      await accept(server.url, "variants", variantBytes(bytes[i % bytes.length], variant), name);
    }
    await waitMerged(dataDir, ["victim", "variants"]);
    const victim = (await download(server.url, "victim"))!;
    assert.ok(isCanonical(victim));
    assertSameSamples(victim, await pprofMergeOracle(REAL), "victim vs go tool pprof -proto of the normalised inputs");
    const sources = variants.map((_, i) => REAL[i % REAL.length]);
    assertSameSamples((await download(server.url, "variants"))!, await pprofMergeOracle(sources), "variants");
    const files = await listFiles(dataDir);
    assert.deepEqual(files.filter((f) => f.includes("/rejected/")), [], "nothing set aside");
    assert.deepEqual((await listing(server.url)).rejected, []);
    assert.doesNotMatch(server.logs(), /rejected upload/);
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("issue 15: go tool preprofile of a base built from type variants equals that of the plain profiles", async () => {
  if (!skipUnlessGo("issue 15 preprofile")) return;
  const dataDir = await Deno.makeTempDir({ prefix: "autopgo-issue15-pgo-" });
  const server = await startServer(dataDir); // default --compaction pgo
  try {
    const variants = Object.entries(MAPPABLE_VARIANTS);
    const sources = variants.map((_, i) => REAL[i % REAL.length]);
    for (const [i, [name, variant]] of variants.entries()) {
      await accept(server.url, "variants", variantBytes(Deno.readFileSync(sources[i]), variant), name);
      await accept(server.url, "plain", Deno.readFileSync(sources[i]), `plain ${i}`);
    }
    await waitMerged(dataDir, ["variants", "plain"]);
    const plain = await preprofile(`${dataDir}/plain/default.pgo`);
    assert.match(plain, /^GO PREPROFILE V1\n.+/);
    assert.equal(await preprofile(`${dataDir}/variants/default.pgo`), plain, "variants vs plain");
    const oracle = `${dataDir}/oracle.pb.gz`;
    await Deno.writeFile(oracle, encodeProfile(await pprofMergeOracle(sources)));
    assert.equal(await preprofile(oracle), plain, "plain base vs go tool pprof -proto of the sources");
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("issue 15: unmappable uploads are refused at the door with 422 and a one-line reason", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "autopgo-issue15-door-" });
  const server = await startServer(dataDir);
  try {
    const real = Deno.readFileSync(REAL[0]);
    for (const [name, { variant, reason }] of Object.entries(UNMAPPABLE_VARIANTS)) {
      const r = await upload(server.url, "door", variantBytes(real, variant));
      assert.equal(r.status, 422, `${name}: ${JSON.stringify(r.body)}`);
      assert.match(String(r.body.message), /^profile cannot be merged: [^\n]+$/, name);
      assert.match(String(r.body.message), reason, name);
    }
    assert.deepEqual(await listFiles(dataDir), [], "nothing staged");
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("issue 15: existing bases: a mappable one is normalised, an unmappable one is set aside, logged and listed", async () => {
  if (!skipUnlessGo("issue 15 existing bases vs go tool pprof")) return;
  const dataDir = await Deno.makeTempDir({ prefix: "autopgo-issue15-old-" });
  const [a, b, c] = REAL.map((f) => Deno.readFileSync(f));
  // Bases as `--compaction none` wrote them from odd inputs before uploads were normalised.
  const store = await openFileBlobStore(fileUrlFromPath(dataDir));
  const old = (data: Uint8Array, variant: (typeof MAPPABLE_VARIANTS)[string]) => {
    const p = decodeProfile(variantBytes(data, variant));
    p.comments = writeBaseState([], { absorbed: [], deletedBefore: 0n, merged: 1 });
    return encodeProfile(p);
  };
  await store.write(baseKey("odd"), old(a, MAPPABLE_VARIANTS.renamed), { ifAbsent: true });
  await store.write(baseKey("stuck"), old(a, UNMAPPABLE_VARIANTS.cpuOnlyWithoutPeriod.variant), { ifAbsent: true });
  await store.close();
  const server = await startServer(dataDir, "--compaction", "none");
  try {
    await accept(server.url, "odd", b, "upload onto the odd base");
    await accept(server.url, "stuck", c, "upload onto the unmappable base");
    await waitMerged(dataDir, ["odd", "stuck"]);
    await waitFor(() => /normalised base odd\/default\.pgo/.test(server.logs()), 10_000, "the normalisation log");
    const oracle = await pprofMergeOracle(REAL.slice(0, 2));
    assertSameSamples((await download(server.url, "odd"))!, oracle, "odd base normalised, then merged");
    assertSameSamples((await download(server.url, "stuck"))!, decodeProfile(c), "the upload starts a new base");
    const logLine = server.logs().split("\n").find((l) => /base stuck\/default\.pgo of app stuck cannot be/.test(l));
    assert.ok(logLine, server.logs());
    assert.match(logLine, /cannot derive samples\/count/);
    assert.match(logLine, /stuck\/rejected\/base-[0-9a-f]{16}/);
    const { rejected } = await listing(server.url);
    assert.equal(rejected.length, 1);
    assert.deepEqual({ ...rejected[0], lastRejectedAt: "" }, {
      key: "stuck",
      count: 0,
      bases: 1,
      lastReason: "cannot derive samples/count from cpu/nanoseconds: no CPU time period (no period type)",
      lastRejectedAt: "",
    });
    const cli = await runAutopgo(["list", "--json", "-u", server.url]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.deepEqual(JSON.parse(cli.stdout).rejected, rejected);
    // Later uploads keep merging into the new base.
    await accept(server.url, "stuck", b, "a later upload");
    await waitFor(
      async () => (await listFiles(dataDir)).every((f) => !f.startsWith("stuck/staging/")),
      30_000,
      "merge",
    );
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});
