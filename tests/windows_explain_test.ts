/**
 * Issue 14, "done when": `explain` on a profile shows that a call site hot only in an expired
 * window is no longer hot. Real profiles of two workloads of the hotpath fixture (only its sort
 * endpoint, then only its hash endpoint) are uploaded four days apart and merged by the worker
 * with `--retention 3d` under an injected clock; `explain` (and `inspect`) read the `default.pgo`
 * the worker rebuilt at each step, and the app list (`list --json`) carries the window range.
 */

import assert from "node:assert/strict";
import { openMemBlobStore } from "../adapters/blob/mem_blob.ts";
import { formatExplainReport, runExplain } from "../cmd/explain.ts";
import { runInspect } from "../cmd/inspect.ts";
import { NO_METRICS } from "../core/metrics.ts";
import { stagingKey } from "../core/pipeline/keys.ts";
import { readBase } from "../core/pipeline/profiles_view.ts";
import { processUpload, type WorkerDeps } from "../core/pipeline/worker_events.ts";
import { ProfileViews } from "../core/web/profile_views.ts";
import { fixtureTempDir, generateProfiles } from "./support/fixtures.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const DAY0 = Date.UTC(2026, 2, 2, 9, 30);
const SORT_SITE = "main.runEndpoint → main.sortRecords";

function hotSites(report: Awaited<ReturnType<typeof runExplain>>): string[] {
  return report.hotEdges.map((e) => `${e.caller} → ${e.callee}`);
}

Deno.test("explain: a call site hot only in an expired window is no longer hot (two real workloads, days apart)", async () => {
  const [sortProfile] = await generateProfiles({ count: 1, durationMs: 0, units: 6000, rate: 250, only: "/api/sort" });
  const [hashProfile] = await generateProfiles({ count: 1, durationMs: 0, units: 8000, rate: 250, only: "/api/hash" });
  const store = await openMemBlobStore("mem://");
  const clock = { now: DAY0 };
  const deps: WorkerDeps = {
    store,
    pruneConfig: [],
    compaction: "pgo",
    windows: { windowMs: HOUR, retentionMs: 3 * DAY, clock: () => new Date(clock.now) },
    sleep: () => Promise.resolve(),
    random: Math.random,
    metrics: NO_METRICS,
    publisher: { publish: () => Promise.resolve() },
  };
  const dir = await fixtureTempDir();
  let step = 0;
  const upload = async (path: string) => {
    const key = stagingKey("shop", BigInt(clock.now) * 1_000_000n, `u${step}`);
    await store.write(key, await Deno.readFile(path), { ifAbsent: true });
    await processUpload(deps, "shop", key);
    const file = `${dir}/default-${step++}.pgo`;
    await Deno.writeFile(file, (await readBase(store, "shop"))!.data);
    return file;
  };

  const first = await runExplain(await upload(sortProfile), { threshold: 99 });
  assert.ok(hotSites(first).includes(SORT_SITE), `sort site hot on day 0: ${hotSites(first).join("; ")}`);
  assert.equal(first.windows?.count, 1);

  clock.now = DAY0 + 2 * DAY; // both workloads inside the retention
  const both = await runExplain(await upload(hashProfile), { threshold: 99 });
  assert.ok(hotSites(both).includes(SORT_SITE), "sort site still hot on day 2");
  assert.ok(hotSites(both).some((s) => /main\.hashBlocks|mixWord|digest/.test(s)), hotSites(both).join("; "));
  assert.equal(both.windows?.count, 2);
  assert.equal(both.windows?.oldestSample, new Date(DAY0).toISOString());

  clock.now = DAY0 + 4 * DAY; // the day-0 window has expired; the hash workload runs again
  const later = await upload(hashProfile);
  const after = await runExplain(later, { threshold: 99 });
  assert.ok(!hotSites(after).includes(SORT_SITE), `sort site no longer hot: ${hotSites(after).join("; ")}`);
  assert.ok(!hotSites(after).some((s) => s.includes("sortRecords")), "nothing of the sort workload is left");
  assert.equal(after.windows?.count, 2, "the day-2 and day-4 windows");
  assert.equal(after.windows?.oldestSample, new Date(DAY0 + 2 * DAY).toISOString());
  assert.equal(after.windows?.newestSample, new Date(DAY0 + 4 * DAY).toISOString());
  const text = formatExplainReport(after, 5);
  assert.match(
    text,
    /^Windows: 2 windows of 1h, 2026-03-04T09:00:00Z \.\. 2026-03-06T10:00:00Z \(retention 3d, no decay\)$/m,
  );
  assert.match(text, /^Samples: oldest 2026-03-04T09:30:00Z, newest 2026-03-06T09:30:00Z$/m);
  const inspected = await runInspect(later, { top: 3 });
  assert.match(inspected, /^Windows: {6}2 windows of 1h/m);
  assert.match(inspected, /^Samples: {6}oldest 2026-03-04T09:30:00Z/m);
  // `list --json` carries the same range (from GET /api/apps).
  const [listed] = await new ProfileViews(store).list();
  assert.deepEqual([listed.app, listed.windows?.from, listed.windows?.count], ["shop", "2026-03-04T09:00:00.000Z", 2]);
  assert.equal(
    await store.stat(`shop/windows/${String(Math.floor(DAY0 / HOUR) * 3600).padStart(12, "0")}.pgo`),
    undefined,
  );
});
