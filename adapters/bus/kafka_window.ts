/**
 * The reader's bookkeeping for one partition: a {@link PartitionWindow} holds the messages of
 * one fetched batch, decides which may be handed out (offset order, one per key at a time) and
 * commits the partition's position with the delivery counts as metadata. A {@link Generation}
 * is one membership of the consumer group. The reader (`kafka_reader.ts`) drives both.
 *
 * @module
 */

import type { KafkaMessage } from "kafkajs";
import { pickDeliverable } from "./bus_common.ts";
import { encodeDeliveries } from "./kafka_common.ts";

/** One message of a window. */
export interface Entry {
  readonly index: number;
  readonly offset: bigint;
  readonly message: KafkaMessage;
  readonly key?: string;
  /** How often it was handed out (committed before each hand-out). */
  deliveries: number;
  state: "waiting" | "held" | "acked";
  /** Earliest hand-out time after a nack (ms). */
  visibleAt: number;
  /** The hand-out that may settle it. */
  holder?: object;
}

/** How a window ended: all acked, the reader closed, or the partition was revoked. */
export type WindowEnd = { kind: "done" } | { kind: "closed" } | { kind: "revoked"; error: Error };

/** One group generation: its revocation and the delivery counts read from the committed metadata. */
export class Generation {
  /** Set once a heartbeat or commit reported a rebalance or a lost membership. */
  revoked?: Error;
  /** Partition → offset → deliveries so far, as committed (loaded once per generation). */
  counts?: Map<number, Map<bigint, number>>;
  /** The load of {@link counts} in flight. */
  loading?: Promise<void>;
}

/** Commits a partition's offset with metadata (the reader supplies it). */
export type CommitFn = (partition: number, offset: bigint, metadata: string | null) => Promise<void>;

/** One partition's messages of one fetch, handed out in offset order, one per key at a time. */
export class PartitionWindow {
  /** The batch's messages in offset order. */
  readonly entries: Entry[];
  /** Resolves when the window ends. */
  readonly ended: Promise<WindowEnd>;
  /** The revocation, once the partition is being taken away. */
  revoked?: Error;
  /** True once {@link ended} resolved. */
  finished = false;
  #end!: (end: WindowEnd) => void;
  #queued?: Promise<void>;
  #running: Promise<void> = Promise.resolve();
  #committed?: string;

  /** Starts a window over a batch; `known` holds the committed delivery counts by offset. */
  constructor(
    readonly partition: number,
    readonly generation: Generation,
    messages: KafkaMessage[],
    known: Map<bigint, number>,
    private readonly commit: CommitFn,
  ) {
    this.entries = messages.map((message, index) => {
      const offset = BigInt(message.offset);
      const key = message.key === null ? undefined : new TextDecoder().decode(message.key);
      return { index, offset, message, key, deliveries: known.get(offset) ?? 0, state: "waiting", visibleAt: 0 };
    });
    this.ended = new Promise((resolve) => this.#end = resolve);
  }

  /**
   * The next message that may be handed out at `now` (the first waiting one of its key with no
   * earlier message of that key held or waiting), or when a nacked one becomes visible.
   */
  next(now: number): { entry?: Entry; wakeAt?: number } {
    if (this.revoked || this.finished) return {};
    const keysInFlight = new Set<string>();
    for (const entry of this.entries) {
      if (entry.state === "held" && entry.key !== undefined) keysInFlight.add(entry.key);
    }
    const waiting = this.entries
      .filter((entry) => entry.state === "waiting")
      .map((entry) => ({ seq: entry.index, orderingKey: entry.key, visibleAt: entry.visibleAt, entry }));
    const { next, wakeAt } = pickDeliverable(waiting, keysInFlight, now);
    return { entry: next?.entry, wakeAt };
  }

  /** The offset to commit: the first message not acked, or the one after the last. */
  position(): bigint {
    const open = this.entries.find((entry) => entry.state !== "acked");
    return open ? open.offset : this.entries[this.entries.length - 1].offset + 1n;
  }

  /**
   * Commits the current position and delivery counts; concurrent calls share a commit that has
   * not started yet, and a commit of what is already committed is skipped.
   */
  flush(): Promise<void> {
    if (this.#queued) return this.#queued;
    const queued = this.#running.catch(() => {}).then(async () => {
      this.#queued = undefined;
      const offset = this.position();
      const counts = this.entries // acked ones too: past an unacked one they would be delivered again
        .filter((entry) => entry.deliveries > 0)
        .map((entry) => [entry.offset, entry.deliveries] as const);
      const metadata = encodeDeliveries(offset, counts);
      const state = `${offset} ${metadata}`;
      if (state === this.#committed) return;
      await this.commit(this.partition, offset, metadata);
      this.#committed = state;
    });
    this.#queued = queued;
    this.#running = queued;
    return queued;
  }

  /** Ends the window when everything is acked, or when it is revoked and nothing is held. */
  check(): void {
    if (this.entries.every((entry) => entry.state === "acked")) this.#finish({ kind: "done" });
    else if (this.revoked && !this.entries.some((entry) => entry.state === "held")) {
      this.#finish({ kind: "revoked", error: this.revoked });
    }
  }

  /** Stops hand-outs; the window ends once nothing is held. */
  revoke(error: Error): void {
    this.revoked ??= error;
    this.check();
  }

  /** Ends the window at once (the reader closed). */
  close(): void {
    this.#finish({ kind: "closed" });
  }

  #finish(end: WindowEnd): void {
    if (this.finished) return;
    this.finished = true;
    this.#end(end);
  }
}
