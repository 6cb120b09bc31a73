// deno-lint-ignore-file require-await -- the stand-in's methods are async like the SDK's: what they throw becomes a rejection
/**
 * azuresb:// event bus, tested at the SDK boundary: no Service Bus (nor an emulator) runs here, so
 * the driver is given an in-test stand-in for exactly the SDK surface it uses (ServiceBusClient
 * createSender/createReceiver/close, ServiceBusSender sendMessages/createMessageBatch/close,
 * ServiceBusReceiver receiveMessages/completeMessage/abandonMessage/renewMessageLock/peekMessages/
 * close), which records every call and models one subscription's peek-lock rules (locks that
 * expire, abandon and expiry counting a delivery, one receive call at a time). These tests check
 * what the driver asks of the SDK; they say nothing about Service Bus itself. The real SDK is used
 * only offline: building a client from a connection string, and failing against a closed port.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { ServiceBusError, type ServiceBusMessage, type ServiceBusReceivedMessage } from "@azure/service-bus";
import { BusError, Subscription, Topic } from "../../core/event_bus.ts";
import { receiveWithin } from "../../tests/support/bus_conformance.ts";
import { freePort } from "../../tests/support/services/service.ts";
import {
  type AzureSbOptions,
  openAzureSbReader,
  openAzureSbWriter,
  type SbClient,
  type SbReceiver,
  type SbSender,
  serviceBusEntity,
  serviceBusErrorKind,
} from "./azure_servicebus.ts";

const enc = (text: string) => new TextEncoder().encode(text);
const dec = (data: Uint8Array) => new TextDecoder().decode(data);
const CS = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0";

type Call = [op: string, ...args: unknown[]];
interface Stored {
  message: ServiceBusReceivedMessage & { deliveryCount: number; lockToken?: string; lockedUntilUtc?: Date };
  locked: boolean;
}

/** One subscription behind the SDK surface the driver uses; `calls` records every call in order. */
class FakeServiceBus {
  readonly calls: Call[] = [];
  readonly stored: Stored[] = [];
  /** An error the next call of that operation throws. */
  readonly failNext = new Map<string, unknown>();
  #seq = 0;
  #receiving = false;
  #arrived = () => {};

  constructor(readonly lockMs = 30_000) {}

  options(extra: AzureSbOptions = {}): AzureSbOptions {
    return { connectionString: CS, createClient: () => this.client(), ...extra };
  }

  #call(op: string, ...args: unknown[]): void {
    this.calls.push([op, ...args]);
    const failure = this.failNext.get(op);
    if (failure === undefined) return;
    this.failNext.delete(op);
    throw failure;
  }

  ops(): string[] {
    return this.calls.map(([op]) => op);
  }

  #live(message: ServiceBusReceivedMessage): Stored {
    this.#expireLocks();
    const entry = this.stored.find((s) => s.message.lockToken === message.lockToken && s.locked);
    if (!entry) throw new ServiceBusError("the lock on the message is lost", "MessageLockLost");
    return entry;
  }

  #expireLocks(): void {
    for (const s of this.stored) {
      if (s.locked && s.message.lockedUntilUtc!.getTime() <= Date.now()) this.#unlock(s);
    }
  }

  #unlock(entry: Stored): void {
    entry.locked = false;
    entry.message.deliveryCount++;
    entry.message.lockToken = undefined;
    this.#arrived();
  }

  client(): SbClient {
    const sender: SbSender = {
      sendMessages: async (message, options) => {
        this.#call("sendMessages", message, options);
        const { body, partitionKey } = message as ServiceBusMessage;
        this.stored.push({
          locked: false,
          message: {
            body: Buffer.from(body), // what the SDK hands back with skipParsingBodyAsJson: the data section's bytes
            partitionKey,
            messageId: `m-${++this.#seq}`,
            sequenceNumber: undefined,
            deliveryCount: 0,
            state: "active",
          } as unknown as Stored["message"],
        });
        this.#arrived();
      },
      createMessageBatch: async (options) => {
        this.#call("createMessageBatch", options);
        return {} as Awaited<ReturnType<SbSender["createMessageBatch"]>>;
      },
      close: async () => this.#call("sender.close"),
    };
    const receiver: SbReceiver = {
      receiveMessages: async (max, options) => {
        this.#call("receiveMessages", max, options);
        if (this.#receiving) throw new Error("the receiver is already receiving messages");
        this.#receiving = true;
        try {
          const until = Date.now() + (options?.maxWaitTimeInMs ?? 60_000);
          while (true) {
            this.#expireLocks();
            const free = this.stored.filter((s) => !s.locked).slice(0, max);
            if (free.length) {
              for (const s of free) {
                s.locked = true;
                s.message.lockToken = crypto.randomUUID();
                s.message.lockedUntilUtc = new Date(Date.now() + this.lockMs);
              }
              return free.map((s) => s.message);
            }
            if (options?.abortSignal?.aborted) throw new DOMException("The operation was aborted.", "AbortError");
            if (Date.now() >= until) return [];
            await new Promise<void>((resolve) => {
              const timer = setTimeout(wake, Math.min(50, until - Date.now()));
              options?.abortSignal?.addEventListener("abort", wake, { once: true });
              this.#arrived = wake;
              function wake() {
                clearTimeout(timer);
                options?.abortSignal?.removeEventListener("abort", wake);
                resolve();
              }
            });
          }
        } finally {
          this.#receiving = false;
        }
      },
      completeMessage: async (message) => {
        this.#call("completeMessage", message);
        this.stored.splice(this.stored.indexOf(this.#live(message)), 1);
      },
      abandonMessage: async (message) => {
        this.#call("abandonMessage", message);
        this.#unlock(this.#live(message));
      },
      renewMessageLock: async (message) => {
        this.#call("renewMessageLock", message);
        const entry = this.#live(message);
        entry.message.lockedUntilUtc = new Date(Date.now() + this.lockMs);
        return entry.message.lockedUntilUtc;
      },
      peekMessages: async (max, options) => {
        this.#call("peekMessages", max, options);
        return this.stored.slice(0, max).map((s) => ({ ...s.message }));
      },
      close: async () => this.#call("receiver.close"),
    };
    return {
      createSender: (name) => {
        this.#call("createSender", name);
        return sender;
      },
      createReceiver: (topic, subscription, options) => {
        this.#call("createReceiver", topic, subscription, options);
        return receiver;
      },
      close: async () => this.#call("client.close"),
    };
  }
}

Deno.test("openAzureSbWriter: the envelope's bytes as a Uint8Array body, partitionKey = the app, nothing else", async () => {
  const sb = new FakeServiceBus();
  const writer = await openAzureSbWriter("azuresb://profiles", sb.options());
  assert.equal(writer.description, "azuresb topic profiles in ns.servicebus.windows.net");
  const envelope = enc('{"id":"1","timestamp":"2026-12-01T10:00:00Z","type":"profile.uploaded","payload":{}}');
  const signal = new AbortController().signal;
  await writer.send({ body: envelope.subarray(0), orderingKey: "checkout" }, signal);
  await writer.send({ body: new Uint8Array([0, 255, 10]) });
  await writer.check();
  await writer.close();
  assert.deepEqual(sb.ops(), [
    "createSender",
    "sendMessages",
    "sendMessages",
    "createMessageBatch",
    "sender.close",
    "client.close",
  ]);
  assert.equal(sb.calls[0][1], "profiles");
  const [[, first, firstOptions], [, second]] = sb.calls.slice(1, 3) as [string, ServiceBusMessage, unknown][];
  assert.ok(first.body instanceof Uint8Array, "a Uint8Array body is one AMQP data section, not JSON");
  assert.deepEqual(Object.keys(first).sort(), ["body", "partitionKey"]);
  assert.equal(dec(first.body), dec(envelope));
  assert.equal(first.partitionKey, "checkout");
  assert.deepEqual(firstOptions, { abortSignal: signal });
  assert.deepEqual(Object.keys(second), ["body"]);
  assert.deepEqual([...second.body], [0, 255, 10]);
});

Deno.test("openAzureSbReader: peek-lock receiver that skips JSON parsing and leaves lock renewal to autopgo", async () => {
  const sb = new FakeServiceBus();
  const reader = await openAzureSbReader(
    "azuresb://profiles?subscription=worker&listener_timeout=150ms&max_recv_batch_size=5",
    sb.options(),
  );
  assert.equal(reader.description, "azuresb subscription profiles/worker in ns.servicebus.windows.net");
  assert.equal(await receiveWithin(reader, 400), undefined);
  await reader.check();
  await reader.close();
  assert.deepEqual(sb.calls[0], ["createReceiver", "profiles", "worker", {
    receiveMode: "peekLock",
    skipParsingBodyAsJson: true,
    maxAutoLockRenewalDurationInMs: 0,
  }]);
  const receives = sb.calls.filter(([op]) => op === "receiveMessages");
  assert.ok(receives.length >= 2, "an empty wait of listener_timeout is followed by another");
  for (const [, max, options] of receives) {
    assert.equal(max, 5);
    assert.equal((options as { maxWaitTimeInMs: number }).maxWaitTimeInMs, 150);
    assert.ok((options as { abortSignal?: AbortSignal }).abortSignal instanceof AbortSignal);
  }
  assert.deepEqual(sb.ops().slice(-3), ["peekMessages", "receiver.close", "client.close"]);
});

Deno.test("AzureSbReader: ack completes, nack abandons (attempt = deliveryCount + 1), inProgress renews the lock", async () => {
  const sb = new FakeServiceBus(9_000);
  const writer = await openAzureSbWriter("azuresb://t", sb.options());
  const reader = await openAzureSbReader("azuresb://t?subscription=s", sb.options());
  await writer.send({ body: enc("job"), orderingKey: "app" });
  const first = await receiveWithin(reader, 2_000);
  assert.deepEqual([first?.id, first?.orderingKey, first?.deliveryAttempt, dec(first!.body)], ["m-1", "app", 1, "job"]);
  assert.ok(Math.abs(reader.renewIntervalMs - 3_000) < 100, "a third of the 9 s lock");
  await first!.inProgress!();
  await first!.nack();
  const second = await receiveWithin(reader, 2_000);
  assert.deepEqual([second?.id, second?.deliveryAttempt], ["m-1", 2]);
  await second!.ack();
  await second!.ack(); // settled once: no second call
  await first!.ack(); // already abandoned: nothing to do
  const settling = sb.calls.filter(([op]) => /Message(Lock)?$/.test(op));
  assert.deepEqual(settling.map(([op]) => op), ["renewMessageLock", "abandonMessage", "completeMessage"]);
  assert.equal(settling[0][1], settling[1][1], "renewed and abandoned the received message object");
  assert.equal(sb.stored.length, 0);
  await Promise.all([writer.close(), reader.close()]);
});

Deno.test("AzureSbReader: nack(delay) keeps the lock, renewing it, then abandons; close abandons at once", async () => {
  const sb = new FakeServiceBus(5_000); // the service's minimum lock: renewal every 1.67 s
  const writer = await openAzureSbWriter("azuresb://t", sb.options());
  const reader = await openAzureSbReader("azuresb://t?subscription=s&listener_timeout=100ms", sb.options());
  await writer.send({ body: enc("later") });
  const message = await receiveWithin(reader, 2_000);
  const nackedAt = Date.now();
  await message!.nack(2_000);
  const again = await receiveWithin(reader, 5_000);
  assert.ok(Date.now() - nackedAt >= 1_900, "redelivered before the nack delay");
  assert.equal(again?.deliveryAttempt, 2);
  const ops = sb.ops().filter((op) => op === "renewMessageLock" || op === "abandonMessage");
  assert.deepEqual(ops, ["renewMessageLock", "abandonMessage"]);
  await again!.nack(60_000); // held for a minute…
  await reader.close(); // …but handed back now, timers cleared
  assert.deepEqual(sb.ops().slice(-3), ["abandonMessage", "receiver.close", "client.close"]);
  assert.equal(sb.stored[0].message.deliveryCount, 2);
  await writer.close();
});

Deno.test("AzureSbReader: concurrent receives take turns (the SDK allows one receive call at a time)", async () => {
  const sb = new FakeServiceBus();
  const writer = await openAzureSbWriter("azuresb://t", sb.options());
  const reader = await openAzureSbReader("azuresb://t?subscription=s&listener_timeout=50ms", sb.options());
  const waiting = [1, 2, 3].map(() => receiveWithin(reader, 3_000));
  for (const text of ["a", "b", "c"]) await writer.send({ body: enc(text) });
  const got = await Promise.all(waiting);
  assert.deepEqual(got.map((m) => m && dec(m.body)).sort(), ["a", "b", "c"]);
  await Promise.all(got.map((m) => m!.ack()));
  await Promise.all([writer.close(), reader.close()]);
});

Deno.test("AzureSbReader: close abandons every message it holds or buffered, and ends a waiting receive", async () => {
  const sb = new FakeServiceBus();
  const writer = await openAzureSbWriter("azuresb://t", sb.options());
  const reader = await openAzureSbReader("azuresb://t?subscription=s&max_recv_batch_size=3", sb.options());
  for (const text of ["a", "b", "c"]) await writer.send({ body: enc(text) });
  const held = await receiveWithin(reader, 2_000);
  assert.ok(held);
  await reader.close();
  assert.equal(await reader.receive(), undefined);
  assert.equal(sb.ops().filter((op) => op === "abandonMessage").length, 3);
  assert.deepEqual(sb.stored.map((s) => [s.locked, s.message.deliveryCount]), [[false, 1], [false, 1], [false, 1]]);
  sb.stored.splice(0); // consumed elsewhere: the next receive waits until close
  const idle = await openAzureSbReader("azuresb://t?subscription=s&listener_timeout=60s", sb.options());
  const pending = idle.receive();
  await new Promise((resolve) => setTimeout(resolve, 50));
  await idle.close();
  assert.equal(await pending, undefined);
  await writer.close();
});

Deno.test("serviceBusErrorKind: ServiceBusError codes, retryable flags and socket errors", () => {
  const kinds = Object.fromEntries(
    [
      "MessagingEntityNotFound",
      "MessageNotFound",
      "UnauthorizedAccess",
      "ServiceBusy",
      "ServiceTimeout",
      "ServiceCommunicationProblem",
      "QuotaExceeded",
      "MessageSizeExceeded",
      "MessageLockLost",
      "GeneralError",
    ].map((code) => [code, serviceBusErrorKind(new ServiceBusError("x", code as ServiceBusError["code"]))]),
  );
  assert.deepEqual(kinds, {
    MessagingEntityNotFound: "not-found",
    MessageNotFound: "not-found",
    UnauthorizedAccess: "permission",
    ServiceBusy: "unavailable",
    ServiceTimeout: "unavailable",
    ServiceCommunicationProblem: "unavailable",
    QuotaExceeded: "unavailable",
    MessageSizeExceeded: "invalid",
    MessageLockLost: "unknown",
    GeneralError: "unavailable", // the SDK's constructor marks errors retryable unless told otherwise
  });
  const general = (retryable: boolean, extra = {}) =>
    Object.assign(new ServiceBusError("x", "GeneralError"), { retryable, ...extra });
  assert.equal(serviceBusErrorKind(general(false)), "unknown");
  assert.equal(serviceBusErrorKind(general(false, { syscall: "connect" })), "unavailable");
  assert.equal(serviceBusErrorKind(new Error("no code")), "unknown");
});

Deno.test("azuresb through Topic/Subscription: busy sends are retried; a missing entity is a one-line not-found", async () => {
  const sb = new FakeServiceBus();
  sb.failNext.set("sendMessages", new ServiceBusError("The server is busy.", "ServiceBusy"));
  const topic = new Topic(await openAzureSbWriter("azuresb://t", sb.options()), { retryBaseMs: 1 });
  await topic.send({ body: enc("retried"), orderingKey: "app" });
  assert.equal(sb.ops().filter((op) => op === "sendMessages").length, 2);
  sb.failNext.set(
    "createMessageBatch",
    new ServiceBusError(
      "The messaging entity 'ns:topic:t' could not be found.\nTrackingId:1",
      "MessagingEntityNotFound",
    ),
  );
  await assert.rejects(
    topic.check(),
    (e) => e instanceof BusError && e.kind === "not-found" && !e.message.includes("\n"),
  );
  const sub = new Subscription(await openAzureSbReader("azuresb://t?subscription=gone", sb.options()));
  sb.failNext.set("peekMessages", new ServiceBusError("gone", "MessagingEntityNotFound"));
  await assert.rejects(
    sub.check(),
    (e) => e instanceof BusError && /not-found/.test(e.kind) && /t\/gone/.test(e.message),
  );
  await Promise.all([topic.close(), sub.close()]);
});

Deno.test("serviceBusEntity and reader parameters: gocloud's URL forms; unknown or missing parameters are errors", async () => {
  assert.equal(serviceBusEntity(new URL("azuresb://mytopic")), "mytopic");
  assert.equal(serviceBusEntity(new URL("azuresb://team/profiles/")), "team/profiles");
  assert.throws(() => serviceBusEntity(new URL("azuresb:///")), /missing topic name/);
  const sb = new FakeServiceBus();
  await assert.rejects(
    openAzureSbWriter("azuresb://t?subscription=s", sb.options()),
    /unknown parameter "subscription"/,
  );
  await assert.rejects(openAzureSbReader("azuresb://t", sb.options()), /missing required parameter subscription/);
  await assert.rejects(openAzureSbReader("azuresb://t?subscription=s&nacklazy=1", sb.options()), /unknown parameter/);
  await assert.rejects(
    openAzureSbReader("azuresb://t?subscription=s&listener_timeout=soon", sb.options()),
    /listener_timeout/,
  );
  assert.equal(sb.calls.length, 0, "nothing was opened");
});

Deno.test("openAzureSbWriter: credentials come from SERVICEBUS_CONNECTION_STRING only, with one-line errors", async () => {
  const env = (vars: Record<string, string>) => ({ getEnv: (name: string) => vars[name] });
  await assert.rejects(
    openAzureSbWriter("azuresb://t", env({})),
    /^Error: azuresb event bus: set SERVICEBUS_CONNECTION_STRING \(/,
  );
  await assert.rejects(
    openAzureSbWriter("azuresb://t", env({ AZURE_SERVICEBUS_HOSTNAME: "ns.servicebus.windows.net" })),
    /AZURE_SERVICEBUS_HOSTNAME \(Azure AD sign-in\) needs @azure\/identity, which autopgo does not bundle/,
  );
  for (const bad of ["SharedAccessKey=c2VjcmV0", "garbage-c2VjcmV0"]) {
    await assert.rejects(
      openAzureSbWriter("azuresb://t", env({ SERVICEBUS_CONNECTION_STRING: bad })),
      (e: Error) => /invalid SERVICEBUS_CONNECTION_STRING/.test(e.message) && !/c2VjcmV0|\n/.test(e.message),
    );
  }
});

Deno.test("the real SDK: builds its client from a connection string offline; a closed port fails check in one line", async () => {
  const port = freePort(); // nothing listens there
  const connectionString =
    `Endpoint=sb://127.0.0.1:${port}/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0;UseDevelopmentEmulator=true`;
  const offline = await openAzureSbWriter("azuresb://t", {
    getEnv: (n) => ({ SERVICEBUS_CONNECTION_STRING: connectionString })[n],
  });
  const offlineReader = await openAzureSbReader("azuresb://t?subscription=s", { connectionString });
  await Promise.all([offline.close(), offlineReader.close()]); // opened and closed without a connection
  const { ServiceBusClient } = await import("@azure/service-bus");
  const noRetries = (cs: string) => new ServiceBusClient(cs, { retryOptions: { maxRetries: 0 } });
  const topic = new Topic(await openAzureSbWriter("azuresb://t", { connectionString, createClient: noRetries }));
  const sub = new Subscription(
    await openAzureSbReader("azuresb://t?subscription=s", { connectionString, createClient: noRetries }),
  );
  for (const check of [() => topic.check(AbortSignal.timeout(20_000)), () => sub.check(AbortSignal.timeout(20_000))]) {
    await assert.rejects(
      check,
      (e) =>
        e instanceof BusError && e.kind === "unavailable" && /ECONNREFUSED/.test(e.message) &&
        e.message.includes(`127.0.0.1:${port}`) && !e.message.includes("\n") && !e.message.includes("c2VjcmV0"),
    );
  }
  await Promise.all([topic.close(), sub.close()]);
});
