/**
 * The behaviour every event bus driver must share, as one reusable Deno test:
 * `busConformance("mem", open)` registers a test whose steps each open a fresh topic with a
 * short ack deadline, exercise one rule (ack, nack redelivery with attempt counts, deadline
 * expiry, ordering per key, competing consumers, close) and clean up. Later drivers (NATS
 * JetStream, SQS, Pub/Sub…) run the same suite against their emulators.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  decodeEnvelope,
  encodeEnvelope,
  type EventReader,
  type EventWriter,
  type IncomingMessage,
  makeEnvelope,
} from "../../core/events.ts";

import { openMemBlobStore } from "../../adapters/blob/mem_blob.ts";
import { runWorker } from "../../core/pipeline/worker.ts";

const CHILD = new URL("./bus_reader_child.ts", import.meta.url).pathname;

/** Starts a reader in another process, waits until it holds one message, then kills it with SIGKILL. */
async function receiveInChild(url: string, env: Record<string, string>): Promise<{ id: string; body: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, url],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  try {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the reader process ended before it received a message");
      text += value;
    }
  } finally {
    clearTimeout(timer);
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    await reader.cancel().catch(() => {});
  }
  return JSON.parse(text.split("\n")[0]);
}

/** A fresh topic: one writer, a factory for competing readers, and their ack deadline. */
export interface BusFixture {
  writer: EventWriter;
  /** Opens another reader of the same subscription. */
  openReader(): Promise<EventReader>;
  /** The readers' ack deadline in ms (keep it short, e.g. 300). */
  ackDeadlineMs: number;
  /**
   * The reader URL and environment another process uses to read the same subscription; enables
   * the `kill -9` step (a child process receives a message and is killed before it acks).
   */
  readerProcess?: { url: string; env?: Record<string, string> };
  cleanup(): Promise<void>;
}

/**
 * What a bus promises beyond at-least-once delivery (go-cloud's drivertest `Harness`). Each rule
 * a bus does not promise is skipped with the reason given here, never silently.
 */
export interface BusCapabilities {
  /**
   * Per-key ordering: `exclusive` — one message per key in flight, in publication order (mem,
   * file…); `ordered` — in publication order per key for one reader, but the next may be handed
   * out before the previous is acked; or the reason there is none.
   */
  ordering?: "exclusive" | "ordered" | { none: string };
  /** Why an unacked message is not redelivered after a deadline while its reader lives (Kafka). */
  noAckDeadline?: string;
  /** Why `deliveryAttempt` is not exact after redelivery, when it is not. */
  inexactAttempts?: string;
}

/** Options of {@link busConformance}. */
export interface BusConformanceOptions {
  /** Declared capabilities. */
  capabilities?: BusCapabilities;
  /** Skips the whole suite with this reason (a service that is not installed outside CI). */
  skip?: string | false;
}

const enc = (text: string) => new TextEncoder().encode(text);
const dec = (data: Uint8Array) => new TextDecoder().decode(data);

/** Receives with a timeout; `undefined` when nothing arrives within `ms`. */
export async function receiveWithin(reader: EventReader, ms: number): Promise<IncomingMessage | undefined> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  try {
    return await reader.receive(controller.signal);
  } finally {
    clearTimeout(timer);
  }
}

async function mustReceive(reader: EventReader, ms: number, what: string): Promise<IncomingMessage> {
  const message = await receiveWithin(reader, ms);
  assert.ok(message, `expected ${what} within ${ms}ms`);
  return message;
}

/** Registers `bus conformance: <name>`; `open` must return an empty topic. */
export function busConformance(
  name: string,
  open: () => Promise<BusFixture>,
  options: BusConformanceOptions = {},
): void {
  const caps = options.capabilities ?? {};
  const ordering = caps.ordering ?? "exclusive";
  Deno.test({ name: `bus conformance: ${name}`, ignore: Boolean(options.skip) }, async (t) => {
    const step = (title: string, fn: (bus: BusFixture, readers: EventReader[]) => Promise<void>) =>
      t.step(title, async () => {
        const bus = await open();
        const readers: EventReader[] = [];
        const tracked: BusFixture = {
          ...bus,
          openReader: async () => {
            const reader = await bus.openReader();
            readers.push(reader);
            return reader;
          },
        };
        try {
          await fn(tracked, readers);
        } finally {
          for (const reader of readers) await reader.close();
          await bus.writer.close();
          await bus.cleanup();
        }
      });

    await step("a sent message arrives once with its body, key and attempt 1; ack ends it", async (bus) => {
      await bus.writer.check();
      const body = new Uint8Array([0, 255, 10, 13, 0x7b]);
      await bus.writer.send({ body, orderingKey: "app-a" });
      const reader = await bus.openReader();
      await reader.check();
      const message = await mustReceive(reader, 5_000, "the message");
      assert.deepEqual(message.body, body);
      assert.equal(message.orderingKey, "app-a");
      assert.equal(message.deliveryAttempt, 1);
      assert.ok(message.id.length > 0);
      await message.ack();
      assert.equal(await receiveWithin(reader, bus.ackDeadlineMs * 2), undefined, "acked message came back");
    });

    await step("nack redelivers the same message with an increased attempt", async (bus) => {
      await bus.writer.send({ body: enc("retry me") });
      const reader = await bus.openReader();
      const first = await mustReceive(reader, 5_000, "first delivery");
      await first.nack(0);
      const second = await mustReceive(reader, 5_000, "redelivery after nack(0)");
      assert.equal(second.id, first.id);
      assert.equal(dec(second.body), "retry me");
      assert.equal(second.deliveryAttempt, 2);
      await second.nack(bus.ackDeadlineMs / 2);
      const third = await mustReceive(reader, 5_000, "redelivery after a delayed nack");
      assert.equal(third.deliveryAttempt, 3);
      await third.ack();
    });

    if (caps.noAckDeadline) console.warn(`bus conformance: ${name}: no ack deadline: ${caps.noAckDeadline}`);
    if (!caps.noAckDeadline) {
      await step("an unacked message comes back after the ack deadline", async (bus) => {
        await bus.writer.send({ body: enc("slow") });
        const reader = await bus.openReader();
        const first = await mustReceive(reader, 5_000, "first delivery");
        const again = await mustReceive(reader, bus.ackDeadlineMs * 10 + 2_000, "redelivery after the deadline");
        assert.equal(again.id, first.id);
        if (!caps.inexactAttempts) assert.equal(again.deliveryAttempt, 2);
        await again.ack();
      });
    }

    if (typeof ordering === "object") console.warn(`bus conformance: ${name}: no per-key ordering: ${ordering.none}`);
    if (ordering === "exclusive") {
      await step("one message per ordering key at a time, in order; other keys in parallel", async (bus) => {
        for (const [key, text] of [["k1", "a"], ["k1", "b"], ["k2", "c"], ["k1", "d"]]) {
          await bus.writer.send({ body: enc(text), orderingKey: key });
        }
        const reader = await bus.openReader();
        const a = await mustReceive(reader, 5_000, "k1's first message");
        const c = await mustReceive(reader, 5_000, "k2's message");
        assert.deepEqual([dec(a.body), dec(c.body)], ["a", "c"]);
        assert.equal(await receiveWithin(reader, 200), undefined, "k1's next message while its first is unacked");
        await a.ack();
        const b = await mustReceive(reader, 5_000, "k1's second message");
        assert.equal(dec(b.body), "b");
        await b.nack(0);
        const bAgain = await mustReceive(reader, 5_000, "k1's second message again");
        assert.deepEqual([dec(bAgain.body), bAgain.deliveryAttempt], ["b", 2]);
        await bAgain.ack();
        const d = await mustReceive(reader, 5_000, "k1's third message");
        assert.equal(dec(d.body), "d");
        await Promise.all([c.ack(), d.ack()]);
      });
    }

    await step("competing readers share the messages; each is processed once when acked", async (bus) => {
      const total = 30;
      for (let i = 0; i < total; i++) await bus.writer.send({ body: enc(String(i)), orderingKey: `app-${i % 3}` });
      const readers = [await bus.openReader(), await bus.openReader()];
      const seen: string[] = [];
      const perReader = [0, 0];
      const inFlight = new Set<string>();
      await Promise.all(readers.map(async (reader, r) => {
        while (seen.length < total) {
          const message = await receiveWithin(reader, 200);
          if (!message) continue;
          assert.ok(!inFlight.has(message.id), "a message is in two readers' hands at once");
          inFlight.add(message.id);
          await new Promise((resolve) => setTimeout(resolve, 2));
          seen.push(dec(message.body));
          perReader[r]++;
          inFlight.delete(message.id);
          await message.ack();
        }
      }));
      assert.deepEqual(seen.map(Number).sort((x, y) => x - y), Array.from({ length: total }, (_, i) => i));
      for (const reader of readers) assert.equal(await receiveWithin(reader, 100), undefined);
    });

    if (ordering === "ordered") {
      await step("one reader receives each key's messages in publication order", async (bus) => {
        for (let i = 0; i < 12; i++) await bus.writer.send({ body: enc(`${i % 2}:${i}`), orderingKey: `key-${i % 2}` });
        const reader = await bus.openReader();
        const order: Record<string, number[]> = { "0": [], "1": [] };
        for (let handled = 0; handled < 12; handled++) {
          const message = await mustReceive(reader, 10_000, `message ${handled + 1} of 12`);
          const [key, n] = dec(message.body).split(":");
          order[key].push(Number(n));
          await message.ack();
        }
        assert.deepEqual(order["0"], [0, 2, 4, 6, 8, 10]);
        assert.deepEqual(order["1"], [1, 3, 5, 7, 9, 11]);
      });
    }

    if (ordering === "exclusive") {
      await step("per-key publication order holds across competing readers", async (bus) => {
        for (let i = 0; i < 12; i++) await bus.writer.send({ body: enc(`${i % 2}:${i}`), orderingKey: `key-${i % 2}` });
        const readers = [await bus.openReader(), await bus.openReader(), await bus.openReader()];
        const order: Record<string, number[]> = { "0": [], "1": [] };
        let handled = 0;
        await Promise.all(readers.map(async (reader) => {
          while (handled < 12) {
            const message = await receiveWithin(reader, 200);
            if (!message) continue;
            const [key, n] = dec(message.body).split(":");
            order[key].push(Number(n));
            handled++;
            await message.ack();
          }
        }));
        assert.deepEqual(order["0"], [0, 2, 4, 6, 8, 10]);
        assert.deepEqual(order["1"], [1, 3, 5, 7, 9, 11]);
      });
    }

    await step("close ends a waiting receive and hands unacked messages to other readers", async (bus) => {
      const first = await bus.openReader();
      const waiting = first.receive();
      await first.close();
      assert.equal(await waiting, undefined);
      const holder = await bus.openReader();
      await bus.writer.send({ body: enc("held"), orderingKey: "k" });
      const held = await mustReceive(holder, 5_000, "the message");
      await holder.close();
      const other = await bus.openReader();
      const again = await mustReceive(other, bus.ackDeadlineMs * 10 + 10_000, "the released message");
      assert.equal(again.id, held.id);
      if (!caps.inexactAttempts) assert.equal(again.deliveryAttempt, 2);
      await again.ack();
    });

    await step("the original envelope's bytes arrive unchanged", async (bus) => {
      const envelope = makeEnvelope(
        "profile.uploaded",
        { app: "conformance", profileKey: "conformance/staging/1700000000000000001-abc" },
        "0b9f7f2e-5d43-4a8e-9c53-3f1c2b7d9e10",
        new Date("2026-12-01T10:00:00.123Z"),
      );
      const body = encodeEnvelope(envelope);
      await bus.writer.send({ body, orderingKey: "conformance" });
      const reader = await bus.openReader();
      const message = await mustReceive(reader, 10_000, "the envelope");
      assert.equal(dec(message.body), dec(body));
      assert.deepEqual(decodeEnvelope(message.body), envelope);
      await message.ack();
    });

    await step(
      "a poison event is set aside: the real worker acks it, keeps running and handles the next",
      async (bus) => {
        await bus.writer.send({ body: enc("{not an envelope"), orderingKey: "poisoned-app" });
        const valid = makeEnvelope("profile.deleted", { app: "poisoned-app" }, crypto.randomUUID(), new Date());
        await bus.writer.send({ body: encodeEnvelope(valid), orderingKey: "poisoned-app" });
        const store = await openMemBlobStore("mem://");
        const stop = new AbortController();
        const reader = await bus.openReader();
        const worker = runWorker(reader, {
          store,
          pruneConfig: [],
          compaction: "none",
          sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
          random: Math.random,
          publisher: { publish: () => Promise.resolve() },
        }, {
          concurrency: 1,
          sweepIntervalMs: 0,
          clock: () => new Date(),
        }, stop.signal);
        try {
          const deadline = Date.now() + 30_000;
          while (!(await store.stat("poisoned-app/default.pgo")) && Date.now() < deadline) {
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
          assert.ok(await store.stat("poisoned-app/default.pgo"), "the event after the poison was handled");
        } finally {
          stop.abort();
          await worker;
        }
        const after = await bus.openReader();
        assert.equal(await receiveWithin(after, bus.ackDeadlineMs * 3 + 500), undefined, "both were acked");
      },
    );

    await step("a consumer process killed with kill -9 before acking: the message comes back", async (bus) => {
      if (!bus.readerProcess) return void console.warn(`bus conformance: ${name}: no reader process: kill -9 not run`);
      await bus.writer.send({ body: enc("survives kill -9"), orderingKey: "k9" });
      const child = await receiveInChild(bus.readerProcess.url, bus.readerProcess.env ?? {});
      assert.equal(child.body, "survives kill -9");
      const reader = await bus.openReader();
      const again = await mustReceive(reader, bus.ackDeadlineMs * 10 + 30_000, "the message the killed reader held");
      assert.equal(dec(again.body), "survives kill -9");
      assert.equal(again.id, child.id);
      await again.ack();
    });

    await step("an aborted receive returns undefined and consumes nothing", async (bus) => {
      const reader = await bus.openReader();
      const controller = new AbortController();
      controller.abort();
      assert.equal(await reader.receive(controller.signal), undefined);
      await bus.writer.send({ body: enc("still here") });
      const message = await mustReceive(reader, 5_000, "the message");
      assert.equal(message.deliveryAttempt, 1);
      await message.ack();
    });
  });
}
