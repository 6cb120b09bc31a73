/**
 * Tests of the machine-wide CPU readings used by `deno task bench:ingest` (proc_stats.ts).
 */

import assert from "node:assert/strict";
import { busyShare, machineCpu } from "./proc_stats.ts";

Deno.test("machineCpu: busy time never exceeds the total, and both grow; busyShare is their ratio of growth", async () => {
  assert.equal(busyShare({ busy: 100, total: 400 }, { busy: 250, total: 600 }), 0.75);
  if (Deno.build.os !== "linux") return;
  const before = machineCpu();
  const until = performance.now() + 50;
  while (performance.now() < until) Math.sqrt(Math.random()); // keep one core busy
  await new Promise((resolve) => setTimeout(resolve, 20));
  const after = machineCpu();
  assert.ok(before.busy <= before.total && after.busy <= after.total);
  assert.ok(after.total > before.total && after.busy > before.busy);
  const share = busyShare(before, after);
  assert.ok(share > 0 && share <= 1, `busy share ${share}`);
});
