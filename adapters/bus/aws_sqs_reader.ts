/**
 * The `awssqs://` reader (opened by `openSqsReader` in `aws_sqs.ts`, which documents its URL
 * parameters, delivery semantics and credentials). It long-polls for one message per waiting
 * `receive`, keeps what a poll brings after its `receive` gave up for the next one, tracks the
 * messages it hands out so that `close` can make them visible again, and maps ack, nack and
 * `inProgress` to DeleteMessage and ChangeMessageVisibility.
 *
 * @module
 */

import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import type { EventReader, IncomingMessage } from "../../core/events.ts";
import type { BusErrorKind } from "../../core/event_bus.ts";
import { ChangeSignal, nackBackoffMs } from "./bus_common.ts";
import {
  type AwsBusOptions,
  awsClientConfig,
  awsErrorKind,
  BASE64_ATTRIBUTE,
  decodeBody,
  ORDERING_KEY_ATTRIBUTE,
  unescapeAttributeValue,
  unwrapSnsBody,
} from "./aws_common.ts";
import { MAX_VISIBILITY_S, sqsDescription, type SqsSettings } from "./aws_sqs_url.ts";

const SHORT_POLL_PAUSE_MS = 250;
/** How long `close` lets a long poll finish before cutting it short. */
const CLOSE_GRACE_MS = 2_000;

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

/** Receives from an SQS queue; see `aws_sqs.ts` for polling, visibility and close. */
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
  readonly #cutPolls = new AbortController();
  #waiters = 0;
  #pollError: { error: unknown } | undefined;

  /** Prefer `openSqsReader` (`aws_sqs.ts`). */
  constructor(settings: SqsSettings, options: AwsBusOptions = {}) {
    this.#settings = settings;
    this.#options = options;
    this.#visibilitySeconds = settings.visibilitySeconds;
    this.description = sqsDescription(settings);
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

  /** Lets the polls in flight end (cut short after 2s), then makes every message it still holds visible again. */
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort();
    const timer = setTimeout(() => this.#cutPolls.abort(), CLOSE_GRACE_MS);
    while (this.#polls.size > 0) await Promise.all(this.#polls);
    clearTimeout(timer);
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
        { abortSignal: this.#cutPolls.signal },
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
    return visibilityMs === 0 || Date.now() - delivery.receivedAt < visibilityMs / 2;
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
