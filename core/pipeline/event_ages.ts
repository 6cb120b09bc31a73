/**
 * How long events wait for a worker, for the demand for local helpers (cmd/worker_helpers.ts):
 * the age of each event when it is received (its envelope's publication time to now), and, every
 * {@link BUSY_REPORT_MS} while every handler is busy, the age of the oldest event in hand. The
 * second covers a worker held by a long merge: it receives nothing meanwhile, so the events queued
 * behind it would show their age only once it is free again.
 *
 * @module
 */

/** How often the age of the oldest event in hand is reported while every handler is busy. */
export const BUSY_REPORT_MS = 250;

/** An event in hand: its publication time in ms (see {@link EventAges.received}). */
export interface EventInHand {
  readonly publishedMs: number;
}

/** Reports event ages to `report` (module doc). */
export class EventAges {
  readonly #report: (ageMs: number) => void;
  readonly #clock: () => Date;
  readonly #allBusy: () => boolean;
  readonly #inHand = new Set<EventInHand>();
  readonly #timer: ReturnType<typeof setInterval>;

  /** Reports to `report`; `allBusy` says whether every handler is taken. Call {@link stop} when done. */
  constructor(report: (ageMs: number) => void, clock: () => Date, allBusy: () => boolean, everyMs = BUSY_REPORT_MS) {
    this.#report = report;
    this.#clock = clock;
    this.#allBusy = allBusy;
    this.#timer = setInterval(() => this.#reportBusy(), everyMs);
  }

  /**
   * Reports the age of an event published at `timestamp` (its envelope's, RFC 3339); returns it in
   * hand until {@link done}. Undefined, and nothing reported, when there is no readable timestamp
   * (an unreadable envelope, handled as poison later).
   */
  received(timestamp: string | undefined): EventInHand | undefined {
    const publishedMs = timestamp === undefined ? NaN : Date.parse(timestamp);
    if (Number.isNaN(publishedMs)) return undefined;
    this.#report(this.#clock().getTime() - publishedMs);
    const event = { publishedMs };
    this.#inHand.add(event);
    return event;
  }

  /** The event is settled (or kept aside): no longer in hand. */
  done(event: EventInHand | undefined): void {
    if (event) this.#inHand.delete(event);
  }

  /** Stops the periodic reports. */
  stop(): void {
    clearInterval(this.#timer);
  }

  #reportBusy(): void {
    if (this.#inHand.size === 0 || !this.#allBusy()) return;
    let oldest = Infinity;
    for (const event of this.#inHand) oldest = Math.min(oldest, event.publishedMs);
    this.#report(this.#clock().getTime() - oldest);
  }
}
