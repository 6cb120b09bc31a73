/**
 * `awssqs://` event bus on Amazon SQS: a writer that sends to a queue and a reader that
 * receives from it (directly, or as the subscription of an SNS topic, see `aws_sns.ts`).
 * Thin drivers under the portable `Topic`/`Subscription`, which add closed checks, settling
 * at most once, `inProgress` renewal and error wrapping (by {@link awsErrorKind}).
 *
 * # URLs
 * `awssqs://HOST/ACCOUNT/QUEUE?…` as in gocloud: `https://` + host + path is the queue URL,
 * e.g. `awssqs://sqs.us-east-2.amazonaws.com/123456789012/profiles?region=us-east-2`. A queue
 * whose name ends in `.fifo` is a FIFO queue. Parameters (unknown or repeated ones are errors):
 * - gocloud's AWS parameters, on both sides: `region`, `endpoint` (a URL or a host; requests go
 *   there instead of the queue URL's host, e.g. `endpoint=http://127.0.0.1:9324` for ElasticMQ),
 *   `profile`, `dualstack`, `fips`, `disable_ssl`/`disableSSL` (plain HTTP for the queue URL
 *   and a bare endpoint host), and, accepted for compatibility with no effect here,
 *   `hostname_immutable`, `rate_limiter_capacity`, `awssdk=v1|v2`;
 * - reader only (gocloud's names): `raw` (true: bodies are never unwrapped; false, the
 *   default: an SNS JSON notification is unwrapped to the message it carries, see
 *   `unwrapSnsBody`), `snstopicarn` (unwrap only notifications from this topic), `nacklazy`
 *   (true: nack does nothing and the message comes back when its visibility timeout ends),
 *   `waittime` (long-poll duration, whole seconds up to 20s; default 20s; 0 = short polling
 *   with the queue's own `ReceiveMessageWaitTimeSeconds` and a 250 ms pause between empty
 *   polls, as gocloud does);
 * - reader only (autopgo's): `visibilitytimeout` (whole seconds up to 12h) sets the visibility
 *   timeout of every receive; without it the queue's own `VisibilityTimeout` applies (read
 *   once with GetQueueAttributes).
 *
 * # Message delivery semantics
 * At least once. `receive` long-polls for one message at a time (several concurrent
 * `receive`s poll in parallel). A delivery stays invisible to other readers for the
 * visibility timeout; `deliveryAttempt` is SQS's `ApproximateReceiveCount`. `ack` deletes the
 * message; `nack(delayMs)` makes it visible again after `delayMs` (ChangeMessageVisibility,
 * whole seconds, 0 allowed; default 1s, 2s, 4s… up to 60s by attempt); `inProgress` resets
 * its visibility timeout, and the portable `Subscription` calls it every third of that timeout
 * while a handler runs, so a long merge is not redelivered. A message whose visibility ends
 * (a crashed or killed reader) is delivered again.
 *
 * An aborted `receive` resolves `undefined` at once, but its long poll is never cut short: a
 * server hands messages to a waiting poll even after its client went away, which would hide
 * them for a visibility timeout. What such a poll brings back is kept for the next `receive`
 * (or released if it waited longer than half the visibility timeout). `close` waits for the
 * polls in flight (at most `waittime`) and makes every message it still holds visible again
 * at once.
 *
 * Ordering: a FIFO queue delivers each `MessageGroupId` (the ordering key, i.e. the app) in
 * order with one message in flight per group, so per-app merges are serialized; a message
 * without a key gets a group of its own. Each send on a FIFO queue has a fresh
 * `MessageDeduplicationId`. Standard queues do not order messages.
 *
 * # Credentials
 * The AWS SDK default chain: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (+`AWS_SESSION_TOKEN`),
 * `AWS_PROFILE` or `?profile=` with the shared config files, web identity, ECS and EC2 roles;
 * the region from `?region=`, `AWS_REGION`, `AWS_DEFAULT_REGION` or the profile.
 *
 * @module
 */

import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import type { EventReader, EventWriter, IncomingMessage, OutgoingMessage } from "../../core/events.ts";
import type { BusErrorKind } from "../../core/event_bus.ts";
import { driverParams, durationParam } from "../driver_url.ts";
import { ChangeSignal, nackBackoffMs } from "./bus_common.ts";
import {
  AWS_CONFIG_PARAMETERS,
  type AwsBusOptions,
  awsClientConfig,
  type AwsClientSettings,
  awsClientSettings,
  awsErrorKind,
  BASE64_ATTRIBUTE,
  boolParam,
  decodeBody,
  encodeBody,
  messageGroupId,
  ORDERING_KEY_ATTRIBUTE,
  outgoingAttributes,
  unescapeAttributeValue,
  unwrapSnsBody,
  urlFail,
} from "./aws_common.ts";

const WHAT = "awssqs event bus";
const READER_PARAMETERS = ["raw", "snstopicarn", "nacklazy", "waittime", "visibilitytimeout"];
const MAX_WAIT_S = 20;
const MAX_VISIBILITY_S = 43_200;
const SHORT_POLL_PAUSE_MS = 250;

/** What an `awssqs://` URL asks for, after validation. */
export interface SqsSettings {
  /** The queue URL (`https://host/account/name`). */
  queueUrl: string;
  queueName: string;
  fifo: boolean;
  client: AwsClientSettings;
  /** Reader: never unwrap SNS notifications. */
  raw: boolean;
  /** Reader: unwrap only notifications from this topic. */
  snsTopicArn?: string;
  /** Reader: nack does nothing. */
  nackLazy: boolean;
  /** Reader: long-poll seconds (0: short polling). */
  waitSeconds: number;
  /** Reader: visibility timeout in seconds per receive, or undefined for the queue's own. */
  visibilitySeconds?: number;
}

/** Validates an `awssqs://` URL for a writer or a reader (one-line errors), without I/O. */
export function parseSqsUrl(
  url: URL,
  side: "writer" | "reader",
  env?: (name: string) => string | undefined,
): SqsSettings {
  const allowed = side === "reader" ? [...AWS_CONFIG_PARAMETERS, ...READER_PARAMETERS] : AWS_CONFIG_PARAMETERS;
  const params = driverParams(url, allowed, WHAT);
  if (!url.host) urlFail(WHAT, url, "no host: expected awssqs://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE");
  const path = url.pathname.replace(/\/+/g, "/").replace(/\/$/, "");
  const queueName = decodeURIComponent(path.slice(path.lastIndexOf("/") + 1));
  if (!/^[A-Za-z0-9_-]{1,80}(\.fifo)?$/.test(queueName) || queueName.length > 80) {
    urlFail(
      WHAT,
      url,
      `queue name ${JSON.stringify(queueName)}: expected 1-80 of A-Z a-z 0-9 - _ (FIFO: ending in .fifo)`,
    );
  }
  const client = awsClientSettings(WHAT, url, params, env);
  let visibilitySeconds: number | undefined;
  if (params.has("visibilitytimeout")) {
    visibilitySeconds = Math.ceil(durationParam(params, "visibilitytimeout", 0, WHAT) / 1000);
    if (visibilitySeconds > MAX_VISIBILITY_S) urlFail(WHAT, url, "visibilitytimeout: at most 12h");
  }
  const waitSeconds = Math.floor(durationParam(params, "waittime", MAX_WAIT_S * 1000, WHAT) / 1000);
  if (waitSeconds > MAX_WAIT_S) urlFail(WHAT, url, "waittime: at most 20s (the SQS long-poll limit)");
  return {
    queueUrl: `${client.disableSsl ? "http" : "https"}://${url.host}${path}`,
    queueName,
    fifo: queueName.endsWith(".fifo"),
    client,
    raw: boolParam(WHAT, url, params, "raw") ?? false,
    snsTopicArn: params.get("snstopicarn") || undefined,
    nackLazy: boolParam(WHAT, url, params, "nacklazy") ?? false,
    waitSeconds,
    visibilitySeconds,
  };
}

function describe(settings: SqsSettings): string {
  const where = settings.client.endpoint ?? settings.client.region;
  return `awssqs queue "${settings.queueName}"${where ? ` at ${where}` : ""}`;
}

/** Opens a writer for `awssqs://host/account/queue?…`; no request is made until the first send or check. */
// deno-lint-ignore require-await
export async function openSqsWriter(url: URL | string, options: AwsBusOptions = {}): Promise<SqsEventWriter> {
  return new SqsEventWriter(parseSqsUrl(typeof url === "string" ? new URL(url) : url, "writer"), options);
}

/** Opens a reader for `awssqs://host/account/queue?…`; no request is made until the first receive or check. */
// deno-lint-ignore require-await
export async function openSqsReader(url: URL | string, options: AwsBusOptions = {}): Promise<SqsEventReader> {
  return new SqsEventReader(parseSqsUrl(typeof url === "string" ? new URL(url) : url, "reader"), options);
}

/** Sends to an SQS queue (one SendMessage per message). */
export class SqsEventWriter implements EventWriter {
  /** Names the queue in errors. */
  readonly description: string;
  readonly #settings: SqsSettings;
  readonly #options: AwsBusOptions;
  #client?: SQSClient;

  /** Prefer {@link openSqsWriter}. */
  constructor(settings: SqsSettings, options: AwsBusOptions = {}) {
    this.#settings = settings;
    this.#options = options;
    this.description = describe(settings);
  }

  get #sqs(): SQSClient {
    return this.#client ??= new SQSClient(awsClientConfig(this.#settings.client, 30_000, this.#options));
  }

  /** Resolves once SQS has stored the message. */
  async send(message: OutgoingMessage, signal?: AbortSignal): Promise<void> {
    const { text, base64 } = encodeBody(message.body);
    const dedup = this.#settings.fifo ? crypto.randomUUID() : undefined;
    await this.#sqs.send(
      new SendMessageCommand({
        QueueUrl: this.#settings.queueUrl,
        MessageBody: text,
        MessageAttributes: outgoingAttributes(message.orderingKey, base64),
        MessageGroupId: dedup && await messageGroupId(message.orderingKey, dedup),
        MessageDeduplicationId: dedup,
      }),
      { abortSignal: signal },
    );
  }

  /** GetQueueAttributes: the queue exists and the credentials may use it. */
  async check(signal?: AbortSignal): Promise<void> {
    await this.#sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: this.#settings.queueUrl, AttributeNames: ["QueueArn"] }),
      { abortSignal: signal },
    );
  }

  /** Releases the SDK client. */
  // deno-lint-ignore require-await
  async close(): Promise<void> {
    this.#client?.destroy();
  }

  /** Maps SDK errors to portable kinds. */
  errorKind(error: unknown): BusErrorKind {
    return awsErrorKind(error);
  }
}

/** A received message before it is handed out. */
interface Delivery {
  message: Message;
  receiptHandle: string;
  receivedAt: number;
}

/** Resolves when any of `signals` aborts. */
function anyAbort(signals: (AbortSignal | undefined)[]): Promise<void> {
  const live = signals.filter((s): s is AbortSignal => s !== undefined);
  if (live.some((s) => s.aborted)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      for (const s of live) s.removeEventListener("abort", done);
      resolve();
    };
    for (const s of live) s.addEventListener("abort", done, { once: true });
  });
}

/** Receives from an SQS queue; see the module doc for polling, visibility and close. */
export class SqsEventReader implements EventReader {
  /** Names the queue in errors. */
  readonly description: string;
  readonly #settings: SqsSettings;
  readonly #options: AwsBusOptions;
  #client?: SQSClient;
  #visibilitySeconds?: number;
  readonly #parked: Delivery[] = [];
  readonly #held = new Map<string, Delivery>();
  readonly #polls = new Set<Promise<void>>();
  readonly #background = new Set<Promise<void>>();
  readonly #changed = new ChangeSignal();
  readonly #closing = new AbortController();
  #waiters = 0;
  #pollError: { error: unknown } | undefined;

  /** Prefer {@link openSqsReader}. */
  constructor(settings: SqsSettings, options: AwsBusOptions = {}) {
    this.#settings = settings;
    this.#options = options;
    this.#visibilitySeconds = settings.visibilitySeconds;
    this.description = describe(settings);
  }

  /** A third of the visibility timeout, once it is known (from the URL or the queue); none when it is 0. */
  get renewIntervalMs(): number | undefined {
    const seconds = this.#visibilitySeconds;
    return seconds ? Math.round((seconds * 1000) / 3) : undefined;
  }

  get #sqs(): SQSClient {
    return this.#client ??= new SQSClient(
      awsClientConfig(this.#settings.client, (this.#settings.waitSeconds + 15) * 1000, this.#options),
    );
  }

  /** Waits for the next message; `undefined` once `signal` aborts or the reader closes. */
  async receive(signal?: AbortSignal): Promise<IncomingMessage | undefined> {
    this.#waiters++;
    try {
      while (!this.#closing.signal.aborted && !signal?.aborted) {
        const delivery = this.#parked.shift();
        if (delivery) {
          if (this.#fresh(delivery)) return this.#deliver(delivery);
          this.#inBackground(this.#release(delivery));
          continue;
        }
        if (this.#pollError) {
          const { error } = this.#pollError;
          this.#pollError = undefined;
          throw error;
        }
        if (this.#polls.size < this.#waiters) this.#startPoll();
        await anyAbort([this.#changed.signal, signal, this.#closing.signal]);
      }
      return undefined;
    } finally {
      this.#waiters--;
    }
  }

  /** GetQueueAttributes: the queue exists and the credentials may use it (also learns its visibility timeout). */
  async check(signal?: AbortSignal): Promise<void> {
    await this.#queueVisibility(signal);
  }

  /** Waits for the polls in flight, then makes every message this reader still holds visible again. */
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort();
    while (this.#polls.size > 0) await Promise.all(this.#polls);
    const unsettled = [...this.#parked.splice(0), ...this.#held.values()];
    this.#held.clear();
    await Promise.all(unsettled.map((delivery) => this.#release(delivery)));
    while (this.#background.size > 0) await Promise.all(this.#background);
    this.#client?.destroy();
  }

  /** Maps SDK errors to portable kinds. */
  errorKind(error: unknown): BusErrorKind {
    return awsErrorKind(error);
  }

  async #queueVisibility(signal?: AbortSignal): Promise<number> {
    const out = await this.#sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: this.#settings.queueUrl, AttributeNames: ["VisibilityTimeout"] }),
      { abortSignal: signal },
    );
    const seconds = Number(out.Attributes?.VisibilityTimeout ?? 30);
    this.#visibilitySeconds ??= Number.isFinite(seconds) ? seconds : 30;
    return this.#visibilitySeconds;
  }

  #startPoll(): void {
    const poll: Promise<void> = this.#poll().finally(() => {
      this.#polls.delete(poll);
      this.#changed.notify();
    });
    this.#polls.add(poll);
  }

  /** One ReceiveMessage for one message; results are parked, errors go to one waiting receive. */
  async #poll(): Promise<void> {
    const { waitSeconds } = this.#settings;
    try {
      const visibility = this.#visibilitySeconds ?? await this.#queueVisibility();
      const out = await this.#sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: this.#settings.queueUrl,
          MaxNumberOfMessages: 1,
          WaitTimeSeconds: waitSeconds > 0 ? waitSeconds : undefined,
          VisibilityTimeout: this.#settings.visibilitySeconds !== undefined ? visibility : undefined,
          MessageAttributeNames: ["All"],
          MessageSystemAttributeNames: ["ApproximateReceiveCount", "MessageGroupId"],
        }),
      );
      const now = Date.now();
      for (const message of out.Messages ?? []) {
        if (message.ReceiptHandle) {
          this.#parked.push({ message, receiptHandle: message.ReceiptHandle, receivedAt: now });
        }
      }
      if (!out.Messages?.length && waitSeconds === 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, SHORT_POLL_PAUSE_MS);
          anyAbort([this.#closing.signal]).then(() => (clearTimeout(timer), resolve()));
        });
      }
    } catch (error) {
      if (this.#waiters > 0 && !this.#closing.signal.aborted) this.#pollError = { error };
    }
  }

  /** A parked message may be handed out while less than half its visibility timeout has passed. */
  #fresh(delivery: Delivery): boolean {
    const visibilityMs = (this.#visibilitySeconds ?? 0) * 1000;
    return Date.now() - delivery.receivedAt < visibilityMs / 2;
  }

  #inBackground(work: Promise<void>): void {
    const tracked: Promise<void> = work.finally(() => this.#background.delete(tracked));
    this.#background.add(tracked);
  }

  /** Makes a message visible again at once; a stale receipt handle (already redelivered) is ignored. */
  async #release(delivery: Delivery): Promise<void> {
    await this.#changeVisibility(delivery, 0).catch(() => {});
  }

  async #changeVisibility(delivery: Delivery, seconds: number): Promise<void> {
    await this.#sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: this.#settings.queueUrl,
        ReceiptHandle: delivery.receiptHandle,
        VisibilityTimeout: Math.max(0, Math.min(MAX_VISIBILITY_S, seconds)),
      }),
    );
  }

  #deliver(delivery: Delivery): IncomingMessage {
    const { message, receiptHandle } = delivery;
    this.#held.set(receiptHandle, delivery);
    const raw: Record<string, string> = {};
    for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
      if (value.StringValue !== undefined) raw[name] = value.StringValue;
    }
    const { text, attributes } = unwrapSnsBody(message.Body ?? "", raw, this.#settings.raw, this.#settings.snsTopicArn);
    const key = attributes[ORDERING_KEY_ATTRIBUTE];
    const attempt = Number(message.Attributes?.ApproximateReceiveCount);
    const deliveryAttempt = Number.isSafeInteger(attempt) && attempt > 0 ? attempt : 1;
    const settle = () => this.#held.delete(receiptHandle);
    return {
      body: decodeBody(text, BASE64_ATTRIBUTE in attributes),
      id: message.MessageId ?? receiptHandle,
      orderingKey: key !== undefined ? unescapeAttributeValue(key) : message.Attributes?.MessageGroupId,
      deliveryAttempt,
      ack: async () => {
        settle();
        await this.#sqs.send(
          new DeleteMessageCommand({ QueueUrl: this.#settings.queueUrl, ReceiptHandle: receiptHandle }),
        );
      },
      nack: async (delayMs?: number) => {
        settle();
        if (this.#settings.nackLazy) return;
        await this.#changeVisibility(delivery, Math.ceil((delayMs ?? nackBackoffMs(deliveryAttempt)) / 1000));
      },
      inProgress: async () => {
        const seconds = this.#visibilitySeconds;
        if (seconds && this.#held.has(receiptHandle)) await this.#changeVisibility(delivery, seconds);
      },
    };
  }
}
