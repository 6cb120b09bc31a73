/**
 * ElasticMQ (an SQS-compatible server on the JVM) for the awssqs:// bus tests: the jars that
 * `.ci/install-services.sh elasticmq` fetched from Maven Central, run with `java` on a free
 * 127.0.0.1 port, ready once the SQS endpoint answers. It speaks SQS's JSON protocol (what the
 * AWS SDK for JavaScript sends) and behaves like SQS where the tests look: visibility timeouts,
 * ChangeMessageVisibility, ApproximateReceiveCount, FIFO groups and deduplication, strict
 * receipt handles and SQS's character rules. It has no SNS (see `moto.ts`).
 *
 * @module
 */

import { join } from "node:path";
import { CreateQueueCommand, DeleteQueueCommand, SQSClient } from "@aws-sdk/client-sqs";
import {
  cachedBinary,
  freePort,
  httpAnswers,
  launch,
  type LaunchedProcess,
  serviceCacheDir,
  serviceDataDir,
} from "./service.ts";

/** The account id in ElasticMQ's queue URLs. */
export const ELASTICMQ_ACCOUNT = "000000000000";
/** Any credentials work; these are what the tests sign with. */
export const ELASTICMQ_CREDENTIALS = { accessKeyId: "autopgo-test", secretAccessKey: "autopgo-test-secret" };

/** The jar directory that `.ci/install-services.sh elasticmq` filled, if complete, and `java`. */
export function elasticMqInstall(): { libs: string; java: string } | undefined {
  const libs = join(serviceCacheDir(), "elasticmq", "libs");
  const java = cachedBinary("java");
  try {
    Deno.statSync(join(libs, ".complete"));
  } catch {
    return undefined;
  }
  return java ? { libs, java } : undefined;
}

/** A running ElasticMQ server. */
export interface ElasticMqServer {
  /** `http://127.0.0.1:PORT`. */
  readonly endpoint: string;
  /** The AWS_* environment that reaches it (credentials and region), e.g. for a child process. */
  readonly env: Record<string, string>;
  /** Creates a queue (FIFO when the name ends in `.fifo`) and returns its `awssqs://` URL with `params`. */
  createQueue(name: string, params?: Record<string, string>): Promise<string>;
  /** Deletes a queue by name (missing: ignored). */
  deleteQueue(name: string): Promise<void>;
  /** Stops the server and removes its files. */
  stop(): Promise<void>;
  /** The server's last log lines. */
  logs(): string;
}

/** Starts ElasticMQ; throws if it is not installed or does not start. */
export async function startElasticMq(): Promise<ElasticMqServer> {
  const install = elasticMqInstall();
  if (!install) throw new Error("elasticmq is not installed: run .ci/install-services.sh elasticmq");
  const data = await serviceDataDir("elasticmq");
  const port = freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const config = join(data.path, "elasticmq.conf");
  await Deno.writeTextFile(
    config,
    [
      `include classpath("application.conf")`,
      `node-address { protocol = "http", host = "127.0.0.1", port = ${port}, context-path = "" }`,
      `rest-sqs { enabled = true, bind-port = ${port}, bind-hostname = "127.0.0.1", sqs-limits = strict }`,
      `rest-stats { enabled = false }`,
      `aws { region = "us-east-1", accountId = "${ELASTICMQ_ACCOUNT}" }`,
      "",
    ].join("\n"),
  );
  let process: LaunchedProcess | undefined;
  try {
    process = await launch({
      name: "elasticmq",
      command: install.java,
      args: [
        "-Xms64m",
        "-Xmx256m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        `-Dconfig.file=${config}`,
        "-cp",
        `${install.libs}/*`,
        "org.elasticmq.server.Main",
      ],
      cwd: data.path,
      ready: () =>
        httpAnswers(endpoint, {
          method: "POST",
          headers: { "content-type": "application/x-amz-json-1.0", "x-amz-target": "AmazonSQS.ListQueues" },
          body: "{}",
        }),
      readyTimeoutMs: 120_000,
    });
  } catch (error) {
    await data.remove();
    throw error;
  }
  const admin = new SQSClient({ endpoint, region: "us-east-1", credentials: ELASTICMQ_CREDENTIALS });
  return {
    endpoint,
    env: {
      AWS_ACCESS_KEY_ID: ELASTICMQ_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: ELASTICMQ_CREDENTIALS.secretAccessKey,
      AWS_REGION: "us-east-1",
    },
    async createQueue(name, params = {}) {
      const fifo = name.endsWith(".fifo");
      await admin.send(
        new CreateQueueCommand({ QueueName: name, Attributes: fifo ? { FifoQueue: "true" } : undefined }),
      );
      const query = new URLSearchParams({ endpoint, region: "us-east-1", ...params });
      return `awssqs://127.0.0.1:${port}/${ELASTICMQ_ACCOUNT}/${name}?${query}`;
    },
    async deleteQueue(name) {
      await admin.send(new DeleteQueueCommand({ QueueUrl: `${endpoint}/${ELASTICMQ_ACCOUNT}/${name}` })).catch(
        () => {},
      );
    },
    async stop() {
      admin.destroy();
      await process?.stop();
      await data.remove();
    },
    logs: () => process?.logs() ?? "",
  };
}
