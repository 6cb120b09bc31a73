/**
 * Process test of local worker slots (cmd/worker_standby.ts, issue 13): with `--local-workers 1`,
 * a second `autopgo worker` of the same file:// store and bus stands by (ready, standby gauge 1,
 * nothing merged), takes over when the consuming worker is killed with SIGKILL, a standby stops at
 * once on SIGTERM, and the last worker out leaves no slot folder in `/dev/shm`. With `--local-workers 2`, the
 * second worker helps only while events wait longer than `--local-helper-lag` (cmd/worker_helpers.ts).
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileUrlFromPath } from "../adapters/mod.ts";
import { localSlotsDir } from "../cmd/worker_standby.ts";
import { committedProfiles } from "./support/fixtures.ts";
import { type AutopgoProcess, listFiles, startAutopgo, upload, waitFor } from "./support/pipeline_process.ts";

async function standbyGauge(worker: AutopgoProcess): Promise<number> {
  const text = await (await fetch(`${worker.url}/metrics`)).text();
  const m = text.match(/^autopgo_worker_standby (\d+)$/m);
  assert.ok(m, "autopgo_worker_standby on /metrics");
  return Number(m[1]);
}

async function uploadAndWaitMerged(server: AutopgoProcess, storeDir: string, file: string): Promise<void> {
  const answer = await upload(server.url, "svc", await Deno.readFile(file));
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  await waitFor(
    async () => {
      const files = await listFiles(storeDir);
      return files.includes("svc/default.pgo") && !files.some((f) => f.startsWith("svc/staging/"));
    },
    60_000,
    `${answer.body.key} merged`,
  );
}

/** A file:// store and bus in a new temporary folder, and the worker command on them with `workerFlags`. */
async function pipelineDirs(workerFlags: string[]) {
  const root = await Deno.makeTempDir({ prefix: "autopgo-standby-" });
  const storeDir = `${root}/store`;
  await Deno.mkdir(storeDir);
  await Deno.mkdir(`${root}/bus`);
  const store = fileUrlFromPath(storeDir), bus = fileUrlFromPath(`${root}/bus`);
  const common = ["--port", "0", "--host", "127.0.0.1", "--blob-store-url", store, "--event-writer-url", bus];
  const worker = ["worker", ...common, "--event-reader-url", `${bus}?poll=20ms`, ...workerFlags];
  return { root, storeDir, store, bus, common, worker, processes: [] as AutopgoProcess[] };
}

/** Starts each command in turn (so the first worker takes slot 0), recording them in `processes` for the clean-up. */
async function startInOrder(processes: AutopgoProcess[], ...commands: string[][]): Promise<AutopgoProcess[]> {
  for (const command of commands) processes.push(await startAutopgo(command));
  return processes;
}

Deno.test("worker standby: with --local-workers 1 a second worker waits, takes over after kill -9, stops on SIGTERM", async () => {
  const { root, storeDir, store, bus, common, worker, processes } = await pipelineDirs(["--local-workers", "1"]);
  try {
    const [server, first, second] = await startInOrder(processes, ["server", ...common], worker, worker);
    await waitFor(
      () => /standing by: .*\(--local-workers 1,/.test(second.logs()),
      30_000,
      "the second worker standing by",
    );
    assert.equal(await standbyGauge(second), 1);
    assert.equal(await standbyGauge(first), 0);

    const [a, b] = committedProfiles().cpu;
    await uploadAndWaitMerged(server, storeDir, a);
    assert.match(first.logs(), /merged svc\/staging\//);
    assert.doesNotMatch(second.logs(), /merged svc\/staging\//, "a standby merges nothing");

    assert.equal(await first.stop("SIGKILL"), 137);
    await waitFor(
      () => /consuming events in local worker slot 0/.test(second.logs()),
      30_000,
      "the standby taking over",
    );
    await uploadAndWaitMerged(server, storeDir, b);
    assert.match(second.logs(), /merged svc\/staging\//);
    assert.equal(await standbyGauge(second), 0);

    const third = await startAutopgo(worker);
    processes.push(third);
    await waitFor(() => /standing by/.test(third.logs()), 30_000, "a third worker standing by");
    assert.equal(await third.stop("SIGTERM"), 0, "a standby stops by itself (not killed after 30 s)");
    assert.match(third.logs(), /standby ended by a signal/);
    assert.equal(await second.stop("SIGTERM"), 0);
    const slots = await localSlotsDir(store, `${bus}?poll=20ms`);
    await assert.rejects(Deno.stat(slots), Deno.errors.NotFound, "a clean exit leaves no slot folder behind");
  } finally {
    for (const p of processes.reverse()) await p.stop().catch(() => {});
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});

Deno.test("worker helpers: a second local worker stands by while events are fresh, helps while they wait, then steps back", async () => {
  // Helpers step back after 1.5 s without a late event; they join however busy the machine is (other tests).
  const { root, storeDir, store, bus, common, worker, processes } = await pipelineDirs([
    ...["--local-workers", "2", "--local-helper-lag", "300ms", "--local-helper-idle-cpu", "0"],
  ]);
  try {
    const [server, first, second] = await startInOrder(processes, ["server", ...common], worker, worker);
    await waitFor(() => /standing by/.test(second.logs()), 30_000, "the second worker standing by");
    assert.match(first.logs(), /consuming events in local worker slot 0/);
    const { cpu, cpuLabelled } = committedProfiles();
    const profiles = [...cpu, ...cpuLabelled];
    assert.ok(profiles.length >= 5, `5 committed CPU profiles, found ${profiles.length}`);
    await uploadAndWaitMerged(server, storeDir, profiles[0]);
    assert.equal(await standbyGauge(second), 1, "fresh events: the helper stays out");
    assert.doesNotMatch(second.logs(), /helping/);

    // The primary paused: events wait until it resumes, and it finds them late.
    Deno.kill(first.child.pid, "SIGSTOP");
    try {
      for (const file of profiles.slice(1, 4)) {
        const answer = await upload(server.url, "svc", await Deno.readFile(file));
        assert.equal(answer.status, 201, JSON.stringify(answer.body));
      }
      await new Promise((resolve) => setTimeout(resolve, 600));
    } finally {
      Deno.kill(first.child.pid, "SIGCONT");
    }
    await waitFor(
      () => /consuming events in local worker slot 1 \(helping: events waited over 300 ms\)/.test(second.logs()),
      30_000,
      "the second worker helping",
    );
    await waitFor(async () => !(await listFiles(storeDir)).some((f) => f.startsWith("svc/staging/")), 60_000, "merged");
    await waitFor(() => /stepping back: no event waited over 300 ms for 1500 ms/.test(second.logs()), 30_000, "calm");
    await waitFor(async () => (await standbyGauge(second)) === 1, 10_000, "the helper standing by again");

    assert.equal(await first.stop("SIGTERM"), 0);
    await waitFor(() => /consuming events in local worker slot 0/.test(second.logs()), 30_000, "taking slot 0");
    await uploadAndWaitMerged(server, storeDir, profiles[4]);
    assert.equal(await standbyGauge(second), 0);
    assert.equal(await second.stop("SIGTERM"), 0);
    const slots = await localSlotsDir(store, `${bus}?poll=20ms`);
    await assert.rejects(Deno.stat(slots), Deno.errors.NotFound, "no slot folder or lag mark left behind");
  } finally {
    for (const p of processes.reverse()) await p.stop().catch(() => {});
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});
