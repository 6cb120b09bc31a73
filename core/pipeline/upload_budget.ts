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
import { MemoryBudget, MemoryBudgetError } from "./memory_budget.ts";

/** Default budget: 256 MiB, four uploads of the default 64 MiB limit. */
export const DEFAULT_MAX_UPLOAD_MEMORY = 256 * 1024 * 1024;

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
export class UploadBudget extends MemoryBudget implements UploadMeter {
  /** A budget of `maxBytes` bytes (a positive safe integer). */
  constructor(maxBytes: number = DEFAULT_MAX_UPLOAD_MEMORY) {
    super(maxBytes, { what: "upload", refuse: (...args) => new UploadBudgetError(...args) });
  }

  /** See {@link UploadMeter.held}: only `body` counts; a growth past the budget throws and counts nothing. */
  held(kind: HeldKind, delta: number): void {
    if (kind === "body") this.change(delta);
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
