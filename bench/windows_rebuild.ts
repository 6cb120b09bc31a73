/**
 * `deno run -A bench/windows_rebuild.ts [N]` (issue 14): what rebuilding `default.pgo` from N
 * retention windows costs (default 168: one-hour windows of `--retention 7d`). N windows of an app
 * are filled through processUpload (one committed real profile each, on the mem:// store, injected
 * clock), then `rebuildDefault` is timed 5 times without decay (nothing changed: only the windows'
 * comments are read) and 5 times with `--half-life 2d` (every window decoded, weighted, merged,
 * written); prints the median, min and max of each. On this thread (no decode pool), so the figure
 * is the CPU a rebuild needs; the machine is shared, so compare runs side by side.
 *
 * @module
 */

import { openMemBlobStore } from "../adapters/blob/mem_blob.ts";
import { NO_METRICS } from "../core/metrics.ts";
import { stagingKey } from "../core/pipeline/keys.ts";
import { rebuildDefault } from "../core/pipeline/window_rebuild.ts";
import type { WindowConfig } from "../core/pipeline/windows.ts";
import { processUpload } from "../core/pipeline/worker_events.ts";
import { committedProfiles } from "../tests/support/fixtures.ts";

const HOUR = 3_600_000;

if (import.meta.main) {
  const n = Number(Deno.args[0] ?? 168);
  const committed = committedProfiles();
  const profiles = [...committed.cpu, ...committed.cpuLabelled].map((p) => Deno.readFileSync(p));
  const t0 = Date.UTC(2026, 0, 1);
  const clock = { now: t0 };
  const config = (halfLifeMs?: number): WindowConfig => ({
    windowMs: HOUR,
    retentionMs: 7 * 24 * HOUR,
    halfLifeMs,
    clock: () => new Date(clock.now),
  });
  const store = await openMemBlobStore("mem://");
  const deps = {
    store,
    pruneConfig: [],
    compaction: "pgo" as const,
    windows: config(),
    sleep: () => Promise.resolve(),
    random: Math.random,
    metrics: NO_METRICS,
    publisher: { publish: () => Promise.resolve() },
  };
  for (let i = 0; i < n; i++) {
    clock.now = t0 + i * HOUR;
    const key = stagingKey("bench", BigInt(clock.now) * 1_000_000n, `u${i}`);
    await store.write(key, profiles[i % profiles.length], { ifAbsent: true });
    await processUpload(deps, "bench", key);
  }
  for (const [name, windows] of [["no decay", config()], ["half-life 2d", config(2 * 24 * HOUR)]] as const) {
    const times: number[] = [];
    let kind = "";
    for (let r = 0; r < 5; r++) {
      clock.now += 1;
      const started = performance.now();
      kind = (await rebuildDefault(store, "bench", windows)).kind;
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    const size = (await store.read("bench/default.pgo")).data.length;
    console.log(
      `${name}: ${n} windows, rebuild ${kind}: median ${times[2].toFixed(0)} ms ` +
        `(min ${times[0].toFixed(0)}, max ${times[4].toFixed(0)}); default.pgo ${size} bytes`,
    );
  }
}
