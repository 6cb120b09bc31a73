/**
 * Tests of the capacity model's arithmetic (bench/simulate_model.ts): the two-term fit and the
 * extrapolation from measured steps.
 */

import assert from "node:assert/strict";
import { extrapolate, fitTwo, type StepResult } from "./simulate_model.ts";

Deno.test("fitTwo: recovers the per-upload and per-batch costs, refuses degenerate or negative fits", () => {
  const points = [[100, 100], [200, 50], [400, 20], [800, 16]].map(([x1, x2]) => ({ x1, x2, y: 2 * x1 + 30 * x2 }));
  const fit = fitTwo(points)!;
  assert.ok(Math.abs(fit.a - 2) < 1e-9 && Math.abs(fit.b - 30) < 1e-9, JSON.stringify(fit));
  assert.equal(fitTwo([{ x1: 1, x2: 2, y: 3 }, { x1: 2, x2: 4, y: 6 }]), undefined, "collinear");
  assert.equal(fitTwo([{ x1: 1, x2: 1, y: 0 }, { x1: 2, x2: 1, y: 5 }]), undefined, "negative batch cost");
});

function step(offered: number, merged: number, batches: number, workerCpuS: number): StepResult {
  return {
    workers: 1,
    apps: 20,
    offered,
    seconds: 10,
    accepted: merged,
    refused: 0,
    merged,
    mergedPerSecond: merged / 10,
    p50: 100,
    p99: 200,
    backlogAtEnd: 0,
    unmerged: 0,
    serverCpuS: merged * 0.005,
    workerCpuS,
    batches,
    operations: { "blob read": merged * 2, "bus send": merged * 2 },
  };
}

Deno.test("extrapolate: capacity and cores for 10,000 services follow from the fitted costs", () => {
  // a = 2 ms per upload, b = 30 ms per batch.
  const steps = [step(10, 100, 100, 3.2), step(40, 400, 20, 1.4), step(80, 800, 16, 2.08)];
  const text = extrapolate(steps, () => true, { services: 10_000, periodS: 60, kib: 4 });
  assert.match(text, /a = 2\.00 ms CPU per upload, b = 30\.0 ms CPU per batch write/);
  assert.match(text, /one worker process on one core, uploads\/s \| 31 \| 174 \| 405 \|/); // 1000/(2+30/n)
  assert.match(text, /167 uploads\/s\) \| 5\.33 \| 0\.96 \| 0\.41 \|/);
  assert.match(text, /server CPU 0\.83 cores; the store sees 333 operations\/s and the bus 333/);
  assert.match(extrapolate([], () => false, { services: 1, periodS: 1, kib: 1 }), /nothing to extrapolate/);
  assert.match(extrapolate(steps, () => false, { services: 1, periodS: 1, kib: 1 }), /this machine[^:]*: none\./);
});
