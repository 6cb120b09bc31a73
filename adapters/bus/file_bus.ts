/**
 * `file:///abs/dir` event bus: a durable at-least-once queue in a directory, shared by
 * several processes on one machine (e.g. `autopgo server` and two `autopgo worker`s).
 *
 * Layout under the directory `D` (use a directory of its own, not the blob store's):
 * - `D/pending/<seq>.<key>.<attempt>.<visibleAtMs>` — a waiting message;
 * - `D/inflight/<seq>.<key>.<attempt>.<deadlineMs>.<reader>` — a message leased to one reader;
 * - `D/tmp/` — messages being written; `D/.autopgo-bus.lock` — the bus lock.
 * A message file holds a JSON header line (`id`, `orderingKey`, `publishedAt`) and the body.
 * `<key>` is a 64-bit hash of the ordering key (`_` when there is none).
 *
 * Guarantees:
 * - `send` resolves once the message is fsynced and renamed into `pending/` (survives crashes).
 * - Claims happen under an exclusive `flock` of the bus lock: a message is renamed from
 *   `pending/` to `inflight/` by exactly one reader, so two consumers (in any processes) never
 *   hold the same delivery at once. `ack` deletes the leased file; `nack(delay)` renames it back
 *   to `pending/` with attempt + 1; a lease whose deadline (`?ackdeadline=`, default 6s) passed
 *   is returned the same way by the next claim, so a crashed consumer's messages come back.
 *   Acking or nacking after one's lease expired does nothing (the message is delivered again).
 *   A held lease is renewed every third of the deadline (`inProgress`, called by the portable
 *   Subscription while a handler runs), so a long merge keeps its message while a killed
 *   consumer's messages come back within one deadline.
 * - Ordering (see `bus_common.ts`): per ordering key one message at a time, in the order the
 *   sends took the bus lock; keys hashing alike are merely serialized together.
 * - Closing a reader returns its unacked messages at once (attempt + 1).
 *
 * Parameters (accepted on both sides): `ackdeadline` (reader), `poll` (reader idle poll,
 * default 100ms), `duplicate=N` (writer, testing aid: every message is enqueued N times with
 * the same id, to test consumers against duplicate delivery).
 *
 * @module
 */

import { join } from "node:path";
import type { EventReader, EventWriter, IncomingMessage, OutgoingMessage } from "../../core/events.ts";
import { type BusSettings, busSettings, nackBackoffMs, pickDeliverable, waitOrAbort } from "./bus_common.ts";
import { type Clock, systemClock } from "../clock.ts";
import { absolutePathFromFileUrl } from "../driver_url.ts";
import { isMissing, randomHex, removeIfExists, syncDir, withFileLock, writeDurableTemp } from "../fs_util.ts";

const WHAT = "file event bus";
const NO_KEY = "_";
const STALE_TEMP_MS = 3_600_000;

/** Options of the file bus openers (injection points for tests). */
export interface FileBusOptions {
  /** Time source for deadlines, delays and polling (default: the system clock). */
  clock?: Clock;
  /** Message id source (default: `crypto.randomUUID`). */
  newId?: () => string;
}

interface QueueEntry {
  name: string;
  seq: number;
  key: string;
  attempt: number;
  /** visibleAt (pending) or lease deadline (inflight). */
  at: number;
}

class BusDir {
  readonly pending: string;
  readonly inflight: string;
  readonly tmp: string;
  readonly lock: string;

  constructor(readonly root: string) {
    this.pending = join(root, "pending");
    this.inflight = join(root, "inflight");
    this.tmp = join(root, "tmp");
    this.lock = join(root, ".autopgo-bus.lock");
  }

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

  async list(dir: string): Promise<QueueEntry[]> {
    const entries: QueueEntry[] = [];
    for await (const entry of Deno.readDir(dir)) {
      const parsed = parseName(entry.name);
      if (parsed) entries.push(parsed);
    }
    return entries;
  }

  /**
   * Pushes a lease's deadline to `deadline` by renaming its file under the bus lock (claims check
   * expiry under the same lock, so a renewed lease is never reclaimed); undefined if it is gone.
   */
  renewLease(entry: QueueEntry, deadline: number, owner: string): Promise<QueueEntry | undefined> {
    const renewed = { ...entry, at: Math.round(deadline) };
    renewed.name = `${pad(renewed.seq)}.${renewed.key}.${renewed.attempt}.${renewed.at}.${owner}`;
    return withFileLock(this.lock, async () => {
      try {
        await Deno.rename(join(this.inflight, entry.name), join(this.inflight, renewed.name));
        return renewed;
      } catch (e) {
        if (isMissing(e)) return undefined;
        throw e;
      }
    });
  }

  /** Atomically moves a leased message back to `pending/` with the next attempt; false if the lease is gone. */
  async returnToPending(entry: QueueEntry, visibleAt: number): Promise<boolean> {
    const name = `${pad(entry.seq)}.${entry.key}.${entry.attempt + 1}.${Math.round(visibleAt)}`;
    try {
      await Deno.rename(join(this.inflight, entry.name), join(this.pending, name));
      return true;
    } catch (e) {
      if (isMissing(e)) return false;
      throw e;
    }
  }
}

function pad(seq: number): string {
  return String(seq).padStart(16, "0");
}

function parseName(name: string): QueueEntry | undefined {
  const parts = name.split(".");
  if (parts.length !== 4 && parts.length !== 5) return undefined;
  const [seq, key, attempt, at] = [Number(parts[0]), parts[1], Number(parts[2]), Number(parts[3])];
  if (![seq, attempt, at].every(Number.isSafeInteger) || !/^(_|[0-9a-f]{16})$/.test(key)) return undefined;
  return { name, seq, key, attempt, at };
}

/** 64-bit FNV-1a of the ordering key as 16 hex digits (file-name safe, fixed length). */
function keyHash(orderingKey: string | undefined): string {
  if (orderingKey === undefined) return NO_KEY;
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(orderingKey)) {
    hash = BigInt.asUintN(64, (hash ^ BigInt(byte)) * 0x100000001b3n);
  }
  return hash.toString(16).padStart(16, "0");
}

async function openDir(url: URL | string, clock: Clock): Promise<{ dir: BusDir; settings: BusSettings }> {
  const parsed = typeof url === "string" ? new URL(url) : url;
  const settings = busSettings(parsed, WHAT, true);
  const dir = new BusDir(absolutePathFromFileUrl(parsed, WHAT));
  await dir.prepare(clock.now());
  return { dir, settings };
}

/** Opens a writer for `file:///abs/dir[?duplicate=N]` (the directory is created if missing). */
export async function openFileEventWriter(url: URL | string, options: FileBusOptions = {}): Promise<FileEventWriter> {
  const clock = options.clock ?? systemClock;
  const { dir, settings } = await openDir(url, clock);
  return new FileEventWriter(dir, settings, clock, options.newId ?? (() => crypto.randomUUID()));
}

/** Opens a reader for `file:///abs/dir[?ackdeadline=60s&poll=100ms]` (competing with every other reader). */
export async function openFileEventReader(url: URL | string, options: FileBusOptions = {}): Promise<FileEventReader> {
  const clock = options.clock ?? systemClock;
  const { dir, settings } = await openDir(url, clock);
  return new FileEventReader(dir, settings, clock);
}

/** Publishes durably into a bus directory. */
export class FileEventWriter implements EventWriter {
  #closed = false;

  /** Prefer {@link openFileEventWriter}. */
  constructor(
    private readonly dir: BusDir,
    private readonly settings: BusSettings,
    private readonly clock: Clock,
    private readonly newId: () => string,
  ) {}

  /** Writes the message (and its test duplicates) and makes it visible; resolves once durable. */
  async send(message: OutgoingMessage, signal?: AbortSignal): Promise<void> {
    if (this.#closed) throw new Error(`${WHAT} ${this.dir.root}: writer closed`);
    signal?.throwIfAborted();
    const now = this.clock.now();
    const header = { id: this.newId(), orderingKey: message.orderingKey, publishedAt: new Date(now).toISOString() };
    const headerBytes = new TextEncoder().encode(`${JSON.stringify(header)}\n`);
    const content = new Uint8Array(headerBytes.length + message.body.length);
    content.set(headerBytes);
    content.set(message.body, headerBytes.length);
    const temps: string[] = [];
    try {
      for (let i = 0; i < this.settings.duplicate; i++) {
        const temp = join(this.dir.tmp, randomHex(12));
        temps.push(temp);
        await writeDurableTemp(temp, content);
      }
      signal?.throwIfAborted();
      const key = keyHash(message.orderingKey);
      await withFileLock(this.dir.lock, async () => {
        let seq = 0;
        for (const sub of [this.dir.pending, this.dir.inflight]) {
          for (const entry of await this.dir.list(sub)) seq = Math.max(seq, entry.seq);
        }
        for (const temp of temps) await Deno.rename(temp, join(this.dir.pending, `${pad(++seq)}.${key}.1.${now}`));
      });
      await syncDir(this.dir.pending);
    } catch (e) {
      if (signal?.aborted) throw e;
      throw new Error(`${WHAT} ${this.dir.root}: send: ${(e as Error).message}`);
    } finally {
      for (const temp of temps) await removeIfExists(temp).catch(() => {});
    }
  }

  /** Resolves when the bus directory is usable. */
  check(): Promise<void> {
    return this.dir.check();
  }

  /** Refuses further sends. */
  // deno-lint-ignore require-await
  async close(): Promise<void> {
    this.#closed = true;
  }
}

/** Claims messages from a bus directory, competing with every other reader of it. */
export class FileEventReader implements EventReader {
  readonly #owner = randomHex(6);
  /** Leases are renewed at a third of the ack deadline while a message is held (core/event_bus.ts). */
  get renewIntervalMs(): number {
    return Math.max(1, Math.floor(this.settings.ackDeadlineMs / 3));
  }
  readonly #closing = new AbortController();
  readonly #held = new Map<string, QueueEntry>();

  /** Prefer {@link openFileEventReader}. */
  constructor(private readonly dir: BusDir, private readonly settings: BusSettings, private readonly clock: Clock) {}

  /** Polls until a message can be claimed; `undefined` once `signal` aborts or the reader closes. */
  async receive(signal?: AbortSignal): Promise<IncomingMessage | undefined> {
    while (!this.#closing.signal.aborted && !signal?.aborted) {
      const { claimed, wakeAt } = await this.#claim();
      if (claimed) {
        const message = await this.#load(claimed);
        if (message && this.#closing.signal.aborted) {
          await message.nack(0); // closed while claiming: hand it straight back
          return undefined;
        }
        if (message) return message;
        continue;
      }
      const now = this.clock.now();
      const wait = Math.min(this.settings.pollMs, wakeAt === undefined ? Infinity : wakeAt - now);
      await waitOrAbort(this.clock, wait, [this.#closing.signal, signal]);
    }
    return undefined;
  }

  /** Resolves when the bus directory is usable. */
  async check(): Promise<void> {
    if (this.#closing.signal.aborted) throw new Error(`${WHAT} ${this.dir.root}: reader closed`);
    await this.dir.check();
  }

  /** Ends pending receives and returns this reader's unacked messages to the queue at once. */
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort();
    const now = this.clock.now();
    for (const entry of this.#held.values()) await this.dir.returnToPending(entry, now);
    this.#held.clear();
  }

  async #claim(): Promise<{ claimed?: QueueEntry; wakeAt?: number }> {
    try {
      return await withFileLock(this.dir.lock, async () => {
        const now = this.clock.now();
        const keysInFlight = new Set<string>();
        let leaseWake: number | undefined;
        for (const entry of await this.dir.list(this.dir.inflight)) {
          if (entry.at <= now) {
            await this.dir.returnToPending(entry, now); // expired lease (or just acked: then nothing to do)
            continue;
          }
          if (entry.key !== NO_KEY) keysInFlight.add(entry.key);
          leaseWake = leaseWake === undefined ? entry.at : Math.min(leaseWake, entry.at);
        }
        const waiting = (await this.dir.list(this.dir.pending)).map((entry) => ({
          entry,
          seq: entry.seq,
          orderingKey: entry.key === NO_KEY ? undefined : entry.key,
          visibleAt: entry.at,
        }));
        const { next, wakeAt } = pickDeliverable(waiting, keysInFlight, now);
        if (!next) return { wakeAt: Math.min(wakeAt ?? Infinity, leaseWake ?? Infinity) };
        const leased = { ...next.entry, at: now + this.settings.ackDeadlineMs };
        leased.name = `${pad(leased.seq)}.${leased.key}.${leased.attempt}.${leased.at}.${this.#owner}`;
        try {
          await Deno.rename(join(this.dir.pending, next.entry.name), join(this.dir.inflight, leased.name));
        } catch (e) {
          if (isMissing(e)) return { wakeAt: now }; // removed by hand meanwhile: look again
          throw e;
        }
        return { claimed: leased };
      });
    } catch (e) {
      throw new Error(`${WHAT} ${this.dir.root}: receive: ${(e as Error).message}`);
    }
  }

  async #load(entry: QueueEntry): Promise<IncomingMessage | undefined> {
    let content: Uint8Array;
    try {
      content = await Deno.readFile(join(this.dir.inflight, entry.name));
    } catch (e) {
      if (isMissing(e)) return undefined; // lease already expired and reclaimed
      throw new Error(`${WHAT} ${this.dir.root}: read message ${entry.name}: ${(e as Error).message}`);
    }
    const newline = content.indexOf(10);
    let header: { id?: unknown; orderingKey?: unknown } = {};
    try {
      header = JSON.parse(new TextDecoder().decode(content.subarray(0, newline)));
    } catch {
      // A damaged file is delivered whole so the consumer can log it and ack it as poison.
    }
    const intact = newline >= 0 && typeof header.id === "string";
    let lease = entry;
    this.#held.set(lease.name, lease);
    return {
      body: intact ? content.slice(newline + 1) : content,
      id: intact ? header.id as string : `damaged-${entry.seq}`,
      orderingKey: typeof header.orderingKey === "string" ? header.orderingKey : undefined,
      deliveryAttempt: entry.attempt,
      ack: async () => {
        if (!this.#held.delete(lease.name)) return;
        await removeIfExists(join(this.dir.inflight, lease.name));
      },
      nack: async (delayMs?: number) => {
        if (!this.#held.delete(lease.name)) return;
        await this.dir.returnToPending(lease, this.clock.now() + (delayMs ?? nackBackoffMs(lease.attempt)));
      },
      inProgress: async () => {
        if (!this.#held.has(lease.name)) return;
        const renewed = await this.dir.renewLease(lease, this.clock.now() + this.settings.ackDeadlineMs, this.#owner);
        this.#held.delete(lease.name);
        if (renewed) this.#held.set(renewed.name, lease = renewed);
      },
    };
  }
}
