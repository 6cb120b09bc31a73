/**
 * The answers of the autopgo API as the client reads them: {@link ApiError}, one line for a failed
 * call with its status (from the API's `{"message"}` body, or the text of whatever answered), the
 * network errors in words, and whole answers read up to a bound (a peer decides how much it sends).
 *
 * @module
 */

import { BodyOverLimitError, bodySnippet, readWholeBody } from "./body_read.ts";
import { replaceControlCharacters } from "./control_chars.ts";

/** A failed API call: `status` is the HTTP status (0 when no response arrived). */
export class ApiError extends Error {
  /** HTTP status of the response, 0 for network errors and timeouts. */
  readonly status: number;
  /** The server's `Retry-After` in milliseconds, when it sent one in seconds. */
  readonly retryAfterMs?: number;
  /** No answer came within the call's timeout (such a call is not retried: it already waited). */
  readonly timedOut: boolean;
  /**
   * The answer carried the API's JSON error body (`{"message": …}`), so it came from an autopgo
   * server's handler; false for a plain-text or empty answer (an unknown path, a proxy, another
   * server). A 404 means "no such profile" only with it.
   */
  readonly apiBody: boolean;

  /** Creates an error with a one-line message. */
  constructor(message: string, status: number, retryAfterMs?: number, timedOut = false, apiBody = false) {
    super(message.replace(/\s*\n\s*/g, " ").trim());
    this.name = "ApiError";
    this.status = status;
    this.retryAfterMs = retryAfterMs;
    this.timedOut = timedOut;
    this.apiBody = apiBody;
  }

  /** True for the API's own 404: the app (or its profile) does not exist, as opposed to a wrong URL. */
  get noSuchProfile(): boolean {
    return this.status === 404 && this.apiBody;
  }
}

/** How an autopgo server's 404 for a path it has no route for begins (unlike a missing profile's "Not Found"). */
const NO_ROUTE = "Not Found: no route for ";

/**
 * The message of an autopgo server's 404 for `method path` when no route matches: a wrong
 * `--api-url` path prefix, not a missing profile ({@link ApiError.noSuchProfile} tells them apart).
 */
export function noRouteMessage(method: string, path: string): string {
  return `${NO_ROUTE}${method} ${path.length > 200 ? `${path.slice(0, 200)}…` : path}`;
}

/**
 * Most bytes of a JSON answer read: a listing of 100,000 apps is ~15 MB. A server (or whatever
 * answers at `--api-url`) sending more is not read on: an endless answer took 11 GB in a minute.
 */
export const MAX_JSON_ANSWER_BYTES = 64 * 1024 * 1024;

/** The JSON of a (successful) answer, read up to {@link MAX_JSON_ANSWER_BYTES}; an ApiError when it is none. */
export async function readJson(res: Response, what: string): Promise<unknown> {
  const text = new TextDecoder().decode(await readAnswer(res.body, MAX_JSON_ANSWER_BYTES, what, res.status));
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(`${what}: server answered ${res.status} with a non-JSON body: ${snippet(text)}`, res.status);
  }
}

/**
 * A whole answer body of at most `maxBytes`, or an {@link ApiError} saying why not (too long, cut
 * off, no complete answer in time) in one line.
 */
export async function readAnswer(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
  what: string,
  status: number,
): Promise<Uint8Array<ArrayBuffer>> {
  try {
    return await readWholeBody(body, maxBytes);
  } catch (e) {
    const err = e as Error;
    if (err instanceof BodyOverLimitError) {
      throw new ApiError(
        `${what}: the server's answer is longer than ${formatMiB(maxBytes)}, more than autopgo reads for it`,
        status,
      );
    }
    const timedOut = err?.name === "TimeoutError";
    const why = timedOut ? "no complete answer in time" : `the answer broke off (${err?.message ?? String(e)})`;
    throw new ApiError(`${what}: ${why}`, status, undefined, timedOut);
  }
}

/** `bytes` as whole MiB for a message. */
function formatMiB(bytes: number): string {
  return `${Math.round(bytes / (1024 * 1024))} MiB`;
}

/**
 * One line describing a non-success response to a request for `url`, from its `{"message"}` body
 * or its text, and whether the body was the API's. A 404 without the API's body names the URL: no
 * autopgo API answered there (a wrong `--api-url` or path prefix, or another server).
 */
export async function describeErrorResponse(res: Response, url: URL): Promise<{ text: string; apiBody: boolean }> {
  const text = await bodySnippet(res, 64 * 1024); // a server decides its error body's size
  const status = `${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
  const noApi = `(no autopgo API at ${url.origin}${url.pathname})`;
  try {
    const message = (JSON.parse(text) as { message?: unknown })?.message;
    if (typeof message === "string" && message) {
      const answered = `server answered ${status}: ${snippet(message, 500)}`;
      if (res.status === 404 && message.startsWith(NO_ROUTE)) return { text: `${answered} ${noApi}`, apiBody: false };
      return { text: answered, apiBody: true };
    }
  } catch { /* not JSON */ }
  const answered = text.trim() ? `server answered ${status}: ${snippet(text)}` : `server answered ${status}`;
  return { text: res.status === 404 ? `${answered} ${noApi}` : answered, apiBody: false };
}

/** Network error codes in words (the rest keep their own message). */
const NETWORK_ERRORS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "no such host",
  EAI_AGAIN: "host name lookup failed",
  ECONNRESET: "connection reset",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connection timed out",
};

/** One line for a request to `url` that got no answer (a network error, its timeout, an abort). */
export function describeFetchError(e: unknown, url: URL, timeoutMs: number): string {
  const err = e as Error;
  if (err?.name === "TimeoutError") return `no answer from ${url.origin} within ${timeoutMs}ms`;
  if (err?.name === "AbortError") return `request to ${url.origin} aborted`;
  const code = (err as { code?: unknown })?.code ?? (err?.cause as { code?: unknown })?.code;
  const known = typeof code === "string" ? NETWORK_ERRORS[code] : undefined;
  return `cannot reach ${url.origin}: ${known ?? err?.message ?? String(e)}`;
}

/** `text` on one line, without control characters (a server's escape codes reach a terminal otherwise), cut at `max`. */
function snippet(text: string, max = 200): string {
  const one = replaceControlCharacters(text.replace(/\s+/g, " "), "?", true).trim();
  return one.length > max ? `${one.slice(0, max)}…` : one;
}
