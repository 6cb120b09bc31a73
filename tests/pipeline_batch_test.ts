/**
 * Process tests of batched merges (issue 13, core/pipeline/worker_batch.ts): real `autopgo server`
 * and `autopgo worker` processes on a file:// store and a file:// bus that delivers every event
 * twice (`?duplicate=2`). Uploads queue up while no worker runs, so the workers find batches
 * waiting; per app the merged profile must hold exactly the samples of `go tool pprof -proto` over
 * that app's uploads, a poison upload staged among them is set aside without failing its batch, a
 * DELETE racing the batches drops everything uploaded before it, and `--batch-max-uploads 1`
 * restores one merge per upload.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileUrlFromPath } from "../adapters/mod.ts";
import { generateProfiles } from "./support/fixtures.ts";
import { skipUnlessGo } from "./support/go.ts";
import {
  type AutopgoProcess,
  download,
  listFiles,
  pprofMergeOracle,
  RACING,
  startAutopgo,
  upload,
  waitFor,
} from "./support/pipeline_process.ts";
import { assertSameSamples } from "./support/samples.ts";

const APPS = ["one", "two", "three"];

/** Uploads concurrently; returns the staging keys. */
async function uploadAll(url: string, uploads: { app: string; file: string }[]): Promise<string[]> {
  const results = await Promise.all(uploads.map(async (u) => upload(url, u.app, await Deno.readFile(u.file))));
  for (const r of results) assert.equal(r.status, 201, JSON.stringify(r.body));
  return results.map((r) => r.body.key as string);
}

/** The `merged <key> into <base> … (batch of <n>)` lines of a worker's log. */
function batchLines(logs: string): { key: string; size: number }[] {
  return [...logs.matchAll(/merged (\S+\/staging\/\S+) into \S+ after \d+ write conflicts \(batch of (\d+)\)/g)]
    .map((m) => ({ key: m[1], size: Number(m[2]) }));
}

Deno.test("worker batches: two workers, duplicated events, a poison upload and a racing DELETE: each upload merged once", async () => {
  if (!skipUnlessGo("batched merges across worker processes")) return;
  const files = await generateProfiles({ count: 50, durationMs: 100, rate: 1000 });
  const root = await Deno.makeTempDir({ prefix: "autopgo-batch-" });
  const storeDir = `${root}/store`;
  await Deno.mkdir(`${storeDir}/one/staging`, { recursive: true });
  await Deno.mkdir(`${root}/bus`);
  const blob = fileUrlFromPath(storeDir);
  const bus = fileUrlFromPath(`${root}/bus`);
  const processes: AutopgoProcess[] = [];
  try {
    // A poison upload staged before every other upload of "one" (its event lost): the first batch of "one" takes it.
    const poison = "one/staging/1000000000000000000-poison";
    await Deno.writeTextFile(`${storeDir}/${poison}`, "not a profile at all");
    const common = ["--port", "0", "--host", "127.0.0.1", "--blob-store-url", blob, "--compaction", "none"];
    const server = await startAutopgo(["server", ...common, "--event-writer-url", `${bus}?duplicate=2`]);
    processes.push(server);
    const first = files.slice(0, 36).map((file, i) => ({ app: APPS[i % 3], file }));
    const firstKeys = await uploadAll(server.url, first); // no worker yet: 12 uploads of each app wait
    const worker = [
      "worker",
      ...common,
      ...["--batch-max-uploads", "5", "--sweep-interval", "0", "--sweep-grace", "1h"],
      ...["--event-reader-url", `${bus}?poll=20ms`, "--event-writer-url", `${bus}?duplicate=2`],
      ...RACING,
    ];
    const workers = await Promise.all([startAutopgo(worker), startAutopgo(worker)]);
    processes.push(...workers);
    // While the batches run: more uploads of "three", then a DELETE of "three", then uploads after it.
    const racing = files.slice(36, 44).map((file) => ({ app: "three", file }));
    await uploadAll(server.url, racing);
    const deleted = await fetch(`${server.url}/api/profile/three`, { method: "DELETE" });
    assert.equal(deleted.status, 200, await deleted.text());
    const after = files.slice(44, 50);
    const afterKeys = await uploadAll(server.url, after.map((file) => ({ app: "three", file })));
    await waitFor(
      async () => !(await listFiles(storeDir)).some((f) => f.includes("/staging/")),
      180_000,
      "every staged upload merged, rejected or dropped",
    );
    await waitFor(async () => (await listFiles(`${root}/bus`)).length === 0, 60_000, "bus drained");
    for (const app of ["one", "two"]) {
      const expected = first.filter((u) => u.app === app).map((u) => u.file);
      assertSameSamples(
        (await download(server.url, app))!,
        await pprofMergeOracle(expected),
        `${app} vs go tool pprof`,
      );
    }
    assertSameSamples(
      (await download(server.url, "three"))!,
      await pprofMergeOracle(after),
      "three: only after DELETE",
    );
    const stored = await listFiles(storeDir);
    assert.ok(stored.includes("one/rejected/1000000000000000000-poison"), stored.join(" "));
    assert.match(await Deno.readTextFile(`${storeDir}/one/rejected/1000000000000000000-poison.reason`), /invalid/);
    const lines = workers.flatMap((w) => batchLines(w.logs())); // one line per merged upload
    const merged = lines.map((l) => l.key), sizes = lines.map((l) => l.size);
    console.log(`uploads merged: ${merged.length}; batch sizes seen: ${[...new Set(sizes)].sort().join(", ")}`);
    assert.equal(new Set(merged).size, merged.length, "no upload merged twice");
    const mustMerge = [...firstKeys.filter((k) => !k.startsWith("three/")), ...afterKeys];
    assert.deepEqual(mustMerge.filter((k) => !merged.includes(k)), [], "every upload of one, two and after the DELETE");
    assert.ok(sizes.every((s) => s >= 1 && s <= 5), "--batch-max-uploads 5 respected");
    assert.ok(sizes.some((s) => s > 1), "waiting uploads were merged in batches");
    for (const p of processes) assert.equal(await p.stop(), 0, p.logs().slice(-2000));
  } finally {
    await Promise.all(processes.map((p) => p.stop("SIGKILL")));
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("worker batches: --batch-max-uploads 1 merges one upload per write", async () => {
  if (!skipUnlessGo("unbatched merges")) return;
  const files = (await generateProfiles({ count: 50, durationMs: 100, rate: 1000 })).slice(0, 6);
  const dataDir = await Deno.makeTempDir({ prefix: "autopgo-unbatched-" });
  const server = await startAutopgo([
    "server",
    ...["--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir, "--compaction", "none"],
    ...["--batch-max-uploads", "1"],
  ]);
  try {
    await uploadAll(server.url, files.map((file) => ({ app: "solo", file })));
    await waitFor(
      async () => !(await listFiles(dataDir)).some((f) => f.includes("/staging/")),
      60_000,
      "every upload merged",
    );
    assertSameSamples((await download(server.url, "solo"))!, await pprofMergeOracle(files), "solo vs go tool pprof");
    const logs = server.logs();
    assert.equal(logs.match(/merged solo\/staging\/\S+ into solo\/default\.pgo after \d+ write conflicts/g)?.length, 6);
    assert.deepEqual(batchLines(logs), [], "no batch was merged");
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});
