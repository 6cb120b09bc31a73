/**
 * Bytes the connection guard holds back (the start of a request head not complete yet), in a
 * buffer that doubles as it grows: a head trickled in one byte per read costs linear time, not
 * a copy of everything held per byte.
 *
 * @module
 */

/** A growable byte buffer that is appended to and taken from the front. */
export class HeldBytes {
  #buffer = new Uint8Array(0);
  #length = 0;

  /** Bytes held. */
  get length(): number {
    return this.#length;
  }

  /** Appends a copy of `bytes`. */
  append(bytes: Uint8Array): void {
    if (this.#length + bytes.length > this.#buffer.length) {
      const grown = new Uint8Array(Math.max(256, 2 * this.#buffer.length, this.#length + bytes.length));
      grown.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = grown;
    }
    this.#buffer.set(bytes, this.#length);
    this.#length += bytes.length;
  }

  /** Removes the first `count` bytes and returns them (a copy); the rest stays held. */
  take(count: number): Uint8Array<ArrayBuffer> {
    const front = this.#buffer.slice(0, count);
    this.#buffer.copyWithin(0, count, this.#length);
    this.#length -= count;
    if (this.#length === 0) this.#buffer = new Uint8Array(0);
    return front;
  }
}
