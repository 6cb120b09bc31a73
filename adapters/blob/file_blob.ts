/**
 * `file:///abs/dir` blob store: every object is a plain file under the directory (so
 * `<app>/default.pgo` can be handed straight to `go build -pgo`), written atomically and with
 * compare-and-swap that holds across processes on one machine.
 *
 * On-disk layout for key `a/b/name` under root `R`:
 * - `R/a/b/name` — the object's bytes, replaced only by `rename` of a fully written, fsynced
 *   temp file `R/a/b/.autopgo-tmp.<random>` (readers see the old or the new file, never a mix);
 * - `R/a/b/.autopgo-version.name.json` — `{"version", "ino", "size", "mtimeMs"}`: the version token
 *   and the identity of the data file it belongs to. Metadata that does not match the data file
 *   (a crash between the two renames, a file copied in by hand) is ignored and the version is
 *   derived from the file's identity instead, so a stale token can never win a CAS. A write-once
 *   object (`writeOnce`, a staged upload: a unique key never written again) has no version file,
 *   its version is that identity: one file fewer to create, read and delete per upload. The name ends
 *   in `.json` so that no file but `<app>/default.pgo` ends in `default.pgo`: the original's server
 *   lists every key with that suffix as an app, and may share this directory. Stores written by
 *   earlier versions (`R/a/b/.autopgo-meta.name`) are still read, and renamed when opened;
 * - `R/.autopgo-locks/NN` — 64 lock files (key hash stripes). Conditional writes and deletes
 *   hold the stripe's `flock` around check-version + rename, so exactly one racing writer wins,
 *   whichever process it runs in. Reads take no lock.
 *
 * Versions are `<generation>-<random>`: the generation counts writes of the key (for humans),
 * the random part makes every write's token unique, even after delete and re-create.
 * Path segments starting with `.autopgo-` are reserved and segments are limited to 200 bytes
 * (such keys are rejected); a key cannot be both an object and a "folder" of other keys (`a`
 * and `a/b`), as on any file system; on case-insensitive file systems keys differing only in
 * case collide.
 *
 * Metadata is read synchronously: `stat`, the small version file and directory listings. On a
 * local disk each takes a few microseconds, where Deno's asynchronous file calls cost 30–80 µs of
 * hand-off to its I/O threads, and much more CPU when processes outnumber cores (measured: four
 * worker processes on two cores spent more CPU on that hand-off than on merging). A listing of
 * an app's waiting uploads is a stat and a version read per upload, so listings were the bulk of
 * it. So are objects of up to 1 MiB (staged uploads, leases, compact bases) and the folders a
 * write creates; larger objects, writes, renames, fsyncs and locks stay asynchronous. A long
 * listing lets the event loop run every 128 files, so a listing of a large store never holds up
 * the server's other requests for more than about a millisecond at a time.
 *
 * @module
 */

import { dirname, join } from "node:path";
import {
  assertFolderPrefix,
  assertValidKey,
  type BlobErrorKind,
  type BlobInfo,
  BlobNotFoundError,
  type BlobObject,
  type BlobStore,
  PreconditionFailedError,
  type WriteConditions,
} from "../../core/blob.ts";
import { type BlobDriver, blobErrorKindOrUnknown } from "../../core/blob_bucket.ts";
import { assertPrecondition, checkConditions } from "./blob_conditions.ts";
import { absolutePathFromFileUrl, driverParams } from "../driver_url.ts";
import {
  type FileIdentity,
  identityOf,
  isMissing,
  randomHex,
  removeIfExists,
  removeIfExistsSync,
  sameIdentity,
  statIfExists,
  syncDir,
  withFileLock,
  withoutStackTraces,
  writeDurableTemp,
} from "../fs_util.ts";

/** Prefix of every internal file or folder name; key segments may not start with it. */
export const RESERVED_PREFIX = ".autopgo-";
const META_PREFIX = `${RESERVED_PREFIX}version.`;
const META_SUFFIX = ".json";
/** Metadata name of earlier versions, which ended in the key's last segment (`.autopgo-meta.default.pgo`). */
const LEGACY_META_PREFIX = `${RESERVED_PREFIX}meta.`;
const TEMP_PREFIX = `${RESERVED_PREFIX}tmp.`;
const LOCK_DIR = `${RESERVED_PREFIX}locks`;
/** Temp files of unknown owners are left this long before a start-up sweep removes them. */
const STALE_TEMP_MS = 60 * 60_000;

/** A temp file name that records its writer's process id, so a crashed writer's leftovers can be told apart. */
function tempName(): string {
  return `${TEMP_PREFIX}${Deno.pid}.${randomHex(8)}`;
}

function processAlive(pid: number): boolean | undefined {
  if (Deno.build.os !== "linux") return undefined;
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes temp files that a crashed writer left behind (kill -9 between writing a temp file and
 * renaming it): those whose writer process is gone (Linux, same host) or, when that cannot be
 * told, that are older than an hour. Returns how many were removed. The same walk renames the
 * metadata files of earlier versions to the current name.
 */
export async function removeStaleTempFiles(root: string, now = Date.now()): Promise<number> {
  let removed = 0;
  const walk = async (dir: string): Promise<void> => {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory && entry.name !== LOCK_DIR) await walk(path);
      if (entry.isFile && entry.name.startsWith(LEGACY_META_PREFIX)) await migrateLegacyMeta(dir, entry.name);
      if (!entry.isFile || !entry.name.startsWith(TEMP_PREFIX)) continue;
      const pid = Number(/^(\d+)\./.exec(entry.name.slice(TEMP_PREFIX.length))?.[1]);
      let stale = pid > 0 && pid !== Deno.pid ? processAlive(pid) === false : false;
      if (!stale && pid !== Deno.pid) {
        const info = await Deno.stat(path).catch(() => undefined);
        stale = info?.mtime !== null && info?.mtime !== undefined && now - info.mtime.getTime() > STALE_TEMP_MS;
      }
      if (stale && await Deno.remove(path).then(() => true, () => false)) removed++;
    }
  };
  await walk(root);
  return removed;
}
const LOCK_STRIPES = 64;
/** A listing lets the event loop run after this many synchronous stats (about a millisecond). */
const LIST_SLICE_FILES = 128;
/** Objects up to this size are read synchronously (see the module doc). */
const SYNC_READ_BYTES = 1024 * 1024;
/** Longest key segment (file names are limited to 255 bytes and the metadata name adds 22). */
const MAX_SEGMENT_BYTES = 200;
const WHAT = "file blob store";

/** Options of {@link openFileBlobStore} (injection points for tests). */
export interface FileBlobOptions {
  /** Returns the random part of a new version token (default: 12 random hex digits). */
  newToken?: () => string;
}

interface Current {
  info: Deno.FileInfo;
  version: string;
  generation: number;
  /** An earlier version's metadata file was read for it (no current one): remove it on write or delete. */
  legacy: boolean;
  /** A current metadata file exists beside it (matching or not): remove it on delete. */
  hasMeta: boolean;
}

interface Meta extends FileIdentity {
  version: string;
}

/**
 * Opens `file:///abs/dir` (also `file://localhost/abs/dir`; no query parameters). The
 * directory is created if missing. Relative or host-qualified file URLs are rejected with an
 * error; build the URL of a relative directory with `fileUrlFromPath`.
 */
export async function openFileBlobStore(url: URL | string, options: FileBlobOptions = {}): Promise<FileBlobStore> {
  const parsed = typeof url === "string" ? new URL(url) : url;
  driverParams(parsed, [], WHAT);
  const root = absolutePathFromFileUrl(parsed, WHAT);
  try {
    await Deno.mkdir(root, { recursive: true });
  } catch (e) {
    throw new Error(`${WHAT} ${root}: cannot create directory: ${(e as Error).message}`);
  }
  await removeStaleTempFiles(root);
  return new FileBlobStore(root, options);
}

/** A {@link BlobStore} over a local directory; see the module documentation for the layout. */
export class FileBlobStore implements BlobStore, BlobDriver {
  /** The absolute root directory. */
  readonly root: string;
  readonly #newToken: () => string;
  #closed = false;

  /** Wraps an existing directory; prefer {@link openFileBlobStore}. */
  constructor(root: string, options: FileBlobOptions = {}) {
    this.root = root;
    this.#newToken = options.newToken ?? (() => randomHex(6));
  }

  /** Names the directory in errors. */
  get description(): string {
    return `${WHAT} ${this.root}`;
  }

  /** Errors of this driver are portable or plain I/O failures (`unknown`). */
  errorKind(error: unknown): BlobErrorKind {
    return blobErrorKindOrUnknown(error);
  }

  /** Reads the object's bytes and the version they belong to. */
  async read(key: string, signal?: AbortSignal): Promise<BlobObject> {
    const path = this.#path(key, signal);
    let file: Deno.FsFile;
    try {
      file = withoutStackTraces(() => Deno.openSync(path, { read: true }));
    } catch (e) {
      if (isMissing(e) || e instanceof Deno.errors.IsADirectory) throw new BlobNotFoundError(key);
      throw this.#fail("read", key, e);
    }
    try {
      const info = file.statSync();
      if (!info.isFile) throw new BlobNotFoundError(key);
      // The open descriptor pins this file version; a later rename cannot change what we read.
      const { version } = this.#versionOf(path, info);
      const data = new Uint8Array(info.size);
      let got = 0;
      while (got < data.length) {
        signal?.throwIfAborted();
        // Small objects (staged uploads, leases, compact bases) in one synchronous read; large
        // ones asynchronously, so a big download does not hold up the event loop.
        const n = data.length <= SYNC_READ_BYTES
          ? file.readSync(data.subarray(got))
          : await file.read(data.subarray(got));
        if (n === null) break;
        got += n;
      }
      if (got !== data.length) throw new Error(`file shrank while reading (${got} of ${data.length} bytes)`);
      return { key, size: info.size, modified: info.mtime ?? new Date(0), version, data };
    } catch (e) {
      if (e instanceof BlobNotFoundError || signal?.aborted) throw e;
      throw this.#fail("read", key, e);
    } finally {
      file.close();
    }
  }

  /** Metadata of the object, `undefined` when absent. */
  stat(key: string, signal?: AbortSignal): Promise<BlobInfo | undefined> {
    // Synchronous inside, but always a promise: a bad key or a failure rejects, never throws.
    let path: string;
    try {
      path = this.#path(key, signal);
    } catch (e) {
      return Promise.reject(e);
    }
    try {
      const current = this.#current(path);
      return Promise.resolve(current && this.#info(key, current));
    } catch (e) {
      return Promise.reject(this.#fail("stat", key, e));
    }
  }

  /** Atomically replaces the object (temp file + fsync + rename) if `conditions` hold; returns the new version. */
  async write(key: string, data: Uint8Array, conditions: WriteConditions = {}, signal?: AbortSignal): Promise<string> {
    const path = this.#path(key, signal);
    checkConditions(conditions);
    const dir = dirname(path);
    try {
      Deno.mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw this.#fail("write", key, e, "a parent path is an object, not a folder");
    }
    const temp = join(dir, tempName());
    let renamed = false;
    try {
      const identity = await writeDurableTemp(temp, data);
      signal?.throwIfAborted();
      const version = await withFileLock(this.#lockPath(key), () => {
        const current = this.#current(path);
        assertPrecondition(key, current, conditions);
        const next = `${(current?.generation ?? 0) + 1}-${this.#newToken()}`;
        try {
          Deno.renameSync(temp, path);
          renamed = true;
        } catch (e) {
          throw this.#fail("write", key, e, "a folder of other objects has this name");
        }
        // A write-once object keeps no version file: its version is its identity (see WriteConditions).
        if (conditions.ifAbsent && conditions.writeOnce) return identityVersion(identity);
        this.#writeMeta(path, { version: next, ...identity }, current?.legacy ?? false);
        return next;
      });
      await syncDir(dir);
      return version;
    } catch (e) {
      if (e instanceof PreconditionFailedError || signal?.aborted || isOwnError(e)) throw e;
      throw this.#fail("write", key, e);
    } finally {
      if (!renamed) await removeIfExists(temp).catch(() => {});
    }
  }

  /** Deletes the object (and its metadata) if present and, with `ifVersion`, only at that version. */
  async delete(
    key: string,
    conditions: Pick<WriteConditions, "ifVersion"> = {},
    signal?: AbortSignal,
  ): Promise<boolean> {
    const path = this.#path(key, signal);
    checkConditions(conditions);
    try {
      const deleted = await withFileLock(this.#lockPath(key), async () => {
        const current = this.#current(path);
        if (!current) return false;
        assertPrecondition(key, current, conditions);
        await removeIfExists(path);
        if (current.hasMeta) await removeIfExists(metaPathOf(path));
        if (current.legacy) await removeIfExists(legacyMetaPathOf(path));
        return true;
      });
      if (deleted) await syncDir(dirname(path));
      return deleted;
    } catch (e) {
      if (e instanceof PreconditionFailedError) throw e;
      throw this.#fail("delete", key, e);
    }
  }

  /** Lists objects whose key starts with `prefix`, in key order, skipping internal files. */
  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<BlobInfo> {
    this.#open(signal);
    yield* this.#walk(this.root, "", prefix, signal);
  }

  /** The distinct folders directly below `prefix` (directories on disk), in key order. */
  async *listPrefixes(prefix: string, signal?: AbortSignal): AsyncIterable<string> {
    this.#open(signal);
    assertFolderPrefix(prefix);
    const names: string[] = [];
    try {
      for await (const entry of Deno.readDir(prefix === "" ? this.root : join(this.root, prefix))) {
        if (!entry.isDirectory || entry.name.startsWith(RESERVED_PREFIX)) continue;
        if (isListableKey(prefix + entry.name)) names.push(`${prefix}${entry.name}/`);
      }
    } catch (e) {
      if (isMissing(e)) return;
      throw new Error(`${WHAT} ${this.root}: list folders "${prefix}": ${(e as Error).message}`);
    }
    for (const folder of names.sort()) {
      signal?.throwIfAborted();
      yield folder;
    }
  }

  /** Resolves when the root is a directory this process can create and delete files in. */
  async check(signal?: AbortSignal): Promise<void> {
    this.#open(signal);
    const probe = join(this.root, tempName());
    try {
      const info = await Deno.stat(this.root);
      if (!info.isDirectory) throw new Error("not a directory");
      await Deno.writeFile(probe, new Uint8Array([1]), { createNew: true });
      await Deno.remove(probe);
    } catch (e) {
      await removeIfExists(probe).catch(() => {});
      throw new Error(`${WHAT} ${this.root}: not usable: ${(e as Error).message}`);
    }
  }

  /** Marks the store closed; later calls fail. */
  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  async *#walk(
    dir: string,
    keyPrefix: string,
    prefix: string,
    signal?: AbortSignal,
    seen = { files: 0 },
  ): AsyncIterable<BlobInfo> {
    const entries: { name: string; isDir: boolean }[] = [];
    const reserved = new Set<string>();
    try {
      for (const entry of Deno.readDirSync(dir)) {
        if (entry.name.startsWith(RESERVED_PREFIX)) reserved.add(entry.name);
        if (entry.name.startsWith(RESERVED_PREFIX) || entry.isSymlink) continue;
        if (!entry.isFile && !entry.isDirectory) continue;
        entries.push({ name: entry.name, isDir: entry.isDirectory });
      }
    } catch (e) {
      if (isMissing(e)) return;
      throw new Error(`${WHAT} ${this.root}: list "${prefix}": ${(e as Error).message}`);
    }
    const sortKey = (e: { name: string; isDir: boolean }) => e.isDir ? `${e.name}/` : e.name;
    entries.sort((a, b) => sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0);
    for (const entry of entries) {
      signal?.throwIfAborted();
      const key = keyPrefix + entry.name;
      if (!isListableKey(key)) continue;
      if (entry.isDir) {
        const folder = `${key}/`;
        if (folder.startsWith(prefix) || prefix.startsWith(folder)) {
          yield* this.#walk(join(dir, entry.name), folder, prefix, signal, seen);
        }
      } else if (key.startsWith(prefix)) {
        // The reads are synchronous: let the event loop run between slices of a long listing.
        if (++seen.files % LIST_SLICE_FILES === 0) await new Promise((resolve) => setTimeout(resolve, 0));
        // A metadata file created after the folder was read belongs to a write after it: the version
        // given is then the file's identity, which a conditional write or delete refuses as stale.
        const current = this.#current(join(dir, entry.name), reserved);
        if (current) yield this.#info(key, current); // vanished meanwhile: skip
      }
    }
  }

  #info(key: string, current: Current): BlobInfo {
    return { key, size: current.info.size, modified: current.info.mtime ?? new Date(0), version: current.version };
  }

  /**
   * The object at `path` and its version, `undefined` when absent. `metaNames`: the reserved names
   * in its folder, when a listing just read them (no metadata file is looked for that is not there).
   */
  #current(path: string, metaNames?: Set<string>): Current | undefined {
    const info = statIfExists(path);
    if (!info?.isFile) return undefined;
    return { info, ...this.#versionOf(path, info, metaNames) };
  }

  #versionOf(
    path: string,
    info: Deno.FileInfo,
    metaNames?: Set<string>,
  ): { version: string; generation: number; legacy: boolean; hasMeta: boolean } {
    const identity = identityOf(info);
    const [metaPath, legacyPath] = [metaPathOf(path), legacyMetaPathOf(path)];
    const listed = (p: string) => !metaNames || metaNames.has(p.slice(dirname(p).length + 1));
    // An earlier version's file is looked for only without current metadata (opening the store renamed the rest).
    let read = listed(metaPath) ? readMeta(metaPath) : MISSING, legacy = false;
    const hasMeta = read !== MISSING;
    if (!read.meta && listed(legacyPath)) legacy = (read = readMeta(legacyPath)).meta !== undefined;
    const meta = read.meta;
    if (meta && sameIdentity(meta, identity)) {
      return { version: meta.version, generation: Number.parseInt(meta.version, 10) || 0, legacy, hasMeta };
    }
    // No trustworthy metadata (or a write-once object): the version is the file's identity.
    return { version: identityVersion(identity), generation: 0, legacy, hasMeta };
  }

  /** Writes the metadata of `path` (and removes an earlier version's file for it when `legacy`). */
  #writeMeta(path: string, meta: Meta, legacy: boolean): void {
    // Not fsynced on purpose: after a crash a lost or torn metadata file no longer matches and
    // the version falls back to the file identity, which is still safe for compare-and-swap.
    const temp = join(dirname(path), tempName());
    try {
      Deno.writeTextFileSync(temp, JSON.stringify(meta), { createNew: true });
      Deno.renameSync(temp, metaPathOf(path));
    } catch (e) {
      try {
        removeIfExistsSync(temp);
      } catch { /* a stale temp file is left behind */ }
      throw e;
    }
    try {
      if (legacy) removeIfExistsSync(legacyMetaPathOf(path));
    } catch { /* a legacy file left behind is never trusted over the current metadata */ }
  }

  #path(key: string, signal?: AbortSignal): string {
    this.#open(signal);
    assertValidKey(key);
    const segments = key.split("/");
    if (segments.some((s) => s.startsWith(RESERVED_PREFIX))) {
      throw new Error(
        `invalid blob key ${JSON.stringify(key)}: segments starting with "${RESERVED_PREFIX}" are reserved`,
      );
    }
    if (segments.some((s) => new TextEncoder().encode(s).length > MAX_SEGMENT_BYTES)) {
      throw new Error(`invalid blob key ${JSON.stringify(key)}: a segment is longer than ${MAX_SEGMENT_BYTES} bytes`);
    }
    return join(this.root, ...segments);
  }

  #lockPath(key: string): string {
    return join(this.root, LOCK_DIR, String(fnv1a(key) % LOCK_STRIPES).padStart(2, "0"));
  }

  #open(signal?: AbortSignal): void {
    if (this.#closed) throw new Error(`${WHAT} ${this.root}: closed`);
    signal?.throwIfAborted();
  }

  #fail(op: string, key: string, e: unknown, hint?: string): Error {
    if (isOwnError(e)) return e as Error;
    const reason = hint && (e instanceof Deno.errors.NotADirectory || e instanceof Deno.errors.IsADirectory ||
        e instanceof Deno.errors.AlreadyExists || /directory/i.test(String((e as Error).message)))
      ? hint
      : (e as Error).message;
    return new FileBlobError(`${WHAT} ${this.root}: ${op} "${key}": ${reason}`);
  }
}

/** An error this driver already worded (passed through unchanged by outer handlers). */
class FileBlobError extends Error {}

function isOwnError(e: unknown): boolean {
  return e instanceof FileBlobError;
}

function isListableKey(key: string): boolean {
  try {
    assertValidKey(key);
    return true;
  } catch {
    return false;
  }
}

function metaPathOf(path: string): string {
  return join(dirname(path), META_PREFIX + path.slice(dirname(path).length + 1) + META_SUFFIX);
}

function legacyMetaPathOf(path: string): string {
  return join(dirname(path), LEGACY_META_PREFIX + path.slice(dirname(path).length + 1));
}

/**
 * Renames an earlier version's metadata file (`.autopgo-meta.<name>`) to the current name, or
 * removes it when current metadata exists. Either way the version it recorded stays valid: both
 * names are read, and metadata is trusted only while it matches the data file.
 */
async function migrateLegacyMeta(dir: string, legacyName: string): Promise<void> {
  const legacy = join(dir, legacyName);
  const current = join(dir, META_PREFIX + legacyName.slice(LEGACY_META_PREFIX.length) + META_SUFFIX);
  try {
    if (await Deno.lstat(current).then(() => true, () => false)) await removeIfExists(legacy);
    else await Deno.rename(legacy, current);
  } catch { /* left as it is: still read under its old name */ }
}

/** A metadata file's content: `meta` when it holds a version; {@link MISSING} when there is no file. */
interface MetaRead {
  meta?: Meta;
}

const MISSING: MetaRead = Object.freeze({});

function readMeta(path: string): MetaRead {
  let text: string;
  try {
    text = withoutStackTraces(() => Deno.readTextFileSync(path));
  } catch (e) {
    if (isMissing(e)) return MISSING;
    throw e;
  }
  try {
    const meta = JSON.parse(text);
    return { meta: typeof meta?.version === "string" && typeof meta.size === "number" ? meta as Meta : undefined };
  } catch {
    return {}; // torn by a crash: ignored, see #versionOf
  }
}

/** The version of a file without trustworthy metadata: its identity (stable until it is replaced). */
function identityVersion(identity: FileIdentity): string {
  return `0-f${identity.ino ?? 0}.${identity.mtimeMs}.${identity.size}`;
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash;
}
