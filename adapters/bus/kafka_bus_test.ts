/**
 * kafka:// event bus against a real single-node Kafka 4.4 broker (one per file, started in
 * `beforeAll`; every test uses topics and groups of its own): the shared conformance suite
 * with a reader process killed with `kill -9`, offsets committed only after acks, nack never
 * skipping, the app as message key and partition, a long hold surviving the session timeout,
 * plus URL, partitioner, delivery-count and error-kind checks that need no broker.
 *
 * @module
 */

import assert from "node:assert/strict";
import process from "node:process";
import kafkajs, { AssignerProtocol, Kafka, logLevel } from "kafkajs";
import RequestQueue from "kafkajs/src/network/requestQueue/index.js";
import { BusError } from "../../core/event_bus.ts";
import type { EventReader, IncomingMessage } from "../../core/events.ts";
import { busConformance, receiveWithin } from "../../tests/support/bus_conformance.ts";
import { type KafkaBroker, kafkaSkip, startKafka } from "../../tests/support/services/kafka.ts";
import { freePort } from "../../tests/support/services/service.ts";
import { kafkaErrorKind, keyPartition, openKafkaEventReader, openKafkaEventWriter } from "./kafka_bus.ts";
import {
  decodeDeliveries,
  encodeDeliveries,
  kafkaBrokers,
  kafkaReaderSettings,
  kafkaWriterSettings,
  quietKafkajsRequestQueues,
} from "./kafka_common.ts";

// kafkajs spreads its error classes into its exports, which named ESM imports cannot see.
const { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } = kafkajs;
const skip = kafkaSkip();
const enc = (text: string) => new TextEncoder().encode(text);
const dec = (data: Uint8Array) => new TextDecoder().decode(data);
/** Short enough for the kill -9 step, long enough for a loaded 2-core machine. */
const SESSION = "3s";

/** Negative-delay timer warnings in this process (kafkajs' idle request queues printed one). */
const negativeTimeouts: string[] = [];
process.on("warning", (warning) => {
  if (warning.name === "TimeoutNegativeWarning") negativeTimeouts.push(warning.message);
});

let broker: KafkaBroker | undefined;
Deno.test.beforeAll(async () => {
  if (!skip) broker = await startKafka();
});
Deno.test.afterAll(async () => {
  await broker?.stop();
});

function brokers(): string[] {
  if (!broker) throw new Error("the kafka broker did not start");
  return [broker.brokers];
}

function adminClient() {
  return new Kafka({ clientId: "autopgo-test", brokers: brokers(), logLevel: logLevel.NOTHING }).admin();
}

let topics = 0;
/** Creates a topic of its own with `partitions` partitions. */
async function freshTopic(partitions = 3): Promise<string> {
  const topic = `test-${++topics}-${crypto.randomUUID().slice(0, 8)}`;
  const admin = adminClient();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
  return topic;
}

function readerUrl(topic: string, group = `${topic}-workers`): string {
  return `kafka://${group}?topic=${topic}&offset=oldest&session_timeout=${SESSION}`;
}

async function mustReceive(reader: EventReader, what: string, ms = 10_000): Promise<IncomingMessage> {
  const message = await receiveWithin(reader, ms);
  assert.ok(message, `expected ${what} within ${ms}ms`);
  return message;
}

busConformance("kafka", async () => {
  const topic = await freshTopic();
  const url = readerUrl(topic);
  const options = { brokers: brokers() };
  return {
    writer: await openKafkaEventWriter(`kafka://${topic}`, options),
    openReader: () => openKafkaEventReader(url, options),
    ackDeadlineMs: 500,
    readerProcess: { url, env: { KAFKA_BROKERS: brokers().join(",") } },
    cleanup: () => Promise.resolve(),
  };
}, {
  skip,
  capabilities: {
    noAckDeadline: "Kafka has no per-message deadline: a held message returns to the group only when " +
      "its reader leaves it (close, or a crash after session_timeout); a live reader keeps heartbeating",
  },
});

Deno.test({
  name: "kafka bus: offsets are committed only after acks; a restarted reader gets what was not",
  ignore: !!skip,
}, async () => {
  const topic = await freshTopic(1);
  const options = { brokers: brokers() };
  const writer = await openKafkaEventWriter(`kafka://${topic}`, options);
  for (const text of ["a", "b", "c", "d", "e"]) await writer.send({ body: enc(text) });
  const first = await openKafkaEventReader(readerUrl(topic), options);
  const held = new Map<string, IncomingMessage>();
  for (let i = 0; i < 5; i++) {
    const message = await mustReceive(first, `message ${i + 1} of 5 (messages without a key go out in parallel)`);
    held.set(dec(message.body), message);
  }
  assert.deepEqual([...held.keys()], ["a", "b", "c", "d", "e"]);
  for (const text of ["a", "b", "d"]) await held.get(text)!.ack();
  await first.close();
  await assert.rejects(held.get("c")!.ack(), (e: Error) => e instanceof BusError && e.kind === "closed");

  const second = await openKafkaEventReader(readerUrl(topic), options);
  const again: string[] = [];
  for (let i = 0; i < 3; i++) {
    const message = await mustReceive(second, `redelivery ${i + 1} of 3`);
    again.push(`${dec(message.body)}:${message.deliveryAttempt}`);
    await message.ack();
  }
  // a and b were committed; c was not acked, so d (acked after it) comes back too: at-least-once.
  assert.deepEqual(again, ["c:2", "d:2", "e:2"]);
  assert.equal(await receiveWithin(second, 1_000), undefined, "a committed message came back");
  await second.close();
  const third = await openKafkaEventReader(readerUrl(topic), options);
  assert.equal(await receiveWithin(third, 1_500), undefined, "all acked, yet something came back");
  await Promise.all([third.close(), writer.close()]);
});

Deno.test({
  name: "kafka bus: nack never skips: the message blocks its key, other keys pass, it comes back first",
  ignore: !!skip,
}, async () => {
  const topic = await freshTopic(1);
  const options = { brokers: brokers() };
  const writer = await openKafkaEventWriter(`kafka://${topic}`, options);
  for (const [key, text] of [["app-1", "a"], ["app-1", "b"], ["app-2", "c"]]) {
    await writer.send({ body: enc(text), orderingKey: key });
  }
  const reader = await openKafkaEventReader(readerUrl(topic), options);
  const a = await mustReceive(reader, "app-1's first event");
  const c = await mustReceive(reader, "app-2's event, beside app-1's");
  assert.deepEqual([dec(a.body), dec(c.body)], ["a", "c"]);
  await a.nack(300);
  await c.ack();
  let last = a;
  for (let attempt = 2; attempt <= 4; attempt++) {
    const started = Date.now();
    last = await mustReceive(reader, `app-1's first event, attempt ${attempt}`);
    assert.deepEqual([dec(last.body), last.deliveryAttempt, last.orderingKey], ["a", attempt, "app-1"]);
    if (attempt === 2) assert.ok(Date.now() - started >= 250, "redelivered before the nack delay");
    if (attempt < 4) await last.nack(0);
  }
  // Still unacked: a second reader of the group (after this one leaves) starts from "a" again.
  await reader.close();
  const next = await openKafkaEventReader(readerUrl(topic), options);
  const resumed = await mustReceive(next, "app-1's first event after the reader left");
  assert.deepEqual([dec(resumed.body), resumed.deliveryAttempt], ["a", 5]);
  await resumed.ack();
  const b = await mustReceive(next, "app-1's second event");
  assert.equal(dec(b.body), "b");
  await b.ack();
  await Promise.all([next.close(), writer.close()]);
});

Deno.test(
  { name: "kafka bus: the app is the message key and picks the partition as sarama does", ignore: !!skip },
  async () => {
    const topic = await freshTopic(3);
    const writer = await openKafkaEventWriter(`kafka://${topic}?key_name=app`, { brokers: brokers() });
    const apps = ["app-0", "app-1", "app-2", "checkout", "search"];
    for (const app of apps) await writer.send({ body: enc(app), orderingKey: app });
    await writer.close();
    const consumer = new Kafka({ clientId: "autopgo-test", brokers: brokers(), logLevel: logLevel.NOTHING })
      .consumer({ groupId: `${topic}-raw` });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const seen = new Map<string, { key: string; partition: number }>();
    const all = new Promise<void>((resolve) => {
      consumer.run({
        eachMessage: ({ partition, message }) => {
          seen.set(String(message.value), { key: String(message.key), partition });
          if (seen.size === apps.length) resolve();
          return Promise.resolve();
        },
      });
    });
    await all;
    await consumer.disconnect();
    for (const app of apps) {
      assert.deepEqual(seen.get(app), { key: app, partition: keyPartition(enc(app), 3) });
    }
  },
);

Deno.test(
  { name: "kafka bus: a message held past the session timeout stays with its live reader", ignore: !!skip },
  async () => {
    const topic = await freshTopic(1);
    const options = { brokers: brokers() };
    const writer = await openKafkaEventWriter(`kafka://${topic}`, options);
    await writer.send({ body: enc("long merge"), orderingKey: "app" });
    const holder = await openKafkaEventReader(readerUrl(topic), options);
    const held = await mustReceive(holder, "the message");
    const other = await openKafkaEventReader(readerUrl(topic), options);
    assert.equal(await receiveWithin(other, 5_000), undefined, "a message held by a live reader went to another");
    await held.inProgress?.();
    await held.ack();
    assert.equal(await receiveWithin(other, 1_000), undefined);
    await Promise.all([holder.close(), other.close(), writer.close()]);
  },
);

Deno.test({
  name: "kafka bus: a fresh topic is created on first use: check and open pass, and it carries messages",
  ignore: !!skip,
}, async () => {
  const topic = `fresh-${crypto.randomUUID().slice(0, 8)}`;
  const options = { brokers: brokers() };
  const writer = await openKafkaEventWriter(`kafka://${topic}`, options);
  await writer.check(); // the start-up check of `autopgo server` on a fresh cluster
  const admin = adminClient();
  await admin.connect();
  const { topics: [created] } = await admin.fetchTopicMetadata({ topics: [topic] });
  await admin.disconnect();
  assert.deepEqual(created.partitions.map((p) => p.leader >= 0), [true, true, true], "3 partitions with leaders");
  const other = `fresh-${crypto.randomUUID().slice(0, 8)}`;
  const reader = await openKafkaEventReader(readerUrl(other), options); // `autopgo worker` on a fresh topic
  await reader.check();
  const otherWriter = await openKafkaEventWriter(`kafka://${other}`, options);
  await otherWriter.send({ body: enc("first"), orderingKey: "app" });
  const message = await mustReceive(reader, "the first message of an auto-created topic", 20_000);
  assert.equal(dec(message.body), "first");
  await message.ack();
  await Promise.all([reader.close(), writer.close(), otherWriter.close()]);
});

Deno.test({
  name: "kafka bus: readers of a group join with sarama's range protocol and take blocks of partitions",
  ignore: !!skip,
}, async () => {
  const topic = await freshTopic(4);
  const group = `${topic}-workers`;
  const options = { brokers: brokers() };
  const readers = [
    await openKafkaEventReader(readerUrl(topic, group), options),
    await openKafkaEventReader(readerUrl(topic, group), options),
  ];
  const admin = adminClient();
  await admin.connect();
  try {
    let described: Awaited<ReturnType<typeof admin.describeGroups>>["groups"][number] | undefined;
    const deadline = Date.now() + 30_000;
    for (;;) {
      [described] = (await admin.describeGroups([group])).groups;
      if (described.state === "Stable" && described.members.length === 2) break;
      assert.ok(Date.now() < deadline, `the group did not settle: ${described.state}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.deepEqual([described.protocolType, described.protocol], ["consumer", "range"]);
    const blocks = described.members
      .map((m) =>
        [m.memberId, AssignerProtocol.MemberAssignment.decode(m.memberAssignment)!.assignment[topic]] as const
      )
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([, partitions]) => partitions);
    assert.deepEqual(blocks, [[0, 1], [2, 3]], "the first member id takes the first block");
  } finally {
    await admin.disconnect();
    await Promise.all(readers.map((reader) => reader.close()));
  }
});

Deno.test("kafka bus: opening with no broker answering is a one-line unavailable error", async () => {
  const failure = await openKafkaEventWriter("kafka://profiles", { brokers: [`127.0.0.1:${freePort()}`] })
    .then(() => undefined, (e) => e);
  assert.ok(failure instanceof BusError, "opened without a broker");
  assert.equal(failure.kind, "unavailable");
  assert.match(failure.message, /^kafka topic profiles: open: .*ECONNREFUSED[^\n]*$/);
});

Deno.test("kafka bus: URLs follow gocloud's kafkapubsub; mistakes are one-line errors", () => {
  assert.deepEqual(kafkaWriterSettings(new URL("kafka://profiles?key_name=app")), {
    topic: "profiles",
    keyName: "app",
  });
  assert.deepEqual(kafkaReaderSettings(new URL("kafka://workers?topic=profiles")), {
    group: "workers",
    topic: "profiles",
    fromBeginning: false,
    sessionTimeoutMs: 10_000,
    heartbeatIntervalMs: 1_000,
  });
  const oldest = kafkaReaderSettings(new URL("kafka://team/workers?topic=p&offset=oldest&session_timeout=6s"));
  assert.deepEqual([oldest.group, oldest.fromBeginning, oldest.sessionTimeoutMs], ["team/workers", true, 6_000]);
  const invalid = (run: () => unknown, pattern: RegExp) =>
    assert.throws(run, (e: Error) => e instanceof BusError && e.kind === "invalid" && pattern.test(e.message));
  invalid(() => kafkaWriterSettings(new URL("kafka://p?key_name=")), /key_name: must not be empty/);
  invalid(() => kafkaWriterSettings(new URL("kafka://p?partition=1")), /unknown parameter "partition"/);
  invalid(() => kafkaWriterSettings(new URL("kafka://a/b")), /not a valid Kafka topic name/);
  invalid(() => kafkaWriterSettings(new URL("kafka://")), /missing topic name/);
  invalid(() => kafkaWriterSettings(new URL("kafka://user:pw@p")), /brokers come from KAFKA_BROKERS/);
  invalid(() => kafkaReaderSettings(new URL("kafka://workers")), /missing \?topic=/);
  invalid(() => kafkaReaderSettings(new URL("kafka://w?topic=p&offset=latest")), /expected oldest or newest/);
  invalid(() => kafkaReaderSettings(new URL("kafka://w?topic=p&topic=q")), /"topic" given twice/);
  invalid(() => kafkaReaderSettings(new URL("kafka://w?topic=p&session_timeout=500ms")), /at least 1000ms/);
  assert.deepEqual(kafkaBrokers([" 127.0.0.1:9092", "", "b:9092 "]), ["127.0.0.1:9092", "b:9092"]);
  const saved = Deno.env.get("KAFKA_BROKERS");
  Deno.env.delete("KAFKA_BROKERS");
  try {
    invalid(() => kafkaBrokers(), /KAFKA_BROKERS is not set/);
  } finally {
    if (saved !== undefined) Deno.env.set("KAFKA_BROKERS", saved);
  }
});

Deno.test("kafka bus: keyPartition is sarama's FNV-1a hash partitioner", () => {
  // FNV-1a("") = 0x811c9dc5, ("a") = 0xe40c292c, ("foobar") = 0xbf9cf968 as int32, mod 7, negated.
  assert.deepEqual(["", "a", "foobar"].map((key) => keyPartition(enc(key), 7)), [2, 6, 4]);
  assert.deepEqual(["k1", "k2", "app-2"].map((key) => keyPartition(enc(key), 3)), [1, 1, 0]);
  assert.equal(keyPartition(enc("anything"), 1), 0);
});

Deno.test("kafka bus: delivery counts round-trip through the commit metadata", () => {
  const metadata = encodeDeliveries(100n, [[104n, 2], [100n, 1], [99n, 7], [101n, 0]]);
  assert.equal(metadata, "autopgo-deliveries:0x1,4x2");
  assert.deepEqual([...decodeDeliveries(100n, metadata)], [[100n, 1], [104n, 2]]);
  assert.equal(encodeDeliveries(5n, []), null);
  assert.equal(decodeDeliveries(5n, null).size, 0);
  assert.equal(decodeDeliveries(5n, "someone else's metadata").size, 0);
  const many = Array.from({ length: 2_000 }, (_, i) => [BigInt(i), 3] as const);
  assert.ok(encodeDeliveries(0n, many)!.length <= 3_000, "metadata must stay under Kafka's limit");
});

Deno.test("kafka bus: errorKind maps kafkajs errors to portable kinds", () => {
  const protocol = (type: string, retriable = false) =>
    new KafkaJSProtocolError({ message: type, type, retriable } as never);
  assert.equal(kafkaErrorKind(protocol("UNKNOWN_TOPIC_OR_PARTITION", true)), "not-found");
  assert.equal(kafkaErrorKind(protocol("TOPIC_AUTHORIZATION_FAILED")), "permission");
  assert.equal(kafkaErrorKind(protocol("MESSAGE_TOO_LARGE")), "invalid");
  assert.equal(kafkaErrorKind(protocol("REBALANCE_IN_PROGRESS")), "unavailable");
  assert.equal(kafkaErrorKind(new KafkaJSConnectionError("Connection error: ECONNREFUSED")), "unavailable");
  const exhausted = new KafkaJSNumberOfRetriesExceeded(protocol("LEADER_NOT_AVAILABLE", true), {
    retryCount: 5,
    retryTime: 1000,
  });
  assert.equal(kafkaErrorKind(exhausted), "unavailable");
  assert.equal(kafkaErrorKind(new BusError("closed", "closed")), "closed");
  assert.equal(kafkaErrorKind(new Error("something else")), "unknown");
});

// Last: every kafkajs client of the tests above has run by now.
Deno.test("kafka bus: kafkajs request queues schedule no timer while idle (no TimeoutNegativeWarning)", () => {
  assert.equal(quietKafkajsRequestQueues(), true, "kafkajs' RequestQueue.scheduleCheckPendingRequests is gone");
  const schedule = RequestQueue.prototype.scheduleCheckPendingRequests;
  const idle = { pending: [], throttledUntil: -1, throttleCheckTimeoutId: null };
  schedule.call(idle);
  assert.equal(idle.throttleCheckTimeoutId, null, "an idle queue armed a timer");
  const throttled = { pending: [{}], throttledUntil: Date.now() + 60_000, throttleCheckTimeoutId: null };
  schedule.call(throttled);
  assert.notEqual(throttled.throttleCheckTimeoutId, null, "a throttled request must still be checked later");
  clearTimeout(throttled.throttleCheckTimeoutId!);
  if (!skip) assert.deepEqual(negativeTimeouts, [], "kafkajs set a timer with a negative delay");
});
