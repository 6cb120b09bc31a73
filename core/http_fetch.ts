/**
 * A `fetch`-compatible HTTP client over `node:http`/`node:https`, used for every outbound request
 * autopgo makes to autopgo servers and scrape targets.
 *
 * Why not the global `fetch`: it refuses the ports browsers block (6000, 6666, 6667, 10080, …) with
 * "Requests to port N are blocked", while the original's Go client reaches any port. This client
 * has no such list. It streams request bodies (a `ReadableStream` is sent chunked, with
 * back-pressure) and response bodies (read as they arrive), honours `signal` (aborting before the
 * head, or while either body streams, rejects or errors with `signal.reason`, so a timeout stays a
 * `TimeoutError`), follows redirects like `fetch` (303 and POST-after-301/302 become GET; a
 * streamed body cannot be replayed; credentials — `Authorization`, `Proxy-Authorization`, `Cookie`,
 * `Cookie2`, `WWW-Authenticate` — are dropped across origins, as Go's client does for
 * its sensitive headers) and turns network
 * failures into a `TypeError` carrying the cause. One connection per request, closed afterwards:
 * nothing lingers between calls. It asks for no compression; a `gzip`/`deflate` body sent anyway
 * is decoded as `fetch` does.
 *
 * @module
 */

import * as http from "node:http";
import * as https from "node:https";
import type { Transform } from "node:stream";

/** Headers that carry credentials, never sent on to another origin by a redirect. */
const CREDENTIAL_HEADERS = ["authorization", "proxy-authorization", "cookie", "cookie2", "www-authenticate"];

/** The `fetch` signature this module implements (and callers inject in tests). */
export type FetchFunction = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Statuses whose response has no body (fetch's null-body statuses). */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 20;

/** A request body ready to send: bytes with a known length, a stream, or nothing. */
type PreparedBody = Uint8Array | ReadableStream<Uint8Array> | null;

/**
 * Sends one HTTP request like `fetch(input, init)` through `node:http`/`node:https`. Accepts the
 * same arguments (`method`, `headers`, `body`, `signal`, `redirect`); other `RequestInit` fields
 * (cache, mode, credentials…) have no meaning here and are ignored.
 */
export async function nodeFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  const request = input instanceof Request ? input : undefined;
  let url = new URL(input instanceof Request ? input.url : input instanceof URL ? input.href : input);
  let method = (init.method ?? request?.method ?? "GET").toUpperCase();
  const headers = new Headers(init.headers ?? request?.headers);
  const signal = init.signal ?? request?.signal ?? undefined;
  const redirect = init.redirect ?? request?.redirect ?? "follow";
  let body = await prepareBody(init.body !== undefined ? init.body : request?.body ?? null, headers);
  signal?.throwIfAborted();
  for (let redirects = 0;; redirects++) {
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new TypeError(`unsupported URL scheme ${url.protocol} in ${url.origin}`);
    }
    const response = await send(url, method, headers, body, signal);
    const location = response.headers.get("location");
    if (!REDIRECT_STATUSES.has(response.status) || location === null || redirect === "manual") return response;
    await response.body?.cancel().catch(() => {});
    if (redirect === "error") throw new TypeError(`redirect to ${location} refused (redirect: "error")`);
    if (redirects >= MAX_REDIRECTS) throw new TypeError(`more than ${MAX_REDIRECTS} redirects from ${url.origin}`);
    const next = new URL(location, url);
    if (response.status === 303 && method !== "HEAD" || (response.status <= 302 && method === "POST")) {
      method = method === "HEAD" ? "HEAD" : "GET";
      body = null;
      for (const name of ["content-type", "content-length", "content-encoding", "content-language"]) {
        headers.delete(name);
      }
    } else if (body instanceof ReadableStream) {
      throw new TypeError(`cannot follow the redirect to ${next.origin}: the request body was a stream`);
    }
    if (next.origin !== url.origin) { for (const name of CREDENTIAL_HEADERS) headers.delete(name); }
    url = next;
  }
}

/** Turns any `BodyInit` into bytes (setting `content-type` as `fetch` would) or keeps a stream as it is. */
async function prepareBody(body: BodyInit | null, headers: Headers): Promise<PreparedBody> {
  if (body === null || body === undefined) return null;
  if (body instanceof ReadableStream) return body as ReadableStream<Uint8Array>;
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  const wrapped = new Response(body);
  const type = wrapped.headers.get("content-type");
  if (type !== null && !headers.has("content-type")) headers.set("content-type", type);
  return new Uint8Array(await wrapped.arrayBuffer());
}

/** One request/response exchange, without redirects. */
function send(
  url: URL,
  method: string,
  headers: Headers,
  body: PreparedBody,
  signal: AbortSignal | undefined,
): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    const outgoing: Record<string, string> = {};
    headers.forEach((value, name) => outgoing[name] = value);
    outgoing["accept"] ??= "*/*";
    outgoing["user-agent"] ??= "autopgo";
    if (body instanceof Uint8Array) outgoing["content-length"] = String(body.byteLength);
    else if (body === null && (method === "POST" || method === "PUT")) outgoing["content-length"] = "0";

    let settled = false;
    let bodyController: ReadableStreamDefaultController<Uint8Array> | undefined;
    const fail = (error: unknown) => {
      if (!settled) {
        settled = true;
        reject(error);
      }
      try {
        bodyController?.error(error);
      } catch { /* stream already closed or errored */ }
      bodyController = undefined;
    };
    const onAbort = () => {
      fail(signal!.reason);
      req.destroy();
    };
    const cleanup = () => signal?.removeEventListener("abort", onAbort);

    const client = url.protocol === "https:" ? https : http;
    const req = client.request(url, { method, headers: outgoing, agent: false });
    req.on("error", (error: Error) => {
      cleanup();
      fail(signal?.aborted ? signal.reason : networkError(error));
    });
    req.on("response", (res: http.IncomingMessage) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 599) {
        res.destroy();
        req.destroy();
        cleanup();
        return fail(new TypeError(`${url.origin} answered with HTTP status ${status}`));
      }
      const responseHeaders = new Headers();
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
        try {
          responseHeaders.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
        } catch { /* a header fetch would not accept either */ }
      }
      let stream: ReadableStream<Uint8Array> | null = null;
      if (NULL_BODY_STATUSES.has(status) || method === "HEAD") {
        res.resume();
        res.on("end", cleanup);
        res.on("error", cleanup);
      } else {
        stream = new ReadableStream<Uint8Array>({
          start(controller) {
            bodyController = controller;
            res.on("data", (chunk: Uint8Array) => {
              if (!bodyController) return;
              bodyController.enqueue(new Uint8Array(chunk));
              if ((bodyController.desiredSize ?? 1) <= 0) res.pause();
            });
            res.on("end", () => {
              cleanup();
              bodyController?.close();
              bodyController = undefined;
            });
            res.on("error", (error: Error) => {
              cleanup();
              fail(signal?.aborted ? signal.reason : networkError(error));
            });
            res.on("close", () => {
              cleanup();
              if (!res.complete) fail(new TypeError(`${url.origin} closed the connection before the body ended`));
            });
          },
          pull() {
            res.resume();
          },
          cancel() {
            bodyController = undefined;
            cleanup();
            res.destroy();
            req.destroy();
          },
        }, { highWaterMark: 256 * 1024, size: (chunk) => chunk.byteLength });
        stream = decoded(stream, responseHeaders.get("content-encoding"));
      }
      settled = true;
      try {
        resolve(new Response(stream, { status, statusText: res.statusMessage ?? "", headers: responseHeaders }));
      } catch {
        resolve(new Response(stream, { status, headers: responseHeaders }));
      }
    });

    if (signal) {
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
    }
    if (body instanceof ReadableStream) {
      void pump(body, req, signal).catch((error) => {
        req.destroy();
        cleanup();
        fail(signal?.aborted ? signal.reason : error);
      });
    } else {
      req.end(body ?? undefined);
    }
  });
}

/** Writes a streamed request body with back-pressure, then ends the request. */
async function pump(
  body: ReadableStream<Uint8Array>,
  req: http.ClientRequest,
  signal: AbortSignal | undefined,
): Promise<void> {
  const reader = body.getReader();
  const stop = () => reader.cancel(signal?.reason).catch(() => {});
  signal?.addEventListener("abort", stop, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (req.destroyed) {
        await reader.cancel().catch(() => {});
        return;
      }
      if (!req.write(value)) await drainedOrClosed(req);
    }
    req.end();
  } finally {
    signal?.removeEventListener("abort", stop);
    reader.releaseLock();
  }
}

/**
 * Resolves when `req` can take more bytes or has closed. Both listeners go when either fires: a
 * "close" listener left behind per full buffer added up over a large upload (Node's warning of a
 * possible listener leak after ten).
 */
function drainedOrClosed(req: http.ClientRequest): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      req.off("drain", done);
      req.off("close", done);
      resolve();
    };
    req.on("drain", done);
    req.on("close", done);
  });
}

/**
 * Largest chunk of a decoded body. `DecompressionStream` inflates each received chunk whole, so
 * 64 KiB of a gzip bomb arrived as one 64 MiB chunk (six such targets took a scraper to 1.3 GB);
 * node:zlib's streams cut their output to this size and stop inflating while the reader is behind.
 */
const DECODED_CHUNK_BYTES = 64 * 1024;

/**
 * `stream` decoded by its `Content-Encoding` (`gzip`, `x-gzip`, `deflate`; others pass as they
 * are), with back-pressure end to end: no more is inflated than the reader's queue takes, and no
 * more is read from the connection than the inflater takes. An error of the connection (a timeout
 * included) reaches the reader unchanged; corrupt data is a `TypeError` naming the encoding.
 */
function decoded(stream: ReadableStream<Uint8Array>, encoding: string | null): ReadableStream<Uint8Array> {
  const coding = encoding?.trim().toLowerCase();
  if (coding !== "gzip" && coding !== "x-gzip" && coding !== "deflate") return stream;
  const source = stream.getReader();
  let inflater: Transform | undefined;
  let finished = false;
  return new ReadableStream<Uint8Array>({
    async start(controller) {
      const zlib = await import("node:zlib");
      const options = { chunkSize: DECODED_CHUNK_BYTES };
      const z = inflater = coding === "deflate" ? zlib.createInflate(options) : zlib.createGunzip(options);
      const end = (error?: unknown) => {
        if (finished) return;
        finished = true;
        try {
          if (error === undefined) controller.close();
          else controller.error(error);
        } catch { /* already closed */ }
      };
      z.on("data", (chunk: Uint8Array) => {
        if (finished) return;
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 1) <= 0) z.pause();
      });
      z.on("end", () => end());
      z.on("error", (error: Error) => {
        end(new TypeError(`decoding the ${coding} body: ${error.message}`, { cause: error }));
        source.cancel().catch(() => {});
      });
      void (async () => {
        try {
          for (;;) {
            const { done, value } = await source.read();
            if (finished) return;
            if (done) return void z.end();
            if (!z.write(value)) {
              await new Promise<void>((resolve) => {
                z.once("drain", resolve);
                z.once("close", resolve);
              });
            }
          }
        } catch (error) {
          end(error);
          z.destroy();
        }
      })();
    },
    pull() {
      inflater?.resume();
    },
    cancel(reason) {
      finished = true;
      inflater?.destroy();
      return source.cancel(reason);
    },
  }, { highWaterMark: 256 * 1024, size: (chunk) => chunk.byteLength });
}

/** A `TypeError` like `fetch`'s, with the system error's message and code. */
function networkError(error: Error): TypeError {
  const code = (error as { code?: string }).code;
  const message = error.message || code || "network error";
  return new TypeError(`${message}${code && !message.includes(code) ? ` (${code})` : ""}`, { cause: error });
}
