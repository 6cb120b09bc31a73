/**
 * The `check()` of the `kafka://` writer and reader: is the topic there, with a leader for
 * every partition? As a mature client does before its first send (the Java producer waits for
 * a new topic's metadata), a missing topic is asked for with auto-creation allowed, so that a
 * broker with `auto.create.topics.enable=true` creates it and the first start on a fresh
 * cluster works; the check then waits briefly for the topic and its leaders. Outcomes:
 *
 * - the topic exists and every partition has a leader: the check passes;
 * - some partition has no leader by the end of the wait (a topic being created, or a leader
 *   being elected): `unavailable`, transient;
 * - the topic is still missing: `unavailable` when the brokers create topics on first use (the
 *   creation is slow), else a one-line `not-found` naming the topic and how to create it (also
 *   when the brokers' `auto.create.topics.enable` cannot be read, e.g. without DescribeConfigs
 *   permission: a topic that a broker would create normally appears within the wait). A longer
 *   wait (the reader's open) asks for that setting after the usual wait and stops early when
 *   it is off.
 *
 * Kafka 4 answers a metadata request that triggers the creation with "unknown topic or
 * partition" (as it does when auto-creation is off), so only waiting tells the two apart.
 *
 * @module
 */

import { type Admin, ConfigResourceTypes, type Kafka, type Producer } from "kafkajs";
import { BusError } from "../../core/event_bus.ts";
import { type Clock, systemClock } from "../clock.ts";

/** How long a check waits for a missing or leaderless topic (creation takes ~0.1s on a healthy cluster). */
export const TOPIC_WAIT_MS = 2_000;
/** How often it looks again meanwhile. */
export const TOPIC_POLL_MS = 100;

/** What {@link checkTopic} asks the cluster (an interface so the decisions are testable without a broker). */
export interface TopicProbe {
  /** The topic's partitions with their leader (-1: none); throws the broker's error when the topic is missing. */
  partitions(): Promise<{ partitionId: number; leader: number }[]>;
  /** Sends a metadata request for the topic that allows the broker to create it. */
  requestCreation(): Promise<void>;
  /** The brokers' `auto.create.topics.enable`; `undefined` when it cannot be read. */
  autoCreation(): Promise<boolean | undefined>;
}

/** Options of {@link checkTopic}. */
export interface CheckTopicOptions {
  /** Stops waiting (the check then fails with the abort reason). */
  signal?: AbortSignal;
  /** Time source (tests). */
  clock?: Clock;
  /** Overall wait (default {@link TOPIC_WAIT_MS}). */
  waitMs?: number;
  /** Interval between looks (default {@link TOPIC_POLL_MS}). */
  pollMs?: number;
}

type ErrorLike = { type?: unknown; cause?: unknown };

/** The kafkajs protocol error type in `error`'s cause chain that is one of `types`, if any. */
function protocolType(error: unknown, types: readonly string[]): string | undefined {
  for (let e = error, depth = 0; typeof e === "object" && e !== null && depth < 8; depth++) {
    const type = (e as ErrorLike).type;
    if (typeof type === "string" && types.includes(type)) return type;
    e = (e as ErrorLike).cause;
  }
  return undefined;
}

const MISSING = ["UNKNOWN_TOPIC_OR_PARTITION"] as const;
const LEADERLESS = ["LEADER_NOT_AVAILABLE", "NOT_LEADER_FOR_PARTITION", "NOT_LEADER_OR_FOLLOWER"] as const;

async function look(probe: TopicProbe): Promise<"ready" | "leaderless" | "missing"> {
  try {
    const partitions = await probe.partitions();
    if (partitions.length === 0) return "missing";
    return partitions.every((p) => p.leader >= 0) ? "ready" : "leaderless";
  } catch (error) {
    if (protocolType(error, MISSING)) return "missing";
    if (protocolType(error, LEADERLESS)) return "leaderless";
    throw error;
  }
}

/**
 * Passes once `topic` exists with a leader for every partition, asking the brokers to create
 * it while it is missing; fails as described in the module documentation. Errors of the
 * cluster itself (no broker answering, permissions) are thrown as they come.
 */
export async function checkTopic(topic: string, probe: TopicProbe, options: CheckTopicOptions = {}): Promise<void> {
  const clock = options.clock ?? systemClock;
  const waitMs = options.waitMs ?? TOPIC_WAIT_MS;
  const start = clock.now();
  let seen = false;
  let autoCreation: boolean | undefined | null = null; // null: not asked yet
  for (;;) {
    options.signal?.throwIfAborted();
    const state = await look(probe);
    if (state === "ready") return;
    if (state === "leaderless") seen = true;
    else await probe.requestCreation(); // again on every look: a broker may drop a creation request
    const waited = clock.now() - start;
    if (state === "missing" && autoCreation === null && waited >= Math.min(waitMs, TOPIC_WAIT_MS)) {
      autoCreation = await probe.autoCreation(); // a long wait stops early when no broker creates topics
      if (autoCreation === false) throw missingTopic(topic, false);
    }
    if (waited >= waitMs) break;
    await clock.sleep(options.pollMs ?? TOPIC_POLL_MS, options.signal);
  }
  options.signal?.throwIfAborted();
  if (seen) {
    throw new BusError("unavailable", `kafka topic ${topic} has a partition without leader (being created or elected)`);
  }
  if (autoCreation === null) autoCreation = await probe.autoCreation();
  if (autoCreation) {
    throw new BusError("unavailable", `kafka topic ${topic} does not exist yet (the brokers create it)`);
  }
  throw missingTopic(topic, autoCreation);
}

function missingTopic(topic: string, autoCreation: false | undefined): BusError {
  const why = autoCreation === false
    ? "the brokers do not create topics on first use (auto.create.topics.enable=false)"
    : "no broker created it on first use";
  return new BusError(
    "not-found",
    `kafka topic ${topic} does not exist and ${why}: create it (kafka-topics.sh --create --topic ${topic})`,
  );
}

/**
 * A {@link TopicProbe} over kafkajs: `admin` (connected, no auto-creation) reads the metadata;
 * creation requests go through a producer of `kafka` that allows auto-creation and does not
 * retry, connected on first use. `close()` disconnects that producer.
 */
export function kafkaTopicProbe(kafka: Kafka, admin: Admin, topic: string): TopicProbe & { close(): Promise<void> } {
  let producer: Promise<Producer> | undefined;
  return {
    async partitions() {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      return (topics.find((t) => t.name === topic)?.partitions ?? []).map(({ partitionId, leader }) => ({
        partitionId,
        leader,
      }));
    },
    async requestCreation() {
      producer ??= (async () => {
        const created = kafka.producer({ allowAutoTopicCreation: true, retry: { retries: 0 } });
        await created.connect();
        return created;
      })();
      const connected = await producer.catch((error) => {
        producer = undefined;
        throw error;
      });
      try {
        // No messages: kafkajs fetches the topic's metadata (auto-creation allowed) and sends nothing.
        await connected.send({ topic, messages: [] });
      } catch (error) {
        if (!protocolType(error, [...MISSING, ...LEADERLESS])) throw error;
      }
    },
    async autoCreation() {
      try {
        const { brokers } = await admin.describeCluster();
        const { resources } = await admin.describeConfigs({
          includeSynonyms: false,
          resources: brokers.map(({ nodeId }) => ({
            type: ConfigResourceTypes.BROKER,
            name: String(nodeId),
            configNames: ["auto.create.topics.enable"],
          })),
        });
        const values = resources.flatMap((r) => r.configEntries)
          .filter((entry) => entry.configName === "auto.create.topics.enable")
          .map((entry) => entry.configValue);
        if (values.length === 0) return undefined;
        return values.some((value) => value === "true");
      } catch {
        return undefined; // e.g. no DescribeConfigs permission: the caller says it cannot tell
      }
    },
    async close() {
      const created = producer;
      producer = undefined;
      if (created) await (await created.catch(() => undefined))?.disconnect();
    },
  };
}
