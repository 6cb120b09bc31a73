/**
 * Reads a request body into memory with a hard byte limit and a deadline: the stream is
 * consumed chunk by chunk and cancelled as soon as the limit is crossed or the deadline
 * passes, so an oversized or trickling (slowloris) upload never buffers unbounded or holds a
 * request forever.
 *
 * @module
 */

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

/**
 * Reads `request`'s body, at most `maxBytes` bytes. A `Content-Length` above the limit fails
 * before anything is read. `signal` aborting (the request deadline) fails with
 * {@link BodyTimeoutError}.
 */
export async function readBodyLimited(request: Request, maxBytes: number, signal: AbortSignal): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > maxBytes) throw new BodyTooLargeError(maxBytes);
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
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
      total += value.byteLength;
      if (total > maxBytes) throw new BodyTooLargeError(maxBytes);
      chunks.push(value);
    }
  } catch (error) {
    reader.cancel().catch(() => {});
    throw error;
  } finally {
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
