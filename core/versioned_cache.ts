/**
 * A bounded memory of objects by key at one version each (a store object's version names one
 * content, so what is remembered for a key and version is never stale), bounded by count and by
 * the bytes the values hold; the least recently used are forgotten first. Used for the retention
 * windows a worker has read (core/pipeline/known_windows.ts) and the bases the server serves
 * (core/pipeline/base_downloads.ts).
 *
 * @module
 */

/** A value that holds bytes: they count against the cache's byte bound. */
export interface HoldsBytes {
  data: Uint8Array;
}

/** See the module doc. */
export class VersionedCache<V extends HoldsBytes> {
  readonly #entries = new Map<string, { version: string; value: V }>();
  #bytes = 0;

  /** Remembers at most `limit` values of at most `maxBytes` bytes in all. */
  constructor(private readonly limit: number, private readonly maxBytes: number) {}

  /** The value of `key` at `version`, when remembered (it becomes the most recently used). */
  get(key: string, version: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry?.version !== version) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.value;
  }

  /** Remembers `value` as `key` at `version`, replacing what was remembered for `key`; one larger than the whole bound is not kept. */
  set(key: string, version: string, value: V): void {
    this.#forget(key);
    if (value.data.byteLength > this.maxBytes) return;
    this.#entries.set(key, { version, value });
    this.#bytes += value.data.byteLength;
    while (this.#entries.size > this.limit || this.#bytes > this.maxBytes) {
      this.#forget(this.#entries.keys().next().value!);
    }
  }

  #forget(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    this.#bytes -= entry.value.data.byteLength;
  }
}
