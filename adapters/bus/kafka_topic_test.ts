/**
 * The kafka writer's and reader's topic check: its decisions with a scripted cluster (topic
 * there, created during the wait, leaderless, missing with auto-creation on, off or unknown,
 * other errors, abort), then against a real Kafka 4.4 broker started with
 * `auto.create.topics.enable=false`: a missing topic is a one-line `not-found` telling the
 * operator to create it, for the writer's `check()` and the reader's open, until it is created.
 * (Auto-creation on: `kafka_bus_test.ts`.)
 *
 * @module
 */

import assert from "node:assert/strict";
import kafkajs, { Kafka, logLevel } from "kafkajs";
import { BusError } from "../../core/event_bus.ts";
import { type KafkaBroker, kafkaSkip, startKafka } from "../../tests/support/services/kafka.ts";
import { kafkaErrorKind, openKafkaEventReader, openKafkaEventWriter } from "./kafka_bus.ts";
import { checkTopic, type TopicProbe } from "./kafka_topic.ts";

const { KafkaJSConnectionError, KafkaJSProtocolError } = kafkajs;
const skip = kafkaSkip();

function protocolError(type: string): Error {
  return new KafkaJSProtocolError({ message: type, type, retriable: true } as never);
}

/** A clock whose sleeps pass at once. */
function instantClock() {
  let now = 0;
  return { now: () => now, sleep: (ms: number) => Promise.resolve(void (now += ms)) };
}

type Look = "missing" | "leaderless" | "ready" | Error;

/** A probe answering `looks` in turn (the last one repeats), counting what it was asked. */
function scripted(looks: Look[], autoCreation: boolean | undefined) {
  const asked = { looks: 0, creations: 0, configs: 0 };
  const probe: TopicProbe = {
    partitions() {
      const look = looks[Math.min(asked.looks++, looks.length - 1)];
      if (look instanceof Error) return Promise.reject(look);
      if (look === "missing") return Promise.reject(protocolError("UNKNOWN_TOPIC_OR_PARTITION"));
      return Promise.resolve([{ partitionId: 0, leader: 1 }, { partitionId: 1, leader: look === "ready" ? 1 : -1 }]);
    },
    requestCreation: () => Promise.resolve(void asked.creations++),
    autoCreation: () => Promise.resolve((asked.configs++, autoCreation)),
  };
  return { probe, asked };
}

async function failure(run: Promise<unknown>): Promise<BusError> {
  const error = await run.then(() => undefined, (e) => e);
  assert.ok(error instanceof BusError, `expected a BusError, got ${error}`);
  assert.doesNotMatch(error.message, /\n/);
  return error;
}

Deno.test("kafka topic check: a topic with leaders passes without asking for creation", async () => {
  const { probe, asked } = scripted(["ready"], true);
  await checkTopic("t", probe, { clock: instantClock() });
  assert.deepEqual(asked, { looks: 1, creations: 0, configs: 0 });
});

Deno.test("kafka topic check: a missing topic is asked for until it appears with its leaders", async () => {
  const { probe, asked } = scripted(["missing", "missing", "leaderless", "ready"], undefined);
  await checkTopic("t", probe, { clock: instantClock() });
  assert.deepEqual(asked, { looks: 4, creations: 2, configs: 0 });
});

Deno.test("kafka topic check: still being created at the end of the wait is unavailable", async () => {
  const leaderless = await failure(checkTopic("t", scripted(["leaderless"], false).probe, { clock: instantClock() }));
  assert.equal(leaderless.kind, "unavailable");
  assert.match(leaderless.message, /^kafka topic t has a partition without leader/);
  const slow = scripted(["missing"], true);
  const missing = await failure(checkTopic("t", slow.probe, { clock: instantClock(), waitMs: 1_000, pollMs: 100 }));
  assert.equal(missing.kind, "unavailable");
  assert.match(missing.message, /^kafka topic t does not exist yet \(the brokers create it\)$/);
  assert.equal(slow.asked.looks, 11, "looked every 100ms for 1s");
  assert.equal(slow.asked.creations, 11, "asked for creation on every look");
});

Deno.test("kafka topic check: missing while brokers do not create topics is not-found, asking to create it", async () => {
  const off = scripted(["missing"], false);
  const error = await failure(checkTopic("profiles", off.probe, { clock: instantClock(), waitMs: 10_000 }));
  assert.equal(error.kind, "not-found");
  assert.equal(
    error.message,
    "kafka topic profiles does not exist and the brokers do not create topics on first use " +
      "(auto.create.topics.enable=false): create it (kafka-topics.sh --create --topic profiles)",
  );
  assert.equal(off.asked.looks, 21, "a long wait stops once the setting is known to be off (after 2s)");
  const unknown = await failure(checkTopic("p", scripted(["missing"], undefined).probe, { clock: instantClock() }));
  assert.equal(unknown.kind, "not-found");
  assert.match(unknown.message, /^kafka topic p does not exist and no broker created it on first use: create it/);
});

Deno.test("kafka topic check: other errors pass through; an abort stops the wait", async () => {
  const down = new KafkaJSConnectionError("Connection error: ECONNREFUSED");
  const thrown = await checkTopic("t", scripted([down], true).probe, { clock: instantClock() }).catch((e) => e);
  assert.equal(thrown, down);
  assert.equal(kafkaErrorKind(thrown), "unavailable");
  const stop = new AbortController();
  const { probe } = scripted(["missing"], true);
  const sleeping = { now: () => 0, sleep: () => Promise.resolve(stop.abort(new Error("stop"))) };
  await assert.rejects(checkTopic("t", probe, { clock: sleeping, signal: stop.signal }), /^Error: stop$/);
});

// ---- against a broker that does not create topics ----------------------------------------------

let broker: KafkaBroker | undefined;
Deno.test.beforeAll(async () => {
  if (!skip) broker = await startKafka({ autoCreateTopics: false });
});
Deno.test.afterAll(async () => {
  await broker?.stop();
});

async function createTopic(topic: string): Promise<void> {
  const admin = new Kafka({ clientId: "autopgo-test", brokers: [broker!.brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

Deno.test({
  name: "kafka topic check: auto-creation off — a missing topic is not-found until it is created",
  ignore: !!skip,
}, async () => {
  const options = { brokers: [broker!.brokers] };
  const writer = await openKafkaEventWriter("kafka://made-later", options);
  const started = Date.now();
  const error = await failure(writer.check());
  assert.equal(error.kind, "not-found");
  assert.match(
    error.message,
    /^kafka topic made-later does not exist and .*auto\.create\.topics\.enable=false.*create it/,
  );
  assert.ok(Date.now() - started < 10_000, "answered after the short wait");
  const reader = await failure(openKafkaEventReader("kafka://g?topic=made-later", options));
  assert.equal(reader.kind, "not-found");
  assert.match(reader.message, /^kafka topic made-later does not exist and .*: create it/);

  await createTopic("made-later");
  await writer.check();
  const opened = await openKafkaEventReader("kafka://g?topic=made-later&offset=oldest", options);
  await opened.check();
  await Promise.all([opened.close(), writer.close()]);
});
