/**
 * The worker command's turns at consuming: take a local slot (worker_standby.ts), consume until a
 * signal, the bus closing, or, for a helper, the end of the demand for helpers
 * (worker_helpers.ts), then stand by again for the next turn. The event reader is closed while
 * standing by and opened again for a turn; the caller's hooks do both, so this module knows
 * nothing of buses or stores.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { CALM_FACTOR, type HelperDemand, watchHelperTurn } from "./worker_helpers.ts";
import { type HeldSlot, type LocalWorkerSlots, takeLocalSlot } from "./worker_standby.ts";

const log = getLogger(["autopgo", "worker"]);

/** What {@link consumeInTurns} asks of the worker command. */
export interface TurnHooks {
  /** Every slot this process may take is held: close the event reader and report standing by. */
  standBy(slots: LocalWorkerSlots): Promise<void>;
  /**
   * A turn starts: open the event reader again if standing by closed it, and report consuming;
   * false when a signal ended the wait for a bus that is down.
   */
  resume(): Promise<boolean>;
  /**
   * Consumes events until `stop` aborts (then resolves once in-flight events are settled) or the
   * bus closes; reports each event's age to `onEventAge`.
   */
  consume(stop: AbortSignal, onEventAge?: (ageMs: number) => void): Promise<void>;
}

/** Options of {@link consumeInTurns}. */
export interface TurnOptions {
  /** The pipeline's local slots, or `"unlimited"` (`--local-workers 0`). */
  slots: LocalWorkerSlots | "unlimited";
  /** The demand for helpers (absent with unlimited slots). */
  demand?: HelperDemand;
  /** Resolves with the signal's name on SIGINT or SIGTERM. */
  received: Promise<string>;
  /** Aborted with `received`: ends a standby. */
  shutdown: AbortSignal;
}

/** Takes turns until a signal or the bus closing ends the worker; resolves once the last turn is settled. */
export async function consumeInTurns(options: TurnOptions, hooks: TurnHooks): Promise<void> {
  const { slots, demand } = options;
  const limit = demand && slots !== "unlimited" ? demand.limitFor(slots) : undefined;
  for (;;) {
    const taken = await takeLocalSlot(slots, options.shutdown, (s) => hooks.standBy(s), limit);
    if (!taken) {
      log.info("stopping (standby ended by a signal)");
      return;
    }
    let slot: HeldSlot | "unlimited" = taken;
    if (!(await hooks.resume())) {
      if (slot !== "unlimited") slot.release();
      log.info("stopping (a signal came while the event reader was reopened)");
      return;
    }
    if (slot !== "unlimited") {
      log.info(
        slot.index === 0
          ? "consuming events in local worker slot {index}"
          : "consuming events in local worker slot {index} (helping: events waited over {lag} ms)",
        { index: slot.index, lag: demand?.lagMs },
      );
    }
    const stop = new AbortController();
    const running = hooks.consume(stop.signal, demand?.observe);
    let ended: string | undefined;
    while (!ended) {
      const turn = slots !== "unlimited" && slot !== "unlimited" && slot.index > 0 && demand
        ? watchHelperTurn(slots, slot, demand, stop.signal)
        : undefined;
      const end = await Promise.race([options.received, running.then(() => "reader closed"), ...(turn ? [turn] : [])]);
      if (typeof end === "string") ended = end;
      else if (end?.ends === "calm") ended = "calm";
      else if (end?.ends === "primary") {
        slot = end.slot;
        log.info("consuming events in local worker slot 0 (it freed)");
      }
    }
    if (ended === "calm") {
      log.info("stepping back: no event waited over {lag} ms for {calm} ms", {
        lag: demand?.lagMs,
        calm: (demand?.lagMs ?? 0) * CALM_FACTOR, // a turn ends calm only with a demand
      });
    } else log.info("stopping ({signal}): finishing in-flight merges", { signal: ended });
    stop.abort();
    await running;
    if (slot !== "unlimited") slot.release(); // a standby may take over while this process closes
    if (ended !== "calm") return;
  }
}
