/**
 * The worker loop: consumes `profile.*` events from an {@link EventReader} with `concurrency`
 * parallel consumers, acks or nacks each per {@link handleEvent}, and runs the reconcile sweep
 * on start and every `sweepIntervalMs` (with retention windows, the sweep also rebuilds every
 * app's `default.pgo`, so decay and expiry advance without uploads). With app leases, an event
 * whose app is busy is parked until the app is free (parked_events.ts). On stop (signal) it stops
 * receiving, lets in-flight merges finish, hands parked events back to the bus, and resolves.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { abortableSleep } from "../sleep.ts";
import { decodeEnvelope, type Envelope, type EventReader, type IncomingMessage } from "../events.ts";
import { EventAges } from "./event_ages.ts";
import { AppBusyError } from "./app_lease.ts";
import { reconcileStaging } from "./reconcile.ts";
import { ParkedEvents } from "./parked_events.ts";
import { type Disposition, handleEvent, processUpload, type WorkerDeps } from "./worker_events.ts";
import { rebuildAllApps } from "./worker_windows.ts";

export type { WorkerDeps } from "./worker_events.ts";
export { handleEvent, processUpload } from "./worker_events.ts";

/** Scheduling options of {@link runWorker}. */
export interface WorkerLoopOptions {
  /** Parallel consumers (default 1). Safe at any value: merges are compare-and-swap. */
  concurrency?: number;
  /** Sweep period in ms (default 60 s; 0 disables the periodic sweep, the start-up sweep still runs). */
  sweepIntervalMs?: number;
  /** Staged uploads younger than this are left to their events (default 60 s). */
  sweepGraceMs?: number;
  clock: () => Date;
  /** Called once the consumers are running. */
  onReady?: () => void;
  /**
   * Called with how long events wait for this worker, in ms (event_ages.ts): each event's age when
   * received, and the oldest in hand's while every handler is busy (cmd/worker_helpers.ts).
   */
  onEventAge?: (ageMs: number) => void;
}

const log = getLogger(["autopgo", "worker"]);

/**
 * At most `size` events handled at once, whether received or kept (`--concurrency`): a kept
 * event's retry waits for a slot like a received event.
 */
export class HandlerSlots {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  /** `size` slots (at least 1). */
  constructor(size: number) {
    this.#free = Math.max(1, size);
  }

  /** True while every slot is taken. */
  get full(): boolean {
    return this.#free === 0;
  }

  /** Runs `fn` once a slot is free (in the order of the calls), holding the slot until it settles. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.#waiting.shift();
      if (next) next(); // the slot passes straight on
      else this.#free++;
    }
  }
}

/** Acks or nacks `message` per `disposition`. */
async function settle(message: IncomingMessage, disposition: Disposition): Promise<void> {
  log.debug("message {id}: {action} ({note})", { id: message.id, ...disposition });
  try {
    if (disposition.action === "ack") await message.ack();
    else await message.nack(disposition.delayMs);
  } catch (error) {
    log.warn("could not {action} message {id}: {error}", { ...disposition, id: message.id, error: String(error) });
  }
}

async function consume(
  reader: EventReader,
  deps: WorkerDeps,
  ages: EventAges | undefined,
  slots: HandlerSlots,
  parked: ParkedEvents | undefined,
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    let message: IncomingMessage | undefined;
    try {
      message = await reader.receive(signal);
    } catch (error) {
      if (signal.aborted) break;
      log.warn("receiving events failed, retrying in 1 s: {error}", { error: String(error) });
      await abortableSleep(1000, signal);
      continue;
    }
    if (!message) break;
    let envelope: Envelope | undefined;
    try {
      envelope = decodeEnvelope(message.body); // once, for its age and its handling
    } catch { /* poison: handleEvent decodes the body again and says why */ }
    const inHand = ages?.received(envelope?.timestamp);
    // In-flight handling is NOT tied to the stop signal: a merge that started finishes.
    const received = message;
    const event = envelope ?? received.body;
    const disposition = await slots.run(() => handleEvent(deps, event, received.deliveryAttempt));
    ages?.done(inHand);
    if (disposition.action === "nack" && disposition.busy) {
      const kept = parked?.park(message, disposition) ?? false;
      deps.metrics?.busyAppEvent(kept ? "kept" : "handed_back");
      if (kept) {
        log.debug("message {id}: kept ({note})", { id: message.id, note: disposition.note });
        continue;
      }
    }
    await settle(message, disposition);
  }
}

async function sweepLoop(deps: WorkerDeps, options: WorkerLoopOptions, signal: AbortSignal): Promise<void> {
  const interval = options.sweepIntervalMs ?? 60_000;
  const grace = options.sweepGraceMs ?? 60_000;
  do {
    try {
      const report = await reconcileStaging(
        deps.store,
        options.clock(),
        grace,
        (app, key) =>
          processUpload(deps, app, key).catch((error) => {
            // The app is being merged or rests (app_lease.ts): its next batch or the next sweep merges the upload.
            if (error instanceof AppBusyError) return `${key}: left for later: ${error.message}`;
            throw error;
          }),
        signal,
      );
      if (report.examined > 0) {
        log.info("reconcile sweep: {examined} staged uploads examined, {failed} failed", { ...report });
      }
      await rebuildAllApps(deps, signal);
    } catch (error) {
      if (!signal.aborted) log.warn("reconcile sweep failed: {error}", { error: String(error) });
    }
    if (interval <= 0) return;
    await abortableSleep(interval, signal);
  } while (!signal.aborted);
}

/** Runs the worker until `signal` aborts and every in-flight message is settled. */
export async function runWorker(
  reader: EventReader,
  deps: WorkerDeps,
  options: WorkerLoopOptions,
  signal: AbortSignal,
): Promise<void> {
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const slots = new HandlerSlots(concurrency);
  // Events of busy apps wait here instead of going back to the bus (parked_events.ts); only where
  // apps are leased: on a bus with per-app ordering a worker never meets another's busy app.
  const parked = deps.appLease
    ? new ParkedEvents(
      (message) => slots.run(() => handleEvent(deps, message.body, message.deliveryAttempt)),
      (message, disposition) => {
        if (disposition.action === "nack" && disposition.busy) deps.metrics?.busyAppEvent("handed_back"); // kept too long
        return settle(message, disposition);
      },
    )
    : undefined;
  const ages = options.onEventAge ? new EventAges(options.onEventAge, options.clock, () => slots.full) : undefined;
  const consumers = Array.from({ length: concurrency }, () => consume(reader, deps, ages, slots, parked, signal));
  options.onReady?.();
  try {
    await Promise.all([...consumers, sweepLoop(deps, options, signal)]);
  } finally {
    ages?.stop();
  }
  await parked?.stop();
}
