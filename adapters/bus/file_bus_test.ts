/**
 * file:// event bus: the shared conformance suite on real time, plus on-disk behaviour —
 * durability across reopen, a dead consumer's lease coming back, damaged message files,
 * the duplicate testing aid and URL errors. Cross-process claims: tests/blob_race_test.ts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { busConformance, receiveWithin } from "../../tests/support/bus_conformance.ts";
import { Subscription } from "../../core/event_bus.ts";
import { ManualClock } from "../clock.ts";
import { openFileEventReader, openFileEventWriter } from "./file_bus.ts";

const enc = (text: string) => new TextEncoder().encode(text);
const dec = (data: Uint8Array) => new TextDecoder().decode(data);

async function tempBus(params = "") {
  const dir = await Deno.makeTempDir({ prefix: "autopgo-file-bus-" });
  const url = `${pathToFileURL(dir).href}${params}`;
  return { dir, url, cleanup: () => Deno.remove(dir, { recursive: true }) };
}

/** Runs `fn` on a fresh bus directory opened with `params`, removing the directory afterwards. */
async function withTempBus(params: string, fn: (bus: { dir: string; url: string }) => Promise<void>): Promise<void> {
  const { dir, url, cleanup } = await tempBus(params);
  try {
    await fn({ dir, url });
  } finally {
    await cleanup();
  }
}

busConformance("file", async () => {
  const { url, cleanup } = await tempBus("?ackdeadline=300ms&poll=10ms");
  return {
    writer: await openFileEventWriter(url),
    openReader: () => openFileEventReader(url),
    ackDeadlineMs: 300,
    readerProcess: { url },
    cleanup,
  };
});

Deno.test("file bus: messages survive closing every handle and are delivered after reopen", async () => {
  await withTempBus("?poll=10ms", async ({ url }) => {
    const writer = await openFileEventWriter(url);
    await writer.send({ body: enc("durable"), orderingKey: "app" });
    await writer.close();
    const reader = await openFileEventReader(url);
    const message = await receiveWithin(reader, 2_000);
    assert.equal(message && dec(message.body), "durable");
    assert.equal(message?.orderingKey, "app");
    await message?.ack();
    await reader.close();
  });
});

Deno.test("file bus: a dead consumer's lease returns after its deadline (manual clock)", async () => {
  await withTempBus("?ackdeadline=30s&poll=1s", async ({ dir, url }) => {
    const clock = new ManualClock();
    const writer = await openFileEventWriter(url, { clock });
    await writer.send({ body: enc("job"), orderingKey: "k" });
    await writer.send({ body: enc("next"), orderingKey: "k" });
    const dead = await openFileEventReader(url, { clock });
    const first = await dead.receive();
    assert.equal(first && dec(first.body), "job");
    const [leased] = [...Deno.readDirSync(join(dir, "inflight"))].map((e) => e.name);
    assert.match(leased, new RegExp(`^${clock.now() * 1000}\\.[0-9a-f]{16}\\.1\\.\\d+\\.[0-9a-f]{12}$`));
    // The "dead" reader never acks and never closes. Another reader must wait for the deadline.
    const other = await openFileEventReader(url, { clock });
    const pending = other.receive();
    let got: string | undefined;
    pending.then((m) => got = m && dec(m.body));
    for (let t = 0; t < 29; t++) await clock.advance(1_000);
    assert.equal(got, undefined, "same-key message or redelivery before the deadline");
    await clock.advance(1_000);
    await clock.advance(1_000);
    const again = await pending;
    assert.equal(again && dec(again.body), "job");
    assert.equal(again?.deliveryAttempt, 2);
    await first?.ack(); // the dead reader's late ack has no effect on the new lease
    assert.equal([...Deno.readDirSync(join(dir, "inflight"))].length, 1);
    await again?.ack();
    const next = await other.receive();
    assert.equal(next && dec(next.body), "next");
    await next?.ack();
    await Promise.all([dead.close(), other.close(), writer.close()]);
  });
});

Deno.test("file bus: a damaged message file is delivered whole instead of blocking the queue", async () => {
  await withTempBus("?poll=10ms", async ({ dir, url }) => {
    const reader = await openFileEventReader(url);
    await Deno.writeTextFile(join(dir, "pending", `${"1".padStart(16, "0")}._.1.0`), "garbage without header");
    const message = await receiveWithin(reader, 2_000);
    assert.equal(message?.id, "damaged-1");
    assert.equal(message && dec(message.body), "garbage without header");
    await message?.ack();
    assert.deepEqual([...Deno.readDirSync(join(dir, "inflight"))], []);
    await reader.close();
  });
});

Deno.test("file bus: an unreadable message (a directory in its place) is delivered as damaged, then removed", async () => {
  await withTempBus("?poll=10ms", async ({ dir, url }) => {
    const reader = await openFileEventReader(url);
    const writer = await openFileEventWriter(url);
    await Deno.mkdir(join(dir, "pending", `${"1".padStart(16, "0")}._.1.0`));
    const message = await receiveWithin(reader, 2_000);
    assert.equal(message?.id, "damaged-1");
    assert.equal(message?.body.byteLength, 0);
    await message?.ack();
    assert.deepEqual([...Deno.readDirSync(join(dir, "inflight"))], []);
    // The queue goes on.
    await writer.send({ body: enc("next") });
    const next = await receiveWithin(reader, 2_000);
    assert.equal(next && dec(next.body), "next");
    await next?.ack();
    await writer.close();
    await reader.close();
  });
});

Deno.test("file bus: ?duplicate=2 enqueues each message twice with one id", async () => {
  await withTempBus("?duplicate=2&poll=10ms", async ({ url }) => {
    const writer = await openFileEventWriter(url);
    const reader = await openFileEventReader(url);
    await writer.send({ body: enc("twice") });
    const a = await receiveWithin(reader, 2_000);
    const b = await receiveWithin(reader, 2_000);
    assert.ok(a && b);
    assert.equal(a.id, b.id);
    assert.equal(dec(b.body), "twice");
    await Promise.all([a.ack(), b.ack()]);
    assert.equal(await receiveWithin(reader, 50), undefined);
    await Promise.all([reader.close(), writer.close()]);
  });
});

Deno.test("file bus: bad URLs and unusable directories are one-line errors", async () => {
  await assert.rejects(openFileEventWriter("file://./bus"), /host "\." not supported/);
  await assert.rejects(openFileEventReader("file:///tmp/x?speed=1"), /unknown parameter "speed"/);
  await assert.rejects(openFileEventReader("file:///tmp/x?poll=0"), /poll=0: must be at least 1ms/);
  const { dir, url, cleanup } = await tempBus();
  const reader = await openFileEventReader(url);
  await reader.check();
  await cleanup();
  await assert.rejects(reader.check(), new RegExp(`file event bus ${dir}: not usable`));
  await reader.close();
});

Deno.test("file bus: a held message's lease is renewed through the Subscription layer, never redelivered", async () => {
  const { url, cleanup } = await tempBus("?ackdeadline=300ms&poll=10ms");
  const writer = await openFileEventWriter(url);
  const holder = new Subscription(await openFileEventReader(url));
  const other = await openFileEventReader(url);
  try {
    await writer.send({ body: enc("long merge"), orderingKey: "app" });
    const held = await receiveWithin(holder, 2_000);
    assert.ok(held);
    assert.equal(await receiveWithin(other, 1_500), undefined, "redelivered while its holder renews the lease");
    await held.ack();
    assert.equal(await receiveWithin(other, 600), undefined, "acked after renewals: gone for good");
  } finally {
    await Promise.all([holder.close(), other.close(), writer.close()]);
    await cleanup();
  }
});

Deno.test("file bus: sequence numbers grow across writers, and past a lost or damaged .autopgo-bus.seq", async () => {
  await withTempBus("?poll=1h", async ({ dir, url }) => {
    const clock = new ManualClock(0); // time stands still: only the sequence file orders the sends
    const seqs = () => [...Deno.readDirSync(join(dir, "pending"))].map((e) => Number(e.name.split(".")[0])).sort();
    const [a, b] = [await openFileEventWriter(url, { clock }), await openFileEventWriter(url, { clock })];
    await a.send({ body: enc("1"), orderingKey: "k" });
    await b.send({ body: enc("2"), orderingKey: "k" });
    assert.deepEqual(seqs(), [1, 2]);
    await Deno.remove(join(dir, ".autopgo-bus.seq")); // a bus written by an older version
    await a.send({ body: enc("3"), orderingKey: "k" });
    await Deno.writeTextFile(join(dir, ".autopgo-bus.seq"), "00000"); // a torn write
    await b.send({ body: enc("4"), orderingKey: "k" });
    assert.deepEqual(seqs(), [1, 2, 3, 4]);
    const reader = await openFileEventReader(url, { clock });
    for (const want of ["1", "2", "3", "4"]) {
      const message = await reader.receive();
      assert.equal(message && dec(message.body), want);
      await message?.ack();
    }
    await Promise.all([a.close(), b.close(), reader.close()]);
  });
});

Deno.test("file bus: a send writes the next number over the intact sequence file in place, never truncating it", async () => {
  const { dir, url, cleanup } = await tempBus();
  const original = Deno.writeTextFileSync;
  let rewrites = 0;
  try {
    const writer = await openFileEventWriter(url, { clock: new ManualClock(0) });
    await writer.send({ body: enc("1") }); // creates the file
    Deno.writeTextFileSync = (...args: Parameters<typeof original>) => {
      rewrites++;
      return original(...args);
    };
    await writer.send({ body: enc("2") });
    await writer.send({ body: enc("3") });
    Deno.writeTextFileSync = original;
    assert.equal(rewrites, 0, "a truncating rewrite costs about 0.2 ms under the bus lock");
    assert.equal(Deno.readTextFileSync(join(dir, ".autopgo-bus.seq")), `${"3".padStart(16, "0")}\n`);
    await writer.close();
  } finally {
    Deno.writeTextFileSync = original;
    await cleanup();
  }
});

Deno.test("file bus: an idle reader looks again when its own process acks, not at its next poll", async () => {
  await withTempBus("?poll=1h", async ({ url }) => {
    const clock = new ManualClock(); // never advanced: a wake-up can only come from the ack
    const writer = await openFileEventWriter(url, { clock });
    await writer.send({ body: enc("first"), orderingKey: "k" });
    await writer.send({ body: enc("second"), orderingKey: "k" });
    const [busy, idle] = [await openFileEventReader(url, { clock }), await openFileEventReader(url, { clock })];
    const first = await busy.receive();
    const waiting = idle.receive(); // "second" waits for "first"'s key
    await first?.ack();
    const second = await waiting;
    assert.equal(second && dec(second.body), "second");
    await second?.ack();
    await Promise.all([writer.close(), busy.close(), idle.close()]);
  });
});

Deno.test("file bus: an idle reader still finds a message file put in by hand (a full listing every second)", async () => {
  await withTempBus("?poll=100ms", async ({ dir, url }) => {
    const clock = new ManualClock();
    const writer = await openFileEventWriter(url, { clock });
    await writer.send({ body: enc("sent"), orderingKey: "k" });
    const reader = await openFileEventReader(url, { clock });
    const sent = await reader.receive();
    await sent?.ack();
    let got: string | undefined;
    const waiting = reader.receive().then((m) => got = m && dec(m.body));
    await new Promise((resolve) => setTimeout(resolve, 5));
    await clock.advance(100); // an idle poll with nothing new: the queue is not listed again
    await Deno.writeTextFile(join(dir, "pending", `${"5".padStart(16, "0")}._.1.0`), '{"id":"by-hand"}\nhand');
    const settle = () => new Promise((resolve) => setTimeout(resolve, 5)); // let the reader reach its next sleep
    for (let t = 0; t < 100 && got === undefined; t++) await settle().then(() => clock.advance(100));
    await waiting;
    assert.equal(got, "hand");
    await Promise.all([writer.close(), reader.close()]);
  });
});

/** Counts listings of `pending/` folders while `fn` runs (Deno.readDirSync spied on). */
async function countingListings<T>(fn: (count: () => number) => Promise<T>): Promise<T> {
  const original = Deno.readDirSync;
  let listings = 0;
  Deno.readDirSync = (path: string | URL) => {
    if (String(path).endsWith("pending")) listings++;
    return original(path);
  };
  try {
    return await fn(() => listings);
  } finally {
    Deno.readDirSync = original;
  }
}

Deno.test("file bus: after an ack a reader claims its key's next message without listing the queue, unless taken", async () => {
  await withTempBus("?poll=10ms", async ({ url }) => {
    const clock = new ManualClock();
    const writer = await openFileEventWriter(url, { clock });
    for (const [body, key] of [["a1", "a"], ["a2", "a"], ["a3", "a"], ["b1", "b"]]) {
      await writer.send({ body: enc(body), orderingKey: key });
    }
    const [reader, other] = [await openFileEventReader(url, { clock }), await openFileEventReader(url, { clock })];
    await countingListings(async (listings) => {
      const a1 = await reader.receive();
      assert.equal(a1 && dec(a1.body), "a1");
      const listed = listings();
      await a1?.ack();
      const a2 = await reader.receive();
      assert.equal(a2 && dec(a2.body), "a2");
      assert.equal(listings(), listed, "a2 followed a1 without a listing");
      await a2?.ack();
      const a3 = await other.receive(); // another reader takes the key's next message first
      assert.equal(a3 && dec(a3.body), "a3");
      const b1 = await reader.receive(); // a3 is gone: the reader lists the queue again
      assert.equal(b1 && dec(b1.body), "b1");
      assert.ok(listings() > listed + 1);
      await Promise.all([a3?.ack(), b1?.ack()]);
    });
    await Promise.all([writer.close(), reader.close(), other.close()]);
  });
});

Deno.test("file bus: competing readers, two loops each, that ack and nack at random deliver each key in order, one at a time", async () => {
  await withTempBus("?poll=5ms", async ({ url }) => {
    const writer = await openFileEventWriter(url);
    const keys = ["k0", "k1", "k2"];
    const total = 90;
    for (let i = 0; i < total; i++) await writer.send({ body: enc(String(i)), orderingKey: keys[i % 3] });
    const readers = [await openFileEventReader(url), await openFileEventReader(url)];
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const acked = new Map<string, number[]>(keys.map((k) => [k, []]));
    const inFlight = new Set<string>();
    let done = 0;
    // Two loops per reader: one reader's acks run while its other claims are under way.
    await Promise.all([...readers, ...readers].map(async (reader) => {
      while (done < total) {
        const message = await receiveWithin(reader, 200);
        if (!message) continue;
        const key = message.orderingKey!;
        assert.ok(!inFlight.has(key), `two messages of ${key} in flight`);
        inFlight.add(key);
        await new Promise((resolve) => setTimeout(resolve, random() * 3));
        inFlight.delete(key);
        if (random() < 0.25) await message.nack(0);
        else {
          acked.get(key)!.push(Number(dec(message.body)));
          done++;
          await message.ack();
        }
      }
    }));
    for (const [i, key] of keys.entries()) {
      assert.deepEqual(acked.get(key), Array.from({ length: total / 3 }, (_, n) => n * 3 + i), key);
    }
    await Promise.all([writer.close(), ...readers.map((r) => r.close())]);
  });
});

Deno.test("file bus: a send removes no file once its temps are renamed into the queue", async () => {
  const { dir, url, cleanup } = await tempBus("?duplicate=2");
  const original = Deno.removeSync;
  let removals = 0;
  try {
    const writer = await openFileEventWriter(url);
    Deno.removeSync = (path: string | URL, options?: Deno.RemoveOptions) => {
      removals++;
      return original(path, options);
    };
    await writer.send({ body: enc("one"), orderingKey: "k" });
    Deno.removeSync = original;
    assert.equal(removals, 0, "each removal of a renamed temp failed with NotFound");
    assert.deepEqual([...Deno.readDirSync(join(dir, "tmp"))], []);
    assert.equal([...Deno.readDirSync(join(dir, "pending"))].length, 2);
    await writer.close();
  } finally {
    Deno.removeSync = original;
    await cleanup();
  }
});
