/**
 * Tests of the worker-scaling runs' order (ingest_workers.ts): every configuration runs once per
 * round, and each round starts one worker count later, so no count always runs first or last.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { IngestConfig, IngestResult } from "./ingest_run.ts";
import { measureWorkerScaling, modesToRun, rotated } from "./ingest_workers.ts";

Deno.test("rotated: left by places, wrapping around", () => {
  assert.deepEqual(rotated([1, 2, 4], 0), [1, 2, 4]);
  assert.deepEqual(rotated([1, 2, 4], 1), [2, 4, 1]);
  assert.deepEqual(rotated([1, 2, 4], 5), [4, 1, 2]);
  assert.deepEqual(rotated([], 3), []);
});

Deno.test("worker scaling: each round runs every configuration, starting one worker count later", async () => {
  const runs: string[] = [];
  await measureWorkerScaling(
    { uploads: 10, backlogUploads: 20, workers: [1, 2, 4], repeat: 3, warmup: 10, buses: ["file"] },
    [],
    (_make, config: IngestConfig) => {
      runs.push(`${config.backlog ? "backlog" : "live"} ${config.workers} ${config.uploads}`);
      if (!config.backlog) assert.equal(config.workers * config.warmup!, 40, "the same warm-up for every count");
      return Promise.resolve(undefined as IngestResult | undefined);
    },
  );
  assert.deepEqual(runs, [
    ...["live 1 10", "live 2 10", "live 4 10", "backlog 1 20", "backlog 2 20", "backlog 4 20"],
    ...["live 2 10", "live 4 10", "live 1 10", "backlog 2 20", "backlog 4 20", "backlog 1 20"],
    ...["live 4 10", "live 1 10", "live 2 10", "backlog 4 20", "backlog 1 20", "backlog 2 20"],
  ]);
});

Deno.test("worker scaling: --modes picks live, backlog or both, and refuses anything else", () => {
  assert.deepEqual(modesToRun(), [false, true]);
  assert.deepEqual(modesToRun(["backlog"]), [true]);
  assert.deepEqual(modesToRun(["backlog", "live"]), [false, true]);
  assert.throws(() => modesToRun(["live", "stress"]), /unknown worker benchmark mode stress/);
});
