/**
 * `mem://topic` event bus: an in-process, at-least-once queue. Every writer and reader of
 * the same topic name in one process share one queue; several readers compete for its
 * messages (one subscription, competing consumers).
 *
 * - A delivered message is leased to its reader until `ack()` (gone for good), `nack(delay)`
 *   (back after `delay`, default backoff 1s, 2s, 4s… ≤ 60s), the ack deadline passes
 *   (`?ackdeadline=30s`, default 6s; renewed while a handler runs) or the reader closes (back at once). Each redelivery
 *   increments `deliveryAttempt`. Acking or nacking a lease that already expired does nothing.
 * - Ordering: see `bus_common.ts` — one message per ordering key at a time, in publication order.
 * - `?duplicate=N` on the writer enqueues every message N times with the same id: a testing
 *   aid for "every event delivered twice". Parameters are accepted on both sides.
 *
 * Messages live only in memory: they are lost when the process exits (the embedded default
 * pairs this bus with a worker in the same process).
 *
 * @module
 */

import type { EventReader, EventWriter, IncomingMessage, OutgoingMessage } from "../../core/events.ts";
import {
  type BusSettings,
  busSettings,
  ChangeSignal,
  nackBackoffMs,
  pickDeliverable,
  waitOrAbort,
} from "./bus_common.ts";
import { type Clock, systemClock } from "../clock.ts";

const WHAT = "mem event bus";

interface QueuedMessage {
  seq: number;
  id: string;
  body: Uint8Array;
  orderingKey?: string;
  /** The delivery attempt the next delivery will carry. */
  attempt: number;
  visibleAt: number;
}

interface Lease {
  message: QueuedMessage;
  deadline: number;
  owner: MemEventReader;
}

class Topic {
  waiting: QueuedMessage[] = [];
  leases = new Set<Lease>();
  changed = new ChangeSignal();
  nextSeq = 1;

  /** Puts a leased message back with the next attempt number. */
  release(lease: Lease, visibleAt: number): void {
    if (!this.leases.delete(lease)) return;
    this.waiting.push({ ...lease.message, attempt: lease.message.attempt + 1, visibleAt });
    this.changed.notify();
  }

  /** Returns every expired lease to the queue; reports the earliest remaining deadline. */
  expire(now: number): number | undefined {
    let earliest: number | undefined;
    for (const lease of [...this.leases]) {
      if (lease.deadline <= now) this.release(lease, now);
      else earliest = earliest === undefined ? lease.deadline : Math.min(earliest, lease.deadline);
    }
    return earliest;
  }
}

const topics = new Map<string, Topic>();

/** Options of the mem bus openers (injection points for tests). */
export interface MemBusOptions {
  /** Time source for deadlines and delays (default: the system clock). */
  clock?: Clock;
  /** Message id source (default: `crypto.randomUUID`). */
  newId?: () => string;
}

function topicOf(url: URL): { name: string; topic: Topic; settings: BusSettings } {
  const settings = busSettings(url, WHAT, false);
  const name = decodeURIComponent(url.host);
  if (name === "" || (url.pathname !== "" && url.pathname !== "/")) {
    throw new Error(`${WHAT} URL ${JSON.stringify(url.href)}: expected mem://topic (a topic name, no path)`);
  }
  let topic = topics.get(name);
  if (!topic) topics.set(name, topic = new Topic());
  return { name, topic, settings };
}

/** Opens a writer for `mem://topic[?duplicate=N]`. */
// deno-lint-ignore require-await
export async function openMemEventWriter(url: URL | string, options: MemBusOptions = {}): Promise<MemEventWriter> {
  const { name, topic, settings } = topicOf(typeof url === "string" ? new URL(url) : url);
  return new MemEventWriter(name, topic, settings.duplicate, options);
}

/** Opens a reader (competing consumer) for `mem://topic[?ackdeadline=30s]`. */
// deno-lint-ignore require-await
export async function openMemEventReader(url: URL | string, options: MemBusOptions = {}): Promise<MemEventReader> {
  const { name, topic, settings } = topicOf(typeof url === "string" ? new URL(url) : url);
  return new MemEventReader(name, topic, settings.ackDeadlineMs, options);
}

/** Forgets a topic and its queued messages (tests); open handles keep the old queue. */
export function dropMemTopic(name: string): void {
  topics.delete(name);
}

/** Publishes to an in-process topic. */
export class MemEventWriter implements EventWriter {
  readonly #name: string;
  readonly #topic: Topic;
  readonly #copies: number;
  readonly #clock: Clock;
  readonly #newId: () => string;
  #closed = false;

  /** Prefer {@link openMemEventWriter}. */
  constructor(name: string, topic: Topic, copies: number, options: MemBusOptions) {
    this.#name = name;
    this.#topic = topic;
    this.#copies = copies;
    this.#clock = options.clock ?? systemClock;
    this.#newId = options.newId ?? (() => crypto.randomUUID());
  }

  /** Enqueues the message (and its test duplicates); it is immediately visible to readers. */
  // deno-lint-ignore require-await
  async send(message: OutgoingMessage, signal?: AbortSignal): Promise<void> {
    if (this.#closed) throw new Error(`${WHAT} "${this.#name}": writer closed`);
    signal?.throwIfAborted();
    const id = this.#newId();
    for (let i = 0; i < this.#copies; i++) {
      this.#topic.waiting.push({
        seq: this.#topic.nextSeq++,
        id,
        body: message.body.slice(),
        orderingKey: message.orderingKey,
        attempt: 1,
        visibleAt: this.#clock.now(),
      });
    }
    this.#topic.changed.notify();
  }

  /** Healthy while open. */
  // deno-lint-ignore require-await
  async check(): Promise<void> {
    if (this.#closed) throw new Error(`${WHAT} "${this.#name}": writer closed`);
  }

  /** Refuses further sends; queued messages stay. */
  // deno-lint-ignore require-await
  async close(): Promise<void> {
    this.#closed = true;
  }
}

/** Receives from an in-process topic, sharing it with every other reader of the topic name. */
export class MemEventReader implements EventReader {
  readonly #name: string;
  readonly #topic: Topic;
  readonly #ackDeadlineMs: number;
  readonly #clock: Clock;
  readonly #closing = new AbortController();

  /** Prefer {@link openMemEventReader}. */
  constructor(name: string, topic: Topic, ackDeadlineMs: number, options: MemBusOptions) {
    this.#name = name;
    this.#topic = topic;
    this.#ackDeadlineMs = ackDeadlineMs;
    this.#clock = options.clock ?? systemClock;
  }

  /** Leases are renewed at a third of the ack deadline while a message is held (core/event_bus.ts). */
  get renewIntervalMs(): number {
    return Math.max(1, Math.floor(this.#ackDeadlineMs / 3));
  }

  /** Waits for the next deliverable message; `undefined` once `signal` aborts or the reader closes. */
  async receive(signal?: AbortSignal): Promise<IncomingMessage | undefined> {
    const topic = this.#topic;
    while (!this.#closing.signal.aborted && !signal?.aborted) {
      const now = this.#clock.now();
      const leaseWake = topic.expire(now);
      const keysInFlight = new Set<string>();
      for (const lease of topic.leases) {
        if (lease.message.orderingKey !== undefined) keysInFlight.add(lease.message.orderingKey);
      }
      const { next, wakeAt } = pickDeliverable(topic.waiting, keysInFlight, now);
      if (next) {
        topic.waiting.splice(topic.waiting.indexOf(next), 1);
        const lease: Lease = { message: next, deadline: now + this.#ackDeadlineMs, owner: this };
        topic.leases.add(lease);
        return this.#deliver(lease);
      }
      const wakes = [wakeAt, leaseWake].filter((t): t is number => t !== undefined);
      const until = wakes.length ? Math.min(...wakes) : now + 60_000;
      await waitOrAbort(this.#clock, until - now, [topic.changed.signal, this.#closing.signal, signal]);
    }
    return undefined;
  }

  /** Healthy while open. */
  // deno-lint-ignore require-await
  async check(): Promise<void> {
    if (this.#closing.signal.aborted) throw new Error(`${WHAT} "${this.#name}": reader closed`);
  }

  /** Ends pending receives and returns this reader's unacked messages to the queue at once. */
  // deno-lint-ignore require-await
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort();
    const now = this.#clock.now();
    for (const lease of [...this.#topic.leases]) if (lease.owner === this) this.#topic.release(lease, now);
  }

  #deliver(lease: Lease): IncomingMessage {
    const topic = this.#topic;
    const { message } = lease;
    return {
      body: message.body.slice(),
      id: message.id,
      orderingKey: message.orderingKey,
      deliveryAttempt: message.attempt,
      // deno-lint-ignore require-await
      ack: async () => {
        if (topic.leases.delete(lease)) topic.changed.notify();
      },
      // deno-lint-ignore require-await
      nack: async (delayMs?: number) => {
        topic.release(lease, this.#clock.now() + (delayMs ?? nackBackoffMs(message.attempt)));
      },
      // deno-lint-ignore require-await
      inProgress: async () => {
        if (topic.leases.has(lease)) lease.deadline = this.#clock.now() + this.#ackDeadlineMs;
      },
    };
  }
}
