/**
 * Tests of the worker's handler slots (worker.ts `HandlerSlots`): `--concurrency` bounds the events
 * handled at once, received or kept, and waiting handlers run in the order they asked.
 */

import assert from "node:assert/strict";
import { HandlerSlots } from "./worker.ts";

Deno.test("HandlerSlots: at most size handlers run at once, the others in order as slots free up", async () => {
  const slots = new HandlerSlots(2);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const releases: (() => void)[] = [];
  const started = [0, 1, 2, 3].map((i) =>
    slots.run(async () => {
      running++;
      peak = Math.max(peak, running);
      order.push(i);
      await new Promise<void>((resolve) => releases.push(resolve));
      running--;
      return i;
    })
  );
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(order, [0, 1], "two run, two wait");
  releases.shift()!();
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(order, [0, 1, 2]);
  for (let turn = 0; turn < 20 && (releases.length > 0 || order.length < 4); turn++) {
    releases.shift()?.();
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  assert.deepEqual(await Promise.all(started), [0, 1, 2, 3]);
  assert.equal(peak, 2);
});

Deno.test("HandlerSlots: a failing handler frees its slot", async () => {
  const slots = new HandlerSlots(1);
  await assert.rejects(slots.run(() => Promise.reject(new Error("boom"))), /boom/);
  assert.equal(await slots.run(() => Promise.resolve("next")), "next");
});
