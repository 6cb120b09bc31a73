import assert from "node:assert/strict";
import { startDeadline, withDeadline } from "./deadline.ts";

/** Runs `fn` with a referenced timer alive: a deadline's own timer, like AbortSignal.timeout's, keeps no process alive. */
async function keptAlive<T>(fn: () => Promise<T>): Promise<T> {
  const alive = setInterval(() => {}, 1_000);
  try {
    return await fn();
  } finally {
    clearInterval(alive);
  }
}

Deno.test("deadline: aborts with a TimeoutError once its time has passed, like AbortSignal.timeout", async () => {
  const deadline = startDeadline(10);
  await keptAlive(() => new Promise((resolve) => deadline.signal.addEventListener("abort", resolve, { once: true })));
  assert.equal((deadline.signal.reason as DOMException).name, "TimeoutError");
  deadline.clear(); // after the fact: nothing happens
  const slow = withDeadline(
    10,
    (signal) =>
      new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true })),
  );
  await keptAlive(() => assert.rejects(slow, (e: unknown) => (e as DOMException).name === "TimeoutError"));
});

Deno.test("deadline: cleared, it never aborts; withDeadline clears when the work settles", async () => {
  const deadline = startDeadline(10);
  deadline.clear();
  deadline.clear();
  await keptAlive(() => new Promise((resolve) => setTimeout(resolve, 40)));
  assert.equal(deadline.signal.aborted, false, "past its time, never aborted");
  let seen: AbortSignal | undefined;
  assert.equal(await withDeadline(10, (signal) => Promise.resolve((seen = signal).aborted)), false);
  await assert.rejects(withDeadline(10, () => Promise.reject(new Error("failed"))), /failed/);
  await keptAlive(() => new Promise((resolve) => setTimeout(resolve, 40)));
  assert.equal(seen?.aborted, false, "cleared when its work resolved");
});
