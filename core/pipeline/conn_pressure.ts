/**
 * Making room at the connection cap (conn_guard.ts). A cap alone let one client lock everyone
 * out: 1,100 connections that each sent a request head and then one body byte every 5 s kept
 * `/api/health` answering 503 for as long as the client liked (the body timeout cut each after
 * 5 min, and the client reconnected). Slowloris heads do the same within the header timeout.
 *
 * So at the cap a new connection is not simply refused: it waits in line (conn_waiting_room.ts),
 * and places are made by closing the worst connection that has been stalling for at least
 * {@link EVICTION_GRACE_MS}, like a proxy's overload manager cutting idle connections when it runs
 * short. Stalling means: no request yet, a request head or a framing-less stream still arriving, a
 * request body arriving slower than {@link SLOW_BODY_BYTES_PER_SECOND} of late, or an answered
 * connection with no bytes either way (a keep-alive at rest, or a client that stopped reading its
 * answer). Never a connection whose complete request the server is still working on, nor a body
 * arriving at a fair rate. A stalling connection of the client holding the most places goes
 * first (a client is an address, or an IPv6 /64: {@link clientKey}), then the slowest, then the
 * oldest: from an address of its own, an attacker's reconnects push out only its own connections.
 * Waiting clients take turns at the places made, and when the waiting room is full too, a
 * newcomer from another client takes the room place of the attacker's newest waiting connection
 * (conn_waiting_room.ts). What this cannot do: a client holding more connections than the places
 * and the waiting room together still gets others from its own address a 503
 * (tests/hardening_slow_clients_test.ts has both cases). Applied to request bodies alone, the same
 * test of stalling frees upload memory when it runs short (conn_guard.ts `closeStallingBodies`).
 *
 * @module
 */

import type { Phase } from "./request_framer.ts";

/** How long a connection must have been in its current state before it can be closed to make room. */
export const EVICTION_GRACE_MS = 1_000;

/** A request body arriving slower than this, over about the last {@link RECENT_MS}, may be closed to make room. */
export const SLOW_BODY_BYTES_PER_SECOND = 8 * 1024;

/** Rates are taken over the last one to two of these: a body that came fast and then stopped is slow. */
export const RECENT_MS = 2_000;

type State = "opened" | "head" | "body" | "raw" | "answering";

/** What one guarded connection has been doing, as far as making room is concerned. */
export class ConnectionActivity {
  #state: State = "opened";
  #since: number;
  /** Client bytes of the current state in the window that began at `#windowStart`, and in the one before it. */
  #windowBytes = 0;
  #earlierBytes = 0;
  #windowStart: number;
  /** When the server last sent bytes in the current state (undefined: not since it began). */
  #answeredAt: number | undefined;

  /** A connection accepted at `now` (ms). */
  constructor(now: number) {
    this.#since = this.#windowStart = now;
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
      [this.#state, this.#since, this.#answeredAt] = [state, now, undefined];
      [this.#windowStart, this.#windowBytes, this.#earlierBytes] = [now, 0, 0];
    }
    this.#roll(now);
    this.#windowBytes += count;
  }

  /** Moves the window on to the one holding `now`. */
  #roll(now: number): void {
    const windows = Math.floor((now - this.#windowStart) / RECENT_MS);
    if (windows < 1) return;
    this.#earlierBytes = windows === 1 ? this.#windowBytes : 0;
    this.#windowBytes = 0;
    this.#windowStart += windows * RECENT_MS;
  }

  /** Client bytes per second in the current state over its last one to two windows. */
  #recentRate(now: number): number {
    this.#roll(now);
    const span = Math.min(now - this.#since, RECENT_MS + now - this.#windowStart);
    return span > 0 ? (this.#earlierBytes + this.#windowBytes) * 1000 / span : Infinity;
  }

  /** Notes bytes from the server at `now`. */
  serverBytes(now: number): void {
    this.#answeredAt = now;
  }

  /**
   * How badly the connection stalls at `now`, in client bytes per second of late in its current
   * state (lower: closed first); undefined when it must not be closed to make room.
   */
  stalling(now: number): number | undefined {
    if (now - this.#since < EVICTION_GRACE_MS) return undefined;
    const rate = this.#recentRate(now);
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

  /** Whether a request body is arriving too slowly at `now` (it may be closed to free upload memory). */
  stallingBody(now: number): boolean {
    return this.#state === "body" && this.stalling(now) !== undefined;
  }

  /** When the current state began (ms). */
  get since(): number {
    return this.#since;
  }
}

/**
 * The client a connection is counted against, from its peer address: an IPv4 address as it is
 * (also when written as an IPv4-mapped IPv6 address), an IPv6 address by its /64 prefix, since one
 * host commonly holds a whole /64 and could otherwise count as thousands of clients.
 */
export function clientKey(address: string): string {
  const plain = address.replace(/%.*$/, "").toLowerCase(); // no zone index (fe80::1%eth0)
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(plain);
  if (mapped) return mapped[1];
  if (!plain.includes(":")) return plain;
  const [front, back] = plain.split("::");
  const head = front ? front.split(":") : [];
  const tail = back === undefined ? [] : back ? back.split(":") : [];
  const groups = back === undefined
    ? head
    : [...head, ...Array(Math.max(0, 8 - head.length - tail.length)).fill("0"), ...tail];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}

/** A connection as {@link stalest} sees it. */
export interface PlacedConnection {
  activity: ConnectionActivity;
  /** The client holding the connection ({@link clientKey} of its address). */
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
