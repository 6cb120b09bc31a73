/**
 * Issue 14, decay: the edge weights the Go compiler reads from a decayed `default.pgo` are what
 * the formula says. Two real workloads of the hotpath fixture are merged by the worker into two
 * windows two days apart with `--half-life 1d` (injected clock); `go tool preprofile` of the
 * rebuilt `default.pgo` must give, for every call edge, `c · Σ_i weight_i(edge) · 2^(−age_i/D)`
 * within 0.1%, where `weight_i(edge)` is the edge's weight in `go tool preprofile` of window i
 * alone and `c` the recorded decay scale. Skips when Go is missing (fails under CI=true).
 */

import assert from "node:assert/strict";
import { openMemBlobStore } from "../adapters/blob/mem_blob.ts";
import { readBaseState } from "../core/pipeline/base_state.ts";
import { stagingKey } from "../core/pipeline/keys.ts";
import { readBase } from "../core/pipeline/profiles_view.ts";
import { windowAgeMs } from "../core/pipeline/windows.ts";
import { processUpload } from "../core/pipeline/worker_events.ts";
import { decodeProfile } from "../core/pprof/decode.ts";
import { parsePreprofile, type PgoEdgeMap } from "../core/pprof/edges.ts";
import { fixtureTempDir, generateProfiles } from "./support/fixtures.ts";
import { runGo, skipUnlessGo } from "./support/go.ts";
import { quietWorkerDeps } from "./support/worker_deps.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const DAY0 = Date.UTC(2026, 2, 2, 9, 30);
const NAME = "decay: go tool preprofile edge weights follow 2^(−age/half-life) within 0.1% (two real windows)";

async function preprofile(dir: string, name: string, data: Uint8Array): Promise<Map<string, number>> {
  const path = `${dir}/${name}.pgo`;
  await Deno.writeFile(path, data);
  const map: PgoEdgeMap = parsePreprofile(
    new TextDecoder().decode((await runGo(["tool", "preprofile", "-i", path])).stdout),
  );
  return new Map(map.byWeight.map((e) => [`${e.caller} ${e.callSiteOffset} ${e.callee}`, e.weight]));
}

Deno.test(NAME, async () => {
  if (!skipUnlessGo(NAME)) return;
  const [sortProfile] = await generateProfiles({ count: 1, durationMs: 0, units: 6000, rate: 250, only: "/api/sort" });
  const [hashProfile] = await generateProfiles({ count: 1, durationMs: 0, units: 8000, rate: 250, only: "/api/hash" });
  const store = await openMemBlobStore("mem://");
  const clock = { now: DAY0 };
  const windows = { windowMs: HOUR, halfLifeMs: DAY, clock: () => new Date(clock.now) };
  const deps = quietWorkerDeps(store, { windows });
  const upload = async (path: string, n: number) => {
    const key = stagingKey("shop", BigInt(clock.now) * 1_000_000n, `u${n}`);
    await store.write(key, await Deno.readFile(path), { ifAbsent: true });
    await processUpload(deps, "shop", key);
  };
  await upload(sortProfile, 0);
  clock.now = DAY0 + 2 * DAY + 20 * 60_000;
  await upload(hashProfile, 1);

  const dir = await fixtureTempDir();
  const merged = (await readBase(store, "shop"))!.data;
  const coverage = readBaseState(decodeProfile(merged).comments).coverage!;
  assert.equal(coverage.count, 2);
  const starts = [coverage.first, coverage.last];
  const now = new Date(clock.now);
  const weights = starts.map((s) => 2 ** (-windowAgeMs(windows, s, now) / DAY));
  assert.equal(weights[1], 1, "the window still filling weighs 1");
  const windowEdges = await Promise.all(
    starts.map(async (s, i) => {
      const key = `shop/windows/${String(s).padStart(12, "0")}.pgo`;
      return await preprofile(dir, `window-${i}`, (await store.read(key)).data);
    }),
  );
  const decayed = await preprofile(dir, "default", merged);
  const scale = coverage.decayScale!;
  assert.ok(scale >= 1000, `scale ${scale}`);
  let checked = 0, fromOld = 0;
  for (const [edge, weight] of decayed) {
    const exact = scale * windowEdges.reduce((sum, edges, i) => sum + (edges.get(edge) ?? 0) * weights[i], 0);
    assert.ok(Math.abs(weight - exact) <= 0.001 * exact, `${edge}: ${weight} vs ${exact.toFixed(1)}`);
    checked++;
    if (windowEdges[0].has(edge)) fromOld++;
  }
  const every = new Set([...windowEdges[0].keys(), ...windowEdges[1].keys()]);
  assert.equal(checked, every.size, "no edge lost or invented");
  assert.ok(fromOld > 5, `edges of the old window checked: ${fromOld}`);
  console.log(`decay preprofile: ${checked} edges, old window weight ${weights[0].toFixed(5)}, scale ${scale}`);
});
