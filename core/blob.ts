/**
 * Portable blob storage: the interface every driver (file://, mem://, later s3://, gs://,
 * azblob://) implements, and the errors they signal.
 *
 * Writes are whole-object and atomic. Every stored object has an opaque `version` (an ETag,
 * a GCS generation, a file generation counter…) so callers can do compare-and-swap:
 * `write(key, data, { ifAbsent: true })` creates only when nothing is there,
 * `write(key, data, { ifVersion: v })` replaces only the exact version `v` that was read.
 * A failed precondition throws {@link PreconditionFailedError}; nothing is written.
 *
 * @module
 */

import { hasControlCharacter } from "./control_chars.ts";

/** Metadata of one stored object. */
export interface BlobInfo {
  /** Full key, `/`-separated (e.g. `my-app/default.pgo`). */
  key: string;
  /** Size in bytes. */
  size: number;
  /** Last modification time. */
  modified: Date;
  /** Opaque version token for conditional writes and HTTP ETags. */
  version: string;
}

/** An object's bytes and metadata. */
export interface BlobObject extends BlobInfo {
  data: Uint8Array;
}

/** Preconditions for {@link BlobStore.write} and {@link BlobStore.delete}. At most one may be set. */
export interface WriteConditions {
  /** Write only if no object exists at the key (S3 If-None-Match: *, GCS ifGenerationMatch=0). */
  ifAbsent?: boolean;
  /** Write only if the current object has exactly this version (S3 If-Match, GCS generation, Azure ETag). */
  ifVersion?: string;
  /**
   * With `ifAbsent`: the key is unique (a staged upload's) and is never written again, so a store
   * may skip bookkeeping that only a replacement needs. The file store then keeps no version file:
   * the version comes from the file itself, which is safe only because the key never comes back.
   */
  writeOnce?: boolean;
}

/** A bucket of objects addressed by key. Implementations must be safe for concurrent use. */
export interface BlobStore {
  /** Reads a whole object; throws {@link BlobNotFoundError} when absent. */
  read(key: string, signal?: AbortSignal): Promise<BlobObject>;
  /** Metadata only; `undefined` when absent. */
  stat(key: string, signal?: AbortSignal): Promise<BlobInfo | undefined>;
  /**
   * Atomically writes `data` at `key` (readers see the old or the new object, never a mix)
   * and returns the new version. Throws {@link PreconditionFailedError} when a condition fails.
   */
  write(key: string, data: Uint8Array, conditions?: WriteConditions, signal?: AbortSignal): Promise<string>;
  /**
   * Deletes an object. Returns false when it did not exist. With `ifVersion`, throws
   * {@link PreconditionFailedError} when the current version differs.
   */
  delete(key: string, conditions?: Pick<WriteConditions, "ifVersion">, signal?: AbortSignal): Promise<boolean>;
  /** Lists objects whose key starts with `prefix`, in lexicographic key order. */
  list(prefix: string, signal?: AbortSignal): AsyncIterable<BlobInfo>;
  /**
   * Lists the distinct "folders" directly below `prefix` (`""` or ending in `/`), each as
   * `prefix + segment + "/"`, in lexicographic order — a delimiter listing (S3/GCS/Azure
   * `delimiter=/`), so callers can enumerate apps without scanning every object. A folder
   * whose objects were all deleted may still be listed (file:// keeps empty directories).
   */
  listPrefixes(prefix: string, signal?: AbortSignal): AsyncIterable<string>;
  /** Health check: resolves when the store is reachable and usable, throws otherwise. */
  check(signal?: AbortSignal): Promise<void>;
  /** Releases resources. */
  close(): Promise<void>;
}

/**
 * Portable error categories (as go-cloud's `gcerrors`): callers decide on the kind, never on a
 * driver's own error type, which stays reachable as `cause`.
 * - `not-found`: the object, bucket or container does not exist;
 * - `precondition`: a conditional write or delete lost;
 * - `permission`: credentials are missing, wrong or not allowed to do this;
 * - `unavailable`: transient — throttling, a 5xx, a refused or reset connection, a timeout;
 *   the only retryable kind;
 * - `invalid`: the request itself is wrong (bad key, contradictory conditions, bad URL);
 * - `closed`: the store was closed;
 * - `unknown`: anything else.
 */
export type BlobErrorKind =
  | "not-found"
  | "precondition"
  | "permission"
  | "unavailable"
  | "invalid"
  | "closed"
  | "unknown";

/** Options of {@link BlobError}. */
export interface BlobErrorOptions {
  /** The key involved, when there is one. */
  key?: string;
  /** The driver's or SDK's own error. */
  cause?: unknown;
}

/** A blob store failure with a portable {@link BlobErrorKind}; `cause` keeps the driver's error. */
export class BlobError extends Error {
  /** The portable category. */
  readonly kind: BlobErrorKind;
  /** The key involved, if any. */
  readonly key?: string;
  /** Creates the error with a one-line message. */
  constructor(kind: BlobErrorKind, message: string, options: BlobErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BlobError";
    this.kind = kind;
    this.key = options.key;
  }

  /** True for transient failures worth retrying with backoff (`unavailable`). */
  get retryable(): boolean {
    return this.kind === "unavailable";
  }
}

/** The object does not exist. */
export class BlobNotFoundError extends BlobError {
  /** The missing key. */
  declare readonly key: string;
  /** Creates the error for `key`. */
  constructor(key: string, options: { cause?: unknown } = {}) {
    super("not-found", `blob "${key}" not found`, { key, cause: options.cause });
    this.name = "BlobNotFoundError";
  }
}

/** A conditional write or delete lost: the object exists (ifAbsent) or has another version (ifVersion). */
export class PreconditionFailedError extends BlobError {
  /** The contested key. */
  declare readonly key: string;
  /** Creates the error for `key` with a one-line reason. */
  constructor(key: string, reason: string, options: { cause?: unknown } = {}) {
    super("precondition", `blob "${key}": precondition failed: ${reason}`, { key, cause: options.cause });
    this.name = "PreconditionFailedError";
  }
}

/** The kind of `error` when it is a {@link BlobError}, else `undefined`. */
export function blobErrorKind(error: unknown): BlobErrorKind | undefined {
  return error instanceof BlobError ? error.kind : undefined;
}

/** Throws unless `prefix` is a valid folder prefix for {@link BlobStore.listPrefixes}: `""` or ending in `/`. */
export function assertFolderPrefix(prefix: string): void {
  if (prefix !== "" && !prefix.endsWith("/")) {
    throw new BlobError("invalid", `invalid folder prefix ${JSON.stringify(prefix)}`);
  }
  if (prefix !== "") assertValidKey(prefix.slice(0, -1));
}

/**
 * Rejects keys that could escape a bucket or are ambiguous: empty, absolute, `.`/`..`
 * segments, empty segments, backslashes or control characters. Drivers call it on every key.
 */
export function assertValidKey(key: string): void {
  const bad = key === "" || key.startsWith("/") || key.endsWith("/") || key.includes("\\") ||
    hasControlCharacter(key) ||
    key.split("/").some((s) => s === "" || s === "." || s === "..");
  if (bad) throw new BlobError("invalid", `invalid blob key ${JSON.stringify(key)}`, { key });
}
