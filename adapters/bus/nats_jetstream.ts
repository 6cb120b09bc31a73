/**
 * JetStream writer and reader: `nats://subject?jetstream=true…`. The writer publishes into a
 * stream and waits for the stream's acknowledgement; the readers of one URL share one durable
 * pull consumer with explicit acks. At-least-once: see `nats_bus.ts`.
 *
 * @module
 */

import {
  AckPolicy,
  type Consumer,
  DeliverPolicy,
  jetstream,
  type JetStreamClient,
  JetStreamError,
  type JetStreamManager,
  jetstreamManager,
  type JsMsg,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import type { EventReader, EventWriter, IncomingMessage, OutgoingMessage } from "../../core/events.ts";
import { type BusDriverErrors, BusError, type BusErrorKind } from "../../core/event_bus.ts";
import { abortableSleep } from "../../core/sleep.ts";
import { nackBackoffMs } from "./bus_common.ts";
import {
  checkLink,
  headerValue,
  messageHeaders,
  natsErrorKind,
  type NatsLink,
  type NatsSettings,
  oneLine,
  ORDERING_KEY_HEADER,
  WHAT,
} from "./nats_common.ts";

/** How long one pull request waits on the server before the reader asks again. */
const PULL_EXPIRES_MS = 5_000;
/** How long `send` waits for a connection, then for the stream's acknowledgement (also acks). */
const PUBLISH_TIMEOUT_MS = 5_000;

/** Failed pulls in a row within one `receive` before it gives up and reports the error. */
const MAX_PULL_FAILURES = 3;
/** Pause after a failed pull that was not caused by a missing consumer. */
const PULL_RETRY_MS = 250;

/** A pull failed because the consumer (or its stream) is gone: not found, or nobody answers its subject. */
function consumerMissing(error: unknown): boolean {
  return natsErrorKind(error) === "not-found" ||
    (error instanceof JetStreamError && (error as { code?: number }).code === 503);
}

/** True when the NATS subject pattern `pattern` (with `*` and `>`) matches the literal `subject`. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const want = pattern.split(".");
  const have = subject.split(".");
  for (let i = 0; i < want.length; i++) {
    if (want[i] === ">") return have.length > i;
    if (i >= have.length || (want[i] !== "*" && want[i] !== have[i])) return false;
  }
  return want.length === have.length;
}

/**
 * Makes sure the stream exists and captures the subject: creates it (work-queue retention, so
 * acked messages are removed) when missing and `create_stream` allows, else throws `not-found`.
 */
async function ensureStream(jsm: JetStreamManager, settings: NatsSettings): Promise<void> {
  const { streamName, subject } = settings;
  let subjects: string[];
  try {
    subjects = (await jsm.streams.info(streamName)).config.subjects ?? [];
  } catch (error) {
    if (natsErrorKind(error) !== "not-found") throw error;
    if (!settings.createStream) {
      throw new BusError("not-found", `${WHAT}: stream ${streamName} does not exist (create_stream=false)`, {
        cause: error,
      });
    }
    try {
      subjects = (await jsm.streams.add({
        name: streamName,
        subjects: [subject],
        retention: RetentionPolicy.Workqueue,
        storage: settings.streamStorage === "memory" ? StorageType.Memory : StorageType.File,
      })).config.subjects ?? [];
    } catch (addError) {
      // Another process may have created it at the same moment: use theirs if it is there now.
      subjects = (await jsm.streams.info(streamName).catch(() => Promise.reject(addError))).config.subjects ?? [];
    }
  }
  if (!subjects.some((pattern) => subjectMatches(pattern, subject))) {
    throw new BusError(
      "invalid",
      `${WHAT}: stream ${streamName} does not capture subject ${subject} (its subjects: ${subjects.join(", ")})`,
    );
  }
}

/** Creates the durable consumer if missing; brings its ack wait to the URL's when it differs. */
async function ensureConsumer(jsm: JetStreamManager, settings: NatsSettings): Promise<void> {
  const { streamName, durableName } = settings;
  const ackWait = nanos(settings.ackWaitMs);
  try {
    const info = await jsm.consumers.info(streamName, durableName);
    if (info.config.ack_wait !== ackWait) await jsm.consumers.update(streamName, durableName, { ack_wait: ackWait });
    return;
  } catch (error) {
    if (natsErrorKind(error) !== "not-found") throw error;
  }
  try {
    await jsm.consumers.add(streamName, {
      durable_name: durableName,
      ack_policy: AckPolicy.Explicit,
      ack_wait: ackWait,
      deliver_policy: DeliverPolicy.All,
      filter_subject: settings.subject,
      max_deliver: -1,
    });
  } catch (error) {
    // Created by a competing worker meanwhile: fine if it is there now.
    await jsm.consumers.info(streamName, durableName).catch(() => Promise.reject(error));
  }
}

/** Opens the JetStream writer: connects the stream (creating it when allowed). */
export async function openJetStreamWriter(link: NatsLink, settings: NatsSettings): Promise<JetStreamWriter> {
  const jsm = await jetstreamManager(link.nc);
  await ensureStream(jsm, settings);
  return new JetStreamWriter(link, settings, jsm, jetstream(link.nc, { timeout: PUBLISH_TIMEOUT_MS }));
}

/** Opens a JetStream reader: the stream and the shared durable consumer are created when missing. */
export async function openJetStreamReader(link: NatsLink, settings: NatsSettings): Promise<JetStreamReader> {
  const jsm = await jetstreamManager(link.nc);
  await ensureStream(jsm, settings);
  await ensureConsumer(jsm, settings);
  const js = jetstream(link.nc);
  return new JetStreamReader(link, settings, jsm, await js.consumers.get(settings.streamName, settings.durableName));
}

/** Publishes into a JetStream stream. */
export class JetStreamWriter implements EventWriter, BusDriverErrors {
  readonly description: string;
  /** One `Nats-Msg-Id` per message object, so the portable layer's retries of one send are de-duplicated. */
  readonly #ids = new WeakMap<OutgoingMessage, string>();

  /** Prefer `openNatsWriter` from `nats_bus.ts`. */
  constructor(
    private readonly link: NatsLink,
    private readonly settings: NatsSettings,
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
  ) {
    this.description = `nats stream ${settings.streamName} subject ${settings.subject}`;
  }

  /**
   * Publishes and resolves once the stream has stored the message. A retried send of the same
   * message object carries the same `Nats-Msg-Id`, so the stream stores it once (within its
   * duplicate window, 2 minutes by default).
   */
  async send(message: OutgoingMessage, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    let id = this.#ids.get(message);
    if (!id) this.#ids.set(message, id = crypto.randomUUID());
    await this.link.waitConnected(PUBLISH_TIMEOUT_MS, signal);
    await this.js.publish(this.settings.subject, message.body, {
      msgID: id,
      headers: messageHeaders(id, message.orderingKey),
      expect: { streamName: this.settings.streamName },
    });
  }

  /** The connection is up and the stream answers. */
  async check(signal?: AbortSignal): Promise<void> {
    await checkLink(this.link, signal);
    await this.jsm.streams.info(this.settings.streamName);
  }

  /** Closes the connection. */
  async close(): Promise<void> {
    await this.link.nc.close();
  }

  /** See `natsErrorKind`. */
  errorKind(error: unknown): BusErrorKind {
    return natsErrorKind(error);
  }
}

/** One member of the competing readers of a durable pull consumer. */
export class JetStreamReader implements EventReader, BusDriverErrors {
  readonly description: string;
  /** A third of the ack wait: the portable layer calls `inProgress` (`+WPI`) this often. */
  readonly renewIntervalMs: number;
  readonly #closing = new AbortController();
  /** Delivered, not yet settled: closing hands them back at once. */
  readonly #held = new Set<JsMsg>();

  /** Prefer `openNatsReader` from `nats_bus.ts`. */
  constructor(
    private readonly link: NatsLink,
    private readonly settings: NatsSettings,
    private readonly jsm: JetStreamManager,
    private consumer: Consumer,
  ) {
    this.description = `nats stream ${settings.streamName} consumer ${settings.durableName}`;
    this.renewIntervalMs = Math.max(1, Math.floor(settings.ackWaitMs / 3));
  }

  /** Pulls one message at a time; `undefined` once `signal` aborts or the reader closes. */
  async receive(signal?: AbortSignal): Promise<IncomingMessage | undefined> {
    const stopped = signal ? AbortSignal.any([signal, this.#closing.signal]) : this.#closing.signal;
    for (let failures = 0; !stopped.aborted;) {
      let message: JsMsg | undefined;
      try {
        message = await this.#pullOne(stopped);
      } catch (error) {
        if (stopped.aborted) return undefined;
        if (++failures > MAX_PULL_FAILURES) throw error;
        if (consumerMissing(error)) await this.#recreateConsumer();
        // Otherwise (server shutting down, connection lost): give the disconnect time to be
        // noticed; the next pull waits for the reconnect, or fails as unavailable.
        else await abortableSleep(PULL_RETRY_MS, stopped);
        continue;
      }
      if (!message) {
        failures = 0; // a clean, empty pull: the link works
        continue;
      }
      if (stopped.aborted) {
        message.nak(); // arrived just as the caller gave up: hand it straight back
        return undefined;
      }
      return this.#incoming(message);
    }
    return undefined;
  }

  /** The connection is up and the durable consumer (hence the stream) exists. */
  async check(signal?: AbortSignal): Promise<void> {
    if (this.#closing.signal.aborted) throw new BusError("closed", `${WHAT}: ${this.description}: closed`);
    await checkLink(this.link, signal);
    await this.jsm.consumers.info(this.settings.streamName, this.settings.durableName);
  }

  /** Ends pending receives, returns unsettled messages to the stream at once, closes the connection. */
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort();
    for (const message of this.#held) message.nak();
    this.#held.clear();
    try {
      if (!this.link.nc.isClosed()) await this.link.nc.flush();
    } catch { /* unreachable server: the ack wait returns them instead */ }
    await this.link.nc.close();
  }

  /** See `natsErrorKind`. */
  errorKind(error: unknown): BusErrorKind {
    return natsErrorKind(error);
  }

  /** Recreates the stream and consumer if they were deleted, and rebinds to the consumer. */
  async #recreateConsumer(): Promise<void> {
    await ensureStream(this.jsm, this.settings);
    await ensureConsumer(this.jsm, this.settings);
    this.consumer = await jetstream(this.link.nc).consumers.get(this.settings.streamName, this.settings.durableName);
  }

  async #pullOne(stopped: AbortSignal): Promise<JsMsg | undefined> {
    await this.link.waitConnected(PULL_EXPIRES_MS, stopped);
    const batch = await this.consumer.fetch({ max_messages: 1, expires: PULL_EXPIRES_MS });
    const stop = () => batch.stop();
    stopped.addEventListener("abort", stop, { once: true });
    // A pull request pending at a disconnect is gone from the server: stop waiting for it.
    const forget = this.link.onDisconnect(stop);
    if (stopped.aborted || !this.link.connected()) stop();
    try {
      for await (const message of batch) return message;
      return undefined;
    } finally {
      stopped.removeEventListener("abort", stop);
      forget();
    }
  }

  #incoming(message: JsMsg): IncomingMessage {
    this.#held.add(message);
    const settled = () => this.#held.delete(message);
    const info = message.info;
    return {
      body: new Uint8Array(message.data), // a plain copy (the client hands out Node Buffers)
      id: `${info.stream}:${message.seq}`,
      orderingKey: headerValue(message.headers, ORDERING_KEY_HEADER),
      deliveryAttempt: info.deliveryCount,
      ack: async () => {
        if (!settled()) return;
        try {
          await this.link.waitConnected(PUBLISH_TIMEOUT_MS);
          await message.ackAck();
        } catch (error) {
          throw new Error(`${WHAT}: ack of ${info.stream}:${message.seq} not confirmed: ${oneLine(error)}`, {
            cause: error,
          });
        }
      },
      nack: async (delayMs?: number) => {
        if (!settled()) return;
        await this.link.waitConnected(PUBLISH_TIMEOUT_MS);
        message.nak(delayMs ?? nackBackoffMs(info.deliveryCount));
        await this.link.nc.flush();
      },
      inProgress: async () => {
        if (!this.#held.has(message)) return;
        await this.link.waitConnected(PUBLISH_TIMEOUT_MS);
        message.working();
        await this.link.nc.flush();
      },
    };
  }
}
