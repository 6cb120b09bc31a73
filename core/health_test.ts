/**
 * sharedHealthRunner: probes share one run of the checks, and a dependency that hangs is
 * reported unhealthy within the answer time while its check goes on.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type HealthCheck, sharedHealthRunner } from "./health.ts";

Deno.test("sharedHealthRunner: a hanging dependency is answered unhealthy at once, its check not started again", async () => {
  let release = () => {};
  let calls = 0;
  const hanging: HealthCheck = {
    name: "blob",
    check: () => {
      calls++;
      return new Promise<void>((resolve) => release = resolve);
    },
  };
  const bus: HealthCheck = { name: "bus", check: () => Promise.resolve() };
  let clock = 0;
  const health = sharedHealthRunner([hanging, bus], 1_000, () => clock, 50);
  const [first, second] = await Promise.all([health(), health()]);
  assert.deepEqual(first, {
    status: "unhealthy",
    message: "blob: no answer within 50ms",
    dependencies: [
      { name: "blob", status: "unhealthy", message: "blob: no answer within 50ms" },
      { name: "bus", status: "healthy" },
    ],
  });
  assert.deepEqual(second, first);
  clock += 5_000; // past the TTL, but the run is still going: no second probe of the store
  assert.equal((await health()).status, "unhealthy");
  assert.equal(calls, 1);
  release(); // the store answers: this run's report is healthy, and so is the next answer
  assert.equal((await health()).status, "healthy");
  clock += 1_000;
  assert.equal((await health()).status, "unhealthy", "a new run, hanging again");
  assert.equal(calls, 2);
  release();
});

Deno.test("sharedHealthRunner: a late answer repeats the reason the dependency's last check gave", async () => {
  let fail = (_: Error) => {};
  const store: HealthCheck = {
    name: "blob",
    check: () => new Promise<void>((_, reject) => fail = reject),
  };
  let clock = 0;
  const health = sharedHealthRunner([store], 1_000, () => clock, 50);
  assert.equal((await health()).message, "blob: no answer within 50ms");
  fail(new Error('s3 bucket "profiles": connect ECONNREFUSED'));
  assert.equal((await health()).message, 's3 bucket "profiles": connect ECONNREFUSED');
  clock += 1_000; // the next run hangs
  assert.equal((await health()).message, 's3 bucket "profiles": connect ECONNREFUSED; blob: no answer within 50ms');
  fail(new Error("done"));
});
