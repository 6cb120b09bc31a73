/**
 * `azuresb://` event bus: Azure Service Bus topics and subscriptions through `@azure/service-bus`,
 * loaded only when such a URL is opened. Same URLs as gocloud's `azuresb` driver, so the original
 * autopgo's configuration works unchanged.
 *
 * # URLs
 *
 * - Writer: `azuresb://mytopic` — host and path are the entity name (a queue's name works too:
 *   a sender does not care). No parameters.
 * - Reader: `azuresb://mytopic?subscription=mysub` (required, as in gocloud, which has no queue
 *   form for readers).
 *   - `listener_timeout` (Go duration, default 2s, as gocloud): how long one receive call waits
 *     for messages before it asks again.
 *   - `max_recv_batch_size` (1–1000, default 1; gocloud batches 50): the most messages one
 *     receive call locks. Messages beyond the first wait in the reader with their locks running
 *     unrenewed, so a larger batch only suits handlers much faster than the lock duration.
 * Any other parameter is an error, as in gocloud. The entities must exist.
 *
 * # Message delivery semantics
 *
 * At least once, in peek-lock mode: `ack` = completeMessage; `nack()` / `nack(0)` = abandonMessage
 * (delivered again at once, delivery count + 1); `inProgress` = renewMessageLock, which the
 * portable layer calls every third of the lock duration (`renewIntervalMs`, estimated from the
 * first message's `lockedUntilUtc`, clamped to the service's 5 s–5 min). The SDK's own automatic
 * lock renewal is switched off so that renewal stops when the handler does.
 *
 * `nack(delayMs > 0)`: Service Bus cannot abandon with a delay. The reader keeps the lock
 * (renewing it) and abandons when the delay is over, so the message returns after about `delayMs`
 * (or when its lock expires, if this process dies first). Closing the reader abandons such
 * messages at once. Re-sending a scheduled copy (`scheduleMessages`) would lose the message id
 * and delivery count and, sent to the topic, reach every subscription, so it is not used.
 *
 * `deliveryAttempt` = `deliveryCount` + 1: the JS SDK exposes the raw AMQP count of earlier
 * deliveries (0 at first), which the service increments on abandon and on lock expiry. The
 * subscription's max delivery count (default 10) dead-letters a message that keeps failing.
 *
 * Ordering: `partitionKey` = the ordering key (the app), as the original's gocloud writer sets
 * it; it keeps an app's messages on one partition of a partitioned entity and is otherwise
 * ignored. Without sessions Service Bus promises no order to competing receivers. `sessionId`
 * is not set: a session-enabled subscription (strict per-app FIFO) needs a session receiver,
 * which neither gocloud's azuresb nor this reader uses, so such a subscription cannot be read.
 *
 * Bodies: sent as one AMQP data section holding the envelope bytes exactly (a `Uint8Array` body,
 * which the SDK does not JSON-encode; Go's azservicebus writes `Message.Body` the same way), and
 * received with `skipParsingBodyAsJson`, so a JSON body is not parsed and re-serialized. A body
 * that another client sent as an AMQP value or sequence section is delivered as its UTF-8 text or
 * JSON text, for the consumer to reject.
 *
 * # Credentials and environment
 *
 * `SERVICEBUS_CONNECTION_STRING` (`Endpoint=sb://NS.servicebus.windows.net/;SharedAccessKeyName=…;
 * SharedAccessKey=…`), as gocloud. gocloud's other option, `AZURE_SERVICEBUS_HOSTNAME` with Azure
 * AD credentials, needs `@azure/identity`, which autopgo does not bundle: it is refused with a
 * one-line error. Errors map by `ServiceBusError.code`: MessagingEntityNotFound, MessageNotFound →
 * `not-found`; UnauthorizedAccess → `permission`; ServiceBusy, ServiceTimeout,
 * ServiceCommunicationProblem, QuotaExceeded → `unavailable`; MessageSizeExceeded → `invalid`;
 * other codes (MessageLockLost…) → `unknown`; a GeneralError is `unavailable` when the SDK marks it
 * retryable or it is a socket error (connection refused, DNS), else `unknown`.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type {
  ServiceBusMessage,
  ServiceBusReceivedMessage,
  ServiceBusReceiver,
  ServiceBusReceiverOptions,
  ServiceBusSender,
} from "@azure/service-bus";
import type { EventReader, EventWriter, IncomingMessage, OutgoingMessage } from "../../core/events.ts";
import type { BusDriverErrors, BusErrorKind } from "../../core/event_bus.ts";
import { redactUrl } from "../../core/registry.ts";
import { driverParams, durationParam, intParam } from "../driver_url.ts";
import { sdkExports } from "../sdk_exports.ts";

const WHAT = "azuresb event bus";
const MIN_LOCK_MS = 5_000;
const MAX_LOCK_MS = 300_000;

/** The part of `ServiceBusSender` the writer uses. */
export type SbSender = Pick<ServiceBusSender, "sendMessages" | "createMessageBatch" | "close">;
/** The part of `ServiceBusReceiver` the reader uses. */
export type SbReceiver = Pick<
  ServiceBusReceiver,
  "receiveMessages" | "completeMessage" | "abandonMessage" | "renewMessageLock" | "peekMessages" | "close"
>;
/** The part of `ServiceBusClient` the driver uses. */
export interface SbClient {
  createSender(queueOrTopicName: string): SbSender;
  createReceiver(topicName: string, subscriptionName: string, options: ServiceBusReceiverOptions): SbReceiver;
  close(): Promise<void>;
}

/** Options of the openers (tests and embedding). */
export interface AzureSbOptions {
  /** Default: `SERVICEBUS_CONNECTION_STRING`. */
  connectionString?: string;
  /** Reads the environment (default: `Deno.env.get`). */
  getEnv?: (name: string) => string | undefined;
  /** Builds the client (default: `new ServiceBusClient(connectionString)` from the SDK). */
  createClient?: (connectionString: string) => SbClient | Promise<SbClient>;
}

const SB_KINDS: Record<string, BusErrorKind> = {
  MessagingEntityNotFound: "not-found",
  MessageNotFound: "not-found",
  UnauthorizedAccess: "permission",
  ServiceBusy: "unavailable",
  ServiceTimeout: "unavailable",
  ServiceCommunicationProblem: "unavailable",
  QuotaExceeded: "unavailable",
  MessageSizeExceeded: "invalid",
};

/**
 * Maps a `ServiceBusError` to a portable kind by its `code` (codes not listed in the module doc:
 * `unknown`). A `GeneralError`, or an error without a code, is `unavailable` when the SDK marks it
 * retryable or it is a socket error (`syscall` set: connection refused, DNS failure…).
 */
export function serviceBusErrorKind(error: unknown): BusErrorKind {
  const e = error as { code?: unknown; retryable?: unknown; syscall?: unknown } | null;
  if (typeof e?.code === "string" && e.code !== "GeneralError") return SB_KINDS[e.code] ?? "unknown";
  return e?.retryable === true || typeof e?.syscall === "string" ? "unavailable" : "unknown";
}

/** The entity name of an azuresb URL: host and path joined (gocloud's `path.Join`). */
export function serviceBusEntity(url: URL): string {
  const shown = JSON.stringify(redactUrl(url.href));
  if (url.protocol !== "azuresb:") throw new Error(`${WHAT} URL ${shown}: scheme must be azuresb`);
  if (url.username || url.password || url.port || url.hash) {
    throw new Error(`${WHAT} URL ${shown}: unexpected user, port or fragment`);
  }
  const name = `${url.host}${url.pathname}`.replace(/\/+/g, "/").replace(/^\/|\/$/g, "");
  if (!name) throw new Error(`${WHAT} URL ${shown}: missing topic name (azuresb://mytopic)`);
  return decodeURIComponent(name);
}

async function connect(options: AzureSbOptions): Promise<{ client: SbClient; namespace: string }> {
  const getEnv = options.getEnv ?? ((name: string) => Deno.env.get(name));
  const connectionString = options.connectionString ?? getEnv("SERVICEBUS_CONNECTION_STRING");
  if (!connectionString) {
    if (getEnv("AZURE_SERVICEBUS_HOSTNAME")) {
      throw new Error(
        `${WHAT}: AZURE_SERVICEBUS_HOSTNAME (Azure AD sign-in) needs @azure/identity, which autopgo does not bundle; set SERVICEBUS_CONNECTION_STRING`,
      );
    }
    throw new Error(
      `${WHAT}: set SERVICEBUS_CONNECTION_STRING (Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…)`,
    );
  }
  const namespace = /(?:^|;)\s*Endpoint\s*=\s*sb:\/\/([^/;]+)/i.exec(connectionString)?.[1] ?? "";
  try {
    const client = options.createClient
      ? await options.createClient(connectionString)
      : new (sdkExports(await import("@azure/service-bus"))).ServiceBusClient(connectionString);
    return { client, namespace };
  } catch (e) {
    // The SDK's message may quote the connection string; show only its reason's first line.
    const reason = (e instanceof Error ? e.message : String(e)).split("\n")[0].replace(connectionString, "…");
    throw new Error(`${WHAT}: invalid SERVICEBUS_CONNECTION_STRING: ${reason}`);
  }
}

/** Opens a writer for `azuresb://topic` (`SERVICEBUS_CONNECTION_STRING`). */
export async function openAzureSbWriter(url: URL | string, options: AzureSbOptions = {}): Promise<AzureSbWriter> {
  const parsed = typeof url === "string" ? new URL(url) : url;
  driverParams(parsed, [], WHAT);
  const topic = serviceBusEntity(parsed);
  const { client, namespace } = await connect(options);
  return new AzureSbWriter(
    client,
    client.createSender(topic),
    `azuresb topic ${topic}${namespace && ` in ${namespace}`}`,
  );
}

/** Sends to a Service Bus topic (or queue) with partitionKey = the message's key. */
export class AzureSbWriter implements EventWriter, BusDriverErrors {
  /** Prefer {@link openAzureSbWriter}. */
  constructor(private readonly client: SbClient, private readonly sender: SbSender, readonly description: string) {}

  /** Resolves once Service Bus has accepted the message. */
  async send(message: OutgoingMessage, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const body = Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength);
    const sbMessage: ServiceBusMessage = {
      body,
      ...(message.orderingKey ? { partitionKey: message.orderingKey } : {}),
    };
    await this.sender.sendMessages(sbMessage, { abortSignal: signal });
  }

  /** Resolves when the entity exists and may be sent to (opens the sender link). */
  async check(signal?: AbortSignal): Promise<void> {
    await this.sender.createMessageBatch({ abortSignal: signal });
  }

  /** Closes the sender and the connection. */
  async close(): Promise<void> {
    try {
      await this.sender.close();
    } finally {
      await this.client.close();
    }
  }

  /** See {@link serviceBusErrorKind}. */
  errorKind(error: unknown): BusErrorKind {
    return serviceBusErrorKind(error);
  }
}

/** Opens a reader for `azuresb://topic?subscription=sub[&listener_timeout=2s&max_recv_batch_size=N]`. */
export async function openAzureSbReader(url: URL | string, options: AzureSbOptions = {}): Promise<AzureSbReader> {
  const parsed = typeof url === "string" ? new URL(url) : url;
  const params = driverParams(parsed, ["subscription", "listener_timeout", "max_recv_batch_size"], WHAT);
  const subscription = params.get("subscription");
  if (!subscription) {
    throw new Error(`${WHAT} URL ${JSON.stringify(redactUrl(parsed.href))}: missing required parameter subscription`);
  }
  const waitMs = durationParam(params, "listener_timeout", 2_000, WHAT, 1);
  const batch = intParam(params, "max_recv_batch_size", 1, 1, 1000, WHAT);
  const topic = serviceBusEntity(parsed);
  const { client, namespace } = await connect(options);
  const receiver = client.createReceiver(topic, subscription, {
    receiveMode: "peekLock",
    skipParsingBodyAsJson: true,
    maxAutoLockRenewalDurationInMs: 0,
  });
  const description = `azuresb subscription ${topic}/${subscription}${namespace && ` in ${namespace}`}`;
  return new AzureSbReader(client, receiver, description, waitMs, batch);
}

/** A handed-out message's state: the timers of a delayed abandon once `nack(delay)` was called. */
interface HeldState {
  delayed?: { renew: ReturnType<typeof setInterval>; abandon: ReturnType<typeof setTimeout> };
}

function bodyBytes(body: unknown): Uint8Array {
  if (body instanceof Uint8Array) return new Uint8Array(body);
  return new TextEncoder().encode(typeof body === "string" ? body : JSON.stringify(body) ?? "");
}

/** Resolves when `work` settles or `signal` aborts, whichever is first (never rejects). */
function settledOrAborted(work: Promise<unknown>, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      signal.removeEventListener("abort", done);
      resolve();
    };
    signal.addEventListener("abort", done, { once: true });
    work.then(done, done);
  });
}

/** Receives from a Service Bus subscription in peek-lock mode, competing with its other receivers. */
export class AzureSbReader implements EventReader, BusDriverErrors {
  readonly #closing = new AbortController();
  readonly #buffer: ServiceBusReceivedMessage[] = [];
  /** Locked messages handed out and not settled yet, with the timers of a delayed abandon. */
  readonly #held = new Map<ServiceBusReceivedMessage, HeldState>();
  #receiving?: Promise<void>;
  #lockMs?: number;

  /** Prefer {@link openAzureSbReader}. */
  constructor(
    private readonly client: SbClient,
    private readonly receiver: SbReceiver,
    readonly description: string,
    private readonly waitMs: number,
    private readonly batch: number,
  ) {}

  /** A third of the lock duration (estimated from the first message; 5 s, the minimum, until then). */
  get renewIntervalMs(): number {
    return Math.round((this.#lockMs ?? MIN_LOCK_MS) / 3);
  }

  /** Waits for a message; `undefined` once `signal` aborts or the reader closes. Concurrent calls take turns. */
  async receive(signal?: AbortSignal): Promise<IncomingMessage | undefined> {
    const stop = signal ? AbortSignal.any([signal, this.#closing.signal]) : this.#closing.signal;
    while (!stop.aborted) {
      const next = this.#buffer.shift();
      if (next) return this.#deliver(next);
      if (this.#receiving) {
        await settledOrAborted(this.#receiving, stop); // another call is receiving (the SDK allows one)
        continue;
      }
      const receiving = this.#receiveBatch(stop);
      this.#receiving = receiving.then(() => {}, () => {}).finally(() => this.#receiving = undefined);
      try {
        await receiving;
      } catch (error) {
        if (stop.aborted) break;
        throw error;
      }
    }
    return undefined;
  }

  /** Resolves when the subscription exists and may be read (peeks, which locks nothing). */
  async check(signal?: AbortSignal): Promise<void> {
    if (this.#closing.signal.aborted) throw new Error(`${this.description}: reader closed`);
    await this.receiver.peekMessages(1, { abortSignal: signal });
  }

  /** Ends pending receives, abandons unsettled and buffered messages at once, closes the connection. */
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort();
    const unsettled = [...this.#held.entries()];
    this.#held.clear();
    for (const [, { delayed }] of unsettled) {
      clearInterval(delayed?.renew);
      clearTimeout(delayed?.abandon);
    }
    const messages = [...unsettled.map(([message]) => message), ...this.#buffer.splice(0)];
    await settledOrAborted(this.#receiving ?? Promise.resolve(), AbortSignal.timeout(5_000));
    try {
      await Promise.all(
        messages.map((m) => this.receiver.abandonMessage(m).catch(() => {/* lock expiry returns it */})),
      );
      await this.receiver.close();
    } finally {
      await this.client.close();
    }
  }

  /** See {@link serviceBusErrorKind}. */
  errorKind(error: unknown): BusErrorKind {
    return serviceBusErrorKind(error);
  }

  async #receiveBatch(stop: AbortSignal): Promise<void> {
    const received = await this.receiver.receiveMessages(this.batch, {
      maxWaitTimeInMs: this.waitMs,
      abortSignal: stop,
    });
    if (this.#closing.signal.aborted) {
      await Promise.all(received.map((m) => this.receiver.abandonMessage(m).catch(() => {})));
      return;
    }
    const lockedUntil = received[0]?.lockedUntilUtc?.getTime();
    if (this.#lockMs === undefined && lockedUntil !== undefined) {
      this.#lockMs = Math.min(MAX_LOCK_MS, Math.max(MIN_LOCK_MS, lockedUntil - Date.now()));
    }
    this.#buffer.push(...received);
  }

  #deliver(message: ServiceBusReceivedMessage): IncomingMessage {
    const state: HeldState = {};
    this.#held.set(message, state);
    const settle = async (action: () => Promise<void>) => {
      if (this.#held.get(message) !== state || state.delayed) return; // settled, being abandoned, or closed
      this.#held.delete(message);
      await action();
    };
    const id = message.messageId ?? message.sequenceNumber ?? "";
    return {
      body: bodyBytes(message.body),
      id: String(id),
      orderingKey: message.partitionKey ?? message.sessionId ?? undefined,
      deliveryAttempt: (message.deliveryCount ?? 0) + 1,
      ack: () => settle(() => this.receiver.completeMessage(message)),
      nack: (delayMs?: number) => {
        if (!delayMs || delayMs <= 0) return settle(() => this.receiver.abandonMessage(message));
        if (this.#held.get(message) !== state || state.delayed) return Promise.resolve();
        // Keep the lock until the delay is over, then abandon (see the module doc).
        const renew = setInterval(() => {
          this.receiver.renewMessageLock(message).catch(() => {/* lost: the lock's expiry returns it */});
        }, this.renewIntervalMs);
        const abandon = setTimeout(() => {
          clearInterval(renew);
          if (this.#held.get(message) !== state) return;
          this.#held.delete(message);
          this.receiver.abandonMessage(message).catch(() => {/* lost: the lock's expiry returns it */});
        }, delayMs);
        state.delayed = { renew, abandon };
        return Promise.resolve();
      },
      inProgress: async () => {
        if (this.#held.get(message) !== state || state.delayed) return;
        await this.receiver.renewMessageLock(message);
      },
    };
  }
}
