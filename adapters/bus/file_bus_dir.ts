/**
 * The on-disk side of the `file://` event bus (adapters/bus/file_bus.ts): the directory layout,
 * message file names, and the two things every operation pays for, kept cheap:
 *
 * - **Listing** `pending/` and `inflight/`: one synchronous directory read (the async iterator
 *   costs a few microseconds per entry, ~6 ms for 2,000 waiting messages, ~1.3 ms this way) and
 *   names parsed once per process (a message's file name never changes while it stays in one
 *   folder; renames make new names). Claims list under the bus lock, so this is the bus's
 *   serial section.
 * - **Sequence numbers** for sends come from `D/.autopgo-bus.seq` (the last number handed out,
 *   16 digits and a newline, written over the old one in place under the bus lock before the
 *   messages are renamed into `pending/`) instead of a listing of the whole queue. A missing or
 *   damaged file (a bus made by an older version, a torn write) is rebuilt from a listing. The next number is also at
 *   least `now × 1000`, so if a power loss kept a message but lost the file's last write (it is
 *   not fsynced), numbers still grow: a reboot takes far longer than the milliseconds it would
 *   take to hand out 1,000 numbers per millisecond.
 *
 * @module
 */

import { join } from "node:path";
import { isMissing, randomHex, removeIfExists, withFileLock, withoutStackTraces } from "../fs_util.ts";

const WHAT = "file event bus";
const STALE_TEMP_MS = 3_600_000;
/** The ordering-key field of a message without a key. */
export const NO_KEY = "_";

/** A message file, parsed from its name. */
export interface QueueEntry {
  /** File name inside `pending/` or `inflight/`. */
  name: string;
  /** Publication order. */
  seq: number;
  /** Hash of the ordering key, or {@link NO_KEY}. */
  key: string;
  /** Delivery attempt (1 on the first delivery). */
  attempt: number;
  /** visibleAt (pending) or lease deadline (inflight). */
  at: number;
}

/** Paths of one bus directory and the operations on them. */
export class BusDir {
  /** Waiting messages. */
  readonly pending: string;
  /** Leased messages. */
  readonly inflight: string;
  /** Messages being written. */
  readonly tmp: string;
  /** The bus lock. */
  readonly lock: string;
  /** The last sequence number handed out. */
  readonly seqFile: string;
  /** Parsed names per listed folder, from the previous listing. */
  readonly #parsed = new Map<string, Map<string, QueueEntry>>();

  /** Paths under `root` (nothing is created: see {@link BusDir.prepare}). */
  constructor(readonly root: string) {
    this.pending = join(root, "pending");
    this.inflight = join(root, "inflight");
    this.tmp = join(root, "tmp");
    this.lock = join(root, ".autopgo-bus.lock");
    this.seqFile = join(root, ".autopgo-bus.seq");
  }

  /** Creates the folders and removes temporary files older than an hour. */
  async prepare(now: number): Promise<void> {
    try {
      for (const dir of [this.pending, this.inflight, this.tmp]) await Deno.mkdir(dir, { recursive: true });
      for await (const entry of Deno.readDir(this.tmp)) {
        const path = join(this.tmp, entry.name);
        const info = await Deno.stat(path).catch(() => undefined);
        if (info?.mtime && now - info.mtime.getTime() > STALE_TEMP_MS) await removeIfExists(path);
      }
    } catch (e) {
      throw new Error(`${WHAT} ${this.root}: cannot prepare directory: ${(e as Error).message}`);
    }
  }

  /** Resolves when the folders exist and a file can be written. */
  async check(): Promise<void> {
    const probe = join(this.tmp, `check-${randomHex(8)}`);
    try {
      for (const dir of [this.pending, this.inflight]) {
        if (!(await Deno.stat(dir)).isDirectory) throw new Error(`${dir} is not a directory`);
      }
      await Deno.writeFile(probe, new Uint8Array([1]), { createNew: true });
      await Deno.remove(probe);
    } catch (e) {
      await removeIfExists(probe).catch(() => {});
      throw new Error(`${WHAT} ${this.root}: not usable: ${(e as Error).message}`);
    }
  }

  /** The messages in `dir` (`pending` or `inflight`), in no particular order. */
  list(dir: string): QueueEntry[] {
    const before = this.#parsed.get(dir);
    const now = new Map<string, QueueEntry>();
    for (const entry of Deno.readDirSync(dir)) {
      const parsed = before?.get(entry.name) ?? parseName(entry.name);
      if (parsed) now.set(entry.name, parsed);
    }
    this.#parsed.set(dir, now);
    return [...now.values()];
  }

  /** Hands out `count` increasing sequence numbers; call under the bus lock. */
  nextSeqs(count: number, now: number): number[] {
    let last = this.#readSeq();
    const intact = last !== undefined;
    if (last === undefined) {
      last = 0;
      for (const sub of [this.pending, this.inflight]) {
        for (const entry of this.list(sub)) last = Math.max(last, entry.seq);
      }
    }
    const seqs: number[] = [];
    for (let i = 0; i < count; i++) seqs.push(last = Math.max(last + 1, Math.floor(now) * 1000));
    const text = `${pad(last)}\n`;
    // Overwritten in place when the file holds a number of the same length: a truncating rewrite
    // cost about 0.2 ms on ext4 (which starts writing back a file replaced by truncation when it is
    // closed), under the bus lock that every send and claim takes; this costs about 0.01 ms.
    if (!intact || text.length !== SEQ_FILE_BYTES || !overwriteInPlace(this.seqFile, text)) {
      Deno.writeTextFileSync(this.seqFile, text);
    }
    return seqs;
  }

  /** The sequence file's text ("" if missing): it changes with every send. */
  seqMark(): string {
    try {
      return Deno.readTextFileSync(this.seqFile);
    } catch (e) {
      if (isMissing(e)) return "";
      throw e;
    }
  }

  #readSeq(): number | undefined {
    try {
      const text = Deno.readTextFileSync(this.seqFile);
      return /^\d{16}\n$/.test(text) ? Number(text.slice(0, 16)) : undefined;
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
  }

  /**
   * Pushes a lease's deadline to `deadline` by renaming its file under the bus lock (claims check
   * expiry under the same lock, so a renewed lease is never reclaimed); undefined if it is gone.
   */
  renewLease(entry: QueueEntry, deadline: number, owner: string): Promise<QueueEntry | undefined> {
    const renewed = { ...entry, at: Math.round(deadline) };
    renewed.name = inflightName(renewed, owner);
    return withFileLock(this.lock, () => {
      try {
        Deno.renameSync(join(this.inflight, entry.name), join(this.inflight, renewed.name));
        return renewed;
      } catch (e) {
        if (isMissing(e)) return undefined;
        throw e;
      }
    });
  }

  /** Atomically moves a leased message back to `pending/` with the next attempt; false if the lease is gone. */
  returnToPending(entry: QueueEntry, visibleAt: number): Promise<boolean> {
    const name = `${pad(entry.seq)}.${entry.key}.${entry.attempt + 1}.${Math.round(visibleAt)}`;
    try {
      Deno.renameSync(join(this.inflight, entry.name), join(this.pending, name));
      return Promise.resolve(true);
    } catch (e) {
      if (isMissing(e)) return Promise.resolve(false);
      return Promise.reject(e);
    }
  }
}

/** Size of an intact `.autopgo-bus.seq`: 16 digits and a newline. */
const SEQ_FILE_BYTES = 17;

/**
 * Writes `text` over the start of the existing file at `path`, without truncating or creating it;
 * false if the file is not there (then the caller creates it).
 */
function overwriteInPlace(path: string, text: string): boolean {
  let file: Deno.FsFile;
  try {
    file = withoutStackTraces(() => Deno.openSync(path, { write: true }));
  } catch (e) {
    if (isMissing(e)) return false;
    throw e;
  }
  try {
    const data = new TextEncoder().encode(text);
    for (let written = 0; written < data.length;) written += file.writeSync(data.subarray(written));
    return true;
  } finally {
    file.close();
  }
}

/** A sequence number as 16 digits (names sort by it). */
export function pad(seq: number): string {
  return String(seq).padStart(16, "0");
}

/** The `inflight/` name of `entry` (whose `at` is the lease deadline) leased to `owner`. */
export function inflightName(entry: QueueEntry, owner: string): string {
  return `${pad(entry.seq)}.${entry.key}.${entry.attempt}.${entry.at}.${owner}`;
}

function parseName(name: string): QueueEntry | undefined {
  const parts = name.split(".");
  if (parts.length !== 4 && parts.length !== 5) return undefined;
  const [seq, key, attempt, at] = [Number(parts[0]), parts[1], Number(parts[2]), Number(parts[3])];
  if (![seq, attempt, at].every(Number.isSafeInteger) || !/^(_|[0-9a-f]{16})$/.test(key)) return undefined;
  return { name, seq, key, attempt, at };
}

/** 64-bit FNV-1a of the ordering key as 16 hex digits (file-name safe, fixed length). */
export function keyHash(orderingKey: string | undefined): string {
  if (orderingKey === undefined) return NO_KEY;
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(orderingKey)) {
    hash = BigInt.asUintN(64, (hash ^ BigInt(byte)) * 0x100000001b3n);
  }
  return hash.toString(16).padStart(16, "0");
}
