/**
 * End-to-end test of the distributed set-up of the original: one `autopgo server` and TWO
 * `autopgo worker` processes sharing one file:// blob store and consuming one file:// bus
 * concurrently, with every event delivered twice (`?duplicate=2`). Per app the merged profile
 * must hold exactly the samples of `go tool pprof -proto` over the uploaded files: no upload lost
 * by racing workers, none counted twice by duplicates.
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

Deno.test("server + two workers on a file:// bus with duplicated events merge exactly once", async () => {
  if (!skipUnlessGo("pipeline distributed merge")) return;
  const files = await generateProfiles({ count: 50, durationMs: 100, rate: 1000 });
  const root = await Deno.makeTempDir({ prefix: "autopgo-distributed-" });
  const storeDir = `${root}/store`;
  await Deno.mkdir(storeDir);
  await Deno.mkdir(`${root}/bus`);
  const blob = fileUrlFromPath(storeDir);
  const bus = fileUrlFromPath(`${root}/bus`);
  const processes: AutopgoProcess[] = [];
  try {
    const common = ["--port", "0", "--host", "127.0.0.1", "--blob-store-url", blob, "--compaction", "none"];
    const worker = [
      "worker",
      ...common,
      "--event-reader-url",
      `${bus}?poll=20ms`,
      "--event-writer-url",
      `${bus}?duplicate=2`,
      ...RACING,
    ];
    const [server, w1, w2] = await Promise.all([
      startAutopgo(["server", ...common, "--event-writer-url", `${bus}?duplicate=2`]),
      startAutopgo(worker),
      startAutopgo(worker),
    ]);
    processes.push(server, w1, w2);
    const health = await (await fetch(`${w1.url}/api/health`)).json();
    assert.deepEqual(health.dependencies.map((d: { name: string }) => d.name), [
      "blob",
      "event-reader",
      "event-writer",
    ]);
    const results = await Promise.all(
      files.map(async (file, i) => upload(server.url, APPS[i % 3], await Deno.readFile(file))),
    );
    for (const r of results) assert.equal(r.status, 201, JSON.stringify(r.body));
    await waitFor(
      async () => {
        const stored = await listFiles(storeDir);
        return !stored.some((f) => f.includes("/staging/")) && APPS.every((a) => stored.includes(`${a}/default.pgo`));
      },
      180_000,
      "every upload merged",
    );
    // Let the duplicated deliveries drain: they must not change anything.
    await waitFor(async () => (await listFiles(`${root}/bus`)).length === 0, 60_000, "bus drained");
    for (const [a, app] of APPS.entries()) {
      const actual = await download(server.url, app);
      assert.ok(actual, `${app} has a profile`);
      assertSameSamples(actual, await pprofMergeOracle(files.filter((_, i) => i % 3 === a)), `${app} vs go tool pprof`);
    }
    const merges = [w1, w2].map((w) => (w.logs().match(/merged \S+\/staging\//g) ?? []).length);
    console.log(`merges per worker: ${merges.join(" + ")} = ${merges[0] + merges[1]} (50 uploads)`);
    assert.equal(merges[0] + merges[1], 50, "every upload merged once across both workers");
    for (const p of processes) assert.equal(await p.stop(), 0, p.logs().slice(-2000));
  } finally {
    await Promise.all(processes.map((p) => p.stop("SIGKILL")));
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("two worker processes sweeping the same orphaned uploads race on one file:// store and merge each once", async () => {
  if (!skipUnlessGo("pipeline distributed sweep race")) return;
  const files = (await generateProfiles({ count: 50, durationMs: 100, rate: 1000 })).slice(0, 30);
  const root = await Deno.makeTempDir({ prefix: "autopgo-sweep-race-" });
  const storeDir = `${root}/store`;
  const processes: AutopgoProcess[] = [];
  try {
    // Orphans as left by lost events: staged blobs, no event on any bus.
    await Deno.mkdir(`${storeDir}/race/staging`, { recursive: true });
    for (const [i, file] of files.entries()) {
      await Deno.copyFile(
        file,
        `${storeDir}/race/staging/${String(1_700_000_000_000_000_000n + BigInt(i))}-orphan${i}`,
      );
    }
    const worker = (bus: string) => [
      "worker",
      "--port",
      "0",
      "--host",
      "127.0.0.1",
      "--compaction",
      "none",
      "--sweep-grace",
      "0s",
      ...RACING,
      "--blob-store-url",
      fileUrlFromPath(storeDir),
      "--event-reader-url",
      `mem://${bus}`,
      "--event-writer-url",
      `mem://${bus}`,
    ];
    // Debug logs: the sweep's per-upload notes (counted below) are debug lines.
    const env = { AUTOPGO_LOG_LEVEL: "debug" };
    processes.push(...await Promise.all([startAutopgo(worker("a"), { env }), startAutopgo(worker("b"), { env })]));
    await waitFor(
      async () => {
        const stored = await listFiles(storeDir);
        return stored.includes("race/default.pgo") && !stored.some((f) => f.includes("/staging/"));
      },
      120_000,
      "the sweeps merged every orphan",
    );
    const { decodeProfile } = await import("../core/pprof/decode.ts");
    const base = decodeProfile(await Deno.readFile(`${storeDir}/race/default.pgo`));
    assertSameSamples(base, await pprofMergeOracle(files), "racing sweeps vs go tool pprof");
    const logs = processes.map((p) => p.logs());
    const merges = logs.map((l) => (l.match(/worker: merged race\/staging\//g) ?? []).length);
    const conflicts = logs.flatMap((l) => [...l.matchAll(/after (\d+) write conflicts/g)].map((m) => Number(m[1])));
    const overlaps = logs.map((l) => (l.match(/sweep: \S+ (was already merged|is gone)/g) ?? []).length);
    console.log(
      `merges per worker: ${merges.join(" + ")}; sweep notes of uploads already merged (by either worker) or gone: ${
        overlaps.join(" + ")
      }; ` +
        `conflicts retried before a merge: ${conflicts.reduce((a, b) => a + b, 0)}`,
    );
    assert.equal(merges[0] + merges[1], files.length);
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
    await Deno.remove(root, { recursive: true });
  }
});
