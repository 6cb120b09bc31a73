/**
 * Reads a request body into ONE buffer with a hard byte limit and a deadline: the stream is
 * consumed chunk by chunk, each chunk copied into the buffer and let go, and the read is cancelled
 * as soon as the limit is crossed or the deadline passes, so an oversized or trickling (slowloris)
 * upload never buffers past the limit or holds a request forever.
 *
 * One buffer, never a second copy: the buffer is a resizable ArrayBuffer whose maximum is the
 * declared `Content-Length` (or the limit for a chunked body). V8 reserves that address range and
 * commits pages only as the buffer grows in place, so memory follows the bytes that actually
 * arrived (a client that declares 64 MiB and sends 1 KiB costs 64 KiB), and the finished body is
 * not concatenated from a list of chunks nor moved into a fixed-length buffer (both would copy).
 * The result views its whole buffer, so it can be transferred to a decode worker without a copy
 * (profile_jobs.ts `owned`) and handed to the blob store as it is.
 *
 * @module
 */

import type { UploadMeter } from "./upload_meter.ts";

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
  /** Told about the chunks and the buffer as they are held (upload_meter.ts). */
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
 * The body buffer: resizable up to `maxBytes`, grown in place (in steps of {@link GROWTH}) as
 * bytes are appended, shrunk to the bytes received at the end.
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
    if (needed > capacity) this.#resize(Math.min(max, Math.ceil(needed / GROWTH) * GROWTH));
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
    const before = this.#buffer.byteLength;
    if (bytes === before) return;
    this.#buffer.resize(bytes);
    this.#meter?.held("body", bytes - before);
  }
}

/** The declared `Content-Length` when it is a plain decimal number, else undefined. */
function declaredLength(request: Request): number | undefined {
  const declared = request.headers.get("content-length");
  return declared !== null && /^\d+$/.test(declared) ? Number(declared) : undefined;
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
  const meter = opts.meter;
  const reader = request.body.getReader();
  // A declared length bounds the buffer exactly; one more byte is room to notice a longer body.
  const body = new BodyBuffer(declared === undefined ? maxBytes : declared + 1, meter);
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new BodyTimeoutError());
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  aborted.catch(() => {});
  try {
    while (true) {
      const { done, value } = await Promise.race([reader.read(), aborted]);
      if (done) break;
      meter?.held("chunk", value.byteLength);
      const fits = body.append(value);
      meter?.held("chunk", -value.byteLength);
      if (!fits) {
        throw declared === undefined
          ? new BodyTooLargeError(maxBytes)
          : new BodyLengthError(body.length + value.byteLength, declared);
      }
      const reason = opts.inspect?.(value, body.view());
      if (reason !== undefined) throw new BodyRejectedError(reason);
    }
    if (declared !== undefined && body.length !== declared) throw new BodyLengthError(body.length, declared);
  } catch (error) {
    reader.cancel().catch(() => {});
    body.discard();
    throw error;
  } finally {
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
  return body.finish();
}
