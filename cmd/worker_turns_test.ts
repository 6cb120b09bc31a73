/**
 * Tests of the worker's turns (worker_turns.ts): a turn consumes until a signal; a signal that
 * comes while the event reader is being reopened ends the worker without consuming, and its slot
 * is free for the next worker.
 *
 * @module
 */

import assert from "node:assert/strict";
import { consumeInTurns, type TurnHooks } from "./worker_turns.ts";
import { LocalWorkerSlots } from "./worker_standby.ts";

async function withSlots(fn: (slots: LocalWorkerSlots) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "autopgo-turns-" });
  try {
    await fn(new LocalWorkerSlots(`${root}/slots`, 1, "turns-test"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

function hooksRecording(calls: string[], resumes: boolean): TurnHooks {
  return {
    standBy: () => Promise.resolve(void calls.push("standBy")),
    resume: () => Promise.resolve(calls.push("resume") > 0 && resumes),
    consume: (stop) => {
      calls.push("consume");
      return new Promise((resolve) => stop.addEventListener("abort", () => resolve(), { once: true }));
    },
  };
}

Deno.test("worker turns: a turn consumes until a signal, then frees its slot", async () => {
  await withSlots(async (slots) => {
    const calls: string[] = [];
    let signal = (_name: string) => {};
    const received = new Promise<string>((resolve) => signal = resolve);
    const turns = consumeInTurns(
      { slots, received, shutdown: new AbortController().signal },
      hooksRecording(calls, true),
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    signal("SIGTERM");
    await turns;
    assert.deepEqual(calls, ["resume", "consume"]);
    const next = slots.tryTake();
    assert.equal(next?.index, 0, "slot 0 is free again");
    next!.release();
  });
});

Deno.test("worker turns: a signal during the reader's reopening ends the worker, without consuming", async () => {
  await withSlots(async (slots) => {
    const calls: string[] = [];
    const shutdown = new AbortController();
    const hooks = hooksRecording(calls, false);
    const resume = hooks.resume;
    hooks.resume = () => {
      shutdown.abort(); // SIGTERM while a bus that is down is waited for
      return resume();
    };
    await consumeInTurns({ slots, received: new Promise(() => {}), shutdown: shutdown.signal }, hooks);
    assert.deepEqual(calls, ["resume"]);
    const next = slots.tryTake();
    assert.equal(next?.index, 0, "slot 0 is free again");
    next!.release();
  });
});
