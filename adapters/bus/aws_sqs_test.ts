/**
 * awssqs:// event bus against ElasticMQ (`tests/support/services/elasticmq.ts`): the shared
 * conformance suite on a standard and on a FIFO queue (with the kill -9 step), `inProgress`
 * renewal of a long handler's message, the wire format a gocloud process reads (base64 rule,
 * attributes, FIFO group and deduplication ids), polls that outlive an aborted receive, nacklazy,
 * the queue's own visibility timeout, error kinds and URL validation.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Message, ReceiveMessageCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { BusError, Subscription, Topic } from "../../core/event_bus.ts";
import { busConformance, type BusFixture, receiveWithin } from "../../tests/support/bus_conformance.ts";
import {
  ELASTICMQ_CREDENTIALS,
  elasticMqInstall,
  type ElasticMqServer,
  startElasticMq,
} from "../../tests/support/services/elasticmq.ts";
import { freePort, serviceSkip } from "../../tests/support/services/service.ts";
import { openSqsReader, openSqsWriter, parseSqsUrl } from "./aws_sqs.ts";

const skip = serviceSkip("elasticmq", elasticMqInstall() !== undefined, "needs java and the ElasticMQ jars");
const credentials = ELASTICMQ_CREDENTIALS;
const enc = (text: string) => new TextEncoder().encode(text);
const dec = (data: Uint8Array) => new TextDecoder().decode(data);
const noEnv = () => undefined;
/** Short enough for quick redelivery, long enough for a loaded 2-core machine to renew in time. */
const READER = { visibilitytimeout: "1s", waittime: "1s" };

let server: ElasticMqServer | undefined;
Deno.test.beforeAll(async () => {
  if (!skip) server = await startElasticMq();
});
Deno.test.afterAll(async () => {
  await server?.stop();
});

function running(): ElasticMqServer {
  if (!server) throw new Error("elasticmq did not start");
  return server;
}

function withParams(url: string, params: Record<string, string>): string {
  const parsed = new URL(url);
  for (const [name, value] of Object.entries(params)) parsed.searchParams.set(name, value);
  return parsed.href;
}

let queues = 0;
/** A fresh queue: its writer URL and reader URL (with `reader` parameters). */
async function freshQueue(fifo: boolean, reader: Record<string, string> = READER) {
  const name = `q${++queues}-${crypto.randomUUID().slice(0, 8)}${fifo ? ".fifo" : ""}`;
  const url = await running().createQueue(name);
  return { name, url, readerUrl: withParams(url, reader), remove: () => running().deleteQueue(name) };
}

function conformanceFixture(fifo: boolean): () => Promise<BusFixture> {
  return async () => {
    const queue = await freshQueue(fifo);
    return {
      writer: await openSqsWriter(queue.url, { credentials }),
      openReader: () => openSqsReader(queue.readerUrl, { credentials }),
      ackDeadlineMs: 1_000,
      readerProcess: { url: queue.readerUrl, env: running().env },
      cleanup: queue.remove,
    };
  };
}

busConformance("awssqs (standard)", conformanceFixture(false), {
  skip,
  capabilities: { ordering: { none: "SQS standard queues do not order messages (a .fifo queue does)" } },
});

busConformance("awssqs (fifo)", conformanceFixture(true), { skip });

/** A plain SDK client on the server, to look at messages as a gocloud process would. */
function inspector(): SQSClient {
  return new SQSClient({ endpoint: running().endpoint, region: "us-east-1", credentials });
}

async function receiveRaw(client: SQSClient, queueUrl: string): Promise<Message> {
  const out = await client.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      WaitTimeSeconds: 5,
      MessageAttributeNames: ["All"],
      MessageSystemAttributeNames: ["All"],
    }),
  );
  assert.ok(out.Messages?.length, "expected a message");
  return out.Messages[0];
}

Deno.test(
  { name: "awssqs bus: inProgress keeps a long handler's message from being redelivered", ignore: !!skip },
  async () => {
    const queue = await freshQueue(false, { visibilitytimeout: "2s", waittime: "1s" });
    const writer = await openSqsWriter(queue.url, { credentials });
    const holder = new Subscription(await openSqsReader(queue.readerUrl, { credentials }));
    const other = await openSqsReader(queue.readerUrl, { credentials });
    try {
      await writer.send({ body: enc("long merge"), orderingKey: "app" });
      const held = await receiveWithin(holder, 5_000);
      assert.ok(held, "the message");
      assert.equal(holder.renewIntervalMs, 667, "a third of the 2s visibility timeout");
      // 3 visibility timeouts pass while the handler works; the renewals keep the message hidden.
      assert.equal(await receiveWithin(other, 6_000), undefined, "redelivered while its handler still ran");
      await held.ack();
      assert.equal(await receiveWithin(other, 3_000), undefined, "came back after the ack");
    } finally {
      await Promise.all([holder.close(), other.close(), writer.close()]);
      await queue.remove();
    }
  },
);

Deno.test(
  { name: "awssqs bus: bodies and attributes are what gocloud's awssnssqs reads and writes", ignore: !!skip },
  async () => {
    const queue = await freshQueue(false);
    const writer = await openSqsWriter(queue.url, { credentials });
    const reader = await openSqsReader(queue.readerUrl, { credentials });
    const sdk = inspector();
    const queueUrl = `${running().endpoint}/000000000000/${queue.name}`;
    try {
      const envelope = '{"id":"0b9f7f2e","timestamp":"2026-12-01T10:00:00Z","type":"profile.uploaded","payload":{}}';
      await writer.send({ body: enc(envelope), orderingKey: "my-app" });
      const plain = await receiveRaw(sdk, queueUrl);
      assert.equal(plain.Body, envelope, "a UTF-8 body travels as is");
      assert.deepEqual(Object.keys(plain.MessageAttributes ?? {}), ["orderingKey"]);
      assert.equal(plain.MessageAttributes?.orderingKey.StringValue, "my-app");

      const binary = new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe]);
      await writer.send({ body: binary });
      const encoded = await receiveRaw(sdk, queueUrl);
      assert.equal(encoded.Body, "H4sIAP/+", "a non-UTF-8 body is base64");
      assert.equal(encoded.MessageAttributes?.base64encoded.StringValue, "true");

      await writer.send({ body: enc("nul\u0000inside") });
      const refused = await receiveRaw(sdk, queueUrl);
      assert.equal(refused.MessageAttributes?.base64encoded.StringValue, "true", "characters SQS refuses are base64");

      // What a gocloud sender writes for a binary body; and a body of its own with no attributes.
      await sdk.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: "AAEC/w==",
          MessageAttributes: { base64encoded: { DataType: "String", StringValue: "true" } },
        }),
      );
      await sdk.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: envelope }));
      const bodies = new Map<string, Uint8Array>();
      for (let i = 0; i < 2; i++) {
        const message = await receiveWithin(reader, 5_000);
        assert.ok(message, "a message sent by another client");
        bodies.set(message.body.length === 4 ? "binary" : "envelope", message.body);
        assert.equal(message.orderingKey, undefined);
        await message.ack();
      }
      assert.deepEqual(bodies.get("binary"), new Uint8Array([0, 1, 2, 255]));
      assert.equal(dec(bodies.get("envelope")!), envelope);
    } finally {
      sdk.destroy();
      await Promise.all([reader.close(), writer.close()]);
      await queue.remove();
    }
  },
);

Deno.test({
  name: "awssqs bus: a FIFO send uses the key as MessageGroupId and a fresh deduplication id",
  ignore: !!skip,
}, async () => {
  const queue = await freshQueue(true);
  const writer = await openSqsWriter(queue.url, { credentials });
  const sdk = inspector();
  const queueUrl = `${running().endpoint}/000000000000/${queue.name}`;
  try {
    await writer.send({ body: enc("same bytes"), orderingKey: "app-1" });
    await writer.send({ body: enc("same bytes"), orderingKey: "app-2" });
    await writer.send({ body: enc("same bytes") });
    const groups: string[] = [];
    const dedups = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const message = await receiveRaw(sdk, queueUrl);
      groups.push(message.Attributes?.MessageGroupId ?? "");
      dedups.add(message.Attributes?.MessageDeduplicationId ?? "");
    }
    const [unkeyed, ...keyed] = groups.sort((a, b) => a.length - b.length).reverse();
    assert.deepEqual(keyed.sort(), ["app-1", "app-2"], "groups are not ordered across each other");
    assert.match(unkeyed, /^[0-9a-f-]{36}$/, "an unkeyed message gets a group of its own");
    assert.equal(dedups.size, 3, "three sends, three deduplication ids: none was dropped");
  } finally {
    sdk.destroy();
    await writer.close();
    await queue.remove();
  }
});

Deno.test({
  name: "awssqs bus: what a poll brings after its receive was aborted goes to the next receive",
  ignore: !!skip,
}, async () => {
  const queue = await freshQueue(false, { visibilitytimeout: "10s", waittime: "2s" });
  const writer = await openSqsWriter(queue.url, { credentials });
  const reader = await openSqsReader(queue.readerUrl, { credentials });
  try {
    assert.equal(await receiveWithin(reader, 200), undefined);
    await writer.send({ body: enc("arrived during the poll") });
    const started = Date.now();
    const message = await receiveWithin(reader, 5_000);
    assert.equal(message && dec(message.body), "arrived during the poll");
    assert.equal(message?.deliveryAttempt, 1, "not hidden for a visibility timeout by a dropped poll");
    assert.ok(Date.now() - started < 5_000);
    await message?.ack();
  } finally {
    await Promise.all([reader.close(), writer.close()]);
    await queue.remove();
  }
});

Deno.test({ name: "awssqs bus: close cuts a 20s long poll short after its grace", ignore: !!skip }, async () => {
  const queue = await freshQueue(false, { visibilitytimeout: "5s", waittime: "20s" });
  const reader = await openSqsReader(queue.readerUrl, { credentials });
  try {
    assert.equal(await receiveWithin(reader, 300), undefined);
    const started = Date.now();
    await reader.close();
    const took = Date.now() - started;
    assert.ok(took >= 1_500 && took < 6_000, `close took ${took}ms`);
  } finally {
    await queue.remove();
  }
});

Deno.test(
  { name: "awssqs bus: nacklazy leaves a nacked message hidden until its visibility timeout", ignore: !!skip },
  async () => {
    const queue = await freshQueue(false, { visibilitytimeout: "2s", waittime: "1s", nacklazy: "true" });
    const writer = await openSqsWriter(queue.url, { credentials });
    const reader = await openSqsReader(queue.readerUrl, { credentials });
    try {
      await writer.send({ body: enc("lazy") });
      const first = await receiveWithin(reader, 5_000);
      assert.ok(first);
      await first.nack(0);
      assert.equal(await receiveWithin(reader, 1_000), undefined, "nack(0) made it visible at once");
      const again = await receiveWithin(reader, 5_000);
      assert.deepEqual([again && dec(again.body), again?.deliveryAttempt], ["lazy", 2]);
      await again?.ack();
    } finally {
      await Promise.all([reader.close(), writer.close()]);
      await queue.remove();
    }
  },
);

Deno.test({
  name: "awssqs bus: without visibilitytimeout the queue's own timeout sets the renew interval",
  ignore: !!skip,
}, async () => {
  const queue = await freshQueue(false, { waittime: "1s" });
  const reader = await openSqsReader(queue.readerUrl, { credentials });
  try {
    assert.equal(reader.renewIntervalMs, undefined, "unknown before the queue was asked");
    await reader.check();
    assert.equal(reader.renewIntervalMs, 10_000, "a third of SQS's default 30s");
  } finally {
    await reader.close();
    await queue.remove();
  }
});

Deno.test({
  name: "awssqs bus: a missing queue is not-found and an unreachable endpoint is unavailable",
  ignore: !!skip,
}, async () => {
  const { endpoint } = running();
  const missing = `awssqs://${new URL(endpoint).host}/000000000000/no-such-queue?endpoint=${endpoint}&region=us-east-1`;
  const writer = new Topic(await openSqsWriter(missing, { credentials }), { attempts: 1 });
  const reader = new Subscription(await openSqsReader(withParams(missing, READER), { credentials }));
  const port = freePort();
  const down = `awssqs://127.0.0.1:${port}/000000000000/q?endpoint=http://127.0.0.1:${port}&region=us-east-1`;
  const unreachable = new Topic(await openSqsWriter(down, { credentials }), { attempts: 1 });
  try {
    for (const attempt of [() => writer.check(), () => writer.send({ body: enc("x") }), () => reader.check()]) {
      await assert.rejects(
        attempt,
        (e) => e instanceof BusError && e.kind === "not-found" && /no-such-queue/.test(e.message),
      );
    }
    await assert.rejects(() => reader.receive(), (e) => e instanceof BusError && e.kind === "not-found");
    await assert.rejects(() => unreachable.check(), (e) => e instanceof BusError && e.kind === "unavailable");
  } finally {
    await Promise.all([writer.close(), reader.close(), unreachable.close()]);
  }
});

Deno.test("awssqs bus: URLs take gocloud's form and parameters; anything else is a one-line error", () => {
  const parse = (text: string, side: "writer" | "reader" = "reader") => parseSqsUrl(new URL(text), side, noEnv);
  const aws = parse("awssqs://sqs.us-east-2.amazonaws.com/123456789012/profiles?region=us-east-2");
  assert.equal(aws.queueUrl, "https://sqs.us-east-2.amazonaws.com/123456789012/profiles");
  assert.deepEqual([aws.fifo, aws.raw, aws.nackLazy, aws.waitSeconds, aws.visibilitySeconds], [
    false,
    false,
    false,
    20,
    undefined,
  ]);
  assert.equal(aws.client.region, "us-east-2");
  const local = parse(
    "awssqs://127.0.0.1:9324/000000000000/jobs.fifo?endpoint=127.0.0.1:9324&disable_ssl=true&raw=1&nacklazy=true&waittime=0&visibilitytimeout=1500ms&snstopicarn=arn:aws:sns:us-east-1:000000000000:t",
  );
  assert.equal(local.queueUrl, "http://127.0.0.1:9324/000000000000/jobs.fifo");
  assert.equal(local.client.endpoint, "http://127.0.0.1:9324");
  assert.deepEqual([local.fifo, local.raw, local.nackLazy, local.waitSeconds, local.visibilitySeconds], [
    true,
    true,
    true,
    0,
    2,
  ]);
  assert.equal(local.snsTopicArn, "arn:aws:sns:us-east-1:000000000000:t");
  assert.equal(
    parse("awssqs://h/1/q?region=x&awssdk=v1&fips=false&dualstack=0&hostname_immutable=true", "writer").queueName,
    "q",
  );
  assert.equal(
    parseSqsUrl(new URL("awssqs://h/1/q"), "writer", (n) => n === "AWS_DEFAULT_REGION" ? "eu-west-1" : undefined).client
      .region,
    "eu-west-1",
  );
  const errors: [string, RegExp, ("writer" | "reader")?][] = [
    ["awssqs://h/1/q?raw=true", /unknown parameter "raw"/, "writer"],
    ["awssqs://h/1/q?bogus=1", /unknown parameter "bogus" \(known: .*waittime/],
    ["awssqs://h/1/q?raw=yes", /raw="yes": expected true or false/],
    ["awssqs://h/1/q?waittime=21s", /waittime: at most 20s/],
    ["awssqs://h/1/q?waittime=soon", /waittime/],
    ["awssqs://h/1/q?visibilitytimeout=13h", /visibilitytimeout: at most 12h/],
    ["awssqs://h/1/q?awssdk=v3", /awssdk="v3": expected v1 or v2/],
    ["awssqs://h/1/q?disable_ssl=true&disableSSL=true", /give one/],
    ["awssqs://h/1/q?region=a&region=b", /"region" given twice/],
    ["awssqs:///1/q", /no host/],
    ["awssqs://h/1/bad%20name", /queue name "bad name"/],
  ];
  for (const [url, pattern, side] of errors) {
    assert.throws(() => parse(url, side), (e: Error) => pattern.test(e.message) && !e.message.includes("\n"), url);
  }
});
