/**
 * What the `kafka://` writer and reader share: their URL settings, the kafkajs client (brokers
 * from `KAFKA_BROKERS`, log lines routed to logtape), the key partitioner, the delivery counts
 * kept in committed offsets' metadata, and the mapping of kafkajs errors to portable
 * {@link BusErrorKind}s. The URL grammar and delivery semantics are documented in `kafka_bus.ts`.
 *
 * Importing this module also stops kafkajs 2.2.4's idle request-queue timer loop (see
 * {@link quietKafkajsRequestQueues}), which under Deno printed `TimeoutNegativeWarning`.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { Kafka, type LogEntry, logLevel, type PartitionerArgs } from "kafkajs";
// kafkajs' per-connection request queue (no types; the version is pinned in deno.json).
import RequestQueue from "kafkajs/src/network/requestQueue/index.js";
import { BusError, type BusErrorKind } from "../../core/event_bus.ts";
import { redactUrl } from "../../core/registry.ts";
import { messageLine } from "../../core/public_error.ts";
import { driverParams, durationParam } from "../driver_url.ts";

/** Names the driver in errors. */
export const WHAT = "kafka event bus";

/**
 * Default consumer-group session timeout (`session_timeout`): 10 s, sarama's default (the
 * original's readers). After a broker restart the group waits up to this long for the readers' old
 * memberships before it hands the partitions out again: a broker killed and restarted 10 s later
 * stopped merging for 30.0–30.1 s with the earlier default of 30 s, and for 10.1 s with 10 s
 * (tests/kafka_restart_test.ts pins it).
 */
export const DEFAULT_SESSION_TIMEOUT_MS = 10_000;
/** How long a rebalance waits for this reader to settle the messages it handed out. */
export const REBALANCE_TIMEOUT_MS = 300_000;

/** Settings of a `kafka://TOPIC` writer URL. */
export interface KafkaWriterSettings {
  /** The topic: the URL's host and path (`kafka://profiles` → `profiles`). */
  topic: string;
  /** gocloud's `key_name`, accepted for URL compatibility (see `kafka_bus.ts`). */
  keyName?: string;
}

/** Settings of a `kafka://GROUP?topic=TOPIC` reader URL. */
export interface KafkaReaderSettings {
  /** The consumer group: the URL's host and path. */
  group: string;
  /** `topic` (required). */
  topic: string;
  /** `offset=oldest` (true) or `newest` (false, the default): where a group without commits starts. */
  fromBeginning: boolean;
  /** `session_timeout` (default 10s): how long the group waits for a silent member before reassigning its partitions. */
  sessionTimeoutMs: number;
  /** A tenth of the session timeout: how often the reader heartbeats while it holds messages. */
  heartbeatIntervalMs: number;
}

const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

function nameOf(url: URL, what: string, role: string): string {
  const shown = JSON.stringify(redactUrl(url.href));
  if (url.hash) throw new BusError("invalid", `${what} URL ${shown}: unexpected fragment`);
  if (url.username || url.password || url.port) {
    throw new BusError("invalid", `${what} URL ${shown}: brokers come from KAFKA_BROKERS, not the URL`);
  }
  let name: string;
  try {
    name = decodeURIComponent(`${url.host}${url.pathname}`);
  } catch {
    throw new BusError("invalid", `${what} URL ${shown}: malformed percent-encoding`);
  }
  if (!name) throw new BusError("invalid", `${what} URL ${shown}: missing ${role} name (kafka://NAME)`);
  return name;
}

function topicName(name: string, what: string, url: URL): string {
  if (!TOPIC_NAME.test(name) || name === "." || name === "..") {
    throw new BusError(
      "invalid",
      `${what} URL ${JSON.stringify(redactUrl(url.href))}: topic ${
        JSON.stringify(name)
      } is not a valid Kafka topic name`,
    );
  }
  return name;
}

function strictParams(url: URL, allowed: string[], what: string): Map<string, string> {
  try {
    return driverParams(url, allowed, what);
  } catch (error) {
    throw new BusError("invalid", (error as Error).message);
  }
}

/** Parses a writer URL: `kafka://TOPIC[?key_name=NAME]`. */
export function kafkaWriterSettings(url: URL): KafkaWriterSettings {
  const params = strictParams(url, ["key_name"], WHAT);
  const keyName = params.get("key_name");
  if (keyName === "") throw new BusError("invalid", `${WHAT} URL parameter key_name: must not be empty`);
  return { topic: topicName(nameOf(url, WHAT, "topic"), WHAT, url), keyName };
}

/** Parses a reader URL: `kafka://GROUP?topic=TOPIC[&offset=oldest|newest][&session_timeout=10s]`. */
export function kafkaReaderSettings(url: URL): KafkaReaderSettings {
  const params = strictParams(url, ["topic", "offset", "session_timeout"], WHAT);
  const group = nameOf(url, WHAT, "consumer group");
  const topic = params.get("topic");
  if (topic === undefined) {
    throw new BusError("invalid", `${WHAT} URL ${JSON.stringify(redactUrl(url.href))}: missing ?topic=`);
  }
  const offset = params.get("offset") ?? "newest";
  if (offset !== "oldest" && offset !== "newest") {
    throw new BusError("invalid", `${WHAT} URL parameter offset=${JSON.stringify(offset)}: expected oldest or newest`);
  }
  let sessionTimeoutMs: number;
  try {
    sessionTimeoutMs = durationParam(params, "session_timeout", DEFAULT_SESSION_TIMEOUT_MS, WHAT, 1_000);
  } catch (error) {
    throw new BusError("invalid", (error as Error).message);
  }
  return {
    group,
    topic: topicName(topic, WHAT, url),
    fromBeginning: offset === "oldest",
    sessionTimeoutMs,
    heartbeatIntervalMs: Math.max(100, Math.round(sessionTimeoutMs / 10)),
  };
}

/** The brokers: `brokers` when given (tests), else `KAFKA_BROKERS` (comma-separated `host:port`). */
export function kafkaBrokers(brokers?: string[]): string[] {
  const list = (brokers ?? (Deno.env.get("KAFKA_BROKERS") ?? "").split(","))
    .map((broker) => broker.trim())
    .filter((broker) => broker.length > 0);
  if (list.length === 0) {
    throw new BusError("invalid", `${WHAT}: KAFKA_BROKERS is not set (a comma-separated list of host:port brokers)`);
  }
  return list;
}

const kafkaLog = getLogger(["autopgo", "bus", "kafka"]);
const LEVEL_NAMES: Record<number, string> = {
  [logLevel.ERROR]: "error",
  [logLevel.WARN]: "warn",
  [logLevel.INFO]: "info",
  [logLevel.DEBUG]: "debug",
};

/**
 * kafkajs log lines go to logtape's `autopgo.bus.kafka` category at debug level: kafkajs reports
 * failures it retries on its own as errors, while this driver reports the failures that reach the
 * caller itself (errors thrown from send/receive/ack, consumer crashes).
 */
function logtapeLogCreator() {
  return ({ namespace, level, log }: LogEntry) => {
    const { message, timestamp: _timestamp, logger: _logger, ...details } = log;
    kafkaLog.debug("kafkajs {namespace} {level}: {message}", {
      namespace,
      level: LEVEL_NAMES[level] ?? String(level),
      message,
      ...details,
    });
  };
}

const QUIETED = Symbol.for("autopgo.kafkajs.quietRequestQueue");

/**
 * Stops kafkajs 2.2.4's request queues from polling while nothing is queued (kafkajs issues
 * #1704 and #1751, unfixed in its last release). After every response a queue schedules a check
 * of its pending requests at `throttledUntil − Date.now()`; `throttledUntil` is -1 unless the
 * broker throttles the client, so the delay is about minus the epoch in milliseconds. Node's
 * timers (Deno's too) clamp it to 1ms and print `TimeoutNegativeWarning: -17… is a negative
 * number` once per process, and the check re-schedules itself: every connection wakes ~1000
 * times a second for nothing (measured: ~3% of a core for an idle producer, consumer and admin).
 *
 * No client option avoids that path, so this wraps the queue's `scheduleCheckPendingRequests`
 * (once per process): with nothing pending it schedules nothing — the check it would schedule
 * finds nothing to send — and with requests pending (client-side throttling, or the in-flight
 * limit) it runs unchanged, so throttled requests are still sent when the throttle ends. A
 * request pushed later schedules its own check. Returns whether the method was found.
 */
export function quietKafkajsRequestQueues(): boolean {
  const prototype = (RequestQueue as { prototype?: Record<PropertyKey, unknown> } | undefined)?.prototype;
  const schedule = prototype?.scheduleCheckPendingRequests;
  if (!prototype || typeof schedule !== "function") return false;
  if (prototype[QUIETED]) return true;
  prototype.scheduleCheckPendingRequests = function (this: { pending?: unknown }, ...args: unknown[]) {
    if (Array.isArray(this.pending) && this.pending.length === 0) return;
    return schedule.apply(this, args);
  };
  prototype[QUIETED] = true;
  return true;
}

quietKafkajsRequestQueues();

/** A kafkajs client for `brokers` with this driver's logging and retry settings. */
export function newKafkaClient(brokers: string[], clientId: string): Kafka {
  return new Kafka({
    clientId,
    brokers,
    connectionTimeout: 3_000,
    logLevel: logLevel.WARN,
    logCreator: logtapeLogCreator,
    retry: { initialRetryTime: 200, maxRetryTime: 5_000, retries: 5 },
  });
}

/**
 * The partition of a keyed message: sarama's default hash partitioner (FNV-1a of the key,
 * as a signed 32-bit number modulo the partition count, negated when negative), the one the
 * original autopgo's gocloud `kafkapubsub` writer uses, so both put an app in the same partition.
 */
export function keyPartition(key: Uint8Array, partitions: number): number {
  let hash = 0x811c9dc5 | 0;
  for (const byte of key) hash = Math.imul(hash ^ byte, 0x01000193);
  return Math.abs(hash % partitions);
}

/** A kafkajs partitioner: {@link keyPartition} for keyed messages, round robin for the rest. */
export function createKeyPartitioner() {
  let next = 0;
  return ({ partitionMetadata, message }: PartitionerArgs): number => {
    const count = partitionMetadata.length;
    if (message.key === null || message.key === undefined) return partitionMetadata[next++ % count].partitionId;
    const key = typeof message.key === "string" ? new TextEncoder().encode(message.key) : message.key;
    return keyPartition(key, count);
  };
}

const METADATA_PREFIX = "autopgo-deliveries:";
const METADATA_MAX_CHARS = 3_000;

/**
 * Encodes how often the messages at or after the committed `offset` were handed out, as the
 * commit's metadata (`autopgo-deliveries:<offset − committed>x<count>,…`); `null` when none were.
 * Entries beyond ~3000 characters are left out (Kafka's default limit is 4096): those messages
 * would start again at attempt 1 after a takeover.
 */
export function encodeDeliveries(offset: bigint, counts: Iterable<readonly [bigint, number]>): string | null {
  const parts: string[] = [];
  let length = METADATA_PREFIX.length;
  for (const [at, count] of [...counts].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    if (at < offset || count <= 0) continue;
    const part = `${at - offset}x${count}`;
    if (length + part.length + 1 > METADATA_MAX_CHARS) break;
    parts.push(part);
    length += part.length + 1;
  }
  return parts.length ? METADATA_PREFIX + parts.join(",") : null;
}

/** Decodes {@link encodeDeliveries}: absolute offset → deliveries so far; anything else is no deliveries. */
export function decodeDeliveries(offset: bigint, metadata: string | null | undefined): Map<bigint, number> {
  const counts = new Map<bigint, number>();
  if (!metadata?.startsWith(METADATA_PREFIX)) return counts;
  for (const part of metadata.slice(METADATA_PREFIX.length).split(",")) {
    const match = /^(\d+)x(\d+)$/.exec(part);
    if (match) counts.set(offset + BigInt(match[1]), Number(match[2]));
  }
  return counts;
}

const NOT_FOUND = new Set(["UNKNOWN_TOPIC_OR_PARTITION", "GROUP_ID_NOT_FOUND"]);
const PERMISSION = new Set([
  "TOPIC_AUTHORIZATION_FAILED",
  "GROUP_AUTHORIZATION_FAILED",
  "CLUSTER_AUTHORIZATION_FAILED",
  "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
  "SASL_AUTHENTICATION_FAILED",
  "ILLEGAL_SASL_STATE",
  "UNSUPPORTED_SASL_MECHANISM",
]);
const INVALID = new Set([
  "INVALID_TOPIC_EXCEPTION",
  "MESSAGE_TOO_LARGE",
  "RECORD_LIST_TOO_LARGE",
  "INVALID_RECORD",
  "CORRUPT_MESSAGE",
  "INVALID_REQUIRED_ACKS",
  "INVALID_GROUP_ID",
  "INVALID_SESSION_TIMEOUT",
  "OFFSET_METADATA_TOO_LARGE",
  "INVALID_PARTITIONS",
  "INVALID_REPLICATION_FACTOR",
  "UNSUPPORTED_VERSION",
  "INVALID_REQUEST",
]);
/** Group-membership errors: this reader lost its partitions; the message comes back to the group. */
const FENCED = new Set([
  "REBALANCE_IN_PROGRESS",
  "ILLEGAL_GENERATION",
  "UNKNOWN_MEMBER_ID",
  "FENCED_INSTANCE_ID",
  "NOT_COORDINATOR_FOR_GROUP",
  "NOT_COORDINATOR",
]);
const UNAVAILABLE_NAMES = new Set([
  "KafkaJSConnectionError",
  "KafkaJSConnectionClosedError",
  "KafkaJSRequestTimeoutError",
  "KafkaJSBrokerNotFound",
  "KafkaJSNoBrokerAvailableError",
  "KafkaJSGroupCoordinatorNotFound",
  "KafkaJSMetadataNotLoaded",
  "KafkaJSTopicMetadataNotLoaded",
  "KafkaJSLockTimeout",
  "KafkaJSTimeout",
]);

type KafkaLikeError = { name?: unknown; type?: unknown; retriable?: unknown; cause?: unknown };

/** The kafkajs errors from `error` down its `cause` chain (retry wrappers keep the original as cause). */
function causeChain(error: unknown): KafkaLikeError[] {
  const chain: KafkaLikeError[] = [];
  for (let e = error; typeof e === "object" && e !== null && chain.length < 8; e = (e as KafkaLikeError).cause) {
    chain.push(e as KafkaLikeError);
  }
  return chain;
}

/** The group-membership error in `error`'s cause chain, if this reader lost its group membership. */
export function fencingError(error: unknown): Error | undefined {
  return causeChain(error).find((e) => typeof e.type === "string" && FENCED.has(e.type)) as Error | undefined;
}

/** Maps a kafkajs (or this driver's) error to a portable kind. */
export function kafkaErrorKind(error: unknown): BusErrorKind {
  const chain = causeChain(error);
  for (const e of chain) {
    if (e instanceof BusError) return e.kind;
    const type = typeof e.type === "string" ? e.type : undefined;
    if (type === undefined) continue;
    if (NOT_FOUND.has(type)) return "not-found";
    if (PERMISSION.has(type)) return "permission";
    if (INVALID.has(type)) return "invalid";
    if (FENCED.has(type)) return "unavailable";
  }
  for (const e of chain) {
    if (e.name === "KafkaJSSASLAuthenticationError") return "permission";
    if (typeof e.name === "string" && UNAVAILABLE_NAMES.has(e.name)) return "unavailable";
  }
  const original = chain[chain.length - 1];
  if (original?.retriable === true) return "unavailable";
  return "unknown";
}

/** One line naming the error (kafkajs messages can span lines). */
export function oneLine(error: unknown): string {
  return messageLine(error).slice(0, 500);
}
