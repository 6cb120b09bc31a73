/**
 * moto's server mode (`moto_server`, AWS service emulators in Python, installed from PyPI by
 * `.ci/install-services.sh moto`) for the awssns:// tests: SNS topics fanning out to SQS queues
 * in one process, on a free 127.0.0.1 port. It is used where ElasticMQ cannot go: SNS, raw and
 * JSON-envelope delivery to SQS subscriptions, and FIFO topics feeding FIFO queues. (goaws
 * v0.4.5, the newest on the Go module proxy, cannot: its SQS speaks only the query protocol,
 * not the JSON protocol of the AWS SDK for JavaScript, and it has no GetTopicAttributes or
 * FIFO topics.)
 *
 * @module
 */

import { CreateQueueCommand, DeleteQueueCommand, GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { CreateTopicCommand, DeleteTopicCommand, SNSClient, SubscribeCommand } from "@aws-sdk/client-sns";
import { cachedBinary, freePort, httpAnswers, launch, serviceDataDir } from "./service.ts";

/** moto's default account id. */
export const MOTO_ACCOUNT = "123456789012";
/** Any credentials work; these are what the tests sign with. */
export const MOTO_CREDENTIALS = { accessKeyId: "autopgo-test", secretAccessKey: "autopgo-test-secret" };

/** The `moto_server` executable, if installed. */
export function motoBinary(): string | undefined {
  return cachedBinary("moto_server");
}

/** An SNS topic with one SQS queue subscribed to it. */
export interface MotoFanOut {
  /** `awssns:///arn:…` writer URL of the topic. */
  topicUrl: string;
  /** `awssqs://…` reader URL of the subscribed queue (plus the given reader parameters). */
  queueUrl: string;
  /** Deletes the topic and the queue. */
  remove(): Promise<void>;
}

/** A running moto server. */
export interface MotoServer {
  /** `http://127.0.0.1:PORT`. */
  readonly endpoint: string;
  /** The AWS_* environment that reaches it (credentials and region), e.g. for a child process. */
  readonly env: Record<string, string>;
  /**
   * Creates topic `name` and queue `name`-queue (both FIFO when `name` ends in `.fifo`) and
   * subscribes the queue with raw message delivery on or off.
   */
  fanOut(name: string, raw: boolean, readerParams?: Record<string, string>): Promise<MotoFanOut>;
  /** Stops the server. */
  stop(): Promise<void>;
  /** The server's last log lines. */
  logs(): string;
}

/** Starts `moto_server`; throws if it is not installed or does not start. */
export async function startMoto(): Promise<MotoServer> {
  const binary = motoBinary();
  if (!binary) throw new Error("moto_server is not installed: run .ci/install-services.sh moto");
  const data = await serviceDataDir("moto");
  const port = freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const process = await launch({
    name: "moto",
    command: binary,
    args: ["-H", "127.0.0.1", "-p", String(port)],
    cwd: data.path,
    env: { HOME: data.path },
    ready: () => httpAnswers(`${endpoint}/moto-api/data.json`),
  }).catch(async (error) => {
    await data.remove();
    throw error;
  });
  const config = { endpoint, region: "us-east-1", credentials: MOTO_CREDENTIALS };
  const sqs = new SQSClient(config);
  const sns = new SNSClient(config);
  return {
    endpoint,
    env: {
      AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
      AWS_REGION: "us-east-1",
    },
    async fanOut(name, raw, readerParams = {}) {
      const fifo = name.endsWith(".fifo");
      const queueName = fifo ? `${name.slice(0, -5)}-queue.fifo` : `${name}-queue`;
      const topic = await sns.send(
        new CreateTopicCommand({ Name: name, Attributes: fifo ? { FifoTopic: "true" } : undefined }),
      );
      const queue = await sqs.send(
        new CreateQueueCommand({ QueueName: queueName, Attributes: fifo ? { FifoQueue: "true" } : undefined }),
      );
      const attributes = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: queue.QueueUrl, AttributeNames: ["QueueArn"] }),
      );
      await sns.send(
        new SubscribeCommand({
          TopicArn: topic.TopicArn,
          Protocol: "sqs",
          Endpoint: attributes.Attributes?.QueueArn,
          Attributes: { RawMessageDelivery: String(raw) },
        }),
      );
      const query = new URLSearchParams({ endpoint, region: "us-east-1" });
      const readerQuery = new URLSearchParams({ endpoint, region: "us-east-1", ...readerParams });
      return {
        topicUrl: `awssns:///${topic.TopicArn}?${query}`,
        queueUrl: `awssqs://127.0.0.1:${port}/${MOTO_ACCOUNT}/${queueName}?${readerQuery}`,
        async remove() {
          await sns.send(new DeleteTopicCommand({ TopicArn: topic.TopicArn })).catch(() => {});
          await sqs.send(new DeleteQueueCommand({ QueueUrl: queue.QueueUrl })).catch(() => {});
        },
      };
    },
    async stop() {
      sqs.destroy();
      sns.destroy();
      await process.stop();
      await data.remove();
    },
    logs: () => process.logs(),
  };
}
