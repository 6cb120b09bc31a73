/**
 * File-system building blocks shared by the `file://` drivers: a lock that excludes other
 * processes (flock on a lock file) and other tasks of this process, durable temp-file
 * writes for atomic rename, directory fsync, and random tokens.
 *
 * @module
 */

import { dirname } from "node:path";
import { toHex } from "../core/hex.ts";

const inProcessTails = new Map<string, Promise<void>>();

/**
 * Runs `fn` while holding an exclusive lock on `lockPath` (created if missing, never deleted,
 * so every process locks the same inode). Tasks of this process queue on an in-process
 * mutex first, so at most one thread per process waits in `flock`. The kernel drops the
 * lock if the process dies, so a crash never leaves the store locked.
 */
export async function withFileLock<T>(lockPath: string, fn: () => T | Promise<T>): Promise<T> {
  const previous = inProcessTails.get(lockPath) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => release = r);
  const tail = previous.then(() => mine);
  inProcessTails.set(lockPath, tail);
  await previous;
  try {
    const file = openLockFile(lockPath);
    try {
      await file.lock(true);
      try {
        return await fn();
      } finally {
        file.unlockSync(); // never waits: a synchronous call is microseconds, an async one far more
      }
    } finally {
      file.close();
    }
  } finally {
    release();
    if (inProcessTails.get(lockPath) === tail) inProcessTails.delete(lockPath);
  }
}

/** Opens (creating) the lock file synchronously: a local open is microseconds, an async one far more. */
function openLockFile(lockPath: string): Deno.FsFile {
  try {
    return Deno.openSync(lockPath, { read: true, write: true, create: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    Deno.mkdirSync(dirname(lockPath), { recursive: true });
    return Deno.openSync(lockPath, { read: true, write: true, create: true });
  }
}

/** Identity of a written file, used to tell whether metadata describes the file it sits beside. */
export interface FileIdentity {
  /** Inode number (null where the platform has none). */
  ino: number | null;
  /** Size in bytes. */
  size: number;
  /** Modification time in ms. */
  mtimeMs: number;
}

/** Reads the identity of an open file or a stat result. */
export function identityOf(info: Deno.FileInfo): FileIdentity {
  return { ino: info.ino ?? null, size: info.size, mtimeMs: info.mtime?.getTime() ?? 0 };
}

/** True when two identities describe the same file version. */
export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

/** Writes up to this many bytes with synchronous calls (into the page cache: microseconds); more asynchronously. */
const SYNC_WRITE_BYTES = 1 << 20;

/**
 * Writes `data` to a new file `tempPath` (which must not exist), flushes it to disk and
 * returns its identity. The caller renames it into place or removes it. Opening, writing a
 * small file and `stat` are synchronous calls (Deno's asynchronous file calls cost tens of
 * microseconds each in hand-offs to its I/O threads); only the flush, which waits for the
 * disk, is asynchronous.
 */
export async function writeDurableTemp(tempPath: string, data: Uint8Array): Promise<FileIdentity> {
  const file = Deno.openSync(tempPath, { write: true, createNew: true, mode: 0o644 });
  try {
    let written = 0;
    if (data.length <= SYNC_WRITE_BYTES) {
      while (written < data.length) written += file.writeSync(data.subarray(written));
    } else {
      while (written < data.length) written += await file.write(data.subarray(written));
    }
    await file.syncData();
    return identityOf(file.statSync());
  } finally {
    file.close();
  }
}

/** A folder's flushes in this process: the one running and, at most, one queued behind it. */
interface FolderFlushes {
  running: Promise<void>;
  queued?: Promise<void>;
}

const folderFlushes = new Map<string, FolderFlushes>();

/**
 * Flushes a directory entry change (rename, unlink) to disk; a no-op where directories cannot be
 * opened. Resolves only after a flush of `dir` that started after the call, so the caller's
 * change is on disk, but calls that overlap share flushes (group commit): while one runs, every
 * new caller joins the single flush queued behind it. Eight uploads staged at once into one folder,
 * or a batch's members deleted together, cost two folder flushes instead of one each.
 */
export function syncDir(dir: string): Promise<void> {
  const flushes = folderFlushes.get(dir);
  if (!flushes) {
    const entry: FolderFlushes = { running: flushFolder(dir) };
    folderFlushes.set(dir, entry);
    const advance = (): void => {
      if (!entry.queued) {
        folderFlushes.delete(dir);
        return;
      }
      entry.running = entry.queued; // started just now, after every caller that joined it
      entry.queued = undefined;
      entry.running.then(advance);
    };
    entry.running.then(advance);
    return entry.running;
  }
  return flushes.queued ??= flushes.running.then(() => flushFolder(dir));
}

let folderFlushCount = 0;

/** Folder flushes this process has started (what {@link syncDir}'s sharing saves shows here). */
export function folderFlushesStarted(): number {
  return folderFlushCount;
}

/** One `fsync` of a folder; never rejects. */
async function flushFolder(dir: string): Promise<void> {
  folderFlushCount++;
  let handle: Deno.FsFile | undefined;
  try {
    handle = Deno.openSync(dir, { read: true });
    await handle.sync();
  } catch {
    // Windows cannot open or fsync directories; renames there are durable enough.
  } finally {
    handle?.close();
  }
}

/**
 * Removes a file, ignoring a missing one, with a synchronous call (an unlink is microseconds). A
 * missing file is the common case (a legacy metadata file, a temp file already renamed), so its
 * error is built without a stack trace, which cost more than the call itself. Resolves whether a
 * file was removed.
 */
export function removeIfExists(path: string): Promise<boolean> {
  try {
    return Promise.resolve(removeIfExistsSync(path));
  } catch (e) {
    return Promise.reject(e);
  }
}

/** {@link removeIfExists}, answering at once: whether a file was removed. */
export function removeIfExistsSync(path: string): boolean {
  try {
    withoutStackTraces(() => Deno.removeSync(path));
    return true;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    return false;
  }
}

/**
 * The file's metadata, or undefined when nothing is there ({@link isMissing}), with a synchronous
 * call whose "missing" error is built without a stack trace (as in {@link removeIfExists}): a
 * store asks about absent files all the time (an upload already merged, a legacy metadata file).
 */
export function statIfExists(path: string): Deno.FileInfo | undefined {
  try {
    return withoutStackTraces(() => Deno.statSync(path));
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
}

/**
 * Runs `fn` with V8 capturing no stack trace for errors created meanwhile: for calls whose errors
 * are expected answers, not bugs (building the trace cost more than the call itself).
 */
export function withoutStackTraces<T>(fn: () => T): T {
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return fn();
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
}

/** `bytes` random bytes as lower-case hex. */
export function randomHex(bytes: number): string {
  return toHex(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** True for errors meaning "nothing there" when opening a path (missing, or a path component is a file). */
export function isMissing(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory;
}
