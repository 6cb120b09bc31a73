/**
 * A bound on the bytes of all the uploads a server holds at once (`--max-upload-memory`).
 *
 * Each upload is bounded by `--max-upload-size` and its request deadline, but nothing else bounded
 * how many are held together: sixteen clients that each sent 60 MB of a well-formed profile
 * prefix and then stalled held 1 GB of the server's memory until their deadlines (measured), and
 * the connection cap allows a thousand such clients. The budget counts the body buffers of the
 * uploads being received, checked and staged (upload_meter.ts kind `body`: committed as bytes
 * arrive, released when the request lets go of the body); an upload whose next bytes would pass it
 * is answered 503 with `Retry-After` at once: before its body is read when its `Content-Length`
 * does not fit in what is left now ({@link UploadBudget.checkFits}), as soon as the bytes that
 * arrived do not fit otherwise. A declared length is only checked, never taken ahead of its bytes
 * (a client could take the budget without sending any). The uploads already held go on.
 *
 * @module
 */

import type { HeldKind, UploadMeter } from "./upload_meter.ts";

/** Default budget: 256 MiB, four uploads of the default 64 MiB limit. */
export const DEFAULT_MAX_UPLOAD_MEMORY = 256 * 1024 * 1024;

/** Seconds a client refused by a memory budget is asked to wait. */
const RETRY_AFTER_SECONDS = 2;

/**
 * A server-wide memory budget refused `requested` more bytes while `held` of `max` are held
 * (answered 503 with `Retry-After`); `holders` names what holds them, `flag` the budget's flag.
 */
export class MemoryBudgetError extends Error {
  /** Seconds the client is asked to wait before it retries. */
  readonly retryAfterSeconds = RETRY_AFTER_SECONDS;

  /** Creates the error, with a one-line message naming the budget's flag. */
  constructor(holders: string, flag: string, requested: number, held: number, max: number) {
    super(
      `server busy: ${holders} hold ${held} of the ${max} bytes allowed at once (${flag}), ` +
        `${requested} more do not fit; retry in ${RETRY_AFTER_SECONDS} s`,
    );
    this.name = "MemoryBudgetError";
  }
}

/** Taking `requested` more bytes would pass the upload budget. */
export class UploadBudgetError extends MemoryBudgetError {
  /** Creates the error for `requested` more bytes while `held` of `max` are held. */
  constructor(requested: number, held: number, max: number) {
    super("the uploads being received", "--max-upload-memory", requested, held, max);
    this.name = "UploadBudgetError";
  }
}

/**
 * The bytes of upload bodies held now, against a maximum; an {@link UploadMeter} that counts kind
 * `body` and throws {@link UploadBudgetError}, counting nothing, for a growth that would pass it.
 */
export class UploadBudget implements UploadMeter {
  #held = 0;

  /** A budget of `maxBytes` bytes (a positive safe integer). */
  constructor(readonly maxBytes: number = DEFAULT_MAX_UPLOAD_MEMORY) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
      throw new RangeError(`upload memory budget must be a positive number of bytes, got ${maxBytes}`);
    }
  }

  /** Bytes of upload bodies held now. */
  get bytesHeld(): number {
    return this.#held;
  }

  /** Throws {@link UploadBudgetError} when `bytes` more would not fit now (nothing is taken). */
  checkFits(bytes: number): void {
    if (this.#held + bytes > this.maxBytes) throw new UploadBudgetError(bytes, this.#held, this.maxBytes);
  }

  /** See {@link UploadMeter.held}: only `body` counts; a growth past the budget throws and counts nothing. */
  held(kind: HeldKind, delta: number): void {
    if (kind !== "body") return;
    if (delta > 0 && this.#held + delta > this.maxBytes) throw new UploadBudgetError(delta, this.#held, this.maxBytes);
    this.#held = Math.max(0, this.#held + delta);
  }
}

/** An {@link UploadMeter} telling `budget` first (which may refuse) and then `meter`, when given. */
export function budgetMeter(budget: UploadBudget, meter?: UploadMeter): UploadMeter {
  return {
    held(kind, delta) {
      budget.held(kind, delta);
      meter?.held(kind, delta);
    },
  };
}
