/**
 * mapLimit: input order, the bound on calls in flight, and the first failure.
 *
 * @module
 */

import assert from "node:assert/strict";
import { mapLimit } from "./map_limit.ts";

Deno.test("mapLimit: results in input order with at most `limit` calls in flight", async () => {
  let inFlight = 0, most = 0;
  const delays = [5, 1, 4, 0, 3, 2, 1, 0, 6, 1];
  const results = await mapLimit(delays, 3, async (ms, i) => {
    most = Math.max(most, ++inFlight);
    await new Promise((resolve) => setTimeout(resolve, ms));
    inFlight--;
    return `${i}:${ms}`;
  });
  assert.deepEqual(results, delays.map((ms, i) => `${i}:${ms}`));
  assert.equal(most, 3);
  assert.deepEqual(await mapLimit([], 4, () => Promise.resolve(1)), []);
  assert.deepEqual(
    await mapLimit([1, 2], 0, (x) => Promise.resolve(x * 2)),
    [2, 4],
    "a limit below 1 runs one at a time",
  );
});

Deno.test("mapLimit: a failing call rejects the whole map", async () => {
  await assert.rejects(
    () => mapLimit([1, 2, 3], 2, (x) => x === 2 ? Promise.reject(new Error("two")) : Promise.resolve(x)),
    /two/,
  );
});
