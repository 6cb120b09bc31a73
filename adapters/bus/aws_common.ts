/**
 * What the `awssqs://` and `awssns://` event bus drivers share: gocloud's AWS URL parameters,
 * the SDK client settings, the message body and attribute encoding (byte-compatible with
 * gocloud's `awssnssqs`, so a Go process of the original autopgo reads what we publish and we
 * read what it publishes), unwrapping of SNS's JSON notification envelope, and the mapping
 * of AWS errors to portable bus error kinds.
 *
 * # Body encoding (as gocloud's default `BodyBase64Encoding: NonUTF8Only`)
 * SQS and SNS carry text only. A body that is valid UTF-8 travels as is; any other body is
 * sent base64-encoded with the String message attribute `base64encoded=true`, and the reader
 * decodes a body that carries that attribute (gocloud's Go reader does the same). We also
 * base64 a valid UTF-8 body that contains characters SQS refuses (NUL and other controls,
 * U+FFFE/U+FFFF), which gocloud would send and SQS would reject; a Go reader decodes it the
 * same way. autopgo's JSON envelopes are always plain UTF-8 and never base64-encoded.
 *
 * # Attributes
 * The ordering key travels as the String message attribute `orderingKey`, URL-escaped as
 * gocloud escapes metadata values (a Go reader sees it as `Metadata["orderingKey"]`). A reader
 * takes the key from that attribute, else from the FIFO `MessageGroupId` (what the original's
 * FIFO publishes carry).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { BusErrorKind } from "../../core/event_bus.ts";
import { kindFromNetworkError } from "../../core/blob_bucket.ts";
import { redactUrl } from "../../core/registry.ts";
import { intParam } from "../driver_url.ts";
import { sha256Hex } from "../../core/hex.ts";

/** Attribute that marks a base64-encoded body (gocloud's `base64encoded`). */
export const BASE64_ATTRIBUTE = "base64encoded";
/** Attribute that carries the ordering key. */
export const ORDERING_KEY_ATTRIBUTE = "orderingKey";

/**
 * gocloud's AWS configuration parameters (`gocloud.dev/aws` `V2ConfigFromURLParams`, plus the
 * SDK v1 spelling `disable_ssl`/`disableSSL` that v0.40.0 still accepted with `awssdk=v1`).
 */
export const AWS_CONFIG_PARAMETERS: readonly string[] = [
  "region",
  "endpoint",
  "profile",
  "hostname_immutable",
  "dualstack",
  "fips",
  "rate_limiter_capacity",
  "awssdk",
  "disable_ssl",
  "disableSSL",
];

/** The SDK client settings an AWS bus URL asks for. */
export interface AwsClientSettings {
  /** `?region=`, else `AWS_DEFAULT_REGION` when `AWS_REGION` is unset, else the SDK's chain decides. */
  region?: string;
  /** A full URL; a bare host gets `https://` (or `http://` with `disable_ssl=true`). */
  endpoint?: string;
  /** `?profile=` of the shared config files. */
  profile?: string;
  dualstack: boolean;
  fips: boolean;
  /** `disable_ssl=true`: plain HTTP for a bare endpoint host and for the SQS queue URL. */
  disableSsl: boolean;
}

/** Throws the one-line URL error every AWS bus driver uses. */
export function urlFail(what: string, url: URL, problem: string): never {
  throw new Error(`${what} URL ${JSON.stringify(redactUrl(url.href))}: ${problem}`);
}

/** Parses a boolean parameter as Go's `strconv.ParseBool` does (`1`, `t`, `true`, `0`, `f`, `false`…). */
export function boolParam(what: string, url: URL, params: Map<string, string>, name: string): boolean | undefined {
  const text = params.get(name);
  if (text === undefined) return undefined;
  if (["1", "t", "T", "true", "TRUE", "True"].includes(text)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(text)) return false;
  return urlFail(what, url, `${name}=${JSON.stringify(text)}: expected true or false`);
}

/** Reads the gocloud AWS parameters of an already validated parameter map. */
export function awsClientSettings(
  what: string,
  url: URL,
  params: Map<string, string>,
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): AwsClientSettings {
  const sdk = params.get("awssdk");
  if (sdk !== undefined && !/^v[12]$/i.test(sdk)) {
    urlFail(what, url, `awssdk=${JSON.stringify(sdk)}: expected v1 or v2`);
  }
  const ssl = [boolParam(what, url, params, "disable_ssl"), boolParam(what, url, params, "disableSSL")];
  if (ssl[0] !== undefined && ssl[1] !== undefined) urlFail(what, url, "disable_ssl and disableSSL: give one");
  const disableSsl = ssl[0] ?? ssl[1] ?? false;
  boolParam(what, url, params, "hostname_immutable"); // the JS SDK never rewrites a custom endpoint's host
  if (params.has("rate_limiter_capacity")) intParam(params, "rate_limiter_capacity", 0, 0, 2 ** 31 - 1, what);
  let endpoint = params.get("endpoint");
  if (endpoint !== undefined) {
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint)) endpoint = `${disableSsl ? "http" : "https"}://${endpoint}`;
    try {
      new URL(endpoint);
    } catch {
      urlFail(
        what,
        url,
        `endpoint=${JSON.stringify(params.get("endpoint"))}: expected a URL like http://127.0.0.1:9324`,
      );
    }
  }
  const fallbackRegion = env("AWS_REGION") ? undefined : env("AWS_DEFAULT_REGION");
  return {
    region: params.get("region") || fallbackRegion || undefined,
    endpoint,
    profile: params.get("profile"),
    dualstack: boolParam(what, url, params, "dualstack") ?? false,
    fips: boolParam(what, url, params, "fips") ?? false,
    disableSsl,
  };
}

/** Static AWS credentials. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Options of the AWS bus openers (injection points for tests). */
export interface AwsBusOptions {
  /** Credentials to use instead of the SDK's default chain (tests that must not touch the process environment). */
  credentials?: AwsCredentials;
}

/** The SDK client configuration shared by the SQS and SNS clients. */
export function awsClientConfig(settings: AwsClientSettings, requestTimeoutMs: number, options: AwsBusOptions = {}): {
  region?: string;
  endpoint?: string;
  profile?: string;
  credentials?: AwsCredentials;
  useDualstackEndpoint: boolean;
  useFipsEndpoint: boolean;
  requestHandler: { connectionTimeout: number; requestTimeout: number };
} {
  return {
    credentials: options.credentials,
    region: settings.region,
    endpoint: settings.endpoint,
    profile: settings.profile,
    useDualstackEndpoint: settings.dualstack,
    useFipsEndpoint: settings.fips,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: requestTimeoutMs },
  };
}

/** True when every character of `text` is one SQS and SNS accept in a message body or attribute. */
function sqsSafe(text: string): boolean {
  // Allowed: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF (lone surrogates cannot
  // occur: the text came from a strict UTF-8 decode).
  // deno-lint-ignore no-control-regex
  return !/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/.test(text);
}

/** A body as SQS/SNS text, and whether it was base64-encoded (see the module doc). */
export function encodeBody(body: Uint8Array): { text: string; base64: boolean } {
  try {
    const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(body);
    if (sqsSafe(text)) return { text, base64: false };
  } catch {
    // not UTF-8: base64 below
  }
  return { text: Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("base64"), base64: true };
}

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The body bytes of a received text; `base64` bodies that do not decode are kept as text (as gocloud does). */
export function decodeBody(text: string, base64: boolean): Uint8Array {
  if (base64 && STRICT_BASE64.test(text)) return new Uint8Array(Buffer.from(text, "base64"));
  return new TextEncoder().encode(text);
}

/** Escapes an attribute value as gocloud does (Go's `url.PathEscape`, decoded the same by both sides). */
export function escapeAttributeValue(value: string): string {
  return encodeURIComponent(value);
}

/** Reverses {@link escapeAttributeValue}; a value that does not unescape is kept as is. */
export function unescapeAttributeValue(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** The String attributes of an outgoing message: the ordering key and the base64 marker. */
export function outgoingAttributes(
  orderingKey: string | undefined,
  base64: boolean,
): Record<string, { DataType: string; StringValue: string }> | undefined {
  const attributes: Record<string, { DataType: string; StringValue: string }> = {};
  if (orderingKey) {
    attributes[ORDERING_KEY_ATTRIBUTE] = { DataType: "String", StringValue: escapeAttributeValue(orderingKey) };
  }
  if (base64) attributes[BASE64_ATTRIBUTE] = { DataType: "String", StringValue: "true" };
  return Object.keys(attributes).length ? attributes : undefined;
}

/**
 * A FIFO `MessageGroupId` for an ordering key: the key itself when SQS accepts it (1–128
 * printable ASCII characters), else a SHA-256 of it (same key, same group); a message without
 * a key gets a group of its own (`fallback`), so unkeyed messages never wait for each other.
 */
export async function messageGroupId(orderingKey: string | undefined, fallback: string): Promise<string> {
  if (!orderingKey) return fallback;
  if (/^[\x21-\x7E]{1,128}$/.test(orderingKey)) return orderingKey;
  return await sha256Hex(orderingKey);
}

/** A received message's text and String attributes once any SNS envelope is removed. */
export interface UnwrappedBody {
  text: string;
  attributes: Record<string, string>;
}

/**
 * gocloud's `extractBody`: with `raw`, or when the SQS message has top-level attributes, the
 * body is the message. Otherwise a body shaped like an SNS notification (`Type` Notification,
 * `MessageId`, `TopicArn`, `Timestamp`, from `snsTopicArn` when given) is unwrapped to its
 * `Message`, its `MessageAttributes` becoming the attributes; anything else is left as is.
 */
export function unwrapSnsBody(
  text: string,
  attributes: Record<string, string>,
  raw: boolean,
  snsTopicArn?: string,
): UnwrappedBody {
  if (raw || Object.keys(attributes).length > 0) return { text, attributes };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { text, attributes };
  }
  const n = parsed as Record<string, unknown> | null;
  const isNotification = typeof n === "object" && n !== null && n.Type === "Notification" &&
    typeof n.MessageId === "string" && n.MessageId !== "" && typeof n.Timestamp === "string" &&
    n.Timestamp !== "" && typeof n.TopicArn === "string" && n.TopicArn !== "" &&
    (!snsTopicArn || n.TopicArn === snsTopicArn);
  if (!isNotification) return { text, attributes };
  const unwrapped: Record<string, string> = {};
  const fields = n.MessageAttributes;
  if (typeof fields === "object" && fields !== null) {
    for (const [name, field] of Object.entries(fields as Record<string, { Value?: unknown }>)) {
      if (typeof field?.Value === "string") unwrapped[name] = field.Value;
    }
  }
  return { text: typeof n.Message === "string" ? n.Message : "", attributes: unwrapped };
}

const KINDS: Record<string, BusErrorKind> = {
  QueueDoesNotExist: "not-found",
  "AWS.SimpleQueueService.NonExistentQueue": "not-found",
  NotFound: "not-found",
  NotFoundException: "not-found",
  ResourceNotFoundException: "not-found",
  AccessDenied: "permission",
  AccessDeniedException: "permission",
  AuthorizationError: "permission",
  AuthorizationErrorException: "permission",
  InvalidClientTokenId: "permission",
  UnrecognizedClientException: "permission",
  SignatureDoesNotMatch: "permission",
  IncompleteSignature: "permission",
  MissingAuthenticationToken: "permission",
  ExpiredToken: "permission",
  InvalidSecurity: "permission",
  InvalidSecurityException: "permission",
  KMSAccessDenied: "permission",
  KMSAccessDeniedException: "permission",
  CredentialsProviderError: "permission",
  Throttling: "unavailable",
  ThrottlingException: "unavailable",
  Throttled: "unavailable",
  ThrottledException: "unavailable",
  RequestThrottled: "unavailable",
  KMSThrottling: "unavailable",
  KMSThrottlingException: "unavailable",
  OverLimit: "unavailable",
  ServiceUnavailable: "unavailable",
  InternalError: "unavailable",
  InternalErrorException: "unavailable",
  InternalFailure: "unavailable",
  RequestTimeout: "unavailable",
  TimeoutError: "unavailable",
  InvalidParameter: "invalid",
  InvalidParameterException: "invalid",
  InvalidParameterValue: "invalid",
  InvalidParameterValueException: "invalid",
  InvalidMessageContents: "invalid",
  InvalidAttributeValue: "invalid",
  ReceiptHandleIsInvalid: "invalid",
  MessageNotInflight: "invalid",
  ValidationError: "invalid",
};

/** Maps an SDK or network error to a portable kind (throttling, 5xx and network failures are `unavailable`). */
export function awsErrorKind(error: unknown): BusErrorKind {
  const e = error as { name?: unknown; Code?: unknown; $metadata?: { httpStatusCode?: number } } | undefined;
  for (const code of [e?.Code, e?.name]) {
    if (typeof code !== "string") continue;
    const short = code.replace(/^.*#/, ""); // "com.amazonaws.sqs#QueueDoesNotExist"
    if (KINDS[short]) return KINDS[short];
  }
  if (kindFromNetworkError(error)) return "unavailable";
  const status = e?.$metadata?.httpStatusCode;
  if (status === 429 || (status !== undefined && status >= 500)) return "unavailable";
  if (status === 401 || status === 403) return "permission";
  if (status === 404) return "not-found";
  if (status !== undefined && status >= 400) return "invalid";
  return "unknown";
}
