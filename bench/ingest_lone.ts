/**
 * The lone-upload latency of the worker itself, for `bench/ingest.ts`: with no bus and no polling in
 * the way, one staged upload handled by `processUpload` (stat, listing, base read, merge job in a
 * decode pool of one Web Worker, conditional write, clean-up) on a file:// store whose base already
 * holds `baseUploads` uploads, batched (`maxUploads` 64) and unbatched (1) alternately, so both
 * see the same base sizes and machine load. Issue 13: batching must not make a lone upload slower.
 * Also the CPU time of each (user + system of this process: the decode pool's Worker included).
 * `openLoneBase` is the base alone, for bench/scaling.ts, which times several bases in turn.
 *
 * @module
 */

import { fileUrlFromPath, openFileBlobStore } from "../adapters/mod.ts";
import { DecodePool } from "../core/pipeline/decode_pool.ts";
import { stagingKey } from "../core/pipeline/keys.ts";
import type { CompactionMode } from "../core/pipeline/merge_upload.ts";
import { processUpload, type WorkerDeps } from "../core/pipeline/worker_events.ts";
import process from "node:process";
import { percentile } from "./ingest_run.ts";

/** Median ms of a lone upload, batched and not, and the base size it merged into (NaN for a mode not run). */
export interface LoneResult {
  compaction: CompactionMode;
  baseUploads: number;
  baseBytes: number;
  runs: number;
  batchedMs: number;
  singleMs: number;
  /** Median CPU ms (user + system of the process) of the same uploads. */
  batchedCpuMs: number;
  singleCpuMs: number;
}

/** Which worker settings {@link measureLone} times: `batched` (`maxUploads` 64), `single` (1). */
export type LoneMode = "batched" | "single";

/** One timed upload: wall and CPU (user + system of the process) milliseconds. */
export interface LoneTiming {
  wallMs: number;
  cpuMs: number;
}

/** A file:// store whose app `lone` holds a base of `baseUploads` uploads, ready to time one more at a time. */
export interface LoneBase {
  baseUploads: number;
  /** Stages the next upload (a profile the base has not seen while `bodies` last) and times `processUpload` on it. */
  time(mode: LoneMode): Promise<LoneTiming>;
  /** Size of the base now. */
  baseBytes(): Promise<number>;
  close(): Promise<void>;
}

/** Builds a base of `baseUploads` of `bodies` (in batches of 64) in a fresh file:// store with its own decode pool. */
export async function openLoneBase(
  bodies: Uint8Array[],
  compaction: CompactionMode,
  baseUploads: number,
): Promise<LoneBase> {
  const root = await Deno.makeTempDir({ prefix: "autopgo-bench-lone-" });
  const store = await openFileBlobStore(fileUrlFromPath(root));
  const pool = new DecodePool({ size: 1 });
  const maxUploads = { batched: 64, single: 1 };
  const deps = (mode: LoneMode): WorkerDeps => ({
    store,
    pruneConfig: [],
    compaction,
    jobs: pool,
    batch: { maxUploads: maxUploads[mode], maxBytes: 16 << 20 },
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    random: Math.random,
    publisher: { publish: () => Promise.resolve() },
  });
  let n = 0;
  const stage = async (body: Uint8Array) => {
    const key = stagingKey("lone", 1_700_000_000_000_000_000n + BigInt(n), `l${n}`);
    n++;
    await store.write(key, body, { ifAbsent: true });
    return key;
  };
  const close = async () => {
    pool.close();
    await store.close();
    await Deno.remove(root, { recursive: true });
  };
  try {
    for (let i = 0; i < baseUploads; i += 64) {
      let last = "";
      for (let j = i; j < Math.min(baseUploads, i + 64); j++) last = await stage(bodies[j % bodies.length]);
      await processUpload(deps("batched"), "lone", last);
    }
  } catch (error) {
    await close();
    throw error;
  }
  return {
    baseUploads,
    async time(mode) {
      const key = await stage(bodies[n % bodies.length]);
      const c = process.cpuUsage(), t = performance.now();
      await processUpload(deps(mode), "lone", key);
      const wallMs = performance.now() - t, used = process.cpuUsage(c);
      return { wallMs, cpuMs: (used.user + used.system) / 1000 };
    },
    baseBytes: async () => (await store.stat("lone/default.pgo"))!.size,
    close,
  };
}

/** Builds a base of `baseUploads` of `bodies` (in batches), then times `runs` lone uploads per mode. */
export async function measureLone(
  bodies: Uint8Array[],
  compaction: CompactionMode,
  baseUploads: number,
  runs: number,
  modes: readonly LoneMode[] = ["batched", "single"],
): Promise<LoneResult> {
  const base = await openLoneBase(bodies, compaction, baseUploads);
  try {
    const times = { batched: [] as number[], single: [] as number[] };
    const cpu = { batched: [] as number[], single: [] as number[] };
    for (let r = 0; r < runs + 4; r++) { // the first 4 rounds warm up (JIT) and are not counted
      const order = r % 2 ? modes : [...modes].reverse();
      for (const mode of order) {
        const { wallMs, cpuMs } = await base.time(mode);
        if (r >= 4) {
          times[mode].push(wallMs);
          cpu[mode].push(cpuMs);
        }
      }
    }
    const median = (a: number[]) => percentile([...a].sort((x, y) => x - y), 50);
    return {
      compaction,
      baseUploads,
      baseBytes: await base.baseBytes(),
      runs,
      batchedMs: median(times.batched),
      singleMs: median(times.single),
      batchedCpuMs: median(cpu.batched),
      singleCpuMs: median(cpu.single),
    };
  } finally {
    await base.close();
  }
}
