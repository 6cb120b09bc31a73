/**
 * A bound on the bytes that the responses being sent hold at once (`--max-download-memory`).
 *
 * Downloads of one version of a base share one buffer (base_downloads.ts), and the recent versions
 * are remembered within a byte bound, but a response being sent holds its buffer until the client
 * has read it, whether or not that version is still remembered. A client that asked for the base
 * and read nothing held it for as long as it kept the connection alive, and a new version comes
 * with every merge: ten such clients, each asking after a merge of a 40 MiB base, held 418 MiB of
 * the server's memory (measured), and the connection cap allows a thousand. The budget counts the
 * distinct buffers held by the response streams now open; a response that would add a buffer past
 * it is refused with {@link DownloadBudgetError} (answered 503 with `Retry-After`) before anything
 * is sent. Sharing a buffer already held costs nothing, and the first buffer is always admitted,
 * so a base larger than the budget can still be downloaded by one client at a time.
 *
 * A buffer is let go when its stream ends or is cancelled (a client that went away); a stream that
 * is dropped without either is let go when it is garbage-collected.
 *
 * @module
 */

/** Default budget: 256 MiB. */
export const DEFAULT_MAX_DOWNLOAD_MEMORY = 256 * 1024 * 1024;

/** Size of the chunks a response is streamed in. */
export const DOWNLOAD_CHUNK_BYTES = 64 * 1024;

/** Seconds a refused client is asked to wait. */
const RETRY_AFTER_SECONDS = 2;

/** Sending `requested` more bytes would pass the budget (answered 503 with `Retry-After`). */
export class DownloadBudgetError extends Error {
  /** Seconds the client is asked to wait before it retries. */
  readonly retryAfterSeconds = RETRY_AFTER_SECONDS;

  /** Creates the error for `requested` more bytes while `held` of `max` are held. */
  constructor(requested: number, held: number, max: number) {
    super(
      `server busy: the downloads being sent hold ${held} of the ${max} bytes allowed at once ` +
        `(--max-download-memory), ${requested} more do not fit; retry in ${RETRY_AFTER_SECONDS} s`,
    );
    this.name = "DownloadBudgetError";
  }
}

/** The distinct buffers held by open response streams, against a maximum; see the module doc. */
export class DownloadBudget {
  readonly #streams = new Map<Uint8Array, number>();
  readonly #dropped = new FinalizationRegistry<() => void>((release) => release());
  #held = 0;

  /** A budget of `maxBytes` bytes (a positive safe integer). */
  constructor(readonly maxBytes: number = DEFAULT_MAX_DOWNLOAD_MEMORY) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
      throw new RangeError(`download memory budget must be a positive number of bytes, got ${maxBytes}`);
    }
  }

  /** Bytes of the buffers open response streams hold now. */
  get bytesHeld(): number {
    return this.#held;
  }

  /**
   * Throws {@link DownloadBudgetError} when a buffer of `bytes` not held yet would not fit now:
   * asked before a response's bytes are read from the store, so a refused download costs no read.
   */
  checkFits(bytes: number): void {
    if (this.#held > 0 && this.#held + bytes > this.maxBytes) {
      throw new DownloadBudgetError(bytes, this.#held, this.maxBytes);
    }
  }

  /**
   * A stream of `data` in chunks that holds `data` against the budget until it ends or is
   * cancelled. Throws {@link DownloadBudgetError}, holding nothing, when `data` is not held
   * already and would pass the budget while something else is held.
   */
  stream(data: Uint8Array, chunkBytes = DOWNLOAD_CHUNK_BYTES): ReadableStream<Uint8Array> {
    const open = this.#streams.get(data) ?? 0;
    if (open === 0) {
      this.checkFits(data.byteLength);
      this.#held += data.byteLength;
    }
    this.#streams.set(data, open + 1);
    const token = {};
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#dropped.unregister(token);
      const left = (this.#streams.get(data) ?? 1) - 1;
      if (left > 0) return void this.#streams.set(data, left);
      this.#streams.delete(data);
      this.#held -= data.byteLength;
    };
    const stream = chunkedStream(data, chunkBytes, release);
    this.#dropped.register(stream, release, token);
    return stream;
  }
}

/**
 * A stream of `data` in chunks of `chunkBytes` (views, no copies), produced as the reader pulls
 * them; `onDone` runs once, when the last chunk has been taken or the reader cancels.
 */
export function chunkedStream(
  data: Uint8Array,
  chunkBytes = DOWNLOAD_CHUNK_BYTES,
  onDone?: () => void,
): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= data.byteLength) {
        controller.close();
        onDone?.();
        return;
      }
      const end = Math.min(offset + chunkBytes, data.byteLength);
      controller.enqueue(data.subarray(offset, end));
      offset = end;
    },
    cancel() {
      onDone?.();
    },
  }, { highWaterMark: 0 });
}
