/**
 * The AWS bus helpers without a server: gocloud's body encoding rule and its inverse, SNS
 * notification unwrapping (gocloud's `extractBody`), FIFO group ids, attribute escaping, the
 * AWS URL parameters and the error kinds.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  awsClientSettings,
  awsErrorKind,
  decodeBody,
  encodeBody,
  escapeAttributeValue,
  messageGroupId,
  outgoingAttributes,
  unescapeAttributeValue,
  unwrapSnsBody,
} from "./aws_common.ts";

const enc = (text: string) => new TextEncoder().encode(text);

Deno.test("aws bus encodeBody: UTF-8 travels as is, other bytes and refused characters as base64", () => {
  const envelope = '{"id":"x","type":"profile.uploaded","payload":{"app":"é✓🚀"}}';
  assert.deepEqual(encodeBody(enc(envelope)), { text: envelope, base64: false });
  assert.deepEqual(encodeBody(enc("tab\tnewline\ncr\r")), { text: "tab\tnewline\ncr\r", base64: false });
  assert.deepEqual(encodeBody(new Uint8Array([0xef, 0xbb, 0xbf, 0x41])), { text: "\uFEFFA", base64: false });
  assert.deepEqual(encodeBody(new Uint8Array([0, 255, 10, 13, 0x7b])), { text: "AP8KDXs=", base64: true });
  assert.deepEqual(encodeBody(enc("nul\u0000")), { text: "bnVsAA==", base64: true });
  assert.deepEqual(encodeBody(enc("\uFFFF")), { text: "77+/", base64: true });
  assert.deepEqual(encodeBody(new Uint8Array([0xed, 0xa0, 0x80])), { text: "7aCA", base64: true }, "a lone surrogate");
});

Deno.test("aws bus decodeBody: base64 only with the attribute, and kept as text when it does not decode", () => {
  for (const body of [new Uint8Array([0, 255, 10, 13, 0x7b]), new Uint8Array([]), enc("nul\u0000"), enc("plain")]) {
    const { text, base64 } = encodeBody(body);
    assert.deepEqual(decodeBody(text, base64), body);
  }
  assert.deepEqual(decodeBody("AP8=", false), enc("AP8="));
  assert.deepEqual(decodeBody("not base64!", true), enc("not base64!"), "gocloud falls back to the raw text");
  assert.deepEqual(decodeBody("AP8", true), enc("AP8"), "unpadded is not StdEncoding");
});

Deno.test("aws bus attributes: the ordering key is escaped as gocloud escapes metadata values", () => {
  assert.deepEqual(outgoingAttributes(undefined, false), undefined);
  assert.deepEqual(outgoingAttributes("my-app", true), {
    orderingKey: { DataType: "String", StringValue: "my-app" },
    base64encoded: { DataType: "String", StringValue: "true" },
  });
  assert.equal(escapeAttributeValue("a b/c%"), "a%20b%2Fc%25");
  assert.equal(unescapeAttributeValue("a%20b%2Fc%25"), "a b/c%");
  assert.equal(unescapeAttributeValue("100%"), "100%", "a value that does not unescape is kept");
  assert.equal(unescapeAttributeValue("a+b"), "a+b", "path unescaping keeps +");
});

Deno.test("aws bus messageGroupId: the key when SQS accepts it, else its SHA-256; unkeyed: the fallback", async () => {
  assert.equal(await messageGroupId("my-app", "fresh"), "my-app");
  assert.equal(await messageGroupId(undefined, "fresh"), "fresh");
  assert.equal(await messageGroupId("", "fresh"), "fresh");
  const hashed = await messageGroupId("app with spaces", "fresh");
  assert.match(hashed, /^[0-9a-f]{64}$/);
  assert.equal(await messageGroupId("app with spaces", "other"), hashed, "same key, same group");
  assert.match(await messageGroupId("x".repeat(129), "fresh"), /^[0-9a-f]{64}$/);
});

Deno.test("aws bus unwrapSnsBody: follows gocloud's extractBody", () => {
  const notification = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      Type: "Notification",
      MessageId: "m-1",
      TopicArn: "arn:aws:sns:us-east-1:123456789012:t",
      Timestamp: "2026-12-01T10:00:00.000Z",
      Message: '{"id":"e"}',
      MessageAttributes: {
        orderingKey: { Type: "String", Value: "app" },
        base64encoded: { Type: "String", Value: "true" },
      },
      ...extra,
    });
  assert.deepEqual(unwrapSnsBody(notification(), {}, false), {
    text: '{"id":"e"}',
    attributes: { orderingKey: "app", base64encoded: "true" },
  });
  assert.equal(unwrapSnsBody(notification(), {}, false, "arn:aws:sns:us-east-1:123456789012:t").text, '{"id":"e"}');
  for (
    const [why, text, attributes, raw, arn] of [
      ["raw", notification(), {}, true, undefined],
      ["top-level attributes mean raw delivery", notification(), { orderingKey: "k" }, false, undefined],
      ["another topic", notification(), {}, false, "arn:aws:sns:us-east-1:123456789012:other"],
      ["not a notification", notification({ Type: "SubscriptionConfirmation" }), {}, false, undefined],
      ["no MessageId", notification({ MessageId: "" }), {}, false, undefined],
      ["our own envelope", '{"id":"e","timestamp":"t","type":"profile.uploaded","payload":{}}', {}, false, undefined],
      ["not JSON", "plain text", {}, false, undefined],
    ] as const
  ) {
    const result = unwrapSnsBody(text, { ...attributes }, raw, arn);
    assert.deepEqual(result, { text, attributes }, why);
  }
});

Deno.test("aws bus awsClientSettings: gocloud's parameters, endpoint forms and region fallback", () => {
  const settings = (query: string, env: Record<string, string> = {}) => {
    const url = new URL(`awssqs://h/1/q${query}`);
    return awsClientSettings("test bus", url, new Map(url.searchParams), (name) => env[name]);
  };
  assert.deepEqual(settings("?region=us-west-2&endpoint=http://127.0.0.1:9324&profile=p&fips=true&dualstack=1"), {
    region: "us-west-2",
    endpoint: "http://127.0.0.1:9324",
    profile: "p",
    dualstack: true,
    fips: true,
    disableSsl: false,
  });
  assert.equal(settings("?endpoint=sqs.local:9324").endpoint, "https://sqs.local:9324");
  assert.equal(settings("?endpoint=sqs.local:9324&disableSSL=true").endpoint, "http://sqs.local:9324");
  assert.equal(settings("", { AWS_DEFAULT_REGION: "eu-west-1" }).region, "eu-west-1");
  assert.equal(settings("", { AWS_DEFAULT_REGION: "eu-west-1", AWS_REGION: "us-east-1" }).region, undefined);
  assert.throws(() => settings("?endpoint=http://%zz"), /endpoint="http:\/\/%zz": expected a URL/);
  assert.throws(() => settings("?rate_limiter_capacity=-1"), /rate_limiter_capacity="-1"/);
  assert.throws(() => settings("?hostname_immutable=yes"), /hostname_immutable="yes": expected true or false/);
});

Deno.test("aws bus awsErrorKind: codes, HTTP statuses and network failures", () => {
  const sdkError = (name: string, status?: number) =>
    Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
  const cases: [unknown, string][] = [
    [sdkError("QueueDoesNotExist", 400), "not-found"],
    [
      Object.assign(sdkError("QueueDoesNotExist", 400), { Code: "AWS.SimpleQueueService.NonExistentQueue" }),
      "not-found",
    ],
    [sdkError("com.amazonaws.sqs#QueueDoesNotExist"), "not-found"],
    [sdkError("NotFoundException", 404), "not-found"],
    [sdkError("AccessDenied", 403), "permission"],
    [sdkError("AuthorizationErrorException", 403), "permission"],
    [sdkError("InvalidClientTokenId", 403), "permission"],
    [sdkError("CredentialsProviderError"), "permission"],
    [sdkError("ThrottlingException", 400), "unavailable"],
    [sdkError("RequestThrottled", 403), "unavailable"],
    [sdkError("KMSThrottlingException", 400), "unavailable"],
    [sdkError("SomethingNew", 503), "unavailable"],
    [sdkError("SomethingNew", 429), "unavailable"],
    [sdkError("SomethingNew", 401), "permission"],
    [sdkError("SomethingNew", 400), "invalid"],
    [sdkError("InvalidMessageContents", 400), "invalid"],
    [sdkError("ReceiptHandleIsInvalid", 400), "invalid"],
    [Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" }), "unavailable"],
    [new Error("socket hang up"), "unavailable"],
    [new Error("something else"), "unknown"],
  ];
  for (const [error, kind] of cases) assert.equal(awsErrorKind(error), kind, (error as Error).name);
});
