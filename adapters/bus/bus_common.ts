/**
 * Rules shared by the built-in event bus drivers (mem://, file://): their URL parameters,
 * the nack backoff, the per-ordering-key delivery rule and the receive wait loop.
 *
 * Ordering rule: messages are offered in publication order; a message with an ordering key
 * is handed out only when no earlier message with that key is in flight or still waiting
 * (for example nacked with a delay). So one key's messages are processed one at a time, in
 * order, while different keys (and messages without a key) are processed in parallel.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import { driverParams, durationParam, intParam } from "../driver_url.ts";

/** Settings parsed from a bus URL's query. */
export interface BusSettings {
  /** `ackdeadline`: how long a delivery may stay unacked before it is delivered again. */
  ackDeadlineMs: number;
  /** `duplicate` (writer, testing aid): how many copies of each message are enqueued. */
  duplicate: number;
  /** `poll` (file:// readers): how often an idle reader looks for new messages. */
  pollMs: number;
}

/**
 * Default ack deadline (`?ackdeadline=`): short, so a killed consumer's messages come back
 * within seconds; a live consumer's leases are renewed while its handler runs.
 */
export const DEFAULT_ACK_DEADLINE_MS = 6_000;
/** Default idle poll interval of file:// readers (`?poll=`). */
export const DEFAULT_POLL_MS = 100;

/** Parses the query parameters common to mem:// and file:// buses (unknown ones are errors). */
export function busSettings(url: URL, what: string, allowPoll: boolean): BusSettings {
  const params = driverParams(
    url,
    allowPoll ? ["ackdeadline", "duplicate", "poll"] : ["ackdeadline", "duplicate"],
    what,
  );
  return {
    ackDeadlineMs: durationParam(params, "ackdeadline", DEFAULT_ACK_DEADLINE_MS, what, 1),
    duplicate: intParam(params, "duplicate", 1, 1, 10, what),
    pollMs: durationParam(params, "poll", DEFAULT_POLL_MS, what, 1),
  };
}

/** Redelivery delay of a message nacked without a delay: 1s, 2s, 4s… capped at 60s. */
export function nackBackoffMs(deliveryAttempt: number): number {
  return Math.min(60_000, 1000 * 2 ** Math.max(0, Math.min(deliveryAttempt - 1, 16)));
}

/** What the delivery rule needs to know about a waiting message. */
export interface WaitingRef {
  /** Publication order within the topic. */
  seq: number;
  /** Ordering key (or a stand-in such as its hash); undefined for unordered messages. */
  orderingKey?: string;
  /** Earliest time (ms) the message may be delivered. */
  visibleAt: number;
}

/**
 * Picks the next deliverable message from `waiting` (any order) given the ordering keys that
 * have a message in flight. Also returns when something may become deliverable by time alone.
 */
export function pickDeliverable<T extends WaitingRef>(
  waiting: Iterable<T>,
  keysInFlight: ReadonlySet<string>,
  now: number,
): { next?: T; wakeAt?: number } {
  const blocked = new Set(keysInFlight);
  let wakeAt: number | undefined;
  for (const message of [...waiting].sort((a, b) => a.seq - b.seq)) {
    const key = message.orderingKey;
    if (key !== undefined) {
      if (blocked.has(key)) continue;
      blocked.add(key); // later messages with this key wait for this one
    }
    if (message.visibleAt <= now) return { next: message };
    wakeAt = wakeAt === undefined ? message.visibleAt : Math.min(wakeAt, message.visibleAt);
  }
  return { wakeAt };
}

/**
 * The abort reason of wake-ups ({@link ChangeSignal}, {@link waitOrAbort}): aborting without one
 * builds a DOMException with a stack trace, and the file bus notifies on every send and ack: 6–10
 * µs per abort against 1–2 µs with a reason (a loop of 20,000); the V8 profiles of the ingest
 * benchmark's workers put 100–240 ms per 1,000 uploads there.
 */
const WOKEN = "woken";

/**
 * Waits up to `ms` on `clock`, returning early when any of `signals` aborts. Used by
 * receive loops between attempts to claim a message.
 */
export async function waitOrAbort(clock: Clock, ms: number, signals: (AbortSignal | undefined)[]): Promise<void> {
  const live = signals.filter((s): s is AbortSignal => s !== undefined);
  if (live.some((s) => s.aborted)) return;
  const stop = new AbortController();
  const onAbort = () => stop.abort(WOKEN);
  for (const s of live) s.addEventListener("abort", onAbort, { once: true });
  try {
    await clock.sleep(Math.max(0, ms), stop.signal);
  } finally {
    for (const s of live) s.removeEventListener("abort", onAbort);
  }
}

/** A resettable "something changed" signal: waiters abort when {@link ChangeSignal.notify} is called. */
export class ChangeSignal {
  #controller = new AbortController();

  /** The signal of the current generation; it aborts at the next notify. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Wakes every current waiter and starts a new generation. */
  notify(): void {
    const previous = this.#controller;
    this.#controller = new AbortController();
    previous.abort(WOKEN);
  }
}
