/**
 * `mem://name` blob store: a process-wide named in-memory bucket with the same semantics
 * as the file driver (atomic writes, conditional writes and deletes, key-ordered listing).
 * Every open of `mem://name` in one process sees the same objects; `mem://` (no name) opens
 * a fresh private bucket. Versions come from one process-wide counter, so a token is never
 * reused, even after delete and re-create. Data is copied in and out: callers cannot change
 * stored bytes by mutating arrays.
 *
 * @module
 */

import {
  assertFolderPrefix,
  assertValidKey,
  type BlobErrorKind,
  type BlobInfo,
  BlobNotFoundError,
  type BlobObject,
  type BlobStore,
  type WriteConditions,
} from "../../core/blob.ts";
import { type BlobDriver, blobErrorKindOrUnknown } from "../../core/blob_bucket.ts";
import { assertPrecondition, checkConditions } from "./blob_conditions.ts";
import { driverParams } from "../driver_url.ts";

interface Entry {
  data: Uint8Array;
  modified: Date;
  version: string;
}

const buckets = new Map<string, Map<string, Entry>>();
let versionCounter = 0;

/** Options of {@link openMemBlobStore} (injection points for tests). */
export interface MemBlobOptions {
  /** Source of modification times (default: `Date.now`). */
  now?: () => number;
}

/** Opens `mem://name` (shared by name within the process) or `mem://` (a new private bucket). */
// deno-lint-ignore require-await
export async function openMemBlobStore(url: URL | string, options: MemBlobOptions = {}): Promise<MemBlobStore> {
  const parsed = typeof url === "string" ? new URL(url) : url;
  driverParams(parsed, [], "mem blob store");
  if (parsed.pathname !== "" && parsed.pathname !== "/") {
    throw new Error(`mem blob store URL ${JSON.stringify(parsed.href)}: expected mem://name without a path`);
  }
  const name = decodeURIComponent(parsed.host);
  let bucket = name === "" ? undefined : buckets.get(name);
  if (!bucket) {
    bucket = new Map();
    if (name !== "") buckets.set(name, bucket);
  }
  return new MemBlobStore(name, bucket, options);
}

/** Forgets the named bucket (tests); open stores keep their objects. */
export function dropMemBucket(name: string): void {
  buckets.delete(name);
}

/** A {@link BlobStore} held in this process's memory. */
export class MemBlobStore implements BlobStore, BlobDriver {
  readonly #name: string;
  readonly #objects: Map<string, Entry>;
  readonly #now: () => number;
  #closed = false;

  /** Wraps a bucket map; prefer {@link openMemBlobStore}. */
  constructor(name: string, objects: Map<string, Entry>, options: MemBlobOptions = {}) {
    this.#name = name;
    this.#objects = objects;
    this.#now = options.now ?? Date.now;
  }

  /** Names the bucket in errors. */
  get description(): string {
    return `mem blob store "${this.#name}"`;
  }

  /** Errors of this driver are already portable. */
  errorKind(error: unknown): BlobErrorKind {
    return blobErrorKindOrUnknown(error);
  }

  /** Reads a copy of the object. */
  read(key: string, signal?: AbortSignal): Promise<BlobObject> {
    return this.#run(signal, () => {
      assertValidKey(key);
      const entry = this.#objects.get(key);
      if (!entry) throw new BlobNotFoundError(key);
      return { ...infoOf(key, entry), data: entry.data.slice() };
    });
  }

  /** Metadata of the object, `undefined` when absent. */
  stat(key: string, signal?: AbortSignal): Promise<BlobInfo | undefined> {
    return this.#run(signal, () => {
      assertValidKey(key);
      const entry = this.#objects.get(key);
      return entry && infoOf(key, entry);
    });
  }

  /** Stores a copy of `data` if `conditions` hold; returns the new version. */
  write(key: string, data: Uint8Array, conditions: WriteConditions = {}, signal?: AbortSignal): Promise<string> {
    return this.#run(signal, () => {
      assertValidKey(key);
      checkConditions(conditions);
      assertPrecondition(key, this.#objects.get(key), conditions);
      const version = `m${++versionCounter}`;
      this.#objects.set(key, { data: data.slice(), modified: new Date(this.#now()), version });
      return version;
    });
  }

  /** Deletes the object if present and, with `ifVersion`, only at that version. */
  delete(key: string, conditions: Pick<WriteConditions, "ifVersion"> = {}, signal?: AbortSignal): Promise<boolean> {
    return this.#run(signal, () => {
      assertValidKey(key);
      const entry = this.#objects.get(key);
      if (!entry) return false;
      assertPrecondition(key, entry, conditions);
      this.#objects.delete(key);
      return true;
    });
  }

  /** Lists objects whose key starts with `prefix` in key order (a snapshot taken at the first step). */
  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<BlobInfo> {
    const matches = await this.#run(
      signal,
      () =>
        [...this.#objects].filter(([key]) => key.startsWith(prefix)).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
          .map(([key, entry]) => infoOf(key, entry)),
    );
    for (const info of matches) {
      signal?.throwIfAborted();
      yield info;
    }
  }

  /** The distinct folders directly below `prefix`, in key order. */
  async *listPrefixes(prefix: string, signal?: AbortSignal): AsyncIterable<string> {
    const folders = await this.#run(signal, () => {
      assertFolderPrefix(prefix);
      const found = new Set<string>();
      for (const key of this.#objects.keys()) {
        if (!key.startsWith(prefix)) continue;
        const slash = key.indexOf("/", prefix.length);
        if (slash >= 0) found.add(key.slice(0, slash + 1));
      }
      return [...found].sort();
    });
    for (const folder of folders) {
      signal?.throwIfAborted();
      yield folder;
    }
  }

  /** Always usable while open. */
  check(signal?: AbortSignal): Promise<void> {
    return this.#run(signal, () => undefined);
  }

  /** Marks this handle closed (the bucket stays for other handles). */
  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  #run<T>(signal: AbortSignal | undefined, fn: () => T): Promise<T> {
    try {
      if (this.#closed) throw new Error(`mem blob store "${this.#name}": closed`);
      signal?.throwIfAborted();
      return Promise.resolve(fn());
    } catch (e) {
      return Promise.reject(e);
    }
  }
}

function infoOf(key: string, entry: Entry): BlobInfo {
  return { key, size: entry.data.length, modified: entry.modified, version: entry.version };
}
