/**
 * Connection guard against slow clients (slowloris). `Deno.serve` has no header-read or idle
 * timeout (denoland/deno#3515), so a client that never finishes its request head holds a
 * connection forever. The guard owns the public listener, follows HTTP/1.1 request framing
 * on each connection (head, Content-Length or chunked body, keep-alive, pipelining) and relays
 * bytes to a `Deno.serve` bound to an ephemeral loopback port. It closes a connection whose
 * request head is not complete `headerTimeoutMs` after it started (or after connecting), that
 * sits idle between requests for `idleTimeoutMs`, whose body takes longer than `bodyTimeoutMs`,
 * whose complete request gets no answer within `responseTimeoutMs`, or whose head exceeds
 * `maxHeaderBytes` (answered 431).
 *
 * No connection escapes the timeouts: autopgo serves no protocol upgrades, so `Upgrade` and
 * `Connection: upgrade` headers are framed like any request, and a connection that opens with
 * HTTP/2's preface (`PRI * HTTP/2.0`, which `Deno.serve` would answer, but whose frames this
 * framing cannot follow: a frame holding `0a 0a` looked like the end of a request head and
 * restarted the head timeout) is closed at once; a malformed request head (request_head.ts) is
 * never relayed: once the server has answered the requests before it, the guard answers 400 with
 * the reason and closes; a stream whose framing cannot be followed (a header line too long to
 * keep) stays under the idle timeout and is closed after `bodyTimeoutMs` at the latest.
 *
 * Connection floods: at most `maxConnections` client connections are relayed at once (each costs
 * three file descriptors: client, relay and server side), capped further by the process's open
 * file limit. At the cap, a new connection waits (conn_waiting_room.ts: up to the header timeout,
 * in its client's line, the clients taking turns) for a place that frees or that the worst
 * stalling connection is made to give up (no request yet, a slow head or body, an answered
 * connection at rest: conn_pressure.ts), so slow clients holding every place cannot lock others
 * out. When the waiting room is full too, the newcomer is answered 503 and closed at once, unless
 * another client holds more connections than its own: then that client's newest waiting
 * connection is, and the newcomer waits in its place. A failed accept (EMFILE, ENFILE) is logged
 * and retried after a pause: it never stops the listener.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { stalest } from "./conn_pressure.ts";
import { clientOf, closeQuietly, type MalformedCounts, type Relay, relay } from "./conn_relay.ts";
import { WaitingRoom } from "./conn_waiting_room.ts";
import { BUSY } from "./guard_answers.ts";

export type { MalformedCounts } from "./conn_relay.ts";

const log = getLogger(["autopgo", "http"]);

/** Limits enforced per connection. */
export interface ConnGuardOptions {
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  bodyTimeoutMs: number;
  maxHeaderBytes: number;
  /**
   * How long a request that has fully arrived may wait for the first byte of its answer (the
   * server's own deadlines bound its work; this only ends connections it forgot). Default: the
   * longer of `idleTimeoutMs` and `bodyTimeoutMs`.
   */
  responseTimeoutMs?: number;
  /** Client connections relayed at once; more are refused (default {@link DEFAULT_MAX_CONNECTIONS}). */
  maxConnections?: number;
}

/** Default cap on concurrent client connections. */
export const DEFAULT_MAX_CONNECTIONS = 1024;

/** Sensible defaults: 10 s for a request head, 2 min idle keep-alive, 5 min per body, 64 KiB heads. */
export const DEFAULT_CONN_GUARD: ConnGuardOptions = {
  headerTimeoutMs: 10_000,
  idleTimeoutMs: 120_000,
  bodyTimeoutMs: 300_000,
  maxHeaderBytes: 64 * 1024,
  maxConnections: DEFAULT_MAX_CONNECTIONS,
};

/** File descriptors kept free for the store, the bus, logs and the server's own sockets. */
const RESERVED_DESCRIPTORS = 256;

/** The soft open-file limit of this process, when the OS tells it (Linux `/proc/self/limits`). */
export function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(Deno.readTextFileSync("/proc/self/limits"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Connections that may wait for a place at once (conn_waiting_room.ts): eight times the cap (places
 * turn over at least once per second while they stall, and a wait ends at the header timeout),
 * within the descriptors the places leave (one each).
 */
export function waitingRoomFor(cap: number, limit = openFileLimit()): number {
  if (limit === undefined) return 8 * cap;
  return Math.max(0, Math.min(8 * cap, limit - RESERVED_DESCRIPTORS - 3 * cap));
}

/** The connection cap in force: the configured one, lowered so three descriptors per connection fit the limit. */
export function effectiveMaxConnections(configured: number, limit = openFileLimit()): number {
  if (limit === undefined) return configured;
  return Math.max(16, Math.min(configured, Math.floor((limit - RESERVED_DESCRIPTORS) / 3)));
}

/** How long the guard waits before it looks for a stalling connection again after finding none. */
const LOOK_AGAIN_MS = 50;

/** What a guard has done so far, for metrics. */
export interface ConnGuardStats {
  /** The most connections relayed at once. */
  cap: number;
  /** Connections being relayed now. */
  placed: number;
  /** Connections waiting for a place now. */
  waiting: number;
  /** Connections answered 503 (or closed) without a place: the waiting room was full, or their wait ran out. */
  refused: number;
  /** Stalling connections closed to make a place. */
  evicted: number;
  /** Connections whose upload stalled, closed to free upload memory. */
  stalledUploadsClosed: number;
  /** Requests answered 400 by the guard, by the part that was malformed (request_head.ts, request_framer.ts). */
  malformed: MalformedCounts;
}

/** A running guard. */
export interface ConnGuard {
  /** Counters of what the guard has done so far. */
  stats(): ConnGuardStats;
  port: number;
  hostname: string;
  /** Stops accepting new connections and lets the waiting ones go (in-flight connections keep going). */
  stopAccepting(): void;
  /** Waits up to `graceMs` for relays to finish delivering responses, then closes the rest. */
  drain(graceMs: number): Promise<void>;
  /**
   * Closes the connections whose request body stalls (conn_pressure.ts), so the upload memory
   * they hold is freed; returns how many. A call within {@link LOOK_AGAIN_MS} of one that found
   * none does nothing.
   */
  closeStallingBodies(): number;
}

/** Listens on `hostname:port` and relays guarded connections to `upstreamPort` on 127.0.0.1. */
export function startConnGuard(
  hostname: string,
  port: number,
  upstreamPort: number,
  options: ConnGuardOptions,
): ConnGuard {
  const listener = Deno.listen({ hostname, port, transport: "tcp" });
  const relays = new Set<Relay>();
  const places = new Map<string, number>();
  const cap = effectiveMaxConnections(options.maxConnections ?? DEFAULT_MAX_CONNECTIONS);
  let stopped = false;
  let refused = 0;
  let refusing = 0;
  let evicted = 0;
  let stalledUploadsClosed = 0;
  const malformed: MalformedCounts = { head: 0, body: 0, host: 0 };
  /** Until when a look for a stalling connection (or body) is not repeated after one found none. */
  let noneStallingUntil = 0;
  let noStallingBodyUntil = 0;
  /** Closes the worst stalling connection, if any (conn_pressure.ts): true when a place was made. */
  const makeRoom = (now: number) => {
    // Each look goes over every connection: a flood of newcomers must not make that quadratic.
    if (now < noneStallingUntil) return false;
    const victim = stalest(relays, places, now);
    if (!victim) {
      noneStallingUntil = now + LOOK_AGAIN_MS;
      return false;
    }
    if (evicted++ % 1000 === 0) {
      log.warn("connection limit of {cap} reached: closing stalling connections to make room ({evicted} so far)", {
        cap,
        evicted,
      });
    }
    victim.close();
    return true;
  };
  const turnAway = (client: Deno.Conn) => {
    if (refused++ % 1000 === 0) {
      log.warn("connection limit of {cap} reached: refusing new connections ({refused} so far)", { cap, refused });
    }
    // Answer 503 while few refusals are in flight; past that, close at once so a flood
    // cannot hold descriptors with pending writes.
    if (refusing < 64) {
      refusing++;
      refuse(client).finally(() => refusing--);
    } else closeQuietly(client);
  };
  /** A free place, or one made by closing a stalling connection. */
  const findPlace = (now: number) => relays.size < cap || makeRoom(now);
  const admit = (client: Deno.Conn) =>
    relay(client, upstreamPort, options, relays, places, malformed, () => room.serve(Date.now()));
  const room: WaitingRoom<Deno.Conn> = new WaitingRoom({
    capacity: waitingRoomFor(cap),
    waitMs: options.headerTimeoutMs,
    checkEveryMs: 100,
    findPlace,
    admit,
    expire: turnAway,
    clientOf,
    placesOf: (client) => places.get(client) ?? 0,
  });
  (async () => {
    while (!stopped) {
      let client: Deno.Conn;
      try {
        client = await listener.accept();
      } catch (error) {
        if (stopped || error instanceof Deno.errors.BadResource) return;
        log.warn("accepting a connection failed, retrying in 100 ms: {error}", { error: String(error) });
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      // Counted from the accept on: a burst cannot slip past the cap while upstream connects.
      const now = Date.now();
      if (room.size === 0 && findPlace(now)) admit(client);
      else if (!room.offer(client, now)) turnAway(client);
    }
  })();
  const addr = listener.addr as Deno.NetAddr;
  return {
    port: addr.port,
    hostname: addr.hostname,
    stats: () => ({
      cap,
      placed: relays.size,
      waiting: room.size,
      refused,
      evicted,
      stalledUploadsClosed,
      malformed: { ...malformed },
    }),
    stopAccepting: () => {
      stopped = true;
      room.close().forEach(closeQuietly);
      try {
        listener.close();
      } catch { /* already closed */ }
    },
    closeStallingBodies() {
      const now = Date.now();
      if (now < noStallingBodyUntil) return 0;
      const stalling = [...relays].filter((relay) => relay.activity.stallingBody(now));
      if (stalling.length === 0) {
        noStallingBodyUntil = now + LOOK_AGAIN_MS;
        return 0;
      }
      log.warn("closing {count} connections whose upload stalls, to free upload memory", { count: stalling.length });
      stalling.forEach((relay) => relay.close());
      stalledUploadsClosed += stalling.length;
      return stalling.length;
    },
    async drain(graceMs: number) {
      const deadline = Date.now() + graceMs;
      while (relays.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      room.close().forEach(closeQuietly);
      [...relays].forEach((relay) => relay.close());
    },
  };
}

/** Answers 503 without reading the request and closes; never waits on a slow client. */
async function refuse(client: Deno.Conn): Promise<void> {
  const timer = setTimeout(() => closeQuietly(client), 1_000);
  await client.write(BUSY).catch(() => {});
  clearTimeout(timer);
  closeQuietly(client);
}
