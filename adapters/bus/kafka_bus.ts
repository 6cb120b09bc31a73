/**
 * `kafka://` event bus over Apache Kafka (kafkajs), with gocloud `kafkapubsub`'s URLs.
 *
 * # URLs
 *
 * Writer: `kafka://TOPIC[?key_name=NAME]` — the topic is the URL's host and path, as gocloud
 * reads it. `key_name` (gocloud) names the metadata entry gocloud sends as the Kafka message key;
 * autopgo messages carry no metadata besides their ordering key, which is always the message key,
 * so `key_name` is accepted for URL compatibility and changes nothing (it must not be empty).
 *
 * Reader: `kafka://GROUP?topic=TOPIC[&offset=oldest|newest][&session_timeout=10s]` — the
 * consumer group is the URL's host and path; every reader of one group shares the topic's
 * messages (competing consumers), and each group gets every message.
 * - `topic` (gocloud, required): the topic to read. gocloud accepts several; this driver one.
 * - `offset` (gocloud): where a group that has committed nothing yet starts: `newest` (the
 *   default, as in gocloud: messages published before the group first joined are not read) or
 *   `oldest` (the start of the topic's retained log). A group with commits always resumes there.
 * - `session_timeout` (autopgo's; Go duration, default `10s` as sarama's, at least `1s` and within
 *   the broker's `group.min/max.session.timeout.ms`): how long the group waits for a member that
 *   stopped heartbeating (killed, frozen, cut off) before giving its partitions to the others, and,
 *   after a broker restart, for the members' old sessions before merging resumes.
 * Unknown or repeated parameters are errors, as in gocloud; so are brokers in the URL.
 *
 * # Message delivery semantics
 *
 * At-least-once. `send` resolves once every in-sync replica has the message (`acks=all`); the
 * portable layer retries `unavailable` failures, which may store a message twice. The ordering
 * key (the app) is the message key and picks the partition with sarama's hash partitioner
 * (FNV-1a), the same one the original autopgo uses, so each app's events stay in one partition
 * in publication order; messages without a key are spread round robin.
 *
 * A reader hands out each partition's messages in offset order, one per key at a time: the next
 * event of an app is handed out only once the previous one is acked, while other apps' events
 * (also of the same partition) are handed out in parallel. `ack` commits the partition's offset
 * after the highest contiguous acked message; Kafka has no per-message acknowledgement, so a
 * message acked after an earlier one that is still held is committed with it later, and is
 * delivered again if the reader dies first. Kafka has no nack either: `nack(delay)` keeps the
 * message in this reader and hands it out again after the delay (default backoff 1s, 2s, 4s…
 * ≤ 60s) with `deliveryAttempt` + 1; the partition never moves past it, so nothing is skipped
 * (the worker sets an event aside by acking it after its last attempt). Meanwhile that app's
 * later events wait, and — because kafkajs fetches again only when a whole fetched batch is
 * acked — so do events that reach this reader's partitions after the fetch; events already
 * fetched keep flowing.
 *
 * There is no ack deadline: a handed-out message goes back to the group only when its reader
 * leaves the group — `close()` (at once), or a crash, kill or network cut (after
 * `session_timeout`). While the process lives the reader heartbeats (also on `inProgress`), so a
 * long merge keeps its messages. `deliveryAttempt` counts across readers: the number of hand-outs
 * is recorded in the committed offset's metadata before each hand-out. A rebalance (a reader
 * joins or leaves) waits up to 5 minutes for handed-out messages to be settled; a reader slower
 * than that loses its partitions and its late acks fail (the messages are delivered again).
 *
 * # Environment
 *
 * `KAFKA_BROKERS` (required): comma-separated `host:port` bootstrap brokers, as in gocloud;
 * opening fails with a one-line `invalid` error when it is unset, and with `unavailable` when no
 * broker answers (after kafkajs' connection retries, a few seconds). A reader joins its group in
 * the background; closing one whose first join is still in flight waits for that join (kafkajs
 * cannot stop a consumer mid-join), which takes long only while the group rebalances. Plain TCP
 * without authentication (what gocloud's default opener uses).
 *
 * # Topics
 *
 * A missing topic is created by the brokers on first use when their `auto.create.topics.enable`
 * is on (as with gocloud); otherwise create it first. `check()` (the start-up and health check)
 * asks for a missing topic with auto-creation allowed and waits up to 2s for it and its
 * partition leaders, so the first start on a fresh cluster works; a topic still being created
 * is `unavailable` (transient), one the brokers do not create a one-line `not-found` telling
 * the operator to create it. Opening a reader does the same (waiting up to 10s), since kafkajs
 * cannot subscribe to a topic before it exists. Details: `kafka_topic.ts`.
 *
 * # Consumer groups
 *
 * Readers join their group with the standard `range` assignment protocol (`kafka_assigner.ts`),
 * the one sarama — the original autopgo's gocloud client — uses by default, and only that one:
 * Kafka admits members to a group only if they share a protocol, so readers of this driver and
 * the original's workers can share a group (a rolling migration). kafkajs' default,
 * `RoundRobinAssigner`, is not offered: only kafkajs has it, no released autopgo reader used it
 * (so no group depends on it), and on one topic it spreads partitions as evenly as range does.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { Admin, Kafka, Producer } from "kafkajs";
import { BusError, type BusErrorKind } from "../../core/event_bus.ts";
import type { EventWriter, OutgoingMessage } from "../../core/events.ts";
import { type Clock, systemClock } from "../clock.ts";
import {
  createKeyPartitioner,
  kafkaBrokers,
  kafkaErrorKind,
  kafkaReaderSettings,
  type KafkaWriterSettings,
  kafkaWriterSettings,
  newKafkaClient,
  oneLine,
} from "./kafka_common.ts";
import { KafkaEventReader } from "./kafka_reader.ts";
import { checkTopic, kafkaTopicProbe } from "./kafka_topic.ts";

export { KafkaEventReader } from "./kafka_reader.ts";
export { kafkaErrorKind, keyPartition } from "./kafka_common.ts";

/** Options of the kafka openers (tests). */
export interface KafkaBusOptions {
  /** Bootstrap brokers instead of `KAFKA_BROKERS`. */
  brokers?: string[];
  /** Time source for nack delays (default: the system clock). */
  clock?: Clock;
}

function openFailure(description: string, error: unknown): BusError {
  if (error instanceof BusError) return error;
  return new BusError(kafkaErrorKind(error), `${description}: open: ${oneLine(error)}`, { cause: error });
}

/** Opens a writer for `kafka://TOPIC[?key_name=…]`; connects to the brokers before resolving. */
export async function openKafkaEventWriter(
  url: URL | string,
  options: KafkaBusOptions = {},
): Promise<KafkaEventWriter> {
  const settings = kafkaWriterSettings(typeof url === "string" ? new URL(url) : url);
  const kafka = newKafkaClient(kafkaBrokers(options.brokers), "autopgo");
  const producer = kafka.producer({ createPartitioner: createKeyPartitioner, allowAutoTopicCreation: true });
  const writer = new KafkaEventWriter(kafka, producer, settings);
  try {
    await producer.connect();
  } catch (error) {
    await producer.disconnect().catch(() => {});
    throw openFailure(writer.description, error);
  }
  return writer;
}

/**
 * Opens a reader for `kafka://GROUP?topic=TOPIC[&offset=…][&session_timeout=…]`; resolves once
 * the brokers answered. The reader joins the consumer group in the background (as gocloud's
 * does): a join waits while the group rebalances, and `receive` waits for it.
 */
export async function openKafkaEventReader(
  url: URL | string,
  options: KafkaBusOptions = {},
): Promise<KafkaEventReader> {
  const settings = kafkaReaderSettings(typeof url === "string" ? new URL(url) : url);
  const kafka = newKafkaClient(kafkaBrokers(options.brokers), "autopgo");
  const reader = new KafkaEventReader(kafka, settings, options.clock ?? systemClock);
  try {
    await reader.connect();
  } catch (error) {
    await reader.close().catch(() => {});
    throw openFailure(reader.description, error);
  }
  return reader;
}

/** Publishes to one Kafka topic. Prefer {@link openKafkaEventWriter}. */
export class KafkaEventWriter implements EventWriter {
  /** Names the topic in errors. */
  readonly description: string;
  #admin?: Promise<Admin>;
  #closed = false;

  /** Wraps a producer (connected by the opener). */
  constructor(
    private readonly kafka: Kafka,
    private readonly producer: Producer,
    private readonly settings: KafkaWriterSettings,
  ) {
    this.description = `kafka topic ${settings.topic}`;
  }

  /** Resolves once all in-sync replicas stored the message; the ordering key is the message key. */
  async send(message: OutgoingMessage, signal?: AbortSignal): Promise<void> {
    if (this.#closed) throw new BusError("closed", "the writer is closed");
    signal?.throwIfAborted();
    const value = Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength);
    const sent = this.producer.send({
      topic: this.settings.topic,
      acks: -1,
      messages: [{ key: message.orderingKey ?? null, value }],
    });
    if (!signal) return void await sent;
    sent.catch(() => {/* reported below unless the caller gave up first */});
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      sent.then(() => resolve(), reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  /**
   * Passes once the topic exists with a leader for every partition; a missing topic is asked
   * for with auto-creation allowed and waited for briefly (see `kafka_topic.ts`): `unavailable`
   * while it is being created, `not-found` when the brokers do not create it.
   */
  async check(signal?: AbortSignal): Promise<void> {
    if (this.#closed) throw new BusError("closed", "the writer is closed");
    this.#admin ??= (async () => {
      const admin = this.kafka.admin({ retry: { retries: 2, initialRetryTime: 100 } });
      await admin.connect();
      return admin;
    })();
    const admin = await this.#admin.catch((error) => {
      this.#admin = undefined;
      throw error;
    });
    const probe = kafkaTopicProbe(this.kafka, admin, this.settings.topic);
    try {
      await checkTopic(this.settings.topic, probe, { signal });
    } finally {
      await probe.close().catch(() => {});
    }
  }

  /** Portable kind of a kafkajs error. */
  errorKind(error: unknown): BusErrorKind {
    return kafkaErrorKind(error);
  }

  /** Disconnects the producer (and the admin client of `check`). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const admin = this.#admin;
    this.#admin = undefined;
    await this.producer.disconnect();
    if (admin) await (await admin.catch(() => undefined))?.disconnect();
  }
}
