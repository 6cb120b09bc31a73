/**
 * Tests of the portable topic (event_bus.ts): transient failures are retried, and once a send has
 * failed through all its attempts the topic fails fast, letting one send per interval try again
 * (with one attempt) until a send succeeds or a check passes.
 */

import assert from "node:assert/strict";
import { BusError, type BusErrorKind, Topic } from "./event_bus.ts";
import type { EventWriter, OutgoingMessage } from "./events.ts";

/** A writer whose sends fail with `failing` (a BusError kind) while it is set; counts the calls. */
function fakeWriter() {
  const state = { failing: undefined as BusErrorKind | undefined, sends: 0, checks: 0 };
  const writer: EventWriter = {
    send(_message: OutgoingMessage) {
      state.sends++;
      return state.failing ? Promise.reject(new BusError(state.failing, "broker down")) : Promise.resolve();
    },
    check() {
      state.checks++;
      return state.failing ? Promise.reject(new BusError(state.failing, "broker down")) : Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
  return { state, writer };
}

const message = { body: new Uint8Array([1]), orderingKey: "app" };

/** A topic over a fake writer whose first send has failed through all four attempts (an outage has begun). */
async function failedTopic(now: () => number) {
  const { state, writer } = fakeWriter();
  const topic = new Topic(writer, { retryBaseMs: 1, random: () => 0, now });
  state.failing = "unavailable";
  await assert.rejects(topic.send(message));
  assert.equal(state.sends, 4);
  return { state, topic };
}

Deno.test("Topic: after a send fails through its attempts, sends fail fast; one per interval tries again", async () => {
  const { state, writer } = fakeWriter();
  let now = Date.UTC(2026, 11, 2, 15, 58, 2, 500);
  const outcomes: string[] = [];
  const topic = new Topic(writer, {
    retryBaseMs: 1,
    random: () => 0,
    failFastMs: 5_000,
    now: () => now,
    observe: (r) => outcomes.push(`${r.operation}:${r.outcome}`),
  });
  await topic.send(message);
  state.failing = "unavailable";
  await assert.rejects(topic.send(message), /broker down/);
  assert.equal(state.sends, 1 + 4, "the first failure is retried through every attempt");
  now += 2_000;
  const fast = await topic.send(message).catch((e) => e);
  assert.ok(fast instanceof BusError && fast.kind === "unavailable");
  assert.match(
    fast.message,
    /^send: not tried \(the topic has been unreachable since 2026-12-02T15:58:02Z; a send tries again in 3 s\): .*broker down/,
  );
  assert.equal(state.sends, 5, "no attempt while failing fast");
  now += 3_000;
  await assert.rejects(topic.send(message), /broker down/);
  assert.equal(state.sends, 6, "the send after the interval tries once");
  await assert.rejects(topic.send(message), /unreachable since 2026-12-02T15:58:02Z; a send tries again in 5 s/);
  assert.equal(state.sends, 6);
  now += 5_000;
  state.failing = undefined;
  await topic.send(message);
  await topic.send(message);
  assert.equal(state.sends, 8, "a success ends the outage");
  assert.deepEqual(outcomes, [
    "send:ok",
    "send:unavailable",
    "send:unavailable",
    "send:unavailable",
    "send:unavailable",
    "send:ok",
    "send:ok",
  ]);
});

Deno.test("Topic: a slow failure is retried only while the retry starts within retryWithinMs of the send", async () => {
  for (const [failureMs, expectedSends] of [[5_000, 1], [2_000, 3], [0, 4]]) {
    const { state, writer } = fakeWriter();
    let now = 0;
    const slow: EventWriter = {
      ...writer,
      // The driver waits out its own timeout before it fails, as nats.js does for a lost connection.
      send: (m) => (now += failureMs, writer.send(m)),
    };
    const topic = new Topic(slow, { retryBaseMs: 1, random: () => 0, now: () => now });
    state.failing = "unavailable";
    await assert.rejects(topic.send(message), /broker down/);
    assert.equal(state.sends, expectedSends, `failures that take ${failureMs} ms`);
    await assert.rejects(topic.send(message), /not tried/, "the outage has begun");
  }
});

Deno.test("Topic: a passing check ends an outage; other failures and failFastMs 0 never start one", async () => {
  const { state, topic } = await failedTopic(() => 1_000_000);
  await assert.rejects(topic.send(message), /not tried/);
  state.failing = undefined;
  await topic.check();
  await topic.send(message);
  assert.equal(state.sends, 5);

  state.failing = "permission";
  await assert.rejects(topic.send(message), /broker down/);
  await assert.rejects(topic.send(message), /broker down/);
  assert.equal(state.sends, 7, "permission errors are not retried and do not fail fast");

  const always = fakeWriter();
  const plain = new Topic(always.writer, { retryBaseMs: 1, random: () => 0, failFastMs: 0 });
  always.state.failing = "unavailable";
  await assert.rejects(plain.send(message));
  await assert.rejects(plain.send(message));
  assert.equal(always.state.sends, 8, "every send tries in full");
});

Deno.test("Topic: concurrent sends during the retry send one probe; an aborted probe lets the next one try", async () => {
  let now = 1_000_000;
  const { state, topic } = await failedTopic(() => now);
  now += 5_000;
  const results = await Promise.allSettled([topic.send(message), topic.send(message), topic.send(message)]);
  assert.equal(state.sends, 5, "one probe");
  assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected", "rejected"]);
  now += 5_000;
  const aborted = new AbortController();
  aborted.abort();
  await assert.rejects(topic.send(message, aborted.signal));
  assert.equal(state.sends, 5);
  state.failing = undefined;
  await topic.send(message);
  assert.equal(state.sends, 6, "the probe slot was released by the aborted send");
});
