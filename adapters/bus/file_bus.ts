/**
 * `file:///abs/dir` event bus: a durable at-least-once queue in a directory, shared by
 * several processes on one machine (e.g. `autopgo server` and two `autopgo worker`s).
 *
 * Layout under the directory `D` (use a directory of its own, not the blob store's):
 * - `D/pending/<seq>.<key>.<attempt>.<visibleAtMs>` — a waiting message;
 * - `D/inflight/<seq>.<key>.<attempt>.<deadlineMs>.<reader>` — a message leased to one reader;
 * - `D/tmp/` — messages being written; `D/.autopgo-bus.lock` — the bus lock; `D/.autopgo-bus.seq` —
 *   the last sequence number handed out (file_bus_dir.ts: listings and sequence numbers kept cheap).
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
 * default 100ms; a reader also looks again at once when its own process sends, acks or nacks; an
 * idle poll lists the whole queue only when a send or a lease changed since the last one found
 * nothing, a delay or lease ended, or a second passed), `duplicate=N` (writer, testing aid: every message is enqueued N times with
 * the same id, to test consumers against duplicate delivery).
 *
 * @module
 */

import { join } from "node:path";
import { getLogger } from "@logtape/logtape";
import type { EventReader, EventWriter, IncomingMessage, OutgoingMessage } from "../../core/events.ts";
import {
  type BusSettings,
  busSettings,
  ChangeSignal,
  nackBackoffMs,
  pickDeliverable,
  waitOrAbort,
} from "./bus_common.ts";
import { type Clock, systemClock } from "../clock.ts";
import { absolutePathFromFileUrl } from "../driver_url.ts";
import {
  isMissing,
  randomHex,
  removeIfExists,
  removeIfExistsSync,
  syncDir,
  withFileLock,
  withoutStackTraces,
  writeDurableTemp,
} from "../fs_util.ts";
import { BusDir, inflightName, keyHash, NO_KEY, pad, type QueueEntry } from "./file_bus_dir.ts";

const log = getLogger(["autopgo", "bus", "file"]);

const WHAT = "file event bus";
/**
 * An idle reader lists the whole queue at least this often (a message file put in by hand), and a
 * busy one claims through its followers (FileEventReader #claimFollower) at most this long after
 * its last listing (which also returns other readers' expired leases).
 */
const FULL_SCAN_MS = 1_000;
/** Messages behind a claimed one that a reader remembers for its key. */
const MAX_FOLLOWERS = 256;

/**
 * Per bus directory, a signal that this process sent, acked or nacked a message there, so that
 * its own idle readers look again at once instead of at their next poll.
 */
const localChanges = new Map<string, ChangeSignal>();
function localChange(root: string): ChangeSignal {
  let change = localChanges.get(root);
  if (!change) localChanges.set(root, change = new ChangeSignal());
  return change;
}

/** Options of the file bus openers (injection points for tests). */
export interface FileBusOptions {
  /** Time source for deadlines, delays and polling (default: the system clock). */
  clock?: Clock;
  /** Message id source (default: `crypto.randomUUID`). */
  newId?: () => string;
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
    let renamed = 0; // temps moved into the queue: nothing left to remove of them
    try {
      for (let i = 0; i < this.settings.duplicate; i++) {
        const temp = join(this.dir.tmp, randomHex(12));
        temps.push(temp);
        await writeDurableTemp(temp, content);
      }
      signal?.throwIfAborted();
      const key = keyHash(message.orderingKey);
      await withFileLock(this.dir.lock, () => {
        const seqs = this.dir.nextSeqs(temps.length, now);
        for (const [i, temp] of temps.entries()) {
          Deno.renameSync(temp, join(this.dir.pending, `${pad(seqs[i])}.${key}.1.${now}`));
          renamed = i + 1;
        }
      });
      localChange(this.dir.root).notify();
      await syncDir(this.dir.pending);
    } catch (e) {
      if (signal?.aborted) throw e;
      throw new Error(`${WHAT} ${this.dir.root}: send: ${(e as Error).message}`);
    } finally {
      // Only temps that were not renamed into the queue (a failed send): removing the others
      // failed with NotFound on every send.
      for (const temp of temps.slice(renamed)) await removeIfExists(temp).catch(() => {});
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
  /** What the last claim that found nothing saw, so an idle poll can skip listing the queue. */
  #idle?: { mark: string; wakeAt: number; until: number };
  /** When this reader last listed the queue to claim (the follower path is used within FULL_SCAN_MS of it). */
  #listedAt = -Infinity;
  /** Per ordering key, the messages behind the one this reader claimed, by sequence (see #claimFollower). */
  readonly #followers = new Map<string, QueueEntry[]>();
  /** Keys whose message this reader acked while holding its lease: nothing of them is in flight. */
  readonly #acked = new Set<string>();

  /** Prefer {@link openFileEventReader}. */
  constructor(private readonly dir: BusDir, private readonly settings: BusSettings, private readonly clock: Clock) {}

  /** Polls until a message can be claimed; `undefined` once `signal` aborts or the reader closes. */
  async receive(signal?: AbortSignal): Promise<IncomingMessage | undefined> {
    while (!this.#closing.signal.aborted && !signal?.aborted) {
      const changed = localChange(this.dir.root).signal; // taken before the claim: a change during it counts
      const { claimed, wakeAt } = await this.#claim();
      if (claimed) {
        const message = this.#load(claimed);
        if (message && this.#closing.signal.aborted) {
          await message.nack(0); // closed while claiming: hand it straight back
          return undefined;
        }
        if (message) return message;
        continue;
      }
      const now = this.clock.now();
      const wait = Math.min(this.settings.pollMs, wakeAt === undefined ? Infinity : wakeAt - now);
      await waitOrAbort(this.clock, wait, [this.#closing.signal, signal, changed]);
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
    if (this.#held.size > 0) localChange(this.dir.root).notify();
    this.#held.clear();
  }

  async #claim(): Promise<{ claimed?: QueueEntry; wakeAt?: number }> {
    try {
      return await withFileLock(this.dir.lock, async () => {
        const now = this.clock.now();
        if (now - this.#listedAt < FULL_SCAN_MS) {
          const claimed = this.#claimFollower(now);
          if (claimed) return { claimed };
        }
        this.#listedAt = now;
        const keysInFlight = new Set<string>();
        let leaseWake: number | undefined;
        let returned = false;
        const inflight = this.dir.list(this.dir.inflight);
        for (const entry of inflight) {
          if (entry.at <= now) {
            await this.dir.returnToPending(entry, now); // expired lease (or just acked: then nothing to do)
            returned = true;
            continue;
          }
          if (entry.key !== NO_KEY) keysInFlight.add(entry.key);
          leaseWake = leaseWake === undefined ? entry.at : Math.min(leaseWake, entry.at);
        }
        // Nothing deliverable last time, and since then no send (the last sequence number), no claim,
        // ack, nack, renewal or return (the leases), no delay or lease ended: nothing can be now.
        const mark = `${this.dir.seqMark()}|${inflight.map((entry) => entry.name).sort().join("/")}`;
        const idle = this.#idle;
        this.#idle = undefined;
        if (!returned && idle?.mark === mark && now < idle.wakeAt && now < idle.until) {
          this.#idle = idle;
          return { wakeAt: idle.wakeAt };
        }
        // Only each key's first message can be next (later ones wait for it), so the delivery rule
        // sees the keys' heads and the unkeyed messages instead of the whole sorted queue.
        const heads = new Map<string, QueueEntry>();
        const candidates: QueueEntry[] = [];
        const pending = this.dir.list(this.dir.pending);
        for (const entry of pending) {
          if (entry.key === NO_KEY) candidates.push(entry);
          else {
            const head = heads.get(entry.key);
            if (!head || entry.seq < head.seq) heads.set(entry.key, entry);
          }
        }
        const waiting = [...heads.values(), ...candidates].map((entry) => ({
          entry,
          seq: entry.seq,
          orderingKey: entry.key === NO_KEY ? undefined : entry.key,
          visibleAt: entry.at,
        }));
        const { next, wakeAt } = pickDeliverable(waiting, keysInFlight, now);
        if (!next) {
          const wake = Math.min(wakeAt ?? Infinity, leaseWake ?? Infinity);
          if (!returned) this.#idle = { mark, wakeAt: wake, until: now + FULL_SCAN_MS };
          return { wakeAt: wake };
        }
        const claimed = this.#lease(next.entry, now);
        if (!claimed) return { wakeAt: now }; // removed by hand meanwhile: look again
        const key = claimed.key;
        if (key !== NO_KEY) {
          const behind = pending.filter((entry) => entry.key === key && entry.seq > claimed.seq);
          this.#followers.set(key, behind.sort((a, b) => a.seq - b.seq).slice(0, MAX_FOLLOWERS));
          this.#acked.delete(key);
        }
        return { claimed };
      });
    } catch (e) {
      throw new Error(`${WHAT} ${this.dir.root}: receive: ${(e as Error).message}`);
    }
  }

  /**
   * Claims, without listing the queue, the next message of a key whose previous message this
   * reader claimed and then acked within its lease; call under the bus lock. That message is still
   * its key's head if its file is where the listing saw it: from that claim to the ack the key was
   * in flight here, so no other reader took one of its messages, and later sends have higher
   * sequence numbers. If another reader took it (or returned it under a new name), the rename
   * finds nothing and the claim lists the queue as usual. An app's events after a batch merged
   * its uploads are acked one after another, and each claim used to list the whole queue
   * (BENCHMARKS.md, session 12).
   */
  #claimFollower(now: number): QueueEntry | undefined {
    let best: QueueEntry | undefined;
    for (const key of this.#acked) {
      const next = this.#followers.get(key)?.[0];
      if (!next) this.#acked.delete(key);
      else if (next.at <= now && (!best || next.seq < best.seq)) best = next;
    }
    if (!best) return undefined;
    this.#acked.delete(best.key);
    this.#followers.get(best.key)!.shift();
    const claimed = this.#lease(best, now);
    if (claimed) this.#idle = undefined;
    else this.#followers.delete(best.key);
    return claimed;
  }

  /** Moves `entry` from `pending/` to `inflight/` under this reader's lease; undefined if it is gone. */
  #lease(entry: QueueEntry, now: number): QueueEntry | undefined {
    const leased = { ...entry, at: now + this.settings.ackDeadlineMs };
    leased.name = inflightName(leased, this.#owner);
    try {
      // Taken by another reader: an expected answer, built without a stack trace.
      withoutStackTraces(() =>
        Deno.renameSync(join(this.dir.pending, entry.name), join(this.dir.inflight, leased.name))
      );
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
    return leased;
  }

  #load(entry: QueueEntry): IncomingMessage | undefined {
    let content: Uint8Array;
    let unreadable = false;
    try {
      content = Deno.readFileSync(join(this.dir.inflight, entry.name)); // an event: small, local
    } catch (e) {
      if (isMissing(e)) return undefined; // lease already expired and reclaimed
      // Unreadable (a directory, no permission): delivered as damaged, so it is acked as poison
      // and removed, rather than failing every receive and holding up its app's queue for good.
      log.error("{bus}: message {name} is unreadable, delivered as damaged: {error}", {
        bus: this.dir.root,
        name: entry.name,
        error: (e as Error).message,
      });
      content = new Uint8Array(0);
      unreadable = true;
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
        const path = join(this.dir.inflight, lease.name);
        if (unreadable) await Deno.remove(path, { recursive: true }).catch(() => {});
        // Removed and noted in one synchronous step, so that no claim runs between them: one that
        // took the key's next message by a listing would let the note send a second one after it.
        else if (removeIfExistsSync(path) && this.#followers.has(lease.key)) this.#acked.add(lease.key);
        localChange(this.dir.root).notify();
      },
      nack: async (delayMs?: number) => {
        if (!this.#held.delete(lease.name)) return;
        this.#followers.delete(lease.key);
        await this.dir.returnToPending(lease, this.clock.now() + (delayMs ?? nackBackoffMs(lease.attempt)));
        localChange(this.dir.root).notify();
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
