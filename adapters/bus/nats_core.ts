/**
 * Plain (core) NATS writer and reader: `nats://subject?natsv2=true[&queue=group]` without
 * `jetstream=true`, as the original autopgo used it. At-most-once: see `nats_bus.ts`.
 *
 * @module
 */

import type { Msg, Subscription as NatsSubscription } from "@nats-io/transport-node";
import { getLogger } from "@logtape/logtape";
import type { EventReader, EventWriter, IncomingMessage, OutgoingMessage } from "../../core/events.ts";
import { type BusDriverErrors, BusError, type BusErrorKind } from "../../core/event_bus.ts";
import {
  checkLink,
  headerValue,
  messageHeaders,
  MSG_ID_HEADER,
  natsErrorKind,
  type NatsLink,
  type NatsSettings,
  ORDERING_KEY_HEADER,
  WHAT,
  withTimeout,
} from "./nats_common.ts";

const log = getLogger(["autopgo", "bus"]);

/** How long `send` waits for the server to confirm it received a publish (a flush round trip). */
const SEND_CONFIRM_MS = 5_000;

/** Publishes to a subject with plain NATS. */
export class NatsCoreWriter implements EventWriter, BusDriverErrors {
  readonly description: string;

  /** Prefer `openNatsWriter` from `nats_bus.ts`. */
  constructor(private readonly link: NatsLink, private readonly settings: NatsSettings) {
    this.description = `nats subject ${settings.subject}`;
  }

  /**
   * Publishes and waits until the server has received the message (a flush round trip). The
   * server keeps nothing: subscribers that are not connected at this moment never see it.
   */
  async send(message: OutgoingMessage, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const id = crypto.randomUUID();
    await this.link.waitConnected(SEND_CONFIRM_MS, signal);
    this.link.nc.publish(this.settings.subject, message.body, {
      headers: messageHeaders(id, message.orderingKey),
    });
    await withTimeout(this.link.nc.flush(), SEND_CONFIRM_MS, `${WHAT}: ${this.link.servers} did not confirm`, signal);
  }

  /** The connection is up and the server answers. */
  check(signal?: AbortSignal): Promise<void> {
    return checkLink(this.link, signal);
  }

  /** Flushes what was published and closes the connection. */
  async close(): Promise<void> {
    await this.link.nc.close();
  }

  /** See `natsErrorKind`. */
  errorKind(error: unknown): BusErrorKind {
    return natsErrorKind(error);
  }
}

/**
 * Receives from a subject (or as one member of a queue group) with plain NATS. Messages that
 * arrive while no `receive` is waiting are kept in memory until one is; they are lost if the
 * process ends first.
 */
export class NatsCoreReader implements EventReader, BusDriverErrors {
  readonly description: string;
  readonly #subscription: NatsSubscription;
  readonly #arrived: Msg[] = [];
  readonly #waiting: ((message: Msg | undefined) => void)[] = [];
  #counter = 0;
  #closed = false;

  /** Prefer `openNatsReader` from `nats_bus.ts`; subscribes at once. */
  constructor(private readonly link: NatsLink, private readonly settings: NatsSettings) {
    this.description = `nats subject ${settings.subject}${settings.queue ? ` queue ${settings.queue}` : ""}`;
    this.#subscription = link.nc.subscribe(settings.subject, {
      queue: settings.queue,
      callback: (error, message) => {
        if (error) return void log.warn("{where}: subscription error: {error}", { where: this.description, error });
        const waiter = this.#waiting.shift();
        if (waiter) waiter(message);
        else this.#arrived.push(message);
      },
    });
  }

  /** Resolves once the server has registered the subscription (messages published after that arrive). */
  async ready(): Promise<void> {
    await this.link.nc.flush();
  }

  /** The next message; `undefined` once `signal` aborts or the reader closes. */
  async receive(signal?: AbortSignal): Promise<IncomingMessage | undefined> {
    if (this.#closed || signal?.aborted) return undefined;
    const early = this.#arrived.shift();
    if (early) return this.#incoming(early);
    const message = await new Promise<Msg | undefined>((resolve) => {
      const onAbort = () => {
        const at = this.#waiting.indexOf(take);
        if (at >= 0) this.#waiting.splice(at, 1);
        resolve(undefined);
      };
      const take = (m: Msg | undefined) => {
        signal?.removeEventListener("abort", onAbort);
        resolve(m);
      };
      this.#waiting.push(take);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    return message && this.#incoming(message);
  }

  /** The connection is up, the subscription open and the server answers. */
  async check(signal?: AbortSignal): Promise<void> {
    if (this.#closed || this.#subscription.isClosed()) {
      throw new BusError("closed", `${WHAT}: ${this.description}: closed`);
    }
    await checkLink(this.link, signal);
  }

  /** Unsubscribes and closes the connection; messages received but not yet taken are dropped (logged). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const waiter of this.#waiting.splice(0)) waiter(undefined);
    if (this.#arrived.length > 0) {
      log.warn("{where}: closing drops {count} received messages (plain NATS cannot return them)", {
        where: this.description,
        count: this.#arrived.length,
      });
      this.#arrived.length = 0;
    }
    this.#subscription.unsubscribe();
    await this.link.nc.close();
  }

  /** See `natsErrorKind`. */
  errorKind(error: unknown): BusErrorKind {
    return natsErrorKind(error);
  }

  #incoming(message: Msg): IncomingMessage {
    const id = headerValue(message.headers, MSG_ID_HEADER) ?? `${this.settings.subject}#${++this.#counter}`;
    return {
      body: new Uint8Array(message.data), // a plain copy (the client hands out Node Buffers)
      id,
      orderingKey: headerValue(message.headers, ORDERING_KEY_HEADER),
      deliveryAttempt: 1,
      ack: () => Promise.resolve(), // nothing to confirm: the server already forgot the message
      nack: () => {
        log.warn(
          "{where}: message {id} cannot be redelivered (plain NATS is at-most-once); " +
            "the worker's reconcile sweep merges its upload later",
          { where: this.description, id },
        );
        return Promise.resolve();
      },
    };
  }
}
