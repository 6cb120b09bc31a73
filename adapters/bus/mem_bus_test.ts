/**
 * mem:// event bus: the shared conformance suite on real time with a short deadline, plus
 * exact timing rules on a manual clock (no sleeping) and the URL/duplicate options.
 *
 * @module
 */

import assert from "node:assert/strict";
import { busConformance, receiveWithin } from "../../tests/support/bus_conformance.ts";
import { ManualClock } from "../clock.ts";
import { dropMemTopic, openMemEventReader, openMemEventWriter } from "./mem_bus.ts";

let topicCounter = 0;
const enc = (text: string) => new TextEncoder().encode(text);

busConformance("mem", async () => {
  const name = `conformance-${++topicCounter}`;
  const url = `mem://${name}?ackdeadline=300ms`;
  return {
    writer: await openMemEventWriter(url),
    openReader: () => openMemEventReader(url),
    ackDeadlineMs: 300,
    cleanup: () => Promise.resolve(dropMemTopic(name)),
  };
});

Deno.test("mem bus: deadlines and nack delays follow the injected clock exactly", async () => {
  const clock = new ManualClock();
  const url = `mem://manual-${++topicCounter}?ackdeadline=30s`;
  const writer = await openMemEventWriter(url, { clock });
  const reader = await openMemEventReader(url, { clock });
  try {
    await writer.send({ body: enc("m"), orderingKey: "k" });
    const first = await reader.receive();
    assert.equal(first?.deliveryAttempt, 1);
    const pending = reader.receive();
    await clock.advance(29_999);
    let done = false;
    pending.then(() => done = true);
    await clock.advance(0);
    assert.equal(done, false, "redelivered before the 30s deadline");
    await clock.advance(1);
    const second = await pending;
    assert.equal(second?.deliveryAttempt, 2);
    await first!.ack(); // the expired lease: no effect
    await second!.nack(); // default backoff for attempt 2: 2s
    const third = reader.receive();
    await clock.advance(1_999);
    let thirdDone = false;
    third.then(() => thirdDone = true);
    await clock.advance(0);
    assert.equal(thirdDone, false, "redelivered before the 2s backoff");
    await clock.advance(1);
    assert.equal((await third)?.deliveryAttempt, 3);
  } finally {
    await reader.close();
    await writer.close();
  }
});

Deno.test("mem bus: ?duplicate=2 enqueues every message twice with one id", async () => {
  const name = `dup-${++topicCounter}`;
  const writer = await openMemEventWriter(`mem://${name}?duplicate=2`);
  const reader = await openMemEventReader(`mem://${name}?duplicate=2`);
  try {
    await writer.send({ body: enc("x") });
    const a = await receiveWithin(reader, 1_000);
    const b = await receiveWithin(reader, 1_000);
    assert.ok(a && b);
    assert.equal(a.id, b.id);
    await Promise.all([a.ack(), b.ack()]);
    assert.equal(await receiveWithin(reader, 50), undefined);
  } finally {
    await reader.close();
    await writer.close();
    dropMemTopic(name);
  }
});

Deno.test("mem bus: bad URLs are one-line errors", async () => {
  await assert.rejects(openMemEventWriter("mem://"), /expected mem:\/\/topic/);
  await assert.rejects(openMemEventReader("mem://t/sub"), /expected mem:\/\/topic/);
  await assert.rejects(openMemEventReader("mem://t?ackdeadline=soon"), /ackdeadline: invalid duration "soon"/);
  await assert.rejects(openMemEventWriter("mem://t?duplicate=0"), /duplicate="0": expected an integer from 1 to 10/);
  await assert.rejects(openMemEventWriter("mem://t?poll=1s"), /unknown parameter "poll"/);
});

Deno.test("mem bus: closed writers and readers refuse work", async () => {
  const name = `closed-${++topicCounter}`;
  const writer = await openMemEventWriter(`mem://${name}`);
  const reader = await openMemEventReader(`mem://${name}`);
  await writer.close();
  await reader.close();
  await assert.rejects(writer.send({ body: enc("x") }), /writer closed/);
  await assert.rejects(reader.check(), /reader closed/);
  assert.equal(await reader.receive(), undefined);
  dropMemTopic(name);
});
