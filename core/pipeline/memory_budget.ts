/**
 * A server-wide bound on bytes held at once, shared by the upload budget (upload_budget.ts,
 * `--max-upload-memory`) and the download budget (download_budget.ts, `--max-download-memory`):
 * what is held, the check before taking more, and the one-line 503 a refused client gets.
 *
 * @module
 */

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

/** How a budget names itself and refuses. */
export interface MemoryBudgetOptions {
  /** What the budget holds, for the RangeError of a bad maximum ("upload", "download"). */
  what: string;
  /** The error for `requested` more bytes while `held` of `max` are held. */
  refuse: (requested: number, held: number, max: number) => MemoryBudgetError;
  /** Admit anything while nothing is held (so one item larger than the budget still passes). */
  admitFirst?: boolean;
}

/** Bytes held against a maximum; see the module doc. */
export class MemoryBudget {
  #held = 0;

  /** A budget of `maxBytes` bytes (a positive safe integer). */
  constructor(readonly maxBytes: number, private readonly options: MemoryBudgetOptions) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
      throw new RangeError(`${options.what} memory budget must be a positive number of bytes, got ${maxBytes}`);
    }
  }

  /** Bytes held now. */
  get bytesHeld(): number {
    return this.#held;
  }

  /** Throws the budget's {@link MemoryBudgetError} when `bytes` more would not fit now (nothing is taken). */
  checkFits(bytes: number): void {
    if (this.options.admitFirst && this.#held === 0) return;
    if (this.#held + bytes > this.maxBytes) throw this.options.refuse(bytes, this.#held, this.maxBytes);
  }

  /** Holds `bytes` more (checked as {@link checkFits}), or lets `-bytes` go for a negative amount. */
  protected change(bytes: number): void {
    if (bytes > 0) this.checkFits(bytes);
    this.#held = Math.max(0, this.#held + bytes);
  }
}
