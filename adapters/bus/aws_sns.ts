/**
 * `awssns://` event writer on Amazon SNS: publishes to a topic whose subscribers are SQS
 * queues, read with `awssqs://` readers (`aws_sqs.ts`). A thin driver under the portable
 * `Topic`, which adds the closed check, send retries and error wrapping (by
 * {@link awsErrorKind}).
 *
 * # URLs
 * `awssns:///arn:aws:sns:REGION:ACCOUNT:TOPIC?…` as in gocloud: the topic ARN goes in the path
 * with an empty host (an ARN's colons cannot be a host), e.g.
 * `awssns:///arn:aws:sns:us-east-2:123456789012:profiles?region=us-east-2`. A topic whose name
 * ends in `.fifo` is a FIFO topic. Parameters: gocloud's AWS parameters (`region`, `endpoint`,
 * `profile`, `dualstack`, `fips`, `disable_ssl`/`disableSSL`, and, accepted with no effect
 * here, `hostname_immutable`, `rate_limiter_capacity`, `awssdk`), as described in
 * `aws_sqs.ts`; anything else is an error. Without `region`, `AWS_REGION` and
 * `AWS_DEFAULT_REGION`, the ARN's region is used.
 *
 * # Message delivery semantics
 * `send` resolves once SNS accepted the message (Publish). SNS then delivers it to every
 * subscribed queue at least once; readers see it with SQS's semantics (see `aws_sqs.ts`).
 * The body is the original bytes, encoded as gocloud does (`aws_common.ts`). SNS wraps each
 * message in a JSON notification unless the subscription has raw message delivery on; an
 * `awssqs` reader unwraps it unless `raw=true`, so either way the reader gets the original
 * bytes and the ordering key. Subscriptions with raw delivery are cheaper and simpler.
 *
 * Ordering: on a FIFO topic the ordering key (the app) is the `MessageGroupId`, and each send
 * has a fresh `MessageDeduplicationId`; a FIFO queue subscribed to it then delivers each app's
 * messages in order, one in flight at a time. Standard topics do not order messages.
 *
 * # Credentials
 * The AWS SDK default chain, as for `awssqs` (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
 * `AWS_SESSION_TOKEN`, `AWS_PROFILE`, `AWS_REGION`, web identity, ECS and EC2 roles).
 *
 * @module
 */

import { GetTopicAttributesCommand, PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import type { EventWriter, OutgoingMessage } from "../../core/events.ts";
import type { BusErrorKind } from "../../core/event_bus.ts";
import { driverParams } from "../driver_url.ts";
import {
  AWS_CONFIG_PARAMETERS,
  type AwsBusOptions,
  awsClientConfig,
  type AwsClientSettings,
  awsClientSettings,
  awsErrorKind,
  encodeBody,
  messageGroupId,
  outgoingAttributes,
  urlFail,
} from "./aws_common.ts";

const WHAT = "awssns event writer";
const ARN = /^arn:[a-z-]+:sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,256}(?:\.fifo)?)$/;

/** What an `awssns://` URL asks for, after validation. */
export interface SnsSettings {
  topicArn: string;
  topicName: string;
  fifo: boolean;
  client: AwsClientSettings;
}

/** Validates an `awssns:///arn:…` URL (one-line errors), without I/O. */
export function parseSnsUrl(url: URL, env?: (name: string) => string | undefined): SnsSettings {
  const params = driverParams(url, AWS_CONFIG_PARAMETERS, WHAT);
  const arn = decodeURIComponent(`${url.host}${url.pathname}`.replace(/^\/+/, ""));
  const match = ARN.exec(arn);
  if (!match) {
    urlFail(WHAT, url, `topic ARN ${JSON.stringify(arn)}: expected awssns:///arn:aws:sns:REGION:ACCOUNT:TOPIC`);
  }
  const client = awsClientSettings(WHAT, url, params, env);
  if (!client.region && !(env ?? ((name: string) => Deno.env.get(name)))("AWS_REGION")) client.region = match[1];
  const topicName = match[3];
  return { topicArn: arn, topicName, fifo: topicName.endsWith(".fifo"), client };
}

/** Opens a writer for `awssns:///arn:aws:sns:…`; no request is made until the first send or check. */
// deno-lint-ignore require-await
export async function openSnsWriter(url: URL | string, options: AwsBusOptions = {}): Promise<SnsEventWriter> {
  return new SnsEventWriter(parseSnsUrl(typeof url === "string" ? new URL(url) : url), options);
}

/** Publishes to an SNS topic (one Publish per message). */
export class SnsEventWriter implements EventWriter {
  /** Names the topic in errors. */
  readonly description: string;
  readonly #settings: SnsSettings;
  readonly #options: AwsBusOptions;
  #client?: SNSClient;

  /** Prefer {@link openSnsWriter}. */
  constructor(settings: SnsSettings, options: AwsBusOptions = {}) {
    this.#settings = settings;
    this.#options = options;
    const where = settings.client.endpoint;
    this.description = `awssns topic ${settings.topicArn}${where ? ` at ${where}` : ""}`;
  }

  get #sns(): SNSClient {
    return this.#client ??= new SNSClient(awsClientConfig(this.#settings.client, 30_000, this.#options));
  }

  /** Resolves once SNS accepted the message. */
  async send(message: OutgoingMessage, signal?: AbortSignal): Promise<void> {
    const { text, base64 } = encodeBody(message.body);
    const dedup = this.#settings.fifo ? crypto.randomUUID() : undefined;
    await this.#sns.send(
      new PublishCommand({
        TopicArn: this.#settings.topicArn,
        Message: text,
        MessageAttributes: outgoingAttributes(message.orderingKey, base64),
        MessageGroupId: dedup && await messageGroupId(message.orderingKey, dedup),
        MessageDeduplicationId: dedup,
      }),
      { abortSignal: signal },
    );
  }

  /** GetTopicAttributes: the topic exists and the credentials may use it. */
  async check(signal?: AbortSignal): Promise<void> {
    await this.#sns.send(new GetTopicAttributesCommand({ TopicArn: this.#settings.topicArn }), { abortSignal: signal });
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
