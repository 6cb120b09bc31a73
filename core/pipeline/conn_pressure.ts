/**
 * Making room at the connection cap (conn_guard.ts). A cap alone let one client lock everyone
 * out: 1,100 connections that each sent a request head and then one body byte every 5 s kept
 * `/api/health` answering 503 for as long as the client liked (the body timeout cut each after
 * 5 min, and the client reconnected). Slowloris heads do the same within the header timeout.
 *
 * So at the cap a new connection is not simply refused: the guard first looks for a connection
 * that has been stalling for at least {@link EVICTION_GRACE_MS} and closes the worst one in its
 * place, like a proxy's overload manager cutting idle connections when it runs short. Stalling
 * means: no request yet, a request head or a framing-less stream still arriving, a request body
 * arriving slower than {@link SLOW_BODY_BYTES_PER_SECOND} on average, or an answered connection
 * with no bytes either way (a keep-alive at rest, or a client that stopped reading its answer).
 * Never a connection whose complete request the server is still working on, nor a body arriving
 * at a fair rate: those are refused room, and the newcomer gets the 503 as before. A stalling
 * connection of the address holding the most places goes first, then the slowest, then the
 * oldest: an attacker's reconnects push out its own connections, and a client that sends its
 * request at once is answered within milliseconds (tests/hardening_test.ts). What this cannot do:
 * a client reconnecting in a tight loop from the same address as everyone else re-takes each
 * place as soon as its grace has passed, so the others mostly get the 503; from an address of its
 * own, it only ever pushes out itself.
 *
 * @module
 */

import type { Phase } from "./request_framer.ts";

/** How long a connection must have been in its current state before it can be closed to make room. */
export const EVICTION_GRACE_MS = 1_000;

/** A request body arriving slower than this, averaged since its head ended, may be closed to make room. */
export const SLOW_BODY_BYTES_PER_SECOND = 8 * 1024;

type State = "opened" | "head" | "body" | "raw" | "answering";

/** What one guarded connection has been doing, as far as making room is concerned. */
export class ConnectionActivity {
  #state: State = "opened";
  #since: number;
  #bytes = 0;
  /** When the server last sent bytes in the current state (undefined: not since it began). */
  #answeredAt: number | undefined;

  /** A connection accepted at `now` (ms). */
  constructor(now: number) {
    this.#since = now;
  }

  /**
   * Notes `count` bytes from the client, after which its stream stands at `phase`, with
   * `headsStarted` request heads so far; `newRequest` when a head started in these bytes.
   */
  clientBytes(count: number, phase: Phase, headsStarted: number, newRequest: boolean, now: number): void {
    const state: State = phase === "idle"
      ? headsStarted > 0 ? "answering" : "opened"
      : phase === "head" || phase === "body"
      ? phase
      : "raw";
    if (state !== this.#state || newRequest) {
      [this.#state, this.#since, this.#bytes, this.#answeredAt] = [state, now, 0, undefined];
    }
    this.#bytes += count;
  }

  /** Notes bytes from the server at `now`. */
  serverBytes(now: number): void {
    this.#answeredAt = now;
  }

  /**
   * How badly the connection stalls at `now`, in client bytes per second over its current state
   * (lower: closed first); undefined when it must not be closed to make room.
   */
  stalling(now: number): number | undefined {
    const elapsed = now - this.#since;
    if (elapsed < EVICTION_GRACE_MS) return undefined;
    const rate = this.#bytes * 1000 / elapsed;
    switch (this.#state) {
      case "opened":
      case "head":
      case "raw":
        return rate;
      case "body":
        return rate < SLOW_BODY_BYTES_PER_SECOND ? rate : undefined;
      case "answering":
        return this.#answeredAt !== undefined && now - this.#answeredAt >= EVICTION_GRACE_MS ? 0 : undefined;
    }
  }

  /** When the current state began (ms). */
  get since(): number {
    return this.#since;
  }
}

/** A connection as {@link stalest} sees it. */
export interface PlacedConnection {
  activity: ConnectionActivity;
  /** The client's address (its IP). */
  peer: string;
}

/**
 * The connection to close to make room at `now`, among those stalling: one of the peer address
 * that holds the most places (`places`: connections per address), then the one stalling worst,
 * then the oldest.
 */
export function stalest<T extends PlacedConnection>(
  connections: Iterable<T>,
  places: ReadonlyMap<string, number>,
  now: number,
): T | undefined {
  let worst: T | undefined;
  let worstKey: number[] = [];
  for (const connection of connections) {
    const rate = connection.activity.stalling(now);
    if (rate === undefined) continue;
    const key = [-(places.get(connection.peer) ?? 0), rate, connection.activity.since];
    if (worst === undefined || before(key, worstKey)) [worst, worstKey] = [connection, key];
  }
  return worst;
}

/** Lexicographic order of equally long keys. */
function before(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}
