/**
 * Reading response bodies whose size the peer decides: a prefix of at most a bound (for error
 * messages and discovery answers), or a whole body up to a bound, refused past it.
 *
 * @module
 */

/**
 * Reads at most `maxBytes` of `res`'s body, then cancels the rest: for error bodies and answers
 * whose size the peer decides (a hostile one could send gigabytes). `complete` is false when the
 * body was longer; a body that fails midway gives what arrived.
 */
export async function readBodyPrefix(
  res: Response,
  maxBytes: number,
): Promise<{ bytes: Uint8Array; complete: boolean }> {
  if (!res.body) return { bytes: new Uint8Array(0), complete: true };
  const chunks: Uint8Array[] = [];
  let length = 0, complete = true;
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (length + value.byteLength > maxBytes) {
        chunks.push(value.subarray(0, maxBytes - length));
        length = maxBytes;
        complete = false;
        break;
      }
      chunks.push(value);
      length += value.byteLength;
    }
  } catch {
    complete = false;
  } finally {
    reader.cancel().catch(() => {});
  }
  return { bytes: joinChunks(chunks, length), complete };
}

/** `chunks` (of `length` bytes in all) in one buffer. */
export function joinChunks(chunks: readonly Uint8Array[], length: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** A response body longer than its reader allows (see {@link readWholeBody}). */
export class BodyOverLimitError extends Error {
  /** The limit that was passed, in bytes. */
  readonly maxBytes: number;
  /** Creates the error for a body over `maxBytes`. */
  constructor(maxBytes: number) {
    super(`the answer is longer than ${maxBytes} bytes`);
    this.name = "BodyOverLimitError";
    this.maxBytes = maxBytes;
  }
}

/**
 * Reads a whole response body of at most `maxBytes` into one buffer. A longer body is cancelled as
 * soon as it passes the limit and rejects with {@link BodyOverLimitError} (a peer decides how much
 * it sends: an endless answer must not take the process's memory); a body that fails midway
 * rejects with its stream's error (a timeout stays a `TimeoutError`).
 */
export async function readWholeBody(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
): Promise<Uint8Array<ArrayBuffer>> {
  if (!body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let length = 0;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      length += value.byteLength;
      if (length > maxBytes) throw new BodyOverLimitError(maxBytes);
      chunks.push(value);
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  return joinChunks(chunks, length);
}

/** The first `maxBytes` of `res`'s body as text (for an error message). */
export async function bodySnippet(res: Response, maxBytes = 4096): Promise<string> {
  return new TextDecoder().decode((await readBodyPrefix(res, maxBytes)).bytes);
}
