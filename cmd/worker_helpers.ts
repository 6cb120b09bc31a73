/**
 * Local helpers on demand (issue 13): of a pipeline's local worker slots (worker_standby.ts), the
 * process in slot 0 always consumes events; a process in a higher slot, a helper, consumes only
 * while the pipeline's events wait, and stands by otherwise.
 *
 * Why: one worker keeps up with what one server accepts on the same machine (BENCHMARKS.md,
 * "Worker processes": a worker merges an upload for less CPU than the server takes to accept it).
 * A second consuming worker then adds no ingest, only cost: it splits each app's batches, answers
 * the events of uploads the other's batch absorbed, and runs its own event loop and sweeps, and
 * that CPU comes out of the server's. It pays where one worker falls behind: a backlog after an
 * outage, or more uploads than one worker merges.
 *
 * How: every consuming worker reports the age of each event it receives (time since the event's
 * publication, from its envelope). An event older than `--local-helper-lag` (default 2 s) touches
 * a mark file in the slots' folder, at most twice a second. A standby may take a helper slot while
 * the mark is younger than {@link CALM_FACTOR} times the lag and the machine has CPU to spare
 * (idle_cpu.ts: by default at least a quarter of a core idle over the last second,
 * `--local-helper-idle-cpu`; where the server shares the cores and keeps them busy, a helper
 * would only slow it down); a helper steps back (closes its event reader and stands by) once it
 * is older, and moves to slot 0 when that one frees, so the pipeline never lacks a consuming
 * worker. `--local-helper-lag 0` makes every slot consume always,
 * as before this module. Clocks: the age compares the publisher's clock with this machine's, so a
 * publisher far ahead hides a backlog (helpers never join) and one far behind shows one (they
 * always do, as with 0); neither loses or delays an event beyond one worker's pace.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { abortableSleep } from "../core/sleep.ts";
import { IdleCpu } from "./idle_cpu.ts";
import { type HeldSlot, type LocalWorkerSlots, STANDBY_POLL_MS } from "./worker_standby.ts";

const log = getLogger(["autopgo", "worker"]);

/** Default of `--local-helper-lag`: events waiting longer than this call helpers in. */
export const DEFAULT_HELPER_LAG_MS = 2_000;
/**
 * Default of `--local-helper-idle-cpu`: a standby joins as a helper only while at least this much of
 * the machine's CPU is idle, in cores.
 */
export const HELPER_MIN_IDLE_CORES = 0.25;
/** Helpers step back after this many times the lag without a lagging event. */
export const CALM_FACTOR = 5;
/** The mark is touched at most this often by one process. */
const MARK_EVERY_MS = 500;
/** The mark's name in the slots' folder. */
export const LAG_MARK = "lag";

/** The pipeline's demand for helpers, shared through a mark file in the slots' folder (module doc). */
export class HelperDemand {
  /** `--local-helper-lag` in ms: events waiting longer call helpers in (0: helpers always consume). */
  readonly lagMs: number;
  readonly #mark: string;
  readonly #clock: () => number;
  readonly #idle: IdleCpu;
  readonly #minIdleCores: number;
  #markedAt = -Infinity;

  /** Demand in the slots folder `dir`; `lagMs` 0 wants helpers always. */
  constructor(dir: string, lagMs: number, options: HelperDemandOptions = {}) {
    this.#mark = `${dir}/${LAG_MARK}`;
    this.lagMs = lagMs;
    this.#clock = options.clock ?? Date.now;
    this.#idle = options.idle ?? new IdleCpu();
    this.#minIdleCores = options.minIdleCores ?? HELPER_MIN_IDLE_CORES;
  }

  /** Takes a received event's age in ms: over the lag, marks the demand (at most every 500 ms). */
  observe = (ageMs: number): void => {
    if (this.lagMs === 0 || ageMs <= this.lagMs) return;
    const now = this.#clock();
    if (now - this.#markedAt < MARK_EVERY_MS) return;
    this.#markedAt = now;
    try {
      try {
        Deno.utimeSync(this.#mark, new Date(now), new Date(now));
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        Deno.writeFileSync(this.#mark, new Uint8Array());
        Deno.utimeSync(this.#mark, new Date(now), new Date(now));
      }
    } catch (error) {
      log.debug("could not mark the event lag in {mark}: {error}", { mark: this.#mark, error: String(error) });
    }
  };

  /** True while helpers are wanted: a lagging event was marked within the calm period (always with lag 0). */
  wanted(): boolean {
    if (this.lagMs === 0) return true;
    try {
      const marked = Deno.statSync(this.#mark).mtime?.getTime();
      return marked !== undefined && this.#clock() - marked < this.lagMs * CALM_FACTOR;
    } catch {
      return false; // no mark: no lag seen since the folder was made
    }
  }

  /**
   * How many slots a waiting process may take: all of `slots` while helpers are wanted and the
   * machine has CPU to spare for one (at least the minimum of idle cores over the last second, or
   * unknown), else slot 0. With lag 0, all of them always.
   */
  limitFor(slots: LocalWorkerSlots): () => number {
    return () => {
      if (this.lagMs === 0) return slots.size;
      const idle = this.#idle.cores(); // sampled on every poll, so its window stays current
      return this.wanted() && (idle === undefined || idle >= this.#minIdleCores) ? slots.size : 1;
    };
  }
}

/** Options of {@link HelperDemand}. */
export interface HelperDemandOptions {
  /** `--local-helper-idle-cpu`: idle cores a helper needs to join (default {@link HELPER_MIN_IDLE_CORES}; 0: any). */
  minIdleCores?: number;
  /** Time source in ms (tests). */
  clock?: () => number;
  /** The machine's idle CPU (tests). */
  idle?: IdleCpu;
}

/** How a helper's turn ended (see {@link watchHelperTurn}). */
export type HelperTurnEnd = { ends: "calm" } | { ends: "primary"; slot: HeldSlot };

/**
 * Watches a helper holding `held` (a slot above 0) every {@link STANDBY_POLL_MS}: returns
 * `primary` with slot 0 once that one frees (`held` is then released), `calm` once helpers are no
 * longer wanted (`held` is kept: the caller stops consuming first), or undefined when `signal`
 * aborts.
 */
export async function watchHelperTurn(
  slots: LocalWorkerSlots,
  held: HeldSlot,
  demand: HelperDemand,
  signal: AbortSignal,
  pollMs = STANDBY_POLL_MS,
): Promise<HelperTurnEnd | undefined> {
  while (!signal.aborted) {
    await abortableSleep(pollMs, signal);
    if (signal.aborted) break;
    let first: HeldSlot | undefined;
    try {
      first = slots.tryTake(1);
    } catch { /* an unusable folder: stay a helper */ }
    if (first) {
      held.release();
      return { ends: "primary", slot: first };
    }
    if (!demand.wanted()) return { ends: "calm" };
  }
  return undefined;
}
