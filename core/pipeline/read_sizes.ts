/**
 * Read buffer sizes for the server's streams (the connection guard's relays, conn_guard.ts, and
 * upload bodies, http_body.ts): small until a read fills one, so the many connections that trickle
 * or rest (a flood of them holds every place) hold little, and large once bytes are moving.
 *
 * @module
 */

/** Bytes of a stream's first reads. */
export const FIRST_READ_BYTES = 16 * 1024;

/** Bytes of its reads once one of them filled its buffer. */
export const LARGE_READ_BYTES = 64 * 1024;

/** Whether a read of `read` bytes into a buffer of `size` bytes calls for {@link LARGE_READ_BYTES} from now on. */
export function readsShouldGrow(read: number, size: number): boolean {
  return read === size && size < LARGE_READ_BYTES;
}
