/**
 * One access-log line per request (category `autopgo.access`): method, route pattern, app, status,
 * bytes in and out, and duration, as the message and as structured properties (so JSON logs carry
 * them as fields). Bytes are counted as they flow: the request body as the handler reads it, the
 * response body as it is sent, so the line is written when the answer has been sent (or the client
 * went away) and its duration covers the whole exchange. An answer that declares its length
 * (`Content-Length`) or has no body is logged at once.
 *
 * Probes are quiet: successful answers on `/api/health` and `/api/ready` are logged at debug
 * level (a load balancer asks every few seconds); every other request at info, and 5xx answers at
 * warning.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { getLogger, type Logger } from "@logtape/logtape";
import { appOf, routeOf } from "./route_label.ts";

/** What one access-log line carries (its structured properties). */
export interface AccessRecord {
  method: string;
  route: string;
  /** Path as requested (without the query). */
  path: string;
  /** The `:app` of the route, when it has one. */
  app?: string;
  status: number;
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
}

/** Options of {@link accessLog}. */
export interface AccessLogOptions {
  /** Where lines go (default: the `autopgo.access` logger). */
  logger?: Logger;
  /** Routes whose successful answers are logged at debug level (default: health and readiness). */
  quietRoutes?: readonly string[];
}

const QUIET_ROUTES = ["/api/health", "/api/ready"];

/** The message of an access-log line: `POST /api/profile/:app app=shop 201 in=1.2KiB out=40B 12ms`. */
export function formatAccessLine(r: AccessRecord): string {
  const app = r.app === undefined ? "" : ` app=${r.app}`;
  return `${r.method} ${r.route}${app} ${r.status} in=${r.bytesIn}B out=${r.bytesOut}B ${Math.round(r.durationMs)}ms`;
}

/** A byte count reported once to `done`, at the end of a body or when it is cancelled or fails. */
function byteTally(done: (bytes: number) => void): { add(bytes: number): void; finish(): void } {
  let total = 0;
  let finished = false;
  return {
    add(bytes) {
      total += bytes;
    },
    finish() {
      if (!finished) {
        finished = true;
        done(total);
      }
    },
  };
}

/** A stream that passes bytes through and counts them; `done` runs once, at the end or on cancel. */
function counter(done: (bytes: number) => void): TransformStream<Uint8Array, Uint8Array> {
  const tally = byteTally(done);
  return new TransformStream({
    transform(chunk, controller) {
      tally.add(chunk.byteLength);
      controller.enqueue(chunk);
    },
    flush: tally.finish,
    cancel: tally.finish,
  } as Transformer<Uint8Array, Uint8Array>);
}

/**
 * `source` counted as it is read, still a byte stream when `source` is one (every `Deno.serve`
 * request body): a reader's BYOB reads pass straight through to the source, so an upload can
 * still be read into one buffer without a chunk allocated per read (core/pipeline/http_body.ts).
 * Other streams are piped through {@link counter}.
 */
function countedBody(source: ReadableStream<Uint8Array>, done: (bytes: number) => void): ReadableStream<Uint8Array> {
  let reader: ReadableStreamBYOBReader;
  try {
    reader = source.getReader({ mode: "byob" });
  } catch {
    return source.pipeThrough(counter(done));
  }
  const tally = byteTally(done);
  return new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: 64 * 1024,
    async pull(controller) {
      const request = controller.byobRequest!;
      const view = request.view!;
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
      } catch (error) {
        tally.finish();
        throw error;
      }
      if (result.done) {
        tally.finish();
        controller.close();
        // The reader's buffer came back with the end: hand it back to the pending read, empty.
        request.respondWithNewView(result.value ?? new Uint8Array(view.buffer, view.byteOffset, 0));
        return;
      }
      tally.add(result.value.byteLength);
      request.respondWithNewView(result.value);
    },
    cancel(reason) {
      tally.finish();
      return reader.cancel(reason);
    },
  });
}

/**
 * Methods the Fetch API refuses to build a `Request` with, which `Deno.serve` still delivers (with a
 * body stream): rebuilding such a request to count its body threw, and `TRACE /api/health` was
 * answered 500 instead of 405. Their bodies are not counted.
 */
const UNBUILDABLE_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
/**
 * Methods the Fetch API upper-cases when it builds a `Request`. Methods are case-sensitive (RFC 9110
 * §9.1), so `get` is not `GET`, and `Deno.serve` delivers it as sent, with a body stream: rebuilt,
 * it became a `GET` with a body, which threw (`get /api/health` was answered 500 and logged as an
 * error), and `post` became `POST` after routing had refused it.
 */
const NORMALIZED_METHODS = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);

/** True when `new Request(url, { method, body })` keeps `method` as it is and accepts a body. */
export function rebuildableWithBody(method: string): boolean {
  const upper = method.toUpperCase();
  if (UNBUILDABLE_METHODS.has(upper)) return false;
  return !NORMALIZED_METHODS.has(upper) || (method === upper && upper !== "GET" && upper !== "HEAD");
}

/** Creates the access-log middleware. Register it first, before every other middleware. */
export function accessLog(options: AccessLogOptions = {}): MiddlewareHandler {
  const logger = options.logger ?? getLogger(["autopgo", "access"]);
  const quiet = new Set(options.quietRoutes ?? QUIET_ROUTES);
  return async function accessLog(c, next) {
    const started = performance.now();
    let bytesIn = 0;
    const request = c.req.raw;
    if (request.body && rebuildableWithBody(request.method)) {
      const body = countedBody(request.body, (n) => bytesIn = n);
      // A new request from the parts, not from `request`: copying its signal makes Deno warn.
      c.req.raw = new Request(request.url, {
        method: request.method,
        headers: request.headers,
        body,
        duplex: "half",
      } as RequestInit);
    }
    const method = request.method;
    const path = new URL(request.url).pathname;
    try {
      await next();
    } finally {
      const route = routeOf(c);
      const status = c.res.status;
      const write = (bytesOut: number) => {
        const record: AccessRecord = {
          method,
          route,
          path,
          app: appOf(route, path),
          status,
          bytesIn,
          bytesOut,
          durationMs: Math.round((performance.now() - started) * 10) / 10,
        };
        const line = formatAccessLine(record);
        const props = { ...record } as Record<string, unknown>;
        if (status >= 500) logger.warn(line, props);
        else if (status < 400 && quiet.has(route)) logger.debug(line, props);
        else logger.info(line, props);
      };
      const length = c.res.headers.get("content-length");
      if (!c.res.body || method === "HEAD") write(0);
      else if (length !== null && /^\d+$/.test(length)) write(Number(length));
      else c.res = new Response(c.res.body.pipeThrough(counter(write)), c.res);
    }
  };
}
