/**
 * Plain NATS (`nats://subject?natsv2=true[&queue=…]`, the original autopgo's bus) against a real
 * nats-server: delivery to live subscribers, queue groups, the at-most-once behaviour it warns
 * about at start, and the registry path the commands use.
 *
 * @module
 */

import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import type { EventReader } from "../../core/events.ts";
import { openEventReader, openEventWriter } from "../../core/registry.ts";
import { receiveWithin } from "../../tests/support/bus_conformance.ts";
import { type NatsServer, natsSkip, startNatsServer } from "../../tests/support/services/nats.ts";
import { registerBuiltinDrivers } from "../mod.ts";
import { openNatsReader, openNatsWriter } from "./nats_bus.ts";
import { connectNats } from "./nats_common.ts";

const skip = natsSkip();
const enc = (text: string) => new TextEncoder().encode(text);
const dec = (data: Uint8Array) => new TextDecoder().decode(data);
let subjects = 0;

async function withServer(fn: (server: NatsServer) => Promise<void>): Promise<void> {
  const server = await startNatsServer();
  try {
    await fn(server);
  } finally {
    await server.stop();
  }
}

/** Every message that arrives within `quietMs` of the previous one. */
async function receiveAll(reader: EventReader, quietMs: number): Promise<string[]> {
  const bodies: string[] = [];
  for (let m = await receiveWithin(reader, quietMs); m; m = await receiveWithin(reader, quietMs)) {
    bodies.push(dec(m.body));
    await m.ack();
  }
  return bodies;
}

Deno.test({
  name: "nats plain bus: a live subscriber receives body, key and id; ack and nack settle nothing",
  ignore: !!skip,
}, async () => {
  await withServer(async (server) => {
    const url = `nats://plain.s${++subjects}?natsv2=true`;
    const writer = await openNatsWriter(url, { serverUrl: server.url });
    const reader = await openNatsReader(url, { serverUrl: server.url });
    try {
      await writer.check();
      await reader.check();
      const body = new Uint8Array([0, 255, 10, 13, 0x7b]);
      await writer.send({ body, orderingKey: "app-a" });
      await writer.send({ body: enc("no key") });
      const first = await receiveWithin(reader, 5_000);
      assert.ok(first);
      assert.deepEqual([first.body, first.orderingKey, first.deliveryAttempt], [body, "app-a", 1]);
      assert.match(first.id, /^[0-9a-f-]{36}$/);
      await first.nack(0); // cannot redeliver: the server kept nothing
      const second = await receiveWithin(reader, 5_000);
      assert.deepEqual([second && dec(second.body), second?.orderingKey], ["no key", undefined]);
      await second?.ack();
      assert.equal(await receiveWithin(reader, 500), undefined, "plain NATS redelivered a message");
    } finally {
      await reader.close();
      await writer.close();
    }
  });
});

Deno.test({
  name: "nats plain bus: a queue group shares the messages; another subscriber gets them all",
  ignore: !!skip,
}, async () => {
  await withServer(async (server) => {
    const subject = `plain.s${++subjects}`;
    const options = { serverUrl: server.url };
    const writer = await openNatsWriter(`nats://${subject}?natsv2=true`, options);
    const members = [
      await openNatsReader(`nats://${subject}?natsv2=true&queue=worker`, options),
      await openNatsReader(`nats://${subject}?natsv2=true&queue=worker`, options),
    ];
    const watcher = await openNatsReader(`nats://${subject}?natsv2=true`, options);
    try {
      const total = 40;
      for (let i = 0; i < total; i++) await writer.send({ body: enc(String(i)) });
      const [a, b] = await Promise.all(members.map((member) => receiveAll(member, 500)));
      const all = Array.from({ length: total }, (_, i) => String(i));
      assert.deepEqual([...a, ...b].map(Number).sort((x, y) => x - y).map(String), all, "each message once");
      assert.ok(a.length > 0 && b.length > 0, `one member got everything (${a.length}/${b.length})`);
      assert.deepEqual(await receiveAll(watcher, 500), all);
    } finally {
      for (const reader of [...members, watcher]) await reader.close();
      await writer.close();
    }
  });
});

Deno.test({
  name: "nats plain bus: warns at start that events published with no subscriber are dropped",
  ignore: !!skip,
}, async () => {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (record: LogRecord) => void records.push(record) },
    loggers: [
      { category: ["autopgo", "bus"], lowestLevel: "warning", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
  });
  try {
    await withServer(async (server) => {
      const url = `nats://plain.s${++subjects}?natsv2=true&queue=worker`;
      const writer = await openNatsWriter(url, { serverUrl: server.url });
      await writer.send({ body: enc("published before any worker") });
      const reader = await openNatsReader(url, { serverUrl: server.url });
      try {
        await writer.send({ body: enc("published to a live worker") });
        assert.deepEqual(await receiveAll(reader, 500), ["published to a live worker"]);
      } finally {
        await reader.close();
        await writer.close();
      }
      const warnings = records.map((r) => r.message.map(String).join(""));
      assert.equal(warnings.length, 2, warnings.join("\n"));
      for (const [i, side] of ["writer", "reader"].entries()) {
        assert.match(warnings[i], new RegExp(`^nats://plain\\.s\\d+ \\(${side}\\): plain NATS is at-most-once`));
        assert.match(warnings[i], /published while no worker is subscribed are dropped/);
        assert.match(warnings[i], /reconcile sweep merges their staged uploads later; add jetstream=true/);
      }
    });
  } finally {
    await reset();
  }
});

Deno.test(
  { name: "nats plain bus: the registry opens nats:// URLs with NATS_SERVER_URL", ignore: !!skip },
  async () => {
    await withServer(async (server) => {
      const previous = Deno.env.get("NATS_SERVER_URL");
      Deno.env.set("NATS_SERVER_URL", server.url);
      try {
        registerBuiltinDrivers();
        const url = `nats://plain.s${++subjects}?natsv2=true&queue=worker`;
        const reader = await openEventReader(url);
        const writer = await openEventWriter(url);
        try {
          await writer.send({ body: enc("via the registry"), orderingKey: "app" });
          const message = await receiveWithin(reader, 5_000);
          assert.deepEqual([message && dec(message.body), message?.orderingKey], ["via the registry", "app"]);
          await message?.ack();
          assert.equal(reader.renewIntervalMs, undefined, "plain NATS has no deadline to renew");
        } finally {
          await reader.close();
          await writer.close();
        }
      } finally {
        if (previous === undefined) Deno.env.delete("NATS_SERVER_URL");
        else Deno.env.set("NATS_SERVER_URL", previous);
      }
    });
  },
);

Deno.test(
  { name: "nats connection: requests are sent without building a stack trace for their call site", ignore: !!skip },
  async () => {
    await withServer(async (server) => {
      const link = await connectNats({ serverUrl: server.url }, "test");
      try {
        // nats.js builds an Error per request (publish, double ack) for its call site unless told not to.
        const options = (link.nc as unknown as { options: { noAsyncTraces?: boolean } }).options;
        assert.equal(options.noAsyncTraces, true);
        const reply = link.nc.subscribe("echo", {
          callback: (_error, msg) => {
            msg.respond(msg.data);
          },
        });
        const answer = await link.nc.request("echo", enc("ping"), { timeout: 5_000 });
        assert.equal(dec(answer.data), "ping");
        reply.unsubscribe();
      } finally {
        await link.nc.close();
      }
    });
  },
);
