/**
 * Reads a request body into ONE buffer with a hard byte limit and a deadline: the read is
 * cancelled as soon as the limit is crossed or the deadline passes, so an oversized or trickling
 * (slowloris) upload never buffers past the limit or holds a request forever.
 *
 * One buffer, never a second copy, and no chunk garbage:
 * - From a byte stream (every `Deno.serve` request body), reads go through one reused 64 KiB
 *   scratch buffer into a resizable ArrayBuffer whose maximum is the limit (a declared
 *   `Content-Length` + 1, or the upload limit): V8 reserves that address range and commits pages
 *   only as the buffer grows in place, so memory, and what the meter is told, follows the bytes
 *   that actually arrived, and the finished body is neither concatenated from a list of chunks nor
 *   moved into a fixed-length buffer (both would copy). A declared length is not taken as held
 *   before its bytes arrive: four requests declaring 64 MiB and sending nothing held the whole
 *   upload budget for two minutes that way (measured), and no memory.
 * - A stream built in JS (not a byte stream: tests, library use) is read chunk by chunk into the
 *   resizable buffer, each chunk let go once copied.
 * The result views its whole buffer, so it can be transferred to a decode worker without a copy
 * (profile_jobs.ts `owned`) and handed to the blob store as it is.
 *
 * @module
 */

import type { UploadMeter } from "./upload_meter.ts";
import { FIRST_READ_BYTES, LARGE_READ_BYTES, readsShouldGrow } from "./read_sizes.ts";

/** The body is larger than allowed (answered with 413). */
export class BodyTooLargeError extends Error {
  /** Creates the error for a limit of `maxBytes`. */
  constructor(maxBytes: number) {
    super(`upload exceeds the limit of ${maxBytes} bytes`);
    this.name = "BodyTooLargeError";
  }
}

/** The body did not arrive before the deadline (answered with 408). */
export class BodyTimeoutError extends Error {
  /** Creates the error. */
  constructor() {
    super("upload was not received in time");
    this.name = "BodyTimeoutError";
  }
}

/** The body disagrees with its `Content-Length` (answered with 400). */
export class BodyLengthError extends Error {
  /** Creates the error for `received` bytes against `declared` ones. */
  constructor(received: number, declared: number) {
    super(`upload ${received > declared ? "is longer than" : "ended before"} its Content-Length of ${declared} bytes`);
    this.name = "BodyLengthError";
  }
}

/** What the body holds can never be accepted, seen while it streams (answered with 400). */
export class BodyRejectedError extends Error {
  /** Creates the error with the one-line reason. */
  constructor(reason: string) {
    super(reason);
    this.name = "BodyRejectedError";
  }
}

/** Options of {@link readBodyLimited}. */
export interface ReadBodyOptions {
  /**
   * Told about the chunks and the buffer as they are held (upload_meter.ts), before the buffer
   * grows: an error it throws (upload_budget.ts) stops the read with nothing more held.
   */
  meter?: UploadMeter;
  /**
   * Called with each chunk once it is in the buffer and a view of everything received so far (no
   * copy); a returned reason stops the read with {@link BodyRejectedError}, the rest unread.
   */
  inspect?: (chunk: Uint8Array, received: Uint8Array) => string | undefined;
}

/**
 * The buffer grows to the bytes received rounded up to this step: in place (no copy), so there is
 * no reason to double, and a body of tiny chunks is not resized per chunk.
 */
const GROWTH = 64 * 1024;

/**
 * Below {@link GROWTH}, the buffer grows in steps of this (a page), and reads start small
 * (read_sizes.ts): a slow upload that has sent a few bytes holds kilobytes, not 128 KiB (1,000
 * uploads each stalled after one byte took 243 KiB of server RSS apiece).
 */
const SMALL_GROWTH = 4 * 1024;

/**
 * The body buffer: resizable up to `maxBytes`, grown in place (in steps of {@link SMALL_GROWTH},
 * then of {@link GROWTH}) as bytes are appended, shrunk to the bytes received at the end.
 */
export class BodyBuffer {
  readonly #buffer: ArrayBuffer;
  readonly #meter?: UploadMeter;
  #length = 0;

  /** A buffer for at most `maxBytes` bytes; nothing is committed yet. */
  constructor(maxBytes: number, meter?: UploadMeter) {
    this.#buffer = new ArrayBuffer(0, { maxByteLength: maxBytes });
    this.#meter = meter;
  }

  /** Bytes appended so far. */
  get length(): number {
    return this.#length;
  }

  /** Appends `chunk`; false (nothing appended) when it would pass the maximum. */
  append(chunk: Uint8Array): boolean {
    const needed = this.#length + chunk.byteLength;
    const max = this.#buffer.maxByteLength;
    if (needed > max) return false;
    const capacity = this.#buffer.byteLength;
    const step = needed < GROWTH ? SMALL_GROWTH : GROWTH;
    if (needed > capacity) this.#resize(Math.min(max, Math.ceil(needed / step) * step));
    new Uint8Array(this.#buffer, this.#length, chunk.byteLength).set(chunk);
    this.#length = needed;
    return true;
  }

  /** A view of the bytes appended so far (valid until the next append). */
  view(): Uint8Array {
    return new Uint8Array(this.#buffer, 0, this.#length);
  }

  /** The bytes appended, viewing the whole (shrunk) buffer; the BodyBuffer must not be used afterwards. */
  finish(): Uint8Array<ArrayBuffer> {
    this.#resize(this.#length);
    return new Uint8Array(this.#buffer, 0, this.#length);
  }

  /** Releases the committed bytes (a read that failed). */
  discard(): void {
    this.#resize(0);
    this.#length = 0;
  }

  #resize(bytes: number): void {
    const delta = bytes - this.#buffer.byteLength;
    if (delta === 0) return;
    // Told before growing (a meter may refuse: upload_budget.ts), after shrinking.
    if (delta > 0) this.#meter?.held("body", delta);
    this.#buffer.resize(bytes);
    if (delta < 0) this.#meter?.held("body", delta);
  }
}

/** The declared `Content-Length` when it is a plain decimal number, else undefined. */
export function declaredLength(request: Request): number | undefined {
  const declared = request.headers.get("content-length");
  return declared !== null && /^\d+$/.test(declared) ? Number(declared) : undefined;
}

/**
 * Why an upload's `Content-Encoding` is refused, or undefined. The body is stored as sent, and a
 * pprof profile is gzip itself: no coding, `identity` and `gzip` (`x-gzip`) bodies are profiles
 * as they are; any other coding would only fail later as an unreadable profile.
 */
export function unsupportedContentCoding(request: Request): string | undefined {
  const value = request.headers.get("content-encoding");
  if (value === null) return undefined;
  const codings = value.split(",").map((v) => v.trim().toLowerCase()).filter((v) => v !== "" && v !== "identity");
  if (codings.length === 0 || (codings.length === 1 && (codings[0] === "gzip" || codings[0] === "x-gzip"))) {
    return undefined;
  }
  const shown = value.length > 64 ? `${value.slice(0, 64)}…` : value;
  return `unsupported Content-Encoding ${JSON.stringify(shown)}: send the profile as it is (gzip or plain pprof), ` +
    "with no Content-Encoding or gzip";
}

/** Reads chunks of a body, racing the deadline; undefined at the end of the body. */
type NextChunk = () => Promise<Uint8Array | undefined>;

/** A BYOB reader of `stream` when it is a byte stream (request bodies from `Deno.serve` are), else undefined. */
function byobReader(stream: ReadableStream<Uint8Array>): ReadableStreamBYOBReader | undefined {
  try {
    return stream.getReader({ mode: "byob" });
  } catch {
    return undefined; // not a byte stream: a stream built in JS (tests, library use)
  }
}

/**
 * Pieces of a body read before their average size is checked, and the least average allowed
 * after that: every piece costs the server a read (~6 µs), so a body sent as a million 1-byte
 * HTTP chunks cost 6 s of CPU for 6 MiB on the wire. Real clients send kilobytes at a time.
 */
const FREE_CHUNKS = 1024;
const MIN_AVERAGE_CHUNK_BYTES = 64;

/**
 * Reads a body of unknown length into a {@link BodyBuffer}, chunk by chunk: through a BYOB reader
 * into one reused scratch buffer (small, then larger once a read fills it: read_sizes.ts) when the stream allows
 * it, else as the stream's chunks.
 */
async function readChunked(next: NextChunk, maxBytes: number, opts: ReadBodyOptions): Promise<Uint8Array<ArrayBuffer>> {
  const meter = opts.meter;
  const body = new BodyBuffer(maxBytes, meter);
  let chunks = 0, bytes = 0;
  try {
    for (let chunk = await next(); chunk !== undefined; chunk = await next()) {
      bytes += chunk.byteLength;
      if (++chunks > FREE_CHUNKS && chunks * MIN_AVERAGE_CHUNK_BYTES > bytes) {
        throw new Error(
          `the body arrives in more than ${chunks - 1} pieces averaging under ${MIN_AVERAGE_CHUNK_BYTES} bytes: ` +
            "send it in larger chunks",
        );
      }
      meter?.held("chunk", chunk.byteLength);
      const fits = body.append(chunk);
      meter?.held("chunk", -chunk.byteLength);
      if (!fits) throw new BodyTooLargeError(maxBytes);
      const reason = opts.inspect?.(chunk, body.view());
      if (reason !== undefined) throw new BodyRejectedError(reason);
    }
  } catch (error) {
    body.discard();
    throw error;
  }
  return body.finish();
}

/**
 * Reads `request`'s body, at most `maxBytes` bytes, into one buffer (see the module doc). A
 * `Content-Length` above the limit fails before anything is read; a chunked body fails as soon as
 * it crosses the limit, without reading the rest, and so does a body `opts.inspect` rejects.
 * `signal` aborting (the request deadline) fails with {@link BodyTimeoutError}.
 */
export async function readBodyLimited(
  request: Request,
  maxBytes: number,
  signal: AbortSignal,
  opts: ReadBodyOptions = {},
): Promise<Uint8Array<ArrayBuffer>> {
  const declared = declaredLength(request);
  if (declared !== undefined && declared > maxBytes) throw new BodyTooLargeError(maxBytes);
  if (request.body === null) return new Uint8Array(0);
  const byob = byobReader(request.body);
  const reader = byob ?? request.body.getReader();
  // The deadline cancels the reader, which ends a pending read at once; each read then checks it.
  // (Racing every read against one promise of the deadline left a reaction on that promise per
  // read until the deadline: a body of a million 1-byte chunks held 560 MB of them, measured.)
  const onAbort = () => void reader.cancel().catch(() => {});
  if (signal.aborted) throw new BodyTimeoutError();
  signal.addEventListener("abort", onAbort, { once: true });
  const checked = async <T>(p: Promise<T>): Promise<T> => {
    const result = await p;
    if (signal.aborted) throw new BodyTimeoutError();
    return result;
  };
  try {
    // A declared length bounds the buffer exactly; one more byte is room to notice a longer body.
    const limit = declared === undefined ? maxBytes : declared + 1;
    let scratch = new Uint8Array(FIRST_READ_BYTES);
    const next: NextChunk = byob
      ? async () => {
        const size = scratch.byteLength; // the read takes the buffer over (detaching `scratch`)
        const { done, value } = await checked(byob.read(scratch));
        if (done || !value) return undefined;
        // The same memory, back for the next read; a body that fills it gets larger reads.
        scratch = readsShouldGrow(value.byteLength, size)
          ? new Uint8Array(LARGE_READ_BYTES)
          : new Uint8Array(value.buffer as ArrayBuffer);
        return value;
      }
      : async () => {
        const { done, value } = await checked((reader as ReadableStreamDefaultReader<Uint8Array>).read());
        return done ? undefined : value;
      };
    const body = await readChunked(next, limit, opts);
    if (declared !== undefined && body.byteLength !== declared) {
      opts.meter?.held("body", -body.byteLength);
      throw new BodyLengthError(body.byteLength, declared);
    }
    return body;
  } catch (error) {
    if (error instanceof BodyTooLargeError && declared !== undefined) {
      reader.cancel().catch(() => {});
      throw new BodyLengthError(declared + 1, declared);
    }
    reader.cancel().catch(() => {});
    throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
