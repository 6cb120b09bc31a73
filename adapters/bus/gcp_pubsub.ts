/**
 * `gcppubsub://` event bus: Google Cloud Pub/Sub (or its emulator) through `@google-cloud/pubsub`,
 * loaded only when such a URL is opened. Same URLs as gocloud's `gcppubsub` driver, so the
 * original autopgo's configuration works unchanged.
 *
 * # URLs
 *
 * - Writer: `gcppubsub://projects/P/topics/T`, or the short form `gcppubsub://P/T`.
 *   - `max_send_batch_size` (1–1000, default: the client library's 100): the most messages one
 *     Publish RPC carries. Each `send` still resolves only when its own message is published.
 * - Reader: `gcppubsub://projects/P/subscriptions/S`, or the short form `gcppubsub://P/S`.
 *   - `max_recv_batch_size` (1–1000, default 1; gocloud's default is 1000): the most messages one
 *     Pull asks for. Messages beyond the first wait in the reader, their ack deadline running
 *     unrenewed, so a larger batch only suits handlers much faster than the deadline.
 *   - `nacklazy` (Go `strconv.ParseBool` forms: 1, t, true, 0, f, false…; default false): when
 *     true, `nack` sends nothing and the message comes back once its current ack deadline passes.
 * Any other parameter is an error, as in gocloud. The topic and subscription must exist.
 *
 * # Message delivery semantics
 *
 * At least once. The reader uses synchronous Pull, for explicit control of each message:
 * `ack` = Acknowledge; `nack(delayMs)` = ModifyAckDeadline to ⌈delayMs / 1000⌉ s (at most 600;
 * without a delay 0 s, i.e. at once, and the subscription's retry policy applies); `inProgress`
 * = ModifyAckDeadline to the subscription's ack deadline, called every third of it
 * (`renewIntervalMs`; the deadline is read with GetSubscription, or taken as the service's 10 s
 * minimum when that is not allowed). Closing a reader hands its unsettled messages back at once.
 *
 * `deliveryAttempt` is Pub/Sub's `delivery_attempt`, which the service sets only on
 * subscriptions with a dead-letter policy, and documents as best-effort. Without one, the reader
 * counts the deliveries of each message it saw itself, so a message another reader (or a killed
 * process) held before starts again at 1.
 *
 * Ordering: the writer publishes with message ordering enabled and the ordering key = the app.
 * Keys are honoured only by a subscription created with message ordering enabled; it then
 * delivers each key's messages in publication order, and redelivers a nacked or expired message
 * before the key's later ones. It may hand out a key's next message before the previous is acked.
 * When a publish fails, the client library pauses that key; the writer resumes it at once so the
 * portable layer's retry (or the next event) can publish.
 *
 * Message bodies are the envelope bytes exactly (Pub/Sub `data`, no attributes). Pub/Sub rejects
 * a message whose data and attributes are both empty.
 *
 * # Credentials and environment
 *
 * `PUBSUB_EMULATOR_HOST=host:port` connects to an emulator (plain gRPC, no credentials), as in
 * gocloud. Otherwise Application Default Credentials: `GOOGLE_APPLICATION_CREDENTIALS`, the
 * gcloud user credentials or the metadata server. The project always comes from the URL.
 * Errors map by gRPC status: UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED →
 * `unavailable`; PERMISSION_DENIED, UNAUTHENTICATED → `permission`; NOT_FOUND → `not-found`;
 * INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE → `invalid`.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { protos, PubSub, Topic as PubSubTopic, v1 as PubSubV1 } from "@google-cloud/pubsub";
import type { EventReader, EventWriter, IncomingMessage, OutgoingMessage } from "../../core/events.ts";
import type { BusDriverErrors, BusErrorKind } from "../../core/event_bus.ts";
import { redactUrl } from "../../core/registry.ts";
import { driverParams, intParam } from "../driver_url.ts";
import { sdkExports } from "../sdk_exports.ts";

const WHAT = "gcppubsub event bus";
/** The ack deadline assumed when the subscription's cannot be read (the service's minimum). */
const FALLBACK_ACK_DEADLINE_S = 10;
/** The most seconds ModifyAckDeadline accepts. */
const MAX_ACK_DEADLINE_S = 600;
/** Local delivery counts kept per reader (oldest forgotten first). */
const MAX_COUNTED = 10_000;

type SubscriberClient = InstanceType<typeof PubSubV1.SubscriberClient>;
type ReceivedMessage = protos.google.pubsub.v1.IReceivedMessage;

/** Options of the openers (tests and embedding). */
export interface PubSubOptions {
  /** `host:port` of an emulator; default: `PUBSUB_EMULATOR_HOST`, else the real service. */
  emulatorHost?: string;
}

/** Maps a gRPC status code (as the Google clients put on errors) to a portable kind. */
export function pubSubErrorKind(error: unknown): BusErrorKind {
  const code = (error as { code?: unknown } | null)?.code;
  switch (code) {
    case 14: // UNAVAILABLE
    case 4: // DEADLINE_EXCEEDED
    case 8: // RESOURCE_EXHAUSTED
    case 10: // ABORTED
      return "unavailable";
    case 7: // PERMISSION_DENIED
    case 16: // UNAUTHENTICATED
      return "permission";
    case 5: // NOT_FOUND
      return "not-found";
    case 3: // INVALID_ARGUMENT
    case 9: // FAILED_PRECONDITION
    case 11: // OUT_OF_RANGE
      return "invalid";
    default:
      return "unknown";
  }
}

/** Splits a gcppubsub URL into the full resource name of a topic (`kind` "topics") or subscription. */
export function pubSubResource(url: URL, kind: "topics" | "subscriptions"): { project: string; name: string } {
  const shown = JSON.stringify(redactUrl(url.href));
  if (url.protocol !== "gcppubsub:") throw new Error(`${WHAT} URL ${shown}: scheme must be gcppubsub`);
  if (url.username || url.password || url.port || url.hash) {
    throw new Error(`${WHAT} URL ${shown}: unexpected user, port or fragment`);
  }
  const parts = `${url.host}${url.pathname}`.replace(/\/+$/, "").split("/");
  const other = kind === "topics" ? "subscriptions" : "topics";
  if (parts.length === 4 && parts[0] === "projects" && parts[2] === other) {
    const needs = kind === "topics" ? "a writer needs a topic" : "a reader needs a subscription";
    throw new Error(`${WHAT} URL ${shown}: names ${other.slice(0, -1)} ${parts[3]}; ${needs}`);
  }
  let project: string, id: string;
  if (parts.length === 4 && parts[0] === "projects" && parts[2] === kind) [project, id] = [parts[1], parts[3]];
  else if (parts.length === 2) [project, id] = parts;
  else {
    const form = kind === "topics" ? "projects/P/topics/T or gcppubsub://P/T" : "projects/P/subscriptions/S or P/S";
    throw new Error(`${WHAT} URL ${shown}: expected gcppubsub://${form}`);
  }
  if (!project || !id) throw new Error(`${WHAT} URL ${shown}: empty project or ${kind.slice(0, -1)} name`);
  return { project, name: `projects/${project}/${kind}/${id}` };
}

/** Go's `strconv.ParseBool`, as gocloud parses `nacklazy`. */
function parseGoBool(text: string, name: string): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
  throw new Error(`${WHAT} URL parameter ${name}=${JSON.stringify(text)}: expected true or false`);
}

/**
 * Loads @google-cloud/pubsub. Its gRPC layer reads `__dirname` as it loads; a single-file bundle
 * (`deno bundle`, the `autopgo.js` fallback) wraps CommonJS without defining it, so one is given
 * (this module's directory; the proto definitions are bundled as JSON, never read from there).
 * Under `deno run` and `deno compile` each CommonJS module has its own, which shadows this one.
 */
async function pubSubSdk(): Promise<typeof import("@google-cloud/pubsub")> {
  const global = globalThis as { __dirname?: string };
  global.__dirname ??= import.meta.dirname ?? "/";
  return sdkExports(await import("@google-cloud/pubsub"));
}

async function newClient(project: string, options: PubSubOptions): Promise<PubSub> {
  const { PubSub } = await pubSubSdk();
  const apiEndpoint = options.emulatorHost ?? Deno.env.get("PUBSUB_EMULATOR_HOST") ?? undefined;
  if (!apiEndpoint) return new PubSub({ projectId: project });
  // Emulator: plain gRPC; the universe domain given up front keeps the client from looking for credentials.
  return new PubSub({ projectId: project, apiEndpoint, emulatorMode: true, universeDomain: "googleapis.com" });
}

/** Resolves with `work` or rejects when `signal` aborts first (the call itself is not cancelled). */
function unlessAborted<T>(work: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return work;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** Opens a writer for `gcppubsub://projects/P/topics/T[?max_send_batch_size=N]` (or `gcppubsub://P/T`). */
export async function openPubSubWriter(url: URL | string, options: PubSubOptions = {}): Promise<PubSubWriter> {
  const parsed = typeof url === "string" ? new URL(url) : url;
  const params = driverParams(parsed, ["max_send_batch_size"], WHAT);
  const batch = params.has("max_send_batch_size")
    ? intParam(params, "max_send_batch_size", 100, 1, 1000, WHAT)
    : undefined;
  const { project, name } = pubSubResource(parsed, "topics");
  const client = await newClient(project, options);
  const topic = client.topic(name, {
    messageOrdering: true,
    ...(batch ? { batching: { maxMessages: batch } } : {}),
  });
  return new PubSubWriter(client, topic, name);
}

/** Publishes to a Pub/Sub topic with the ordering key = the message's key. */
export class PubSubWriter implements EventWriter, BusDriverErrors {
  /** The topic's resource name. */
  readonly description: string;

  /** Prefer {@link openPubSubWriter}. */
  constructor(private readonly client: PubSub, private readonly topic: PubSubTopic, name: string) {
    this.description = `gcppubsub topic ${name}`;
  }

  /** Resolves once Pub/Sub has accepted the message; a failure resumes publishing for its key. */
  async send(message: OutgoingMessage, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const data = Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength);
    const published = this.topic.publishMessage({
      data,
      ...(message.orderingKey ? { orderingKey: message.orderingKey } : {}),
    });
    try {
      await unlessAborted(published, signal);
    } catch (error) {
      if (message.orderingKey) this.topic.resumePublishing(message.orderingKey);
      throw error;
    }
  }

  /** Resolves when the topic exists and may be read (GetTopic). */
  async check(signal?: AbortSignal): Promise<void> {
    await this.topic.getMetadata({ signal });
  }

  /** Publishes what is batched, then closes the connection. */
  async close(): Promise<void> {
    try {
      await this.topic.flush();
    } finally {
      await this.client.close();
    }
  }

  /** See {@link pubSubErrorKind}. */
  errorKind(error: unknown): BusErrorKind {
    return pubSubErrorKind(error);
  }
}

/**
 * Opens a reader for `gcppubsub://projects/P/subscriptions/S[?max_recv_batch_size=N&nacklazy=B]`
 * (or `gcppubsub://P/S`).
 */
export async function openPubSubReader(url: URL | string, options: PubSubOptions = {}): Promise<PubSubReader> {
  const parsed = typeof url === "string" ? new URL(url) : url;
  const params = driverParams(parsed, ["max_recv_batch_size", "nacklazy"], WHAT);
  const batch = intParam(params, "max_recv_batch_size", 1, 1, 1000, WHAT);
  const lazy = params.has("nacklazy") ? parseGoBool(params.get("nacklazy")!, "nacklazy") : false;
  const { project, name } = pubSubResource(parsed, "subscriptions");
  const client = await newClient(project, options);
  const { v1 } = await pubSubSdk();
  // The library builds its own GAPIC clients from this config the same way (its types differ only nominally).
  const config = await client.getClientConfig() as ConstructorParameters<typeof v1.SubscriberClient>[0];
  const subscriber = new v1.SubscriberClient(config);
  return new PubSubReader(client, subscriber, name, batch, lazy);
}

/** Pulls from a Pub/Sub subscription, competing with its other readers. */
export class PubSubReader implements EventReader, BusDriverErrors {
  /** The subscription's resource name. */
  readonly description: string;
  readonly #closing = new AbortController();
  readonly #buffer: ReceivedMessage[] = [];
  /** Unsettled messages handed out: ack id → message id. */
  readonly #held = new Map<string, string>();
  /** Deliveries seen per message id (when the service does not count them). */
  readonly #seen = new Map<string, number>();
  #ackDeadlineS?: number;

  /** Prefer {@link openPubSubReader}. */
  constructor(
    private readonly client: PubSub,
    private readonly subscriber: SubscriberClient,
    private readonly name: string,
    private readonly batch: number,
    private readonly nackLazy: boolean,
  ) {
    this.description = `gcppubsub subscription ${name}`;
  }

  /** A third of the subscription's ack deadline. */
  get renewIntervalMs(): number {
    return Math.round(((this.#ackDeadlineS ?? FALLBACK_ACK_DEADLINE_S) * 1000) / 3);
  }

  /** Pulls until a message arrives; `undefined` once `signal` aborts or the reader closes. */
  async receive(signal?: AbortSignal): Promise<IncomingMessage | undefined> {
    const stop = signal ? AbortSignal.any([signal, this.#closing.signal]) : this.#closing.signal;
    if (this.#ackDeadlineS === undefined && !stop.aborted) await this.#learnDeadline(stop);
    while (!stop.aborted) {
      const next = this.#buffer.shift();
      if (next) return this.#deliver(next);
      let pulled: ReceivedMessage[];
      try {
        const [response] = await this.subscriber.pull(
          { subscription: this.name, maxMessages: this.batch, returnImmediately: false },
          { signal: stop },
        );
        pulled = response.receivedMessages ?? [];
      } catch (error) {
        if (stop.aborted) break;
        throw error;
      }
      if (this.#closing.signal.aborted) {
        await this.#release(pulled.map((m) => m.ackId ?? "")).catch(() => {});
        break;
      }
      this.#buffer.push(...pulled);
    }
    return undefined;
  }

  /** Resolves when the subscription exists and may be read (GetSubscription). */
  async check(signal?: AbortSignal): Promise<void> {
    if (this.#closing.signal.aborted) throw new Error(`${WHAT} ${this.name}: reader closed`);
    const [subscription] = await this.subscriber.getSubscription({ subscription: this.name }, { signal });
    if (subscription.ackDeadlineSeconds) this.#ackDeadlineS = subscription.ackDeadlineSeconds;
  }

  /** Ends pending receives, hands unsettled and buffered messages back at once, closes the connection. */
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort();
    const ackIds = [...this.#held.keys(), ...this.#buffer.map((m) => m.ackId ?? "")];
    this.#held.clear();
    this.#buffer.length = 0;
    try {
      await this.#release(ackIds);
    } finally {
      await this.subscriber.close();
      await this.client.close();
    }
  }

  /** See {@link pubSubErrorKind}. */
  errorKind(error: unknown): BusErrorKind {
    return pubSubErrorKind(error);
  }

  async #learnDeadline(signal: AbortSignal): Promise<void> {
    try {
      const [subscription] = await this.subscriber.getSubscription({ subscription: this.name }, { signal });
      this.#ackDeadlineS = subscription.ackDeadlineSeconds || FALLBACK_ACK_DEADLINE_S;
    } catch (error) {
      if (signal.aborted) return;
      if (pubSubErrorKind(error) !== "permission") throw error;
      this.#ackDeadlineS = FALLBACK_ACK_DEADLINE_S; // may pull but not read the subscription: assume the minimum
    }
  }

  async #release(ackIds: string[]): Promise<void> {
    const live = ackIds.filter((id) => id !== "");
    if (live.length) await this.#modify(live, 0);
  }

  async #modify(ackIds: string[], seconds: number): Promise<void> {
    await this.subscriber.modifyAckDeadline({ subscription: this.name, ackIds, ackDeadlineSeconds: seconds });
  }

  #count(messageId: string, fromService: number): number {
    if (fromService > 0) return fromService;
    const count = (this.#seen.get(messageId) ?? 0) + 1;
    this.#seen.delete(messageId);
    this.#seen.set(messageId, count);
    if (this.#seen.size > MAX_COUNTED) this.#seen.delete(this.#seen.keys().next().value!);
    return count;
  }

  #deliver(received: ReceivedMessage): IncomingMessage {
    const ackId = received.ackId ?? "";
    const message = received.message ?? {};
    const id = message.messageId ?? "";
    const data = message.data ?? new Uint8Array();
    const body = typeof data === "string" ? Uint8Array.from(atob(data), (c) => c.charCodeAt(0)) : new Uint8Array(data);
    this.#held.set(ackId, id);
    const settle = async (action: () => Promise<void>) => {
      if (!this.#held.delete(ackId)) return; // settled already, or released by close
      await action();
    };
    return {
      body,
      id,
      orderingKey: message.orderingKey || undefined,
      deliveryAttempt: this.#count(id, received.deliveryAttempt ?? 0),
      ack: () =>
        settle(async () => {
          await this.subscriber.acknowledge({ subscription: this.name, ackIds: [ackId] });
          this.#seen.delete(id);
        }),
      nack: (delayMs?: number) =>
        settle(async () => {
          if (this.nackLazy) return;
          const seconds = Math.min(MAX_ACK_DEADLINE_S, Math.max(0, Math.ceil((delayMs ?? 0) / 1000)));
          await this.#modify([ackId], seconds);
        }),
      inProgress: async () => {
        if (!this.#held.has(ackId)) return;
        await this.#modify([ackId], this.#ackDeadlineS ?? FALLBACK_ACK_DEADLINE_S);
      },
    };
  }
}
