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
 * restarted the head timeout) is closed at once; a stream whose framing cannot be
 * followed (a malformed length, answered 400 by the server) stays under the idle timeout and is
 * closed after `bodyTimeoutMs` at the latest.
 *
 * Connection floods: at most `maxConnections` client connections are relayed at once (each costs
 * three file descriptors: client, relay and server side), capped further by the process's open
 * file limit; a connection past the cap is answered 503 and closed at once. A failed accept
 * (EMFILE, ENFILE) is logged and retried after a pause: it never stops the listener.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";

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

/** The connection cap in force: the configured one, lowered so three descriptors per connection fit the limit. */
export function effectiveMaxConnections(configured: number, limit = openFileLimit()): number {
  if (limit === undefined) return configured;
  return Math.max(16, Math.min(configured, Math.floor((limit - RESERVED_DESCRIPTORS) / 3)));
}

type Phase = "idle" | "head" | "body" | "raw" | "overflow" | "refused";

/** Longest header line kept for framing; a longer Content-Length or Transfer-Encoding line loses the framing. */
const MAX_FRAMING_LINE = 1024;

/**
 * Tracks request boundaries of one client→server byte stream (observes, never rewrites). Linear
 * in the bytes pushed: a head is read line by line and only its framing headers are kept (a head
 * built up as one string and searched for its end at every line break cost 52 ms of CPU for one
 * 64 KiB head of short lines).
 */
export class RequestFramer {
  readonly #maxHeaderBytes: number;
  #state:
    | "head"
    | "length"
    | "chunk-size"
    | "chunk-data"
    | "chunk-crlf"
    | "trailer"
    | "raw"
    | "overflow"
    | "refused" = "head";
  /** Bytes of the current head so far (0: between requests). */
  #headBytes = 0;
  /** The current head line (the first {@link MAX_FRAMING_LINE} bytes) and whether it was longer. */
  #headLine = "";
  #headLineCut = false;
  #headLines = 0;
  #length = 0;
  #chunked = false;
  #remaining = 0;
  #line = "";
  /** Number of request heads started so far. */
  headsStarted = 0;

  /** Creates a framer rejecting heads above `maxHeaderBytes`. */
  constructor(maxHeaderBytes: number) {
    this.#maxHeaderBytes = maxHeaderBytes;
  }

  /** Where the stream stands after the bytes pushed so far. */
  get phase(): Phase {
    if (this.#state === "head") return this.#headBytes === 0 ? "idle" : "head";
    if (this.#state === "raw" || this.#state === "overflow" || this.#state === "refused") return this.#state;
    return "body";
  }

  /** Feeds the next bytes from the client. */
  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      switch (this.#state) {
        case "raw":
        case "overflow":
        case "refused":
          return;
        case "length": {
          const take = Math.min(this.#remaining, chunk.length - i);
          this.#remaining -= take;
          i += take;
          if (this.#remaining === 0) this.#state = "head";
          break;
        }
        case "chunk-data": {
          const take = Math.min(this.#remaining, chunk.length - i);
          this.#remaining -= take;
          i += take;
          if (this.#remaining === 0) this.#state = "chunk-crlf";
          break;
        }
        case "chunk-crlf":
          if (chunk[i++] === 0x0a) this.#state = "chunk-size";
          break;
        case "chunk-size":
        case "trailer":
          this.#lineByte(chunk[i++]);
          break;
        case "head":
          this.#headByte(chunk[i++]);
          break;
      }
    }
  }

  #headByte(b: number): void {
    if (this.#headBytes === 0) {
      if (b === 0x0d || b === 0x0a) return; // blank lines between requests
      this.headsStarted++;
      [this.#headLines, this.#length, this.#chunked] = [0, 0, false];
    }
    if (++this.#headBytes > this.#maxHeaderBytes) {
      this.#state = "overflow";
      return;
    }
    if (b !== 0x0a) {
      if (this.#headLine.length < MAX_FRAMING_LINE) this.#headLine += String.fromCharCode(b);
      else this.#headLineCut = true;
      return;
    }
    const line = this.#headLine.endsWith("\r") ? this.#headLine.slice(0, -1) : this.#headLine;
    const cut = this.#headLineCut;
    [this.#headLine, this.#headLineCut] = ["", false];
    if (line === "" && !cut && this.#headLines > 0) return this.#endHead();
    if (this.#headLines++ > 0) this.#framingHeader(line, cut); // the first line is the request line
    else if (line.startsWith("PRI * HTTP/2")) this.#state = "refused"; // HTTP/2 is not served (module doc)
  }

  /** Notes a header line's framing: `Transfer-Encoding` (chunked last) or `Content-Length`. */
  #framingHeader(line: string, cut: boolean): void {
    const colon = line.indexOf(":");
    if (colon <= 0) return;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (name !== "transfer-encoding" && name !== "content-length") return;
    const value = line.slice(colon + 1).trim().toLowerCase();
    if (cut) this.#length = NaN; // too long to frame: left to the server
    else if (name === "transfer-encoding") this.#chunked = /(^|,)\s*chunked\s*$/.test(value);
    else this.#length = /^\d+$/.test(value) ? Number(value) : NaN;
  }

  #endHead(): void {
    this.#headBytes = 0;
    if (this.#chunked) this.#state = "chunk-size";
    else if (Number.isNaN(this.#length)) this.#state = "raw"; // malformed: the server answers 400 and closes
    else if (this.#length > 0) {
      this.#state = "length";
      this.#remaining = this.#length;
    }
  }

  #lineByte(b: number): void {
    if (b !== 0x0a) {
      if (this.#line.length < 4096) this.#line += String.fromCharCode(b);
      return;
    }
    const line = this.#line.replace(/\r$/, "");
    this.#line = "";
    if (this.#state === "trailer") {
      if (line === "") this.#state = "head";
      return;
    }
    const size = parseInt(line.split(";")[0].trim(), 16);
    if (Number.isNaN(size)) this.#state = "raw";
    else if (size === 0) this.#state = "trailer";
    else {
      this.#state = "chunk-data";
      this.#remaining = size;
    }
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
}

/** A running guard. */
export interface ConnGuard {
  port: number;
  hostname: string;
  /** Stops accepting new connections (in-flight connections keep going). */
  stopAccepting(): void;
  /** Waits up to `graceMs` for relays to finish delivering responses, then closes the rest. */
  drain(graceMs: number): Promise<void>;
}

/** Listens on `hostname:port` and relays guarded connections to `upstreamPort` on 127.0.0.1. */
export function startConnGuard(
  hostname: string,
  port: number,
  upstreamPort: number,
  options: ConnGuardOptions,
): ConnGuard {
  const listener = Deno.listen({ hostname, port, transport: "tcp" });
  const open = new Set<() => void>();
  const cap = effectiveMaxConnections(options.maxConnections ?? DEFAULT_MAX_CONNECTIONS);
  let stopped = false;
  let refused = 0;
  let refusing = 0;
  let active = 0;
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
      if (active >= cap) {
        if (refused++ % 1000 === 0) {
          log.warn("connection limit of {cap} reached: refusing new connections ({refused} so far)", { cap, refused });
        }
        // Answer 503 while few refusals are in flight; past that, close at once so a flood
        // cannot hold descriptors with pending writes.
        if (refusing < 64) {
          refusing++;
          refuse(client).finally(() => refusing--);
        } else closeQuietly(client);
        continue;
      }
      // Counted from the accept on: a burst cannot slip past the cap while upstream connects.
      active++;
      relay(client, upstreamPort, options, open).finally(() => active--);
    }
  })();
  const addr = listener.addr as Deno.NetAddr;
  return {
    port: addr.port,
    hostname: addr.hostname,
    stopAccepting: () => {
      stopped = true;
      try {
        listener.close();
      } catch { /* already closed */ }
    },
    async drain(graceMs: number) {
      const deadline = Date.now() + graceMs;
      while (open.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      [...open].forEach((close) => close());
    },
  };
}

const BUSY = new TextEncoder().encode(
  "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\n" +
    "content-length: 52\r\n\r\n" + JSON.stringify({ message: "too many connections", code: 503 }).padEnd(52),
);

/** Answers 503 without reading the request and closes; never waits on a slow client. */
async function refuse(client: Deno.Conn): Promise<void> {
  const timer = setTimeout(() => closeQuietly(client), 1_000);
  await client.write(BUSY).catch(() => {});
  clearTimeout(timer);
  closeQuietly(client);
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

async function relay(client: Deno.Conn, upstreamPort: number, options: ConnGuardOptions, open: Set<() => void>) {
  let upstream: Deno.Conn;
  try {
    upstream = await Deno.connect({ hostname: "127.0.0.1", port: upstreamPort });
  } catch {
    client.close();
    return;
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    open.delete(close);
    for (const c of [client, upstream]) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
  };
  open.add(close);
  const arm = (ms: number) => {
    clearTimeout(timer);
    timer = setTimeout(close, ms);
  };
  const pump = async (from: Deno.Conn, to: Deno.Conn, framer?: RequestFramer) => {
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await from.read(buffer);
        if (n === null) {
          // Client half-closed: pass the FIN on and let the response finish (the other pump closes).
          if (framer) return await (to as Deno.TcpConn).closeWrite().catch(close);
          break;
        }
        const chunk = buffer.subarray(0, n);
        if (framer) {
          const [phaseBefore, headsBefore] = [framer.phase, framer.headsStarted];
          framer.push(chunk);
          const phase = framer.phase;
          if (phase === "overflow") {
            await writeAll(
              from,
              new TextEncoder().encode(
                "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: 64\r\n\r\n" +
                  JSON.stringify({ message: "request head too large", code: 431 }).padEnd(64),
              ),
            ).catch(() => {});
            break;
          }
          if (phase === "refused") break;
          const newRequest = framer.headsStarted !== headsBefore;
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
        if (!framer && requests.phase === "idle") arm(options.idleTimeoutMs);
        await writeAll(to, chunk);
      }
    } catch { /* connection reset or closed by a timeout */ }
    close();
  };
  let rawSince: number | undefined;
  const requests = new RequestFramer(options.maxHeaderBytes);
  arm(options.headerTimeoutMs); // the first request must arrive promptly
  await Promise.all([pump(client, upstream, requests), pump(upstream, client)]);
}
