/**
 * `awssqs://` URL parsing for the SQS writer and reader (`aws_sqs.ts`, which documents every
 * parameter): gocloud's form and parameter names, strict validation, one-line errors, no I/O.
 *
 * @module
 */

import { driverParams, durationParam } from "../driver_url.ts";
import { AWS_CONFIG_PARAMETERS, type AwsClientSettings, awsClientSettings, boolParam, urlFail } from "./aws_common.ts";

const WHAT = "awssqs event bus";
const READER_PARAMETERS = ["raw", "snstopicarn", "nacklazy", "waittime", "visibilitytimeout"];
const MAX_WAIT_S = 20;
/** SQS's longest visibility timeout (12 hours), in seconds. */
export const MAX_VISIBILITY_S = 43_200;

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

/** Names the queue in errors (no secrets). */
export function sqsDescription(settings: SqsSettings): string {
  const where = settings.client.endpoint ?? settings.client.region;
  return `awssqs queue "${settings.queueName}"${where ? ` at ${where}` : ""}`;
}
