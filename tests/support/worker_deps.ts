/**
 * Worker dependencies for in-process tests and benchmarks of the merge pipeline: no metrics, no
 * waiting, a publisher that publishes nothing, the default compaction; overridden per test.
 *
 * @module
 */

import type { BlobStore } from "../../core/blob.ts";
import { NO_METRICS } from "../../core/metrics.ts";
import type { WorkerDeps } from "../../core/pipeline/worker_events.ts";

/** {@link WorkerDeps} on `store` that do nothing beyond merging, with `overrides` applied. */
export function quietWorkerDeps(store: BlobStore, overrides: Partial<WorkerDeps> = {}): WorkerDeps {
  return {
    store,
    pruneConfig: [],
    compaction: "pgo",
    sleep: () => Promise.resolve(),
    random: Math.random,
    metrics: NO_METRICS,
    publisher: { publish: () => Promise.resolve() },
    ...overrides,
  };
}
