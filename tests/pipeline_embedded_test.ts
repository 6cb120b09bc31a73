/**
 * End-to-end tests of the embedded default (`autopgo server` alone: file:// store under
 * --data-dir, in-process bus and worker): 50 concurrent uploads of real CPU profiles for 3 apps
 * give, per app, exactly the samples of `go tool pprof -proto` over the same files; with the
 * default `--compaction pgo` the stored base has the same Go PGO edge map; downloads carry strong
 * ETags, answer 304 and HEAD.
 *
 * @module
 */

import assert from "node:assert/strict";
import { decodeProfile } from "../core/pprof/decode.ts";
import { edgeMap, serializePreprofile } from "../core/pprof/edges.ts";
import { encodeProfile } from "../core/pprof/encode.ts";
import { committedProfiles, generateProfiles } from "./support/fixtures.ts";
import { skipUnlessGo } from "./support/go.ts";
import { download, listFiles, pprofMergeOracle, startAutopgo, upload, waitFor } from "./support/pipeline_process.ts";
import { assertSameSamples } from "./support/samples.ts";

const APPS = ["alpha", "beta", "gamma"];

async function uploadAll(url: string, files: string[], appOf: (i: number) => string): Promise<void> {
  const results = await Promise.all(files.map(async (file, i) => upload(url, appOf(i), await Deno.readFile(file))));
  for (const [i, r] of results.entries()) {
    assert.equal(r.status, 201, `upload ${i}: ${JSON.stringify(r.body)}`);
    assert.match(String(r.body.key), new RegExp(`^${appOf(i)}/staging/\\d{19}-[a-z0-9]+$`));
  }
  assert.equal(new Set(results.map((r) => r.body.key)).size, files.length, "staging keys are unique");
}

async function waitMerged(dataDir: string, apps: string[]): Promise<void> {
  await waitFor(
    async () => {
      const files = await listFiles(dataDir);
      return !files.some((f) => f.includes("/staging/")) && apps.every((a) => files.includes(`${a}/default.pgo`));
    },
    120_000,
    "every upload merged",
  );
}

Deno.test("embedded server: 50 concurrent uploads for 3 apps merge to exactly go tool pprof's samples", async () => {
  if (!skipUnlessGo("pipeline embedded merge")) return;
  const files = await generateProfiles({ count: 50, durationMs: 100, rate: 1000 });
  const dataDir = await Deno.makeTempDir({ prefix: "autopgo-embedded-" });
  const server = await startAutopgo([
    "server",
    "--port",
    "0",
    "--host",
    "127.0.0.1",
    "--data-dir",
    dataDir,
    "--compaction",
    "none",
  ]);
  try {
    const started = performance.now();
    await uploadAll(server.url, files, (i) => APPS[i % 3]);
    const uploaded = performance.now();
    await waitMerged(dataDir, APPS);
    console.log(
      `50 uploads accepted in ${(uploaded - started).toFixed(0)} ms, all merged after ${
        (performance.now() - started).toFixed(0)
      } ms`,
    );
    for (const [a, app] of APPS.entries()) {
      const mine = files.filter((_, i) => i % 3 === a);
      const actual = await download(server.url, app);
      assert.ok(actual, `${app} has a profile`);
      assertSameSamples(actual, await pprofMergeOracle(mine), `${app}: merged vs go tool pprof -proto`);
    }
    assert.equal(await server.stop(), 0);
  } finally {
    await server.stop("SIGKILL");
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("embedded server: --compaction pgo (default) keeps the Go PGO edge map of the merge", async () => {
  if (!skipUnlessGo("pipeline embedded compaction")) return;
  const files = (await generateProfiles({ count: 50, durationMs: 100, rate: 1000 })).slice(0, 12);
  const dataDir = await Deno.makeTempDir({ prefix: "autopgo-compact-" });
  const server = await startAutopgo(["server", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir]);
  try {
    await uploadAll(server.url, files, () => "compact");
    await waitMerged(dataDir, ["compact"]);
    const actual = await download(server.url, "compact");
    assert.ok(actual);
    const oracle = await pprofMergeOracle(files);
    assert.equal(serializePreprofile(edgeMap(actual)), serializePreprofile(edgeMap(oracle)));
    const stored = (await Deno.stat(`${dataDir}/compact/default.pgo`)).size;
    console.log(`compacted base: ${stored} bytes for ${files.length} uploads`);
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});

// Real CPU profiles sometimes sample `runtime.gopark`, which the default no-inline guards rename in
// every stored base; the oracle renames it too, so such an upload must still match it exactly.
Deno.test("embedded server: an upload that samples a guarded function (runtime.gopark) matches the oracle", async () => {
  if (!skipUnlessGo("pipeline embedded no-inline oracle")) return;
  const dataDir = await Deno.makeTempDir({ prefix: "autopgo-gopark-" });
  const server = await startAutopgo([
    ...["server", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir, "--compaction", "none"],
  ]);
  try {
    const profile = decodeProfile(await Deno.readFile(committedProfiles().cpu[0]));
    const leaf = profile.sample[0].location[0].line[0].function!;
    leaf.name = leaf.systemName = "runtime.gopark";
    const file = `${dataDir}/gopark.pb.gz`;
    await Deno.writeFile(file, encodeProfile(profile));
    await uploadAll(server.url, [file], () => "parked");
    await waitMerged(dataDir, ["parked"]);
    const actual = (await download(server.url, "parked"))!;
    assert.ok(actual.function.some((f) => f.name === "DO NOT INLINE: runtime.gopark"), "the stored base is guarded");
    assertSameSamples(actual, await pprofMergeOracle([file]), "guarded base vs go tool pprof -proto");
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("embedded server: GET has a strong ETag, If-None-Match gives 304, HEAD gives headers only", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "autopgo-etag-" });
  const server = await startAutopgo(["server", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir]);
  try {
    const profile = await Deno.readFile(new URL("./fixtures/profiles/cpu-000.pb.gz", import.meta.url));
    assert.equal((await upload(server.url, "etag", profile)).status, 201);
    await waitMerged(dataDir, ["etag"]);
    const url = `${server.url}/api/profile/etag`;
    const get = await fetch(url);
    const body = new Uint8Array(await get.arrayBuffer());
    const etag = get.headers.get("etag");
    assert.equal(get.status, 200);
    assert.match(etag ?? "", /^"[^"]+"$/, "strong ETag");
    assert.equal(get.headers.get("content-type"), "application/octet-stream");
    assert.equal(get.headers.get("content-length"), String(body.byteLength));
    const notModified = await fetch(url, { headers: { "if-none-match": etag! } });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers.get("etag"), etag);
    assert.equal((await notModified.arrayBuffer()).byteLength, 0);
    const stale = await fetch(url, { headers: { "if-none-match": '"something-else"' } });
    assert.equal(stale.status, 200);
    await stale.body?.cancel();
    const head = await fetch(url, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("etag"), etag);
    assert.equal(head.headers.get("content-length"), String(body.byteLength));
    assert.equal((await head.arrayBuffer()).byteLength, 0);
    // A new upload changes the base and so its ETag.
    assert.equal((await upload(server.url, "etag", profile)).status, 201);
    await waitMerged(dataDir, ["etag"]);
    const changed = await fetch(url, { headers: { "if-none-match": etag! } });
    assert.equal(changed.status, 200);
    assert.notEqual(changed.headers.get("etag"), etag);
    await changed.body?.cancel();
    const list = await (await fetch(`${server.url}/api/profile`)).json();
    assert.deepEqual(list.profiles.map((p: { key: string }) => p.key), ["etag"]);
    assert.equal(typeof list.profiles[0].size, "number");
    assert.ok(!Number.isNaN(Date.parse(list.profiles[0].lastModified)));
    assert.equal(await server.stop(), 0);
  } finally {
    await server.stop("SIGKILL");
    await Deno.remove(dataDir, { recursive: true });
  }
});
