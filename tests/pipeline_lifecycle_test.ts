/**
 * Process lifecycle of the pipeline components: SIGTERM during uploads finishes in-flight
 * uploads, merges every accepted one and exits 0; `deno task start` (the README's quick start)
 * serves /api/ready; DELETE removes an app through the worker; start-up errors (bad pruning
 * file, missing worker URLs) are one line with a non-zero exit.
 *
 * @module
 */

import assert from "node:assert/strict";
import { decodeProfile } from "../core/pprof/decode.ts";
import { mergeProfiles } from "../core/pprof/merge.ts";
import { committedProfiles } from "./support/fixtures.ts";
import { runAutopgo } from "./support/cli.ts";
import { delay, download, listFiles, startAutopgo, upload, waitFor } from "./support/pipeline_process.ts";
import { assertSameSamples } from "./support/samples.ts";

const SERVER = ["server", "--port", "0", "--host", "127.0.0.1", "--compaction", "none"];

/** A body that trickles `data` out in `parts` pieces, `gapMs` apart. */
function trickle(data: Uint8Array, parts: number, gapMs: number): ReadableStream<Uint8Array> {
  const size = Math.ceil(data.length / parts);
  let offset = 0;
  return new ReadableStream({
    async pull(controller) {
      if (offset >= data.length) return controller.close();
      if (offset > 0) await delay(gapMs);
      controller.enqueue(data.slice(offset, offset += size));
    },
  });
}

Deno.test("SIGTERM during uploads: in-flight uploads finish, every accepted upload is merged, exit 0", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "autopgo-sigterm-" });
  const server = await startAutopgo([...SERVER, "--data-dir", dataDir]);
  try {
    const files = [...committedProfiles().cpu, ...committedProfiles().cpuLabelled];
    const bodies = await Promise.all(files.map((f) => Deno.readFile(f)));
    const sends = Array.from({ length: 20 }, (_, i) => {
      const data = bodies[i % bodies.length];
      // Half of the uploads trickle in for ~1 s, so they are in flight when SIGTERM arrives.
      const body = i % 2 === 0 ? trickle(data, 10, 100) : data;
      return upload(server.url, "graceful", body).then((r) => ({ i, ...r })).catch((e) => ({
        i,
        status: 0,
        body: { error: String(e) },
      }));
    });
    await delay(300);
    const exit = server.stop("SIGTERM");
    const results = await Promise.all(sends);
    assert.equal(await exit, 0, server.logs().slice(-3000));
    const accepted = results.filter((r) => r.status === 201);
    const trickled = accepted.filter((r) => r.i % 2 === 0).length;
    console.log(`accepted ${accepted.length}/20 uploads (${trickled} of them in flight at SIGTERM)`);
    assert.ok(trickled > 0, `in-flight uploads were finished: ${JSON.stringify(results)}`);
    for (const r of results) assert.ok(r.status === 201 || r.status === 0 || r.status === 503, JSON.stringify(r));
    const stored = await listFiles(dataDir);
    assert.deepEqual(stored.filter((f) => f.includes("/staging/")), [], "nothing left staged");
    const base = decodeProfile(await Deno.readFile(`${dataDir}/graceful/default.pgo`));
    const expected = mergeProfiles(accepted.map((r) => decodeProfile(bodies[r.i % bodies.length])));
    assertSameSamples(base, expected, "base holds exactly the accepted uploads");
  } finally {
    await server.stop("SIGKILL");
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("deno task start runs the embedded server and answers /api/ready", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "autopgo-task-start-" });
  const root = new URL("..", import.meta.url).pathname;
  const server = await startAutopgo([], {
    command: [Deno.execPath(), "task", "start"],
    cwd: root,
    env: { AUTOPGO_DATA_DIR: dataDir, AUTOPGO_PORT: "0", AUTOPGO_HOST: "127.0.0.1" },
  });
  try {
    const ready = await fetch(`${server.url}/api/ready`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), {});
    const health = await (await fetch(`${server.url}/api/health`)).json();
    assert.equal(health.status, "healthy");
    const profile = await Deno.readFile(committedProfiles().cpu[0]);
    assert.equal((await upload(server.url, "quickstart", profile)).status, 201);
    await waitFor(async () => (await listFiles(dataDir)).includes("quickstart/default.pgo"), 30_000, "merge");
    assert.equal(await server.stop(), 0);
  } finally {
    await server.stop("SIGKILL");
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("DELETE removes the app through the worker; later uploads start a fresh profile", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "autopgo-delete-" });
  const server = await startAutopgo([...SERVER, "--data-dir", dataDir]);
  try {
    const [a, b] = await Promise.all(committedProfiles().cpu.slice(0, 2).map((f) => Deno.readFile(f)));
    assert.equal((await upload(server.url, "gone", a)).status, 201);
    await waitFor(async () => (await download(server.url, "gone")) !== undefined, 30_000, "first merge");
    const del = await fetch(`${server.url}/api/profile/gone`, { method: "DELETE" });
    assert.equal(del.status, 200);
    assert.deepEqual(await del.json(), {});
    await waitFor(async () => (await download(server.url, "gone")) === undefined, 30_000, "deletion");
    assert.deepEqual((await (await fetch(`${server.url}/api/profile`)).json()).profiles, []);
    assert.equal((await fetch(`${server.url}/api/profile/gone`, { method: "DELETE" })).status, 404);
    await delay(5); // the next upload is staged strictly after the deletion's cut-off millisecond
    assert.equal((await upload(server.url, "gone", b)).status, 201);
    await waitFor(async () => (await download(server.url, "gone")) !== undefined, 30_000, "fresh merge");
    assertSameSamples((await download(server.url, "gone"))!, decodeProfile(b), "only the post-delete upload");
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("uploads orphaned by a lost event are merged by the reconcile sweep at start", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "autopgo-orphan-" });
  const profile = await Deno.readFile(committedProfiles().cpu[1]);
  // As left by a crash between staging and publishing: a staged blob and no event anywhere.
  await Deno.mkdir(`${dataDir}/orphan/staging`, { recursive: true });
  await Deno.writeFile(`${dataDir}/orphan/staging/1700000000000000000-lost`, profile);
  const server = await startAutopgo([...SERVER, "--data-dir", dataDir, "--sweep-grace", "0s"]);
  try {
    await waitFor(async () => (await download(server.url, "orphan")) !== undefined, 30_000, "sweep merge");
    assertSameSamples((await download(server.url, "orphan"))!, decodeProfile(profile));
    assert.deepEqual((await listFiles(dataDir)).filter((f) => f.includes("staging")), []);
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("start-up errors are one clear line with a non-zero exit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "autopgo-startup-" });
  try {
    await Deno.writeTextFile(`${dir}/norule.json`, '[{"app":"x","rules":[{"keep":"y"}]}]');
    await Deno.writeTextFile(`${dir}/badrx.json`, '[{"app":"x","rules":[{"drop":"(unclosed"}]}]');
    await Deno.writeTextFile(`${dir}/bad.json`, "[{");
    const worker = ["worker", "--port", "0", "--host", "127.0.0.1"];
    const urls = [
      "--blob-store-url",
      `file://${dir}/s`,
      "--event-reader-url",
      "mem://q",
      "--event-writer-url",
      "mem://q",
    ];
    const cases: [string[], RegExp][] = [
      [[...SERVER, "--data-dir", `${dir}/d`, "--prune", `${dir}/norule.json`], /rule 0: "drop" is required/],
      [[...SERVER, "--data-dir", `${dir}/d`, "--prune", `${dir}/badrx.json`], /not a valid regular expression/],
      [[...SERVER, "--data-dir", `${dir}/d`, "--prune", `${dir}/bad.json`], /not valid JSON/],
      [[...SERVER, "--data-dir", `${dir}/d`, "--prune", `${dir}/missing.json`], /file does not exist/],
      [[...worker, ...urls, "--prune", `${dir}/norule.json`], /"drop" is required/],
      [[...worker, "--blob-store-url", `file://${dir}/s`], /--event-reader-url .* is required/],
      [[...SERVER, "--data-dir", `${dir}/d`, "--blob-store-url", "nope://x"], /unknown blob store URL scheme "nope"/],
    ];
    for (const [args, pattern] of cases) {
      const run = await runAutopgo(args);
      assert.notEqual(run.code, 0, args.join(" "));
      const errors = run.stderr.split("\n").filter((l) => l.startsWith("autopgo: "));
      assert.equal(errors.length, 1, run.stderr);
      const line = errors[0];
      assert.match(line, pattern, run.stderr);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
