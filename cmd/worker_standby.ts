/**
 * Local worker slots: at most `--local-workers` worker processes of one pipeline (one blob store
 * and event subscription) consume events at once on one machine; the others stand by and take
 * over within a quarter of a second when one exits, however it exits (issue 13: ingest must never shrink with
 * workers).
 *
 * Why: worker processes beyond the machine's cores do not add CPU, they share it. Measured on 2
 * cores (BENCHMARKS.md, "Worker processes"): four workers used about twice the CPU per upload of one
 * (each process warms its own merger, holds its own caches and takes its share of the app leases'
 * hand-offs, and each app's batches got smaller), so ingest fell below what two workers reach.
 * A standby costs nothing but its start-up: it holds no event reader (no Kafka partitions, no
 * Pub/Sub leases, no prefetched messages) and runs no sweep.
 *
 * How: the slots are files `slot-0` … `slot-<n-1>` in a folder named by a hash of the store and
 * reader URLs, under `/dev/shm` (else the temporary folder). A process holds a slot by an
 * exclusive `flock` on its file, which the kernel drops when the process ends, even by `kill -9`,
 * so no slot is ever left held. A standby tries the slots again every {@link STANDBY_POLL_MS}. A
 * holder that releases its slot removes the file while still holding the lock (and the folder when
 * it is the last), and a taker checks that the file it locked is still the one at the slot's path,
 * so a clean exit leaves nothing behind and a killed holder one small file, which the next taker
 * reuses and which any worker starting on the machine removes ({@link sweepIdleSlotFolders}).
 * Processes that cannot see the same folder (containers; systemd units with `PrivateDevices=yes`,
 * as in deploy/systemd, each have their own `/dev/shm`) never wait for each other; a folder that cannot be used leaves the process active,
 * with a warning: the slots are an optimisation, never a condition of correctness.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { tmpdir } from "node:os";
import { InvalidArgumentError } from "commander";
import { sha256Hex } from "../core/hex.ts";
import { abortableSleep } from "../core/sleep.ts";
import { oneLine } from "./cli_problem.ts";
import { nonNegativeIntArg } from "./options.ts";

const log = getLogger(["autopgo", "worker"]);

/** How often a standby worker tries the slots again. */
export const STANDBY_POLL_MS = 250;

/** The default of `--local-workers`: the machine's logical cores. */
export function defaultLocalWorkers(): number {
  return Math.max(1, globalThis.navigator?.hardwareConcurrency ?? 1);
}

/** `--local-workers`: 0 (no limit) to 1024. */
export function localWorkersArg(value: string): number {
  const n = nonNegativeIntArg(value);
  if (n > 1024) throw new InvalidArgumentError(`expected at most 1024 (0: no limit), got ${n}`);
  return n;
}

/** Prefix of every pipeline's slot folder under the slots' root. */
const SLOTS_DIR_PREFIX = "autopgo-workers-";
/** Prefix of the slot files in a folder: `slot-0` … `slot-<n-1>`. */
const SLOT_FILE_PREFIX = "slot-";

/** The folder of one pipeline's slots under `root` (default: `/dev/shm`, else the temporary folder). */
export async function localSlotsDir(storeUrl: string, readerUrl: string, root = slotsRoot()): Promise<string> {
  return `${root}/${SLOTS_DIR_PREFIX}${await sha256Hex(`${storeUrl}\n${readerUrl}`, 8)}`;
}

/**
 * Removes the slot files that no process holds from every pipeline's folder under `root` but
 * `except`, and each folder left empty; returns how many files it removed. A worker killed with
 * `kill -9` leaves its slot's file and folder, which only a later worker of the same pipeline
 * would reuse: without this sweep, every pipeline that ever lost a worker that way kept a folder
 * in `/dev/shm` until the machine restarted. It follows the holders' own protocol: a file is
 * removed only while this process holds its lock (a taker that locked it meanwhile finds it
 * stale and makes a new one), and a folder only when it is empty.
 */
export function sweepIdleSlotFolders(root: string, except?: string): number {
  let removed = 0;
  for (const folder of listOrNothing(root)) {
    const dir = `${root}/${folder.name}`;
    if (!folder.isDirectory || !folder.name.startsWith(SLOTS_DIR_PREFIX) || dir === except) continue;
    for (const entry of listOrNothing(dir)) {
      if (!entry.name.startsWith(SLOT_FILE_PREFIX)) continue;
      const path = `${dir}/${entry.name}`;
      let file: Deno.FsFile | undefined;
      try {
        file = Deno.openSync(path, { read: true, write: true });
        if (file.tryLockSync(true) && sameFile(file, path)) {
          Deno.removeSync(path);
          removed++;
        }
      } catch {
        /* held, gone or not ours to remove: left alone */
      } finally {
        file?.close();
      }
    }
    removeFolderWithoutSlots(dir);
  }
  return removed;
}

/**
 * Removes a slots folder once no slot file is left in it, with the other files its workers share
 * (the lag mark of worker_helpers.ts). A taker that makes a slot meanwhile keeps the folder: it is
 * removed only when empty, and a removed mark is made again by the next lagging worker.
 */
function removeFolderWithoutSlots(dir: string): void {
  const names = listOrNothing(dir).map((entry) => entry.name);
  if (names.some((name) => name.startsWith(SLOT_FILE_PREFIX))) return;
  for (const name of names) ignoreErrors(() => Deno.removeSync(`${dir}/${name}`));
  ignoreErrors(() => Deno.removeSync(dir)); // only when empty
}

function listOrNothing(dir: string): Deno.DirEntry[] {
  try {
    return [...Deno.readDirSync(dir)];
  } catch {
    return [];
  }
}

function slotsRoot(): string {
  try {
    if (Deno.statSync("/dev/shm").isDirectory) return "/dev/shm";
  } catch { /* not Linux */ }
  return tmpdir();
}

/** One process's hold on a slot; {@link LocalWorkerSlots.tryTake} returns it. */
export interface HeldSlot {
  /** The slot's number. */
  readonly index: number;
  /** Gives the slot up (it is also given up when the process ends). */
  release(): void;
}

/** The `size` slots in `dir` (see the module doc). */
export class LocalWorkerSlots {
  /** The slots' folder. */
  readonly dir: string;
  /** How many processes may hold a slot at once. */
  readonly size: number;
  readonly #holder: string;

  /** Slots in `dir`; `holder` is written into a taken slot's file for people looking (`host:pid`). */
  constructor(dir: string, size: number, holder: string) {
    if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`slots must be at least 1, got ${size}`);
    this.dir = dir;
    this.size = size;
    this.#holder = holder;
  }

  /**
   * Takes the lowest free slot below `limit` (default: all of them), or returns undefined when
   * every one is held. Throws when the folder is unusable.
   */
  tryTake(limit = this.size): HeldSlot | undefined {
    let stale = 0;
    for (let index = 0; index < Math.min(limit, this.size); index++) {
      const path = `${this.dir}/${SLOT_FILE_PREFIX}${index}`;
      const file = this.#open(path);
      let outcome: "held" | "busy" | "stale";
      try {
        // A holder that released meanwhile removed the file this descriptor was opened on: a lock
        // on it would not be the slot's. The slot was just freed: try it again.
        outcome = !file.tryLockSync(true) ? "busy" : sameFile(file, path) ? "held" : "stale";
      } catch (error) {
        file.close();
        throw error;
      }
      if (outcome !== "held") {
        file.close();
        if (outcome === "stale" && ++stale <= 10) index--;
        continue;
      }
      try {
        file.truncateSync(0);
        file.writeSync(new TextEncoder().encode(`${this.#holder}\n`));
      } catch { /* the name is for people; the lock is what counts */ }
      let held = true;
      return {
        index,
        release: () => {
          if (!held) return;
          held = false;
          // Removed while still locked, so a clean exit leaves nothing behind (a process killed
          // leaves its file, reused by the next taker); the last one out removes the folder.
          ignoreErrors(() => Deno.removeSync(path));
          file.close(); // closing the only descriptor drops the lock
          removeFolderWithoutSlots(this.dir);
        },
      };
    }
    return undefined;
  }

  /** Opens (creating) a slot's file, making the folder again if the last holder just removed it. */
  #open(path: string): Deno.FsFile {
    for (let attempt = 1;; attempt++) {
      try {
        Deno.mkdirSync(this.dir, { recursive: true });
        return Deno.openSync(path, { read: true, write: true, create: true });
      } catch (error) {
        // The last holder out may remove the folder between any two steps (module doc).
        const raced = error instanceof Deno.errors.NotFound || error instanceof Deno.errors.AlreadyExists;
        if (!raced || attempt >= 10) throw error;
      }
    }
  }
}

/** True when `path` names the file open as `file` (always, where the system gives no inode numbers). */
function sameFile(file: Deno.FsFile, path: string): boolean {
  try {
    const opened = file.statSync(), named = Deno.statSync(path);
    return opened.ino === null || (opened.ino === named.ino && opened.dev === named.dev);
  } catch {
    return false; // removed
  }
}

function ignoreErrors(fn: () => void): void {
  try {
    fn();
  } catch { /* best effort */ }
}

/** What {@link waitForLocalSlot} reports while it waits, and which slots it may take. */
export interface StandbyEvents {
  /** Every slot it may take is held: this process stands by (called once per wait). */
  standby?(slots: LocalWorkerSlots): void;
  /**
   * How many of the slots it may take, asked before each try (default: all): worker_helpers.ts
   * allows slot 0 only while no worker of the pipeline meets a backlog.
   */
  limit?(): number;
}

/**
 * Waits until this process holds one of `slots` and returns it, or returns undefined when
 * `signal` aborts first. A folder that cannot be used returns `"unlimited"` after a warning:
 * the process then runs without a slot.
 */
export async function waitForLocalSlot(
  slots: LocalWorkerSlots,
  signal: AbortSignal,
  events: StandbyEvents = {},
): Promise<HeldSlot | "unlimited" | undefined> {
  let waited = false;
  while (!signal.aborted) {
    let slot: HeldSlot | undefined;
    try {
      slot = slots.tryTake(events.limit?.());
    } catch (error) {
      log.warn("cannot use the local worker slots in {dir}, running without them: {error}", {
        dir: slots.dir,
        error: oneLine(error),
      });
      return "unlimited";
    }
    if (slot) return slot;
    if (!waited) events.standby?.(slots);
    waited = true;
    await abortableSleep(STANDBY_POLL_MS, signal);
  }
  return undefined;
}

/** Options of {@link openLocalSlots}. */
export interface LocalSlotOptions {
  /** `--local-workers`: slots per pipeline and machine (0: no limit). */
  localWorkers: number;
  /** The pipeline: its blob store and event reader URLs. */
  storeUrl: string;
  readerUrl: string;
  /** `host:pid`, written into the taken slot. */
  holder: string;
  /** Where the pipelines' slot folders are (default `/dev/shm`, else the temporary folder). */
  slotsRoot?: string;
}

/**
 * The worker command's slots: `"unlimited"` without a limit, else the pipeline's slots, after
 * sweeping the folders that stopped workers of other pipelines left behind.
 */
export async function openLocalSlots(options: LocalSlotOptions): Promise<LocalWorkerSlots | "unlimited"> {
  if (options.localWorkers === 0) return "unlimited";
  const root = options.slotsRoot ?? slotsRoot();
  const dir = await localSlotsDir(options.storeUrl, options.readerUrl, root);
  const swept = sweepIdleSlotFolders(root, dir);
  if (swept > 0) log.debug("removed {swept} slot files left by stopped workers under {root}", { swept, root });
  return new LocalWorkerSlots(dir, options.localWorkers, options.holder);
}

/**
 * The worker command's next slot: `"unlimited"` without slots (or with an unusable folder), a held
 * slot, or undefined when `signal` ended the standby. `standby` is called when the process has to
 * wait (close the event reader there) and has settled when this returns; `limit` is as in
 * {@link StandbyEvents}.
 */
export async function takeLocalSlot(
  slots: LocalWorkerSlots | "unlimited",
  signal: AbortSignal,
  standby: (slots: LocalWorkerSlots) => Promise<void>,
  limit?: () => number,
): Promise<HeldSlot | "unlimited" | undefined> {
  if (slots === "unlimited") return "unlimited";
  let standingBy: Promise<void> | undefined;
  const slot = await waitForLocalSlot(slots, signal, { standby: (s) => standingBy = standby(s), limit });
  await standingBy;
  return slot;
}
