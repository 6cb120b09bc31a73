/**
 * The portable event-bus layer (go-cloud's `pubsub.Topic` / `pubsub.Subscription` over their
 * drivers): every reader and writer that the registry opens is wrapped here, so what all buses
 * share lives once:
 * - a closed check; `receive` after close resolves `undefined`, `send` after close throws;
 * - ack and nack settle a message at most once (a second call is a no-op, never a double ack);
 * - while a message is held, its {@link IncomingMessage.inProgress} is called every
 *   {@link EventReader.renewIntervalMs}, so a long merge is not redelivered to another worker;
 * - errors become {@link BusError}s with a portable kind and the driver's error as `cause`;
 * - `send` retries transient (`unavailable`) failures with jittered backoff, while the retry
 *   starts within {@link BusWrapperOptions.retryWithinMs} of the send: a repeated send can
 *   duplicate an event, which at-least-once delivery allows and the worker tolerates;
 * - once a send has failed as `unavailable` through all its attempts, the topic fails fast: later
 *   sends throw at once (kind `unavailable`, the last failure as `cause`) and one send every
 *   {@link BusWrapperOptions.failFastMs} tries again with a single attempt, until one succeeds or a
 *   check passes. An upload's answer then does not wait out every bus client's own reconnect and
 *   retry timers (21 s per upload with NATS down, before; 5 s for the first now), whatever the bus;
 * - one observer hook for metrics: each finished send, receive, ack, nack and check with its
 *   outcome (`ok` or the error kind).
 *
 * @module
 */

import type { EventReader, EventWriter, IncomingMessage, OutgoingMessage } from "./events.ts";
import { abortableSleep } from "./sleep.ts";
import { messageLine } from "./public_error.ts";

/** Portable bus error categories; `unavailable` is the only retryable one. */
export type BusErrorKind = "not-found" | "permission" | "unavailable" | "invalid" | "closed" | "unknown";

/** A bus failure with a portable kind; `cause` keeps the driver's error. */
export class BusError extends Error {
  /** The portable category. */
  readonly kind: BusErrorKind;
  /** Creates the error with a one-line message. */
  constructor(kind: BusErrorKind, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BusError";
    this.kind = kind;
  }

  /** True for transient failures. */
  get retryable(): boolean {
    return this.kind === "unavailable";
  }
}

/** What a bus driver may add to the portable interfaces: a classifier for its errors. */
export interface BusDriverErrors {
  /** Names the topic or subscription in errors, without secrets. */
  readonly description?: string;
  /** Maps an error the driver threw to a portable kind. */
  errorKind?(error: unknown): BusErrorKind;
}

/** Options of {@link Topic} and {@link Subscription}. */
export interface BusWrapperOptions {
  /** Send attempts while failures are `unavailable` (default 4). */
  attempts?: number;
  /** First retry delay in ms (default 200), doubled per attempt with ±50% jitter, at most 5 s. */
  retryBaseMs?: number;
  /**
   * A failed send is tried again only while its retry would start within this many ms of the
   * send's start (default 5,000): a driver that failed slowly (it waited out its own timeout for a
   * lost connection) is not waited out again, and the first send of an outage answers in about one
   * driver timeout, not `attempts` of them.
   */
  retryWithinMs?: number;
  /** Jitter source in [0, 1). */
  random?: () => number;
  /** Overrides the reader's renew interval (tests). */
  renewIntervalMs?: number;
  /**
   * After a send failed as `unavailable` through all its attempts, later sends fail at once, and
   * one per this many ms tries again (default 5,000; 0: every send tries in full).
   */
  failFastMs?: number;
  /** Clock of `failFastMs`, in ms (tests). */
  now?: () => number;
  /** Metrics hook: one report per finished operation (a send's retries count once). */
  observe?: BusObserver;
}

/** A bus operation, as reported to a {@link BusObserver}. */
export type BusOperation = "send" | "receive" | "ack" | "nack" | "check";

/** Receives one report per finished bus operation; `outcome` is `ok` or the error kind. */
export type BusObserver = (report: { operation: BusOperation; outcome: "ok" | BusErrorKind }) => void;

function wrapError(driver: BusDriverErrors, what: string, error: unknown): BusError {
  if (error instanceof BusError) return error;
  const kind = driver.errorKind?.(error) ?? "unknown";
  const detail = messageLine(error).slice(0, 500);
  const where = driver.description ? ` on ${driver.description}` : "";
  return new BusError(kind, `${what}${where}: ${detail}`, { cause: error });
}

/** What a topic and a subscription share: the driver, the closed state, checks and closing. */
abstract class BusEndpoint<D extends (EventWriter | EventReader) & BusDriverErrors> {
  protected readonly driverImpl: D;
  protected readonly options: BusWrapperOptions;
  protected closed = false;

  /** Wraps `driver`; `noun` names it in errors ("topic", "subscription"). */
  constructor(driver: D, options: BusWrapperOptions, private readonly noun: string) {
    this.driverImpl = driver;
    this.options = options;
  }

  /** The wrapped driver (escape hatch). */
  get driver(): D {
    return this.driverImpl;
  }

  /** Health check. */
  async check(signal?: AbortSignal): Promise<void> {
    if (this.closed) throw new BusError("closed", `check: the ${this.noun} is closed`);
    try {
      await this.driverImpl.check(signal);
      this.report("check", "ok");
    } catch (error) {
      const wrapped = wrapError(this.driverImpl, "check", error);
      this.report("check", wrapped.kind);
      throw wrapped;
    }
  }

  /** Tells the observer, if any, about one finished operation; an observer's failure is ignored. */
  protected report(operation: BusOperation, outcome: "ok" | BusErrorKind): void {
    try {
      this.options.observe?.({ operation, outcome });
    } catch { /* metrics never break the bus */ }
  }

  /** Closes the driver once; a subscription's unsettled messages return to the bus per its rules. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.driverImpl.close();
  }
}

/** A topic that could not be reached: since when, when a send may try again, and why. */
interface Outage {
  since: number;
  retryAt: number;
  error: BusError;
  /** A send is trying again right now (the others still fail fast). */
  probing: boolean;
}

/** A portable topic around a writer driver. */
export class Topic extends BusEndpoint<EventWriter & BusDriverErrors> implements EventWriter {
  #outage?: Outage;

  /** Wraps `driver`. */
  constructor(driver: EventWriter & BusDriverErrors, options: BusWrapperOptions = {}) {
    super(driver, options, "topic");
  }

  /** Publishes; retries transient failures, and fails fast while the topic is known unreachable. */
  async send(message: OutgoingMessage, signal?: AbortSignal): Promise<void> {
    const probe = this.#admit();
    const attempts = probe ? 1 : this.options.attempts ?? 4;
    const started = this.#now();
    try {
      for (let attempt = 1;; attempt++) {
        if (this.closed) throw new BusError("closed", "send: the topic is closed");
        signal?.throwIfAborted();
        try {
          await this.driverImpl.send(message, signal);
          this.#outage = undefined;
          return this.report("send", "ok");
        } catch (raw) {
          if (signal?.aborted) throw raw;
          const error = wrapError(this.driverImpl, "send", raw);
          const base = Math.min(5_000, (this.options.retryBaseMs ?? 200) * 2 ** (attempt - 1));
          const delayMs = Math.round(base * (0.5 + (this.options.random ?? Math.random)()));
          const tooLate = this.#now() + delayMs - started >= (this.options.retryWithinMs ?? 5_000);
          if (!error.retryable || attempt >= attempts || tooLate) {
            this.#failed(error);
            this.report("send", error.kind);
            throw error;
          }
          await abortableSleep(delayMs, signal ?? new AbortController().signal);
        }
      }
    } finally {
      if (probe && this.#outage) this.#outage.probing = false;
    }
  }

  /** Health check; a passing one ends an outage (the next send tries in full). */
  override async check(signal?: AbortSignal): Promise<void> {
    await super.check(signal);
    this.#outage = undefined;
  }

  /**
   * Lets a send through: false for a normal one, true for the one send that tries again during an
   * outage; throws at once for the others.
   */
  #admit(): boolean {
    const outage = this.#outage;
    if (!outage || this.closed) return false;
    const now = this.#now();
    if (outage.probing || now < outage.retryAt) {
      this.report("send", "unavailable");
      const seconds = (ms: number) => `${Math.max(0, Math.ceil(ms / 1000))} s`;
      const since = new Date(outage.since).toISOString().replace(/\.\d+Z$/, "Z");
      throw new BusError(
        "unavailable",
        `send: not tried (the topic has been unreachable since ${since}; a send tries again in ${
          seconds(outage.retryAt - now)
        }): ${outage.error.message}`,
        { cause: outage.error },
      );
    }
    outage.probing = true;
    return true;
  }

  /** Starts or extends an outage after a send that failed through all its attempts as `unavailable`. */
  #failed(error: BusError): void {
    const failFastMs = this.options.failFastMs ?? 5_000;
    if (error.kind !== "unavailable" || failFastMs <= 0) {
      if (error.kind !== "closed") this.#outage = undefined; // the bus answered: it is reachable
      return;
    }
    const now = this.#now();
    this.#outage = { since: this.#outage?.since ?? now, retryAt: now + failFastMs, error, probing: false };
  }

  #now(): number {
    return (this.options.now ?? Date.now)();
  }
}

/** A portable subscription around a reader driver. */
export class Subscription extends BusEndpoint<EventReader & BusDriverErrors> implements EventReader {
  /** Wraps `driver`. */
  constructor(driver: EventReader & BusDriverErrors, options: BusWrapperOptions = {}) {
    super(driver, options, "subscription");
  }

  /** The driver's renew interval. */
  get renewIntervalMs(): number | undefined {
    return this.options.renewIntervalMs ?? this.driverImpl.renewIntervalMs;
  }

  /** Waits for the next message; `undefined` on abort or close. */
  async receive(signal?: AbortSignal): Promise<IncomingMessage | undefined> {
    if (this.closed || signal?.aborted) return undefined;
    let message: IncomingMessage | undefined;
    try {
      message = await this.driverImpl.receive(signal);
    } catch (error) {
      if (this.closed || signal?.aborted) return undefined;
      const wrapped = wrapError(this.driverImpl, "receive", error);
      this.report("receive", wrapped.kind);
      throw wrapped;
    }
    if (message) this.report("receive", "ok");
    return message && this.#hold(message);
  }

  #hold(message: IncomingMessage): IncomingMessage {
    const driver = this.driverImpl;
    let settled = false;
    const interval = this.renewIntervalMs;
    const timer = interval && message.inProgress
      ? setInterval(() => {
        message.inProgress?.().catch(() => {/* the next settle reports real failures */});
      }, interval)
      : undefined;
    const settle = async (what: "ack" | "nack", action: () => Promise<void>) => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearInterval(timer);
      try {
        await action();
        this.report(what, "ok");
      } catch (error) {
        const wrapped = wrapError(driver, what, error);
        this.report(what, wrapped.kind);
        throw wrapped;
      }
    };
    return {
      body: message.body,
      id: message.id,
      orderingKey: message.orderingKey,
      deliveryAttempt: message.deliveryAttempt,
      ack: () => settle("ack", () => message.ack()),
      nack: (delayMs?: number) => settle("nack", () => message.nack(delayMs)),
      inProgress: message.inProgress && (() => settled ? Promise.resolve() : message.inProgress!()),
    };
  }
}
