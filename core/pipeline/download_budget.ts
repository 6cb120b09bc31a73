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
 * A buffer is let go when its stream ends, is cancelled (a client that went away) or runs out of
 * time; a stream that is dropped without any of these is let go when it is garbage-collected. The
 * time a response may take ({@link downloadDeadlineMs}) is the request deadline plus the time of
 * its bytes at {@link MIN_DOWNLOAD_BYTES_PER_SECOND}: a client that reads a chunk every minute
 * otherwise kept its buffer (and its connection, which every chunk kept out of the idle timeout)
 * for as long as it liked.
 *
 * @module
 */

import { MemoryBudget, MemoryBudgetError } from "./memory_budget.ts";

/** Default budget: 256 MiB. */
export const DEFAULT_MAX_DOWNLOAD_MEMORY = 256 * 1024 * 1024;

/** Size of the chunks a response is streamed in. */
export const DOWNLOAD_CHUNK_BYTES = 64 * 1024;

/** The slowest a download may be read once the request deadline has passed: 64 KiB/s. */
export const MIN_DOWNLOAD_BYTES_PER_SECOND = 64 * 1024;

/** Milliseconds a response of `bytes` may take: `requestTimeoutMs`, plus its bytes at the slowest rate allowed. */
export function downloadDeadlineMs(bytes: number, requestTimeoutMs: number): number {
  return requestTimeoutMs + Math.ceil(bytes / MIN_DOWNLOAD_BYTES_PER_SECOND) * 1000;
}

/** Sending `requested` more bytes would pass the download budget (answered 503 with `Retry-After`). */
export class DownloadBudgetError extends MemoryBudgetError {
  /** Creates the error for `requested` more bytes while `held` of `max` are held. */
  constructor(requested: number, held: number, max: number) {
    super("the downloads being sent", "--max-download-memory", requested, held, max);
    this.name = "DownloadBudgetError";
  }
}

/** The distinct buffers held by open response streams, against a maximum; see the module doc. */
export class DownloadBudget extends MemoryBudget {
  readonly #streams = new Map<Uint8Array, number>();
  readonly #dropped = new FinalizationRegistry<() => void>((release) => release());

  /** A budget of `maxBytes` bytes (a positive safe integer); the first buffer is always admitted. */
  constructor(maxBytes: number = DEFAULT_MAX_DOWNLOAD_MEMORY) {
    super(maxBytes, { what: "download", refuse: (...args) => new DownloadBudgetError(...args), admitFirst: true });
  }

  /**
   * A stream of `data` in chunks that holds `data` against the budget until it ends, is
   * cancelled or `options.signal` aborts (the stream then ends early). Throws
   * {@link DownloadBudgetError}, holding nothing, when `data` is not held already and would pass
   * the budget while something else is held.
   */
  stream(data: Uint8Array, options: Omit<ChunkedStreamOptions, "onDone"> = {}): ReadableStream<Uint8Array> {
    const open = this.#streams.get(data) ?? 0;
    if (open === 0) this.change(data.byteLength);
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
      this.change(-data.byteLength);
    };
    const stream = chunkedStream(data, { ...options, onDone: release });
    this.#dropped.register(stream, release, token);
    return stream;
  }
}

/** Options of {@link chunkedStream}. */
export interface ChunkedStreamOptions {
  /** Bytes per chunk (default {@link DOWNLOAD_CHUNK_BYTES}). */
  chunkBytes?: number;
  /** Runs once, when the last chunk has been taken, the reader cancels or `signal` aborts. */
  onDone?: () => void;
  /**
   * Ends the stream early when it aborts before the end: the response is cut short, which its
   * `Content-Length` tells the client, and the server closes the connection (an errored stream
   * would do the same, with a stack trace in the server's output).
   */
  signal?: AbortSignal;
  /**
   * Ends the stream early, as `signal` does, once this many milliseconds have passed; the timer
   * goes when the stream ends (an `AbortSignal.timeout` per download stayed for its whole time).
   */
  timeoutMs?: number;
}

/**
 * A stream of `data` in chunks (views, no copies), produced as the reader pulls them; see
 * {@link ChunkedStreamOptions}.
 */
export function chunkedStream(data: Uint8Array, options: ChunkedStreamOptions = {}): ReadableStream<Uint8Array> {
  const { chunkBytes = DOWNLOAD_CHUNK_BYTES, onDone, signal, timeoutMs } = options;
  let offset = 0;
  let finished = false;
  let abort: (() => void) | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const finish = () => {
    if (finished) return;
    finished = true;
    if (abort) signal?.removeEventListener("abort", abort);
    clearTimeout(timer);
    onDone?.();
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      abort = () => {
        controller.close();
        finish();
      };
      if (timeoutMs !== undefined) {
        const started = setTimeout(abort, timeoutMs);
        Deno.unrefTimer(started);
        timer = started;
      }
      if (!signal) return;
      if (signal.aborted) abort();
      else signal.addEventListener("abort", abort, { once: true });
    },
    pull(controller) {
      if (offset >= data.byteLength) {
        controller.close();
        finish();
        return;
      }
      const end = Math.min(offset + chunkBytes, data.byteLength);
      controller.enqueue(data.subarray(offset, end));
      offset = end;
    },
    cancel() {
      finish();
    },
  }, { highWaterMark: 0 });
}
