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
 * An aborted `receive` resolves `undefined` at once, but its long poll is not cut short: a
 * server hands messages to a waiting poll even after its client went away, which would hide
 * them for a visibility timeout. What such a poll brings back is kept for the next `receive`
 * (or released if it waited longer than half the visibility timeout). `close` lets the polls
 * in flight end (cutting them short after 2s, so a message may then stay hidden for one
 * visibility timeout) and makes every message it still holds visible again at once.
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

import { GetQueueAttributesCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { EventWriter, OutgoingMessage } from "../../core/events.ts";
import type { BusErrorKind } from "../../core/event_bus.ts";
import {
  type AwsBusOptions,
  awsClientConfig,
  awsErrorKind,
  encodeBody,
  messageGroupId,
  outgoingAttributes,
} from "./aws_common.ts";
import { SqsEventReader } from "./aws_sqs_reader.ts";
import { parseSqsUrl, sqsDescription, type SqsSettings } from "./aws_sqs_url.ts";

export { SqsEventReader } from "./aws_sqs_reader.ts";
export { parseSqsUrl, type SqsSettings } from "./aws_sqs_url.ts";

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
    this.description = sqsDescription(settings);
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
