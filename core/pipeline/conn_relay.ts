/**
 * One relayed connection of the connection guard (conn_guard.ts): the bytes of both directions,
 * the client's requests followed by the framer (request_framer.ts) to arm the header, body, idle
 * and response timeouts, request heads held until complete so that a malformed one never reaches
 * the server, and the guard's own 400 and 431 answers (guard_answers.ts).
 *
 * @module
 */

import type { ConnGuardOptions } from "./conn_guard.ts";
import { clientKey, ConnectionActivity, type PlacedConnection } from "./conn_pressure.ts";
import { badRequest, HEAD_TOO_LARGE, HTTP2_REFUSAL, TRAILERS_TOO_LARGE } from "./guard_answers.ts";
import { HeldBytes } from "./held_bytes.ts";
import { FIRST_READ_BYTES, LARGE_READ_BYTES, readsShouldGrow } from "./read_sizes.ts";
import { RequestFramer } from "./request_framer.ts";

/** Writes all of `data` to `conn`. */
async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
}

/** Requests the guard answered 400 itself: a malformed head, or a broken chunked body. */
export interface MalformedCounts {
  head: number;
  body: number;
  /** A Host header that makes no URL (answered by http_serve.ts, behind the guard). */
  host: number;
}

/** The client a connection is counted against (conn_pressure.ts {@link clientKey}). */
export function clientOf(conn: Deno.Conn): string {
  return clientKey((conn.remoteAddr as Deno.NetAddr).hostname);
}

/** Closes `conn`, ignoring that it was closed already. */
export function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

/** A relayed client connection, counted against the cap from its accept until {@link Relay.close}. */
export interface Relay extends PlacedConnection {
  /** Closes both sides and frees the connection's place at once. */
  close(): void;
}

/**
 * Relays `client` to the upstream server until either side ends; joins `relays` at once, and
 * counts itself in `places` (connections per client, conn_pressure.ts `clientKey`) until it
 * closes, then calls `onClose`.
 */
export function relay(
  client: Deno.Conn,
  upstreamPort: number,
  options: ConnGuardOptions,
  relays: Set<Relay>,
  places: Map<string, number>,
  malformed: MalformedCounts,
  onClose: () => void,
): Promise<void> {
  let upstream: Deno.Conn | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  const activity = new ConnectionActivity(Date.now());
  const peer = clientOf(client);
  const close = () => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    relays.delete(entry);
    const left = (places.get(peer) ?? 1) - 1;
    if (left > 0) places.set(peer, left);
    else places.delete(peer);
    closeQuietly(client);
    if (upstream) closeQuietly(upstream);
    onClose();
  };
  const entry: Relay = { activity, peer, close };
  relays.add(entry);
  places.set(peer, (places.get(peer) ?? 0) + 1);
  return (async () => {
    try {
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: upstreamPort });
    } catch {
      return close();
    }
    if (closed) return closeQuietly(upstream);
    await pumpBoth(client, upstream, options, activity, malformed, close, (ms) => {
      clearTimeout(timer);
      timer = setTimeout(close, ms);
    });
  })();
}

/** Runs both directions of a relay, arming its timeouts with `arm` as the client's requests progress. */
async function pumpBoth(
  client: Deno.Conn,
  upstream: Deno.Conn,
  options: ConnGuardOptions,
  activity: ConnectionActivity,
  malformed: MalformedCounts,
  close: () => void,
  arm: (ms: number) => void,
): Promise<void> {
  const pump = async (from: Deno.Conn, to: Deno.Conn, framer?: RequestFramer) => {
    let buffer = new Uint8Array(FIRST_READ_BYTES);
    /** Client bytes read after the end of a request, relayed once the server has spoken. */
    let unsent: Uint8Array | undefined;
    try {
      while (true) {
        if (framer) {
          // At most one request ahead of the server: once a request has been relayed whole, the
          // client's next bytes wait for the server's next bytes, and while those are being written
          // to a client that does not read them, nothing more is read from it. Pipelined requests
          // whose answers were not read made the server answer and hold them all: 88 MB per
          // connection after 15 s, 880 MB for ten.
          if (endedAt !== undefined && serverReads === endedAt) await serverSpoke.promise;
          endedAt = undefined;
          if (answering) await answering;
        }
        const n = unsent ? unsent.length : await from.read(buffer);
        if (n === null) {
          // Client half-closed: pass the FIN on and let the response finish (the other pump closes).
          if (framer) return await (to as Deno.TcpConn).closeWrite().catch(close);
          // The server closes on a broken chunked body without a word: say why. A malformed head was
          // never relayed: the server closed after answering the requests before it.
          const { malformedHead: head, malformedBody: body } = requests;
          if (head) {
            malformed.head++;
            await writeAll(to, badRequest(`malformed request head: ${head}`)).catch(() => {});
          } else if (body && answered < requests.headsStarted) {
            malformed.body++;
            await writeAll(to, badRequest(`malformed chunked request body: ${body}`)).catch(() => {});
          }
          break;
        }
        const fromRead = !unsent;
        let chunk = unsent ?? buffer.subarray(0, n);
        unsent = undefined;
        if (framer) {
          const [phaseBefore, headsBefore, endedBefore] = [framer.phase, framer.headsStarted, framer.requestsEnded];
          framer.push(chunk);
          const phase = framer.phase;
          if (framer.requestsEnded !== endedBefore) {
            // The server may have answered already (before the body was all sent): then it has
            // spoken for this request, and waiting for more from it would wait for the next one.
            endedAt = answered < framer.headsStarted ? serverReads : undefined;
            if (framer.consumed < chunk.length) unsent = chunk.subarray(framer.consumed);
            chunk = chunk.subarray(0, framer.consumed);
          }
          // Bytes of a head not yet complete are held back until it is (pendingHeadBytes).
          if (held.length > 0 || framer.pendingHeadBytes > 0) {
            held.append(chunk.subarray(0, framer.consumed));
            chunk = held.take(held.length - framer.pendingHeadBytes);
            if (phase === "malformed") held.take(held.length);
          }
          if (phase === "malformed") {
            // Relay what came before the head, then end the server's input: it answers those
            // requests and closes, and the other pump answers 400 with the reason.
            await writeAll(to, chunk);
            await (to as Deno.TcpConn).closeWrite();
            arm(options.responseTimeoutMs ?? Math.max(options.idleTimeoutMs, options.bodyTimeoutMs));
            return;
          }
          if (phase === "overflow") {
            // Trailers come after the body: the server may have answered already (then only close).
            const trailers = framer.overflowPart === "trailers";
            if (!trailers || answered < framer.headsStarted) {
              await writeAll(from, trailers ? TRAILERS_TOO_LARGE : HEAD_TOO_LARGE).catch(() => {});
            }
            break;
          }
          if (phase === "refused") {
            await writeAll(from, HTTP2_REFUSAL).catch(() => {});
            break;
          }
          const newRequest = framer.headsStarted !== headsBefore;
          activity.clientBytes(chunk.length, phase, framer.headsStarted, newRequest, Date.now());
          if (phase === "raw") {
            // Framing lost: keep the idle timeout on every chunk, and the body timeout overall.
            rawSince ??= Date.now();
            arm(Math.max(0, Math.min(options.idleTimeoutMs, rawSince + options.bodyTimeoutMs - Date.now())));
          } else if (phase === "idle" && (phaseBefore !== "idle" || newRequest)) {
            // A whole request has arrived (head and body may come in one read): the client is not
            // slow, the server is working. Its answer's bytes re-arm the idle timeout as they flow.
            arm(options.responseTimeoutMs ?? Math.max(options.idleTimeoutMs, options.bodyTimeoutMs));
          } else if (phase === "head" && (newRequest || phaseBefore !== "head")) arm(options.headerTimeoutMs);
          else if (phase === "body" && (newRequest || phaseBefore !== "body")) arm(options.bodyTimeoutMs);
        }
        // A response still streaming keeps an otherwise idle connection alive.
        if (!framer) {
          serverReads++;
          serverSpoke.resolve();
          serverSpoke = Promise.withResolvers<void>();
          answered = requests.headsStarted;
          activity.serverBytes(Date.now());
          if (requests.phase === "idle") arm(options.idleTimeoutMs);
        }
        if (framer) await writeAll(to, chunk);
        else {
          answering = writeAll(to, chunk).finally(() => answering = undefined);
          await answering;
        }
        // A stream that fills its buffer is moving bytes: give it larger reads.
        if (fromRead && readsShouldGrow(n, buffer.length)) buffer = new Uint8Array(LARGE_READ_BYTES);
      }
    } catch { /* connection reset or closed by a timeout */ }
    if (!framer) serverSpoke.resolve(); // the client's side waits for nothing more
    close();
  };
  let rawSince: number | undefined;
  /** Reads of the server's bytes so far, and a promise resolved at the next one (or its end). */
  let serverReads = 0;
  let serverSpoke = Promise.withResolvers<void>();
  /** `serverReads` when the client's last relayed bytes ended a request (undefined: none since). */
  let endedAt: number | undefined;
  /** The server's bytes being written to the client, while they are. */
  let answering: Promise<void> | undefined;
  /** Bytes of the client's request head that is not complete yet, not relayed yet. */
  const held = new HeldBytes();
  /** Requests the server had begun answering when its last bytes came (it may be more, never fewer). */
  let answered = 0;
  const requests = new RequestFramer(options.maxHeaderBytes);
  requests.stopAtRequestEnd = true;
  arm(options.headerTimeoutMs); // the first request must arrive promptly
  await Promise.all([pump(client, upstream, requests), pump(upstream, client)]);
}
