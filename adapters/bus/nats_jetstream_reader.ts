/**
 * JetStream reader: the competing members of one durable pull consumer (`nats://…?jetstream=true`),
 * with explicit acks, nak delays and `+WPI` renewal. At-least-once: see `nats_bus.ts`.
 *
 * Pulls: a reader keeps one persistent pull ("lane", the client's `consume` of at most one message)
 * per `receive` that waits at once (the worker's `--concurrency`), and a lane asks the server for
 * its next message only while a `receive` waits for it. So, as with a pull request per `receive`,
 * no message is taken ahead of a caller that wants it (another worker gets it instead), but a
 * message costs one pull request on the lane's existing subscription instead of a new
 * subscription, pull, heartbeat timer and unsubscription each time. The client keeps a lane's pull
 * alive across expiries and reconnects; a lane whose consumer (or stream) is gone ends with an
 * error, which the waiting `receive` answers by creating them again.
 *
 * Acks are sent without waiting for the server's confirmation (a double ack was a request with its
 * own reply, timer and error object per message): a lost ack only makes the message come back,
 * which the worker handles as the duplicate it is. Naks and renewals are flushed (one ping) so
 * that the message's new deadline is in force when they resolve.
 *
 * Measured in one process against a local nats-server, 3,000 messages received and acked one at a
 * time: CPU per message 225–268 µs with a pull subscription per `receive` and double acks, 111–125
 * µs with persistent pulls and plain acks (BENCHMARKS.md, under the bus table).
 *
 * @module
 */

import {
  type Consumer,
  type ConsumerMessages,
  jetstream,
  JetStreamError,
  type JetStreamManager,
  jetstreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import type { EventReader, IncomingMessage } from "../../core/events.ts";
import { type BusDriverErrors, BusError, type BusErrorKind } from "../../core/event_bus.ts";
import { abortableSleep } from "../../core/sleep.ts";
import { nackBackoffMs } from "./bus_common.ts";
import {
  checkLink,
  headerValue,
  natsErrorKind,
  type NatsLink,
  type NatsSettings,
  ORDERING_KEY_HEADER,
  WHAT,
} from "./nats_common.ts";
import { ensureConsumer, ensureStream } from "./nats_jetstream.ts";

/** How long one pull waits on the server before the client asks again (it sends heartbeats every half of it). */
const PULL_EXPIRES_MS = 5_000;
/** How long an ack, nak or renewal waits for a connection. */
const SETTLE_TIMEOUT_MS = 5_000;
/** Failed pulls in a row within one `receive` before it gives up and reports the error. */
const MAX_PULL_FAILURES = 3;
/** Pause after a failed pull that was not caused by a missing consumer. */
const PULL_RETRY_MS = 250;

/** What the client reports when the consumer or its stream is gone. */
const GONE = new Set(["no_responders", "consumer_deleted", "consumer_not_found", "stream_not_found"]);

/** A pull failed because the consumer (or its stream) is gone: not found, or nobody answers its subject. */
function consumerMissing(error: unknown): boolean {
  return natsErrorKind(error) === "not-found" ||
    (error instanceof JetStreamError && (error as { code?: number }).code === 503);
}

/** Opens a JetStream reader: the stream and the shared durable consumer are created when missing. */
export async function openJetStreamReader(link: NatsLink, settings: NatsSettings): Promise<JetStreamReader> {
  const jsm = await jetstreamManager(link.nc);
  await ensureStream(jsm, settings);
  await ensureConsumer(jsm, settings);
  const js = jetstream(link.nc);
  return new JetStreamReader(link, settings, jsm, await js.consumers.get(settings.streamName, settings.durableName));
}

/** One persistent pull of a reader (see the module doc). */
interface Lane {
  /** The client's pull, once started. */
  readonly messages: Promise<ConsumerMessages>;
  readonly iterator: Promise<AsyncIterator<JsMsg>>;
  /** Waiting for its next message. */
  busy: boolean;
  /** Why the client ended the pull, when the server said its consumer or stream is gone. */
  failure?: BusError;
}

/** A `receive` waiting for a lane's message. */
interface Waiter {
  resolve(message: JsMsg | undefined): void;
  reject(error: unknown): void;
}

/** One member of the competing readers of a durable pull consumer. */
export class JetStreamReader implements EventReader, BusDriverErrors {
  readonly description: string;
  /** A third of the ack wait: the portable layer calls `inProgress` (`+WPI`) this often. */
  readonly renewIntervalMs: number;
  readonly #closing = new AbortController();
  /** Delivered, not yet settled: closing hands them back at once. */
  readonly #held = new Set<JsMsg>();
  readonly #lanes: Lane[] = [];
  readonly #waiters: Waiter[] = [];

  /** Prefer `openNatsReader` from `nats_bus.ts`. */
  constructor(
    private readonly link: NatsLink,
    private readonly settings: NatsSettings,
    private readonly jsm: JetStreamManager,
    private consumer: Consumer,
  ) {
    this.description = `nats stream ${settings.streamName} consumer ${settings.durableName}`;
    this.renewIntervalMs = Math.max(1, Math.floor(settings.ackWaitMs / 3));
  }

  /** The next message; `undefined` once `signal` aborts or the reader closes. */
  async receive(signal?: AbortSignal): Promise<IncomingMessage | undefined> {
    const stopped = signal ? AbortSignal.any([signal, this.#closing.signal]) : this.#closing.signal;
    for (let failures = 0; !stopped.aborted;) {
      let message: JsMsg | undefined;
      try {
        message = await this.#next(stopped);
      } catch (error) {
        if (stopped.aborted) return undefined;
        if (++failures > MAX_PULL_FAILURES) throw error;
        if (consumerMissing(error)) await this.#recreateConsumer().catch(() => {}); // the next pull reports it
        // Otherwise (server shutting down, connection lost): give the disconnect time to be
        // noticed; the next pull waits for the reconnect, or fails as unavailable.
        else await abortableSleep(PULL_RETRY_MS, stopped);
        continue;
      }
      if (!message) continue;
      if (stopped.aborted) {
        message.nak(); // arrived just as the caller gave up: hand it straight back
        return undefined;
      }
      return this.#incoming(message);
    }
    return undefined;
  }

  /** The connection is up and the durable consumer (hence the stream) exists. */
  async check(signal?: AbortSignal): Promise<void> {
    if (this.#closing.signal.aborted) throw new BusError("closed", `${WHAT}: ${this.description}: closed`);
    await checkLink(this.link, signal);
    await this.jsm.consumers.info(this.settings.streamName, this.settings.durableName);
  }

  /** Ends pending receives and pulls, returns unsettled messages to the stream at once, closes the connection. */
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort();
    for (const waiter of this.#waiters.splice(0)) waiter.resolve(undefined);
    this.#dropLanes();
    for (const message of this.#held) message.nak();
    this.#held.clear();
    try {
      if (!this.link.nc.isClosed()) await this.link.nc.flush();
    } catch { /* unreachable server: the ack wait returns them instead */ }
    await this.link.nc.close();
  }

  /** See `natsErrorKind`. */
  errorKind(error: unknown): BusErrorKind {
    return natsErrorKind(error);
  }

  /** Recreates the stream and consumer if they were deleted, and rebinds to the consumer. */
  async #recreateConsumer(): Promise<void> {
    this.#dropLanes();
    await ensureStream(this.jsm, this.settings);
    await ensureConsumer(this.jsm, this.settings);
    this.consumer = await jetstream(this.link.nc).consumers.get(this.settings.streamName, this.settings.durableName);
  }

  /** Waits for the next message of any lane; undefined when `stopped` aborts first. */
  #next(stopped: AbortSignal): Promise<JsMsg | undefined> {
    const { promise, resolve, reject } = Promise.withResolvers<JsMsg | undefined>();
    const waiter: Waiter = {
      resolve: (message) => {
        stopped.removeEventListener("abort", abort);
        resolve(message);
      },
      reject: (error) => {
        stopped.removeEventListener("abort", abort);
        reject(error);
      },
    };
    const abort = () => {
      const at = this.#waiters.indexOf(waiter);
      if (at >= 0) this.#waiters.splice(at, 1);
      resolve(undefined); // a lane's message that arrives later goes to another waiter, or back
    };
    stopped.addEventListener("abort", abort, { once: true });
    this.#waiters.push(waiter);
    this.#dispatch();
    return promise;
  }

  /** Puts as many lanes to work as receives wait, starting new lanes when all are busy. */
  #dispatch(): void {
    if (this.#closing.signal.aborted) return;
    let busy = this.#lanes.filter((lane) => lane.busy).length;
    while (busy < this.#waiters.length) {
      const lane = this.#lanes.find((l) => !l.busy) ?? this.#startLane();
      busy++;
      void this.#run(lane);
    }
  }

  #startLane(): Lane {
    const messages = this.consumer.consume({
      max_messages: 1,
      expires: PULL_EXPIRES_MS,
      // A deleted consumer or stream ends the pull with an error (receive creates them again),
      // instead of the client retrying quietly forever.
      abort_on_missing_resource: true,
    });
    const lane: Lane = { messages, iterator: messages.then((m) => m[Symbol.asyncIterator]()), busy: false };
    // The client keeps pulling after "no responders" (the stream is gone) and after a deleted
    // consumer until two heartbeats are missed: end the pull at once, so the consumer is made again.
    messages.then(async (m) => {
      for await (const status of m.status()) {
        if (!GONE.has(status.type)) continue;
        lane.failure = new BusError("not-found", `${WHAT}: ${this.description}: ${status.type.replaceAll("_", " ")}`);
        m.stop();
      }
    }).catch(() => {}); // a failed start is reported through `iterator` to the waiting receive
    this.#lanes.push(lane);
    return lane;
  }

  /** Takes one message from `lane` and hands it to the first waiting receive, or back to the stream. */
  async #run(lane: Lane): Promise<void> {
    lane.busy = true;
    let outcome: { message?: JsMsg; error?: unknown };
    try {
      const next = await (await lane.iterator).next();
      outcome = next.done
        ? { error: lane.failure ?? new BusError("unavailable", `${WHAT}: ${this.description}: pull ended`) }
        : { message: next.value };
    } catch (error) {
      outcome = { error };
    }
    lane.busy = false;
    if (outcome.error !== undefined) this.#dropLane(lane);
    const waiter = this.#waiters.shift();
    if (outcome.message) {
      if (waiter && !this.#closing.signal.aborted) waiter.resolve(outcome.message);
      else outcome.message.nak(); // its receive gave up meanwhile: straight back to the stream
    } else if (waiter) {
      waiter.reject(outcome.error);
    }
    this.#dispatch();
  }

  #dropLane(lane: Lane): void {
    const at = this.#lanes.indexOf(lane);
    if (at >= 0) this.#lanes.splice(at, 1);
    lane.messages.then((m) => m.stop(), () => {});
  }

  #dropLanes(): void {
    for (const lane of [...this.#lanes]) this.#dropLane(lane);
  }

  #incoming(message: JsMsg): IncomingMessage {
    this.#held.add(message);
    const settled = () => this.#held.delete(message);
    const info = message.info;
    return {
      body: new Uint8Array(message.data), // a plain copy (the client hands out Node Buffers)
      id: `${info.stream}:${message.seq}`,
      orderingKey: headerValue(message.headers, ORDERING_KEY_HEADER),
      deliveryAttempt: info.deliveryCount,
      ack: async () => {
        if (!settled()) return;
        await this.link.waitConnected(SETTLE_TIMEOUT_MS);
        message.ack();
      },
      nack: async (delayMs?: number) => {
        if (!settled()) return;
        await this.link.waitConnected(SETTLE_TIMEOUT_MS);
        message.nak(delayMs ?? nackBackoffMs(info.deliveryCount));
        await this.link.nc.flush();
      },
      inProgress: async () => {
        if (!this.#held.has(message)) return;
        await this.link.waitConnected(SETTLE_TIMEOUT_MS);
        message.working();
        await this.link.nc.flush();
      },
    };
  }
}
