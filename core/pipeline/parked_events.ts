/**
 * Events of busy apps, held by the worker until their app is free instead of handed back to the
 * bus (issue 13: workers must not shrink ingest).
 *
 * On a bus without per-app ordering every worker receives events of every app, and an event of an
 * app that another worker is merging, or that rests after a batch (app_lease.ts), used to be
 * nacked with a delay. Under a live load most events met a busy app: with four workers on NATS
 * JetStream, 1,000 uploads caused about 1,800 such round trips, each a delivery, a `stat`, a lease
 * check and a nack, and together they cost more CPU than the merges. A parked event costs
 * nothing while it waits: it stays leased to this worker (the portable subscription keeps renewing
 * its ack deadline) and is handled again when its app's rest is over, or after a short look-again
 * delay while the app is being merged. The first of an app's parked events then merges the batch
 * that holds the others' uploads; they find their staged upload gone and are acked after one `stat`.
 *
 * Bounds: at most `limit` events are parked per process (more are nacked as before), an event is
 * parked for at most `maxParkMs` in all (then nacked with the delay its handler asked for), and on
 * stop every parked event is nacked at once, so the bus redelivers it to another worker. Parking
 * never changes what is merged: handling an event again is what a redelivery would do.
 *
 * @module
 */

import type { IncomingMessage } from "../events.ts";
import type { Disposition } from "./worker_events.ts";

/** Options of {@link ParkedEvents}. */
export interface ParkingOptions {
  /** Events parked at once in this process (default 1024; each holds only its message, a few hundred bytes). */
  limit?: number;
  /** Longest time one event stays parked (default 5 s). */
  maxParkMs?: number;
  /** How soon an app that was being merged is looked at again (default 150 ms). */
  heldRetryMs?: number;
}

interface Parked {
  message: IncomingMessage;
  since: number;
}

/** Handles an event again: the worker's handler plus ack or nack. */
export type Resettle = (message: IncomingMessage) => Promise<Disposition>;

/** The parked events of one worker process, per app (see the module doc). */
export class ParkedEvents {
  readonly #apps = new Map<
    string,
    { events: Parked[]; timer?: ReturnType<typeof setTimeout>; running?: Promise<number | undefined> }
  >();
  readonly #limit: number;
  readonly #maxParkMs: number;
  readonly #heldRetryMs: number;
  #count = 0;
  #stopped = false;

  /**
   * `handle` runs an event's handler (without settling it); `settle` acks or nacks it per the
   * disposition.
   */
  constructor(
    private readonly handle: Resettle,
    private readonly settle: (message: IncomingMessage, disposition: Disposition) => Promise<void>,
    options: ParkingOptions = {},
  ) {
    this.#limit = options.limit ?? 1024;
    this.#maxParkMs = options.maxParkMs ?? 5_000;
    this.#heldRetryMs = options.heldRetryMs ?? 150;
  }

  /** Events parked now. */
  get size(): number {
    return this.#count;
  }

  /**
   * Parks `message`, whose handler found its app busy, if there is room; false when the caller
   * must settle it itself (nack).
   */
  park(message: IncomingMessage, disposition: Disposition, now = Date.now()): boolean {
    if (disposition.action !== "nack" || !disposition.busy || this.#stopped || this.#count >= this.#limit) {
      return false;
    }
    const { app, retryMs } = disposition.busy;
    let entry = this.#apps.get(app);
    if (!entry) this.#apps.set(app, entry = { events: [] });
    entry.events.push({ message, since: now });
    this.#count++;
    this.#schedule(app, retryMs > 0 ? retryMs : this.#heldRetryMs);
    return true;
  }

  /** Nacks every parked event at once (redelivered to any worker) and parks nothing more. */
  async stop(): Promise<void> {
    this.#stopped = true;
    const pending: Promise<unknown>[] = [];
    for (const [app, entry] of this.#apps) {
      clearTimeout(entry.timer);
      if (entry.running) pending.push(entry.running);
      for (const { message } of entry.events.splice(0)) {
        this.#count--;
        pending.push(message.nack(0).catch(() => {}));
      }
      this.#apps.delete(app);
    }
    await Promise.all(pending);
  }

  #schedule(app: string, delayMs: number): void {
    const entry = this.#apps.get(app)!;
    if (entry.timer !== undefined || entry.running) return;
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      const running = entry.running = this.#retry(app).catch(() => this.#heldRetryMs);
      running.then((next) => {
        entry.running = undefined;
        if (entry.events.length > 0 && !this.#stopped) this.#schedule(app, next ?? this.#heldRetryMs);
        else if (entry.events.length === 0 && this.#apps.get(app) === entry) this.#apps.delete(app);
      });
    }, Math.max(1, delayMs));
  }

  /**
   * Handles the app's parked events in arrival order until one finds the app busy again; resolves
   * when to look again then (the rest left, or undefined for the held look-again delay).
   */
  async #retry(app: string): Promise<number | undefined> {
    const entry = this.#apps.get(app);
    while (entry && entry.events.length > 0 && !this.#stopped) {
      const parked = entry.events.shift()!;
      this.#count--;
      let disposition: Disposition;
      try {
        disposition = await this.handle(parked.message);
      } catch (error) {
        disposition = { action: "nack", delayMs: 1_000, note: `failed: ${String(error)}` };
      }
      const now = Date.now();
      if (
        disposition.action === "nack" && disposition.busy && !this.#stopped &&
        now - parked.since < this.#maxParkMs
      ) {
        // Still busy: back to the front; look again when the rest ends, or soon while it is merged.
        entry.events.unshift(parked);
        this.#count++;
        return disposition.busy.retryMs > 0 ? disposition.busy.retryMs : undefined;
      }
      await this.settle(parked.message, disposition);
    }
    return undefined;
  }
}
