/**
 * gcppubsub:// event bus: the shared conformance suite against Google's Pub/Sub fake (pstest, a
 * fresh server per step, PUBSUB_EMULATOR_HOST for the kill -9 child), plus what the suite does
 * not cover — URL forms and parameters, error kinds, missing resources, deliveries counted
 * without a dead-letter policy, lease renewal, lazy nack, batched pulls and publishing for a key
 * again after a failed publish.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { PubSub, Topic as PubSubTopic } from "@google-cloud/pubsub";
import { busConformance, receiveWithin } from "../../tests/support/bus_conformance.ts";
import { pstestAdmin, type PstestServer, pstestSkip, startPstest } from "../../tests/support/services/pstest.ts";
import { BusError, Subscription, Topic } from "../../core/event_bus.ts";
import { openPubSubReader, openPubSubWriter, pubSubErrorKind, pubSubResource, PubSubWriter } from "./gcp_pubsub.ts";

const skip = pstestSkip();
const PROJECT = "autopgo-test";
const ACK_DEADLINE_S = 1;
const enc = (text: string) => new TextEncoder().encode(text);
const dec = (data: Uint8Array) => new TextDecoder().decode(data);

interface Resources {
  server: PstestServer;
  admin: PubSub;
  topicUrl: string;
  subscriptionUrl: string;
  /** Creates another subscription of the topic; returns its URL. */
  subscribe(options?: { deadLetter?: boolean }): Promise<string>;
  cleanup(): Promise<void>;
}

let counter = 0;

/** A fresh pstest with one topic and one ordered subscription (ack deadline 1 s, dead-letter policy or not). */
async function pstestTopic(options: { deadLetter?: boolean } = {}): Promise<Resources> {
  const server = await startPstest();
  const admin = await pstestAdmin(server, PROJECT);
  try {
    const n = ++counter;
    const [topic] = await admin.createTopic(`events-${n}`);
    let subs = 0;
    const subscribe = async (sub: { deadLetter?: boolean } = {}) => {
      const name = `worker-${n}-${++subs}`;
      let deadLetterPolicy;
      if (sub.deadLetter) {
        const [dead] = await admin.createTopic(`dead-${n}-${subs}`);
        deadLetterPolicy = { deadLetterTopic: dead.name, maxDeliveryAttempts: 100 };
      }
      await topic.createSubscription(name, {
        enableMessageOrdering: true,
        ackDeadlineSeconds: ACK_DEADLINE_S,
        deadLetterPolicy,
      });
      return `gcppubsub://projects/${PROJECT}/subscriptions/${name}`;
    };
    const subscriptionUrl = await subscribe(options);
    return {
      server,
      admin,
      topicUrl: `gcppubsub://projects/${PROJECT}/topics/events-${n}`,
      subscriptionUrl,
      subscribe,
      cleanup: async () => {
        await admin.close();
        await server.stop();
      },
    };
  } catch (error) {
    await admin.close().catch(() => {});
    await server.stop();
    throw error;
  }
}

busConformance("gcppubsub (pstest)", async () => {
  const bus = await pstestTopic({ deadLetter: true });
  const emulatorHost = bus.server.host;
  return {
    writer: await openPubSubWriter(bus.topicUrl, { emulatorHost }),
    openReader: () => openPubSubReader(bus.subscriptionUrl, { emulatorHost }),
    ackDeadlineMs: ACK_DEADLINE_S * 1000,
    readerProcess: { url: bus.subscriptionUrl, env: { PUBSUB_EMULATOR_HOST: emulatorHost } },
    cleanup: bus.cleanup,
  };
}, {
  skip,
  capabilities: {
    ordering: "ordered",
    inexactAttempts: "Pub/Sub's delivery_attempt is best-effort and set only with a dead-letter policy; " +
      "without one the reader counts only the deliveries it saw itself",
  },
});

Deno.test("pubSubResource: long and short forms, wrong kinds and malformed paths", () => {
  const topic = (text: string) => pubSubResource(new URL(text), "topics");
  const sub = (text: string) => pubSubResource(new URL(text), "subscriptions");
  assert.deepEqual(topic("gcppubsub://projects/p1/topics/t1"), { project: "p1", name: "projects/p1/topics/t1" });
  assert.deepEqual(topic("gcppubsub://p1/t1"), { project: "p1", name: "projects/p1/topics/t1" });
  assert.deepEqual(sub("gcppubsub://projects/p1/subscriptions/s1/"), {
    project: "p1",
    name: "projects/p1/subscriptions/s1",
  });
  assert.deepEqual(sub("gcppubsub://p1/s1"), { project: "p1", name: "projects/p1/subscriptions/s1" });
  assert.throws(
    () => topic("gcppubsub://projects/p1/subscriptions/s1"),
    /names subscription s1; a writer needs a topic/,
  );
  assert.throws(() => sub("gcppubsub://projects/p1/topics/t1"), /names topic t1; a reader needs a subscription/);
  assert.throws(() => topic("gcppubsub://p1"), /expected gcppubsub:\/\/projects\/P\/topics\/T/);
  assert.throws(() => topic("gcppubsub://p1/a/b"), /expected/);
  assert.throws(() => sub("gcppubsub://p1//s"), /expected|empty/);
});

Deno.test("openPubSubWriter/openPubSubReader: gocloud's parameters per side; unknown or bad values are errors", async () => {
  const emulatorHost = "127.0.0.1:9"; // never contacted: opening makes no call
  await assert.rejects(
    openPubSubWriter("gcppubsub://p/t?nacklazy=true", { emulatorHost }),
    /unknown parameter "nacklazy"/,
  );
  await assert.rejects(openPubSubWriter("gcppubsub://p/t?max_send_batch_size=0", { emulatorHost }), /1 to 1000/);
  await assert.rejects(openPubSubReader("gcppubsub://p/s?max_recv_batch_size=1001", { emulatorHost }), /1 to 1000/);
  await assert.rejects(openPubSubReader("gcppubsub://p/s?nacklazy=yes", { emulatorHost }), /expected true or false/);
  await assert.rejects(openPubSubReader("gcppubsub://p/s?max_send_batch_size=5", { emulatorHost }), /unknown/);
  const writer = await openPubSubWriter("gcppubsub://p/t?max_send_batch_size=1000", { emulatorHost });
  assert.equal(writer.description, "gcppubsub topic projects/p/topics/t");
  await writer.close();
  for (const value of ["1", "t", "True", "0", "F", "false"]) {
    const reader = await openPubSubReader(`gcppubsub://p/s?nacklazy=${value}&max_recv_batch_size=10`, { emulatorHost });
    assert.equal(reader.renewIntervalMs, 3333, "before the deadline is known: a third of the 10 s minimum");
    await reader.close();
  }
});

Deno.test("pubSubErrorKind: gRPC status codes to portable kinds", () => {
  const kinds = [14, 4, 8, 10, 7, 16, 5, 3, 9, 11, 2, 13, undefined].map((code) => pubSubErrorKind({ code }));
  assert.deepEqual(kinds, [
    ...Array(4).fill("unavailable"),
    "permission",
    "permission",
    "not-found",
    ...Array(3).fill("invalid"),
    "unknown",
    "unknown",
    "unknown",
  ]);
  assert.equal(pubSubErrorKind(new Error("no code")), "unknown");
});

Deno.test({
  name: "gcppubsub: a missing topic or subscription is a not-found BusError from check, send and receive",
  ignore: Boolean(skip),
  fn: async () => {
    const bus = await pstestTopic();
    const emulatorHost = bus.server.host;
    try {
      const topic = new Topic(await openPubSubWriter(`gcppubsub://${PROJECT}/absent`, { emulatorHost }));
      const sub = new Subscription(await openPubSubReader(`gcppubsub://${PROJECT}/absent`, { emulatorHost }));
      for (const attempt of [() => topic.check(), () => topic.send({ body: enc("x"), orderingKey: "a" })]) {
        await assert.rejects(
          attempt,
          (e) => e instanceof BusError && e.kind === "not-found" && !e.message.includes("\n"),
        );
      }
      await assert.rejects(() => sub.check(), (e) => e instanceof BusError && e.kind === "not-found");
      await assert.rejects(() => sub.receive(), (e) => e instanceof BusError && e.kind === "not-found");
      await Promise.all([topic.close(), sub.close()]);
    } finally {
      await bus.cleanup();
    }
  },
});

Deno.test({
  name: "gcppubsub: without a dead-letter policy each reader counts the deliveries it saw",
  ignore: Boolean(skip),
  fn: async () => {
    const bus = await pstestTopic({ deadLetter: false });
    const emulatorHost = bus.server.host;
    const writer = await openPubSubWriter(bus.topicUrl, { emulatorHost });
    const [first, second] = [
      await openPubSubReader(bus.subscriptionUrl, { emulatorHost }),
      await openPubSubReader(bus.subscriptionUrl, { emulatorHost }),
    ];
    try {
      await writer.send({ body: enc("count me"), orderingKey: "app" });
      const one = await receiveWithin(first, 5_000);
      assert.equal(one?.deliveryAttempt, 1);
      await one!.nack(0);
      const two = await receiveWithin(first, 5_000);
      assert.deepEqual([two?.id, two?.deliveryAttempt], [one!.id, 2]);
      await first.close(); // hands it back at once
      const three = await receiveWithin(second, 5_000);
      assert.deepEqual([three?.id, three?.deliveryAttempt], [one!.id, 1], "another reader starts its own count");
      await three!.ack();
    } finally {
      await Promise.all([writer.close(), first.close(), second.close()]);
      await bus.cleanup();
    }
  },
});

Deno.test({
  name: "gcppubsub: inProgress renewals keep a held message from other readers past its deadline",
  ignore: Boolean(skip),
  fn: async () => {
    const bus = await pstestTopic();
    const emulatorHost = bus.server.host;
    const writer = await openPubSubWriter(bus.topicUrl, { emulatorHost });
    const holder = new Subscription(await openPubSubReader(bus.subscriptionUrl, { emulatorHost }));
    const other = await openPubSubReader(bus.subscriptionUrl, { emulatorHost });
    try {
      await holder.check();
      assert.equal(holder.renewIntervalMs, 333, "a third of the subscription's 1 s deadline");
      await writer.send({ body: enc("long merge") });
      const held = await receiveWithin(holder, 5_000);
      assert.ok(held);
      assert.equal(await receiveWithin(other, 3 * ACK_DEADLINE_S * 1000), undefined, "redelivered while renewed");
      await held.ack();
      assert.equal(await receiveWithin(other, 2 * ACK_DEADLINE_S * 1000), undefined, "redelivered after ack");
    } finally {
      await Promise.all([writer.close(), holder.close(), other.close()]);
      await bus.cleanup();
    }
  },
});

Deno.test({
  name: "gcppubsub: nacklazy nack leaves the message to its deadline; batched pulls are released on close",
  ignore: Boolean(skip),
  fn: async () => {
    const bus = await pstestTopic();
    const emulatorHost = bus.server.host;
    const writer = await openPubSubWriter(`${bus.topicUrl}?max_send_batch_size=10`, { emulatorHost });
    const lazy = await openPubSubReader(`${bus.subscriptionUrl}?nacklazy=true`, { emulatorHost });
    const batched = await openPubSubReader(`${bus.subscriptionUrl}?max_recv_batch_size=10`, { emulatorHost });
    try {
      await writer.send({ body: enc("lazy") });
      const message = await receiveWithin(lazy, 5_000);
      await message!.nack(0);
      const started = Date.now();
      const again = await receiveWithin(lazy, 5_000);
      assert.equal(again?.id, message!.id);
      assert.ok(Date.now() - started >= ACK_DEADLINE_S * 1000 - 200, "a lazy nack returned the message early");
      await again!.ack();

      await Promise.all(["a", "b", "c"].map((text) => writer.send({ body: enc(text) })));
      const taken = await receiveWithin(batched, 5_000);
      assert.ok(taken);
      await batched.close(); // hands back the held one and the two waiting in its buffer
      const rest: string[] = [];
      for (let i = 0; i < 3; i++) {
        const next = await receiveWithin(lazy, 900); // well inside the 1 s deadline: released, not expired
        assert.ok(next, `released message ${i + 1} of 3`);
        rest.push(dec(next.body));
        await next.ack();
      }
      assert.deepEqual(rest.sort(), ["a", "b", "c"]);
    } finally {
      await Promise.all([writer.close(), lazy.close(), batched.close()]);
      await bus.cleanup();
    }
  },
});

Deno.test({
  name: "gcppubsub: after a failed publish for a key (topic deleted), the next publish for that key succeeds",
  ignore: Boolean(skip),
  fn: async () => {
    const bus = await pstestTopic();
    const emulatorHost = bus.server.host;
    const writer = await openPubSubWriter(bus.topicUrl, { emulatorHost });
    try {
      await writer.send({ body: enc("before"), orderingKey: "app" });
      const topicName = new URL(bus.topicUrl).pathname.split("/").pop()!;
      await bus.admin.topic(topicName).delete();
      await assert.rejects(
        writer.send({ body: enc("lost"), orderingKey: "app" }),
        (e) => pubSubErrorKind(e) === "not-found",
      );
      await bus.admin.createTopic(topicName);
      const url = await bus.subscribe();
      const reader = await openPubSubReader(url, { emulatorHost });
      await writer.send({ body: enc("after"), orderingKey: "app" });
      const message = await receiveWithin(reader, 5_000);
      assert.deepEqual([message && dec(message.body), message?.orderingKey], ["after", "app"]);
      await message!.ack();
      await reader.close();
    } finally {
      await writer.close();
      await bus.cleanup();
    }
  },
});

Deno.test("PubSubWriter.send: a failed publish resumes publishing for its key (the client library's contract)", async () => {
  const resumed: string[] = [];
  const published: { orderingKey?: string; data: Uint8Array }[] = [];
  const topic = {
    publishMessage: (message: { orderingKey?: string; data: Uint8Array }) => {
      published.push(message);
      return Promise.reject(Object.assign(new Error("14 UNAVAILABLE: try again"), { code: 14 }));
    },
    resumePublishing: (key: string) => resumed.push(key),
  } as unknown as PubSubTopic;
  const writer = new PubSubWriter({} as PubSub, topic, "projects/p/topics/t");
  await assert.rejects(
    writer.send({ body: enc("k"), orderingKey: "app" }),
    (e) => writer.errorKind(e) === "unavailable",
  );
  await assert.rejects(writer.send({ body: enc("no key") }));
  assert.deepEqual(resumed, ["app"]);
  assert.deepEqual(published.map((m) => [m.orderingKey, dec(m.data)]), [["app", "k"], [undefined, "no key"]]);
});
