/**
 * JetStream writer (`nats://subject?jetstream=true…`): publishes into a stream and waits for the
 * stream's acknowledgement; and the stream and durable consumer set-up that the readers
 * (nats_jetstream_reader.ts) share. At-least-once: see `nats_bus.ts`.
 *
 * @module
 */

import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import type { EventWriter, OutgoingMessage } from "../../core/events.ts";
import { type BusDriverErrors, BusError, type BusErrorKind } from "../../core/event_bus.ts";
import { checkLink, messageHeaders, natsErrorKind, type NatsLink, type NatsSettings, WHAT } from "./nats_common.ts";

/** How long `send` waits for a connection, then for the stream's acknowledgement. */
const PUBLISH_TIMEOUT_MS = 5_000;

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
export async function ensureStream(jsm: JetStreamManager, settings: NatsSettings): Promise<void> {
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
export async function ensureConsumer(jsm: JetStreamManager, settings: NatsSettings): Promise<void> {
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
