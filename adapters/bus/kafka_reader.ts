/**
 * The `kafka://GROUP?topic=TOPIC` reader (URLs and delivery semantics: `kafka_bus.ts`).
 *
 * How it works: kafkajs runs the consumer group and calls {@link KafkaEventReader} with one
 * batch per assigned partition and fetch. Each batch becomes a {@link PartitionWindow}: its
 * messages are handed out by `receive()` in offset order, one per message key at a time
 * (different keys, and messages without a key, in parallel). The batch handler returns to
 * kafkajs only when every message of the window is acked, so kafkajs fetches a partition's
 * next messages only after that; a nacked message waits in the window for its delay and is
 * handed out again, so nothing is skipped.
 *
 * Offsets: the reader commits, per partition, the offset of the first message not yet acked
 * (the highest contiguous acked offset + 1), never past an unacked one. The commit's metadata
 * records how often each later unacked message was handed out, and the reader commits it before
 * every hand-out; a reader that takes the partition over (after a rebalance, a close or a crash)
 * reads it back, so `deliveryAttempt` keeps counting across readers.
 *
 * Group membership: partitions are assigned with the `range` protocol (`kafka_assigner.ts`),
 * which the original's sarama readers share. While it holds windows the reader heartbeats every
 * tenth of the session timeout (kafkajs itself heartbeats only between batches). A heartbeat or
 * commit that reports a rebalance or a lost membership revokes the windows: messages not handed
 * out are dropped at once, handed-out ones may still be acked (commits stay valid until the
 * group moves on), and when none is held the batch handlers fail with that error, which makes
 * kafkajs rejoin.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Admin, Consumer, EachBatchPayload, Kafka } from "kafkajs";
import { BusError, type BusErrorKind } from "../../core/event_bus.ts";
import type { EventReader, IncomingMessage } from "../../core/events.ts";
import type { Clock } from "../clock.ts";
import { ChangeSignal, nackBackoffMs, waitOrAbort } from "./bus_common.ts";
import {
  decodeDeliveries,
  fencingError,
  kafkaErrorKind,
  type KafkaReaderSettings,
  oneLine,
  REBALANCE_TIMEOUT_MS,
} from "./kafka_common.ts";
import { type CommitFn, type Entry, Generation, PartitionWindow } from "./kafka_window.ts";
import { rangeAssigner } from "./kafka_assigner.ts";
import { checkTopic, kafkaTopicProbe } from "./kafka_topic.ts";

const log = getLogger(["autopgo", "bus", "kafka"]);
/** Partitions whose batches one reader works on at the same time. */
const PARTITIONS_AT_ONCE = 64;
const IDLE_WAIT_MS = 60_000;
/** How long opening waits for a missing topic the brokers create (a `check()` waits less). */
const OPEN_TOPIC_WAIT_MS = 10_000;

/** Reads a Kafka topic as one member of a consumer group. Prefer `openKafkaEventReader`. */
export class KafkaEventReader implements EventReader {
  /** Names the group and topic in errors. */
  readonly description: string;
  #windows: PartitionWindow[] = [];
  #generation = new Generation();
  readonly #changed = new ChangeSignal();
  readonly #closing = new AbortController();
  #failure?: Error;
  #heartbeat?: () => Promise<void>;
  #heartbeatTimer?: ReturnType<typeof setInterval>;
  #next = 0;
  #running: Promise<void> = Promise.resolve();
  private readonly consumer: Consumer;
  private readonly admin: Admin;

  /** Creates the group consumer; {@link connect} starts it. Prefer `openKafkaEventReader`. */
  constructor(
    private readonly kafka: Kafka,
    private readonly settings: KafkaReaderSettings,
    private readonly clock: Clock,
  ) {
    this.description = `kafka group ${settings.group} on topic ${settings.topic}`;
    this.consumer = kafka.consumer({
      groupId: settings.group,
      sessionTimeout: settings.sessionTimeoutMs,
      heartbeatInterval: settings.heartbeatIntervalMs,
      rebalanceTimeout: Math.max(REBALANCE_TIMEOUT_MS, settings.sessionTimeoutMs),
      maxWaitTimeInMs: Math.min(5_000, settings.heartbeatIntervalMs * 3),
      allowAutoTopicCreation: true,
      partitionAssigners: [rangeAssigner], // sarama's "range": groups shared with the original's workers
      // kafkajs restarts a consumer that failed on a retriable error, unless this reader is closing.
      retry: { retries: 5, restartOnFailure: () => Promise.resolve(!this.#closing.signal.aborted) },
    });
    this.admin = kafka.admin({ retry: { retries: 2, initialRetryTime: 100 } });
  }

  /**
   * Connects and subscribes (failing when no broker answers, or when the topic is missing and
   * the brokers do not create it), then joins the group in the background: `receive` waits
   * until the group has assigned partitions to this reader.
   */
  async connect(): Promise<void> {
    await Promise.all([this.consumer.connect(), this.admin.connect()]);
    await this.#subscribe();
    const { events } = this.consumer;
    this.consumer.on(events.GROUP_JOIN, () => {
      this.#generation = new Generation();
      this.#changed.notify();
    });
    this.consumer.on(events.CRASH, ({ payload: { error, restart } }) => {
      if (this.#closing.signal.aborted) return;
      if (restart) {
        log.warn("{reader}: consumer failed, restarting: {error}", { reader: this.description, error: oneLine(error) });
        return;
      }
      log.error("{reader}: consumer stopped: {error}", { reader: this.description, error: oneLine(error) });
      this.#failure = new BusError(kafkaErrorKind(error), `consumer stopped: ${oneLine(error)}`, { cause: error });
      this.#changed.notify();
    });
    this.#running = this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      partitionsConsumedConcurrently: PARTITIONS_AT_ONCE,
      eachBatch: (payload) => this.#onBatch(payload),
    }).catch((error) => {
      this.#failure = new BusError(kafkaErrorKind(error), `consumer failed: ${oneLine(error)}`, { cause: error });
      this.#changed.notify();
    });
  }

  /** Waits for the next message this reader may hand out; `undefined` on abort or close. */
  async receive(signal?: AbortSignal): Promise<IncomingMessage | undefined> {
    while (!this.#closing.signal.aborted && !signal?.aborted) {
      if (this.#failure) throw this.#failure;
      const now = this.clock.now();
      const changed = this.#changed.signal;
      const { window, entry, wakeAt } = this.#pick(now);
      if (!window || !entry) {
        const wait = Math.min(IDLE_WAIT_MS, (wakeAt ?? Infinity) - now);
        await waitOrAbort(this.clock, wait, [this.#closing.signal, signal, changed]);
        continue;
      }
      const holder = {};
      entry.state = "held";
      entry.holder = holder;
      entry.deliveries++;
      try {
        await window.flush(); // the delivery count is committed before the message leaves
      } catch (error) {
        this.#putBack(window, entry);
        const fenced = fencingError(error);
        if (!fenced) throw error;
        this.#revoke(window.generation, fenced);
        continue;
      }
      if (this.#closing.signal.aborted) return undefined;
      if (signal?.aborted) {
        this.#putBack(window, entry);
        return undefined;
      }
      return this.#incoming(window, entry, holder);
    }
    return undefined;
  }

  /**
   * Fails if the consumer stopped for good, or as the writer's check does when the topic is
   * missing or leaderless (asking the brokers to create a missing one; see `kafka_topic.ts`).
   */
  async check(signal?: AbortSignal): Promise<void> {
    if (this.#closing.signal.aborted) throw new BusError("closed", "the reader is closed");
    if (this.#failure) throw this.#failure;
    const probe = kafkaTopicProbe(this.kafka, this.admin, this.settings.topic);
    try {
      await checkTopic(this.settings.topic, probe, { signal });
    } finally {
      await probe.close().catch(() => {});
    }
  }

  /** Leaves the group; messages handed out and not acked go to the other members, attempt + 1. */
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort();
    this.#stopHeartbeats();
    this.#changed.notify();
    try {
      // kafkajs cannot stop a consumer while it joins the group (it would rejoin on its own), so
      // a first join still in flight is let finish; it waits only while the group rebalances.
      await this.#running;
      const stopping = this.consumer.disconnect(); // stops fetching first, so released batches are not refetched
      for (const window of this.#windows) window.close();
      await stopping;
    } finally {
      await this.admin.disconnect().catch(() => {});
    }
  }

  /** Portable kind of a kafkajs error. */
  errorKind(error: unknown): BusErrorKind {
    return kafkaErrorKind(error);
  }

  /**
   * Subscribes once the topic exists: kafkajs' subscribe fails at once on a missing topic (even
   * while the broker creates it), so the topic is asked for and waited for first, longer than a
   * `check()` waits. A topic that exists without leaders yet is left to subscribe's own retries.
   */
  async #subscribe(): Promise<void> {
    let trouble: unknown;
    const probe = kafkaTopicProbe(this.kafka, this.admin, this.settings.topic);
    try {
      await checkTopic(this.settings.topic, probe, { waitMs: OPEN_TOPIC_WAIT_MS });
    } catch (error) {
      if (kafkaErrorKind(error) !== "unavailable") throw error;
      trouble = error;
    } finally {
      await probe.close().catch(() => {});
    }
    try {
      await this.consumer.subscribe({ topics: [this.settings.topic], fromBeginning: this.settings.fromBeginning });
    } catch (error) {
      throw trouble ?? error;
    }
  }

  async #onBatch({ batch, heartbeat }: EachBatchPayload): Promise<void> {
    this.#heartbeat = heartbeat;
    const generation = this.#generation;
    if (this.#closing.signal.aborted) return;
    if (generation.revoked) throw generation.revoked;
    await this.#loadCounts(generation);
    if (this.#closing.signal.aborted) return;
    if (generation.revoked) throw generation.revoked;
    const known = generation.counts?.get(batch.partition) ?? new Map<bigint, number>();
    const commit: CommitFn = (partition, offset, metadata) => this.#commit(generation, partition, offset, metadata);
    const window = new PartitionWindow(batch.partition, generation, batch.messages, known, commit);
    this.#windows.push(window);
    this.#startHeartbeats();
    this.#changed.notify();
    try {
      const end = await window.ended;
      if (end.kind === "revoked") throw end.error;
      if (end.kind === "done") await window.flush();
    } finally {
      this.#windows = this.#windows.filter((other) => other !== window);
      if (this.#windows.length === 0) this.#stopHeartbeats();
    }
  }

  /** Reads the delivery counts of this generation's committed offsets once. */
  async #loadCounts(generation: Generation): Promise<void> {
    if (generation.counts) return;
    generation.loading ??= this.admin.fetchOffsets({ groupId: this.settings.group, topics: [this.settings.topic] })
      .then((topics) => {
        const counts = new Map<number, Map<bigint, number>>();
        for (const { partitions } of topics) {
          for (const { partition, offset, metadata } of partitions) {
            if (/^\d+$/.test(offset)) counts.set(partition, decodeDeliveries(BigInt(offset), metadata));
          }
        }
        generation.counts = counts;
      })
      .finally(() => generation.loading = undefined);
    await generation.loading;
  }

  async #commit(generation: Generation, partition: number, offset: bigint, metadata: string | null): Promise<void> {
    await this.consumer.commitOffsets([{ topic: this.settings.topic, partition, offset: String(offset), metadata }]);
    generation.counts?.set(partition, decodeDeliveries(offset, metadata));
  }

  #pick(now: number): { window?: PartitionWindow; entry?: Entry; wakeAt?: number } {
    let wakeAt: number | undefined;
    const count = this.#windows.length;
    for (let i = 0; i < count; i++) {
      const window = this.#windows[(this.#next + i) % count];
      const found = window.next(now);
      if (found.entry) {
        this.#next = (this.#next + i + 1) % count; // the next receive starts at the next partition
        return { window, entry: found.entry };
      }
      if (found.wakeAt !== undefined) wakeAt = Math.min(wakeAt ?? Infinity, found.wakeAt);
    }
    return { wakeAt };
  }

  /** Undoes a hand-out that did not happen. */
  #putBack(window: PartitionWindow, entry: Entry): void {
    entry.state = "waiting";
    entry.holder = undefined;
    entry.deliveries--;
    window.check();
    this.#changed.notify();
  }

  #incoming(window: PartitionWindow, entry: Entry, holder: object): IncomingMessage {
    const value = entry.message.value;
    return {
      body: value ? new Uint8Array(value) : new Uint8Array(0),
      id: `${this.settings.topic}/${window.partition}/${entry.offset}`,
      orderingKey: entry.key,
      deliveryAttempt: entry.deliveries,
      ack: () => this.#ack(window, entry, holder),
      nack: (delayMs?: number) => this.#nack(window, entry, holder, delayMs),
      inProgress: () => this.#closing.signal.aborted ? Promise.resolve() : this.#beat(true),
    };
  }

  async #ack(window: PartitionWindow, entry: Entry, holder: object): Promise<void> {
    if (this.#closing.signal.aborted) {
      throw new BusError("closed", "ack after the reader closed: the message will be delivered again");
    }
    if (entry.holder !== holder) return;
    entry.holder = undefined;
    entry.state = "acked";
    this.#changed.notify();
    try {
      await window.flush();
    } catch (error) {
      const fenced = fencingError(error);
      if (fenced) this.#revoke(window.generation, fenced);
      throw error;
    } finally {
      window.check();
    }
  }

  // deno-lint-ignore require-await
  async #nack(window: PartitionWindow, entry: Entry, holder: object, delayMs?: number): Promise<void> {
    if (entry.holder !== holder) return;
    entry.holder = undefined;
    entry.state = "waiting";
    entry.visibleAt = this.clock.now() + Math.max(0, delayMs ?? nackBackoffMs(entry.deliveries));
    window.check();
    this.#changed.notify();
  }

  /**
   * Heartbeats the group (kafkajs skips it when the last one is recent). A rebalance or a lost
   * membership revokes the windows; for `inProgress` a pending rebalance is no failure, since the
   * held message stays with this reader until it is settled.
   */
  async #beat(forHeldMessage = false): Promise<void> {
    const generation = this.#generation;
    try {
      await this.#heartbeat?.();
    } catch (error) {
      const fenced = fencingError(error);
      if (fenced) this.#revoke(generation, fenced);
      if (forHeldMessage && (fenced as { type?: string } | undefined)?.type === "REBALANCE_IN_PROGRESS") return;
      throw error;
    }
  }

  #startHeartbeats(): void {
    this.#heartbeatTimer ??= setInterval(() => {
      this.#beat().catch(() => {/* a revocation is handled in #beat; other failures kafkajs retries */});
    }, this.settings.heartbeatIntervalMs);
  }

  #stopHeartbeats(): void {
    if (this.#heartbeatTimer !== undefined) clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = undefined;
  }

  #revoke(generation: Generation, error: Error): void {
    if (generation !== this.#generation || generation.revoked) return;
    generation.revoked = error;
    log.debug("{reader}: partitions revoked: {error}", { reader: this.description, error: oneLine(error) });
    for (const window of this.#windows) if (window.generation === generation) window.revoke(error);
    this.#changed.notify();
  }
}
