/**
 * awssns:// event writer against moto (`tests/support/services/moto.ts`), read through the SQS
 * queue subscribed to the topic with `awssqs://` readers: the shared conformance suite with raw
 * delivery, with SNS's JSON envelope, and from a FIFO topic into a FIFO queue; the `raw`
 * parameter's effect on an enveloped message; GetTopicAttributes as the check; URL validation.
 *
 * @module
 */

import assert from "node:assert/strict";
import { BusError, Topic } from "../../core/event_bus.ts";
import { busConformance, type BusFixture, receiveWithin } from "../../tests/support/bus_conformance.ts";
import { MOTO_CREDENTIALS, motoBinary, type MotoServer, startMoto } from "../../tests/support/services/moto.ts";
import { serviceSkip } from "../../tests/support/services/service.ts";
import { openSqsReader } from "./aws_sqs.ts";
import { openSnsWriter, parseSnsUrl } from "./aws_sns.ts";

const skip = serviceSkip("moto", motoBinary() !== undefined, "needs moto_server from PyPI");
const credentials = MOTO_CREDENTIALS;
const enc = (text: string) => new TextEncoder().encode(text);
const dec = (data: Uint8Array) => new TextDecoder().decode(data);
const noEnv = () => undefined;
const READER = { visibilitytimeout: "1s", waittime: "1s" };

let server: MotoServer | undefined;
Deno.test.beforeAll(async () => {
  if (!skip) server = await startMoto();
});
Deno.test.afterAll(async () => {
  await server?.stop();
});

function running(): MotoServer {
  if (!server) throw new Error("moto did not start");
  return server;
}

let topics = 0;
const freshName = (fifo: boolean) => `t${++topics}-${crypto.randomUUID().slice(0, 8)}${fifo ? ".fifo" : ""}`;

function fanOutFixture(fifo: boolean, raw: boolean): () => Promise<BusFixture> {
  // moto's long poll on a FIFO queue keeps the set of busy message groups it saw when it began,
  // so a group freed by an ack meanwhile stays blocked until that poll ends (SQS and ElasticMQ
  // see it at once): FIFO readers here short-poll (waittime=0, gocloud's default) instead.
  const params = { ...READER, raw: String(raw), ...(fifo ? { waittime: "0" } : {}) };
  return async () => {
    const fanOut = await running().fanOut(freshName(fifo), raw, params);
    return {
      writer: await openSnsWriter(fanOut.topicUrl, { credentials }),
      openReader: () => openSqsReader(fanOut.queueUrl, { credentials }),
      ackDeadlineMs: 1_000,
      readerProcess: { url: fanOut.queueUrl, env: running().env },
      cleanup: fanOut.remove,
    };
  };
}

const unordered = { ordering: { none: "a standard SNS topic and SQS queue do not order messages" } } as const;
busConformance("awssns → awssqs (raw delivery)", fanOutFixture(false, true), { skip, capabilities: unordered });
busConformance("awssns → awssqs (JSON envelope)", fanOutFixture(false, false), { skip, capabilities: unordered });
busConformance("awssns → awssqs (fifo topic and queue, raw)", fanOutFixture(true, true), { skip });

Deno.test(
  { name: "awssns bus: raw=true hands over SNS's JSON envelope, raw=false the original bytes", ignore: !!skip },
  async () => {
    const fanOut = await running().fanOut(freshName(false), false, READER);
    const writer = await openSnsWriter(fanOut.topicUrl, { credentials });
    const rawReader = await openSqsReader(`${fanOut.queueUrl}&raw=true`, { credentials });
    const reader = await openSqsReader(fanOut.queueUrl, { credentials });
    try {
      const binary = new Uint8Array([0, 159, 146, 150, 255]);
      await writer.send({ body: binary, orderingKey: "my app/1" });
      const wrapped = await receiveWithin(rawReader, 5_000);
      assert.ok(wrapped, "the enveloped message");
      const notification = JSON.parse(dec(wrapped.body));
      assert.equal(notification.Type, "Notification");
      assert.equal(notification.MessageAttributes.base64encoded.Value, "true");
      assert.equal(notification.MessageAttributes.orderingKey.Value, "my%20app%2F1", "escaped as gocloud escapes");
      assert.equal(wrapped.orderingKey, undefined, "raw: the attributes stay inside the envelope");
      await wrapped.nack(0);
      const unwrapped = await receiveWithin(reader, 5_000);
      assert.deepEqual(unwrapped?.body, binary);
      assert.equal(unwrapped?.orderingKey, "my app/1");
      assert.equal(unwrapped?.deliveryAttempt, 2);
      await unwrapped?.ack();
    } finally {
      await Promise.all([rawReader.close(), reader.close(), writer.close()]);
      await fanOut.remove();
    }
  },
);

Deno.test({ name: "awssns bus: snstopicarn unwraps only notifications from that topic", ignore: !!skip }, async () => {
  const fanOut = await running().fanOut(freshName(false), false, READER);
  const writer = await openSnsWriter(fanOut.topicUrl, { credentials });
  const otherTopic = "arn:aws:sns:us-east-1:123456789012:some-other-topic";
  const strict = await openSqsReader(`${fanOut.queueUrl}&snstopicarn=${otherTopic}`, { credentials });
  try {
    await writer.send({ body: enc("from the topic") });
    const message = await receiveWithin(strict, 5_000);
    assert.ok(message);
    assert.equal(JSON.parse(dec(message.body)).Message, "from the topic", "left wrapped: another topic's ARN");
    await message.ack();
  } finally {
    await Promise.all([strict.close(), writer.close()]);
    await fanOut.remove();
  }
});

Deno.test(
  { name: "awssns bus: check is GetTopicAttributes; a missing topic is not-found", ignore: !!skip },
  async () => {
    const fanOut = await running().fanOut(freshName(false), true, READER);
    const writer = new Topic(await openSnsWriter(fanOut.topicUrl, { credentials }), { attempts: 1 });
    const missingUrl = fanOut.topicUrl.replace(/:t\d+-[0-9a-f]{8}\?/, ":no-such-topic?");
    const missing = new Topic(await openSnsWriter(missingUrl, { credentials }), { attempts: 1 });
    try {
      await writer.check();
      for (const attempt of [() => missing.check(), () => missing.send({ body: enc("x") })]) {
        await assert.rejects(
          attempt,
          (e) => e instanceof BusError && e.kind === "not-found" && /no-such-topic/.test(e.message),
        );
      }
    } finally {
      await Promise.all([writer.close(), missing.close()]);
      await fanOut.remove();
    }
  },
);

Deno.test("awssns bus: URLs carry the topic ARN in the path; anything else is a one-line error", () => {
  const parse = (text: string, env: (name: string) => string | undefined = noEnv) => parseSnsUrl(new URL(text), env);
  const topic = parse("awssns:///arn:aws:sns:us-east-2:123456789012:profiles?region=us-east-2");
  assert.deepEqual([topic.topicArn, topic.topicName, topic.fifo, topic.client.region], [
    "arn:aws:sns:us-east-2:123456789012:profiles",
    "profiles",
    false,
    "us-east-2",
  ]);
  const fifo = parse("awssns:///arn:aws:sns:eu-west-1:123456789012:jobs.fifo?endpoint=http://127.0.0.1:4566");
  assert.deepEqual([fifo.fifo, fifo.client.region, fifo.client.endpoint], [true, "eu-west-1", "http://127.0.0.1:4566"]);
  assert.equal(
    parse("awssns:///arn:aws:sns:eu-west-1:123456789012:t", (n) => n === "AWS_REGION" ? "x" : undefined).client.region,
    undefined,
  );
  const errors: [string, RegExp][] = [
    ["awssns:///arn:aws:sns:us-east-2:123456789012:t?raw=true", /unknown parameter "raw"/],
    ["awssns:///arn:aws:sqs:us-east-2:123456789012:t", /topic ARN "arn:aws:sqs:/],
    ["awssns://mytopic", /expected awssns:\/\/\/arn:aws:sns:REGION:ACCOUNT:TOPIC/],
    ["awssns:///arn:aws:sns:us-east-2:123456789012:t?fips=maybe", /fips="maybe"/],
  ];
  for (const [url, pattern] of errors) {
    assert.throws(() => parse(url), (e: Error) => pattern.test(e.message) && !e.message.includes("\n"), url);
  }
});
