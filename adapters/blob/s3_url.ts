/**
 * The `s3://bucket?…` URL of the S3 blob driver (adapters/blob/s3_blob.ts): gocloud's s3blob
 * parameter names — the AWS SDK v2 names, their SDK v1 aliases, and the S3-specific ones — plus
 * `prefix`, validated with one-line errors, and the SDK client configuration they mean.
 * Parsing touches no network and loads no SDK code.
 *
 * Parameters (gocloud meaning, kept):
 * - `region` — the bucket's region (else `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's);
 * - `endpoint` — an S3-compatible server, `http://host:port` (a bare `host:port` gets
 *   `https://`, or `http://` with disable_https);
 * - `use_path_style` (v1: `s3ForcePathStyle`, `s3_force_path_style`) — bucket in the path, not
 *   the host name (MinIO, most S3-compatible servers);
 * - `disable_https` (v1: `disableSSL`, `disable_ssl`) — plain HTTP;
 * - `dualstack`, `fips`, `accelerate` — the AWS endpoint variants;
 * - `hostname_immutable` — with `endpoint`, the host is used as given (so the bucket goes in the path);
 * - `profile` — the shared config/credentials profile;
 * - `awssdk` — `v1` or `v2`; both mean this SDK (the JavaScript SDK v3);
 * - `rate_limiter_capacity` — validated; gocloud sizes the SDK's retry token bucket with it, but
 *   this SDK never retries here (the Bucket layer does), so there is nothing for it to limit;
 * - `ssetype` (`AES256`, `aws:kms`, `aws:kms:dsse`) and `kmskeyid` — server-side encryption of writes;
 * - `request_checksum_calculation`, `response_checksum_validation` — `when_supported` or
 *   `when_required` (later gocloud versions);
 * - `prefix` — every key is stored as prefix + key, listings strip it (gocloud's generic `prefix`).
 *
 * @module
 */

import type { S3ClientConfig } from "@aws-sdk/client-s3";
import { assertValidKey } from "../../core/blob.ts";
import { redactUrl } from "../../core/registry.ts";
import { driverParams, intParam } from "../driver_url.ts";

const WHAT = "s3 blob store";

/** Every accepted URL parameter: gocloud's (v2 names and the v1 aliases) plus `prefix`. */
export const S3_URL_PARAMETERS: readonly string[] = [
  "region",
  "endpoint",
  "use_path_style",
  "s3ForcePathStyle",
  "s3_force_path_style",
  "disable_https",
  "disableSSL",
  "disable_ssl",
  "dualstack",
  "fips",
  "hostname_immutable",
  "profile",
  "awssdk",
  "rate_limiter_capacity",
  "ssetype",
  "kmskeyid",
  "accelerate",
  "request_checksum_calculation",
  "response_checksum_validation",
  "prefix",
];

const SSE_TYPES = ["AES256", "aws:kms", "aws:kms:dsse"] as const;
const CHECKSUM_MODES = ["when_supported", "when_required"] as const;

/** What an `s3://` URL asks for, after validation. */
export interface S3Settings {
  bucket: string;
  /** Keys are stored as `prefix + key` ("" for none). */
  prefix: string;
  /** `?region=`, else `AWS_DEFAULT_REGION` when `AWS_REGION` is unset, else the SDK's chain decides. */
  region?: string;
  /** A full URL (`http://127.0.0.1:9000`); a bare host gets `https://`, or `http://` with disable_https. */
  endpoint?: string;
  forcePathStyle: boolean;
  disableHttps: boolean;
  dualstack: boolean;
  fips: boolean;
  accelerate: boolean;
  profile?: string;
  /** Validated for compatibility; the SDK never retries here, so its retry token bucket has nothing to limit. */
  rateLimiterCapacity?: number;
  serverSideEncryption?: typeof SSE_TYPES[number];
  kmsKeyId?: string;
  requestChecksumCalculation?: "WHEN_SUPPORTED" | "WHEN_REQUIRED";
  responseChecksumValidation?: "WHEN_SUPPORTED" | "WHEN_REQUIRED";
}

function fail(url: URL, problem: string): never {
  throw new Error(`${WHAT} URL ${JSON.stringify(redactUrl(url.href))}: ${problem}`);
}

function boolParam(url: URL, params: Map<string, string>, names: readonly string[]): boolean {
  const given = names.filter((name) => params.has(name));
  if (given.length > 1) fail(url, `${given.join(" and ")} mean the same thing: give one`);
  if (given.length === 0) return false;
  const text = params.get(given[0])!.toLowerCase();
  if (["1", "t", "true"].includes(text)) return true;
  if (["0", "f", "false"].includes(text)) return false;
  return fail(url, `${given[0]}=${JSON.stringify(params.get(given[0]))}: expected true or false`);
}

function checksumMode(url: URL, params: Map<string, string>, name: string): S3Settings["requestChecksumCalculation"] {
  const text = params.get(name);
  if (text === undefined) return undefined;
  const mode = CHECKSUM_MODES.find((m) => m === text.toLowerCase());
  if (!mode) fail(url, `${name}=${JSON.stringify(text)}: expected ${CHECKSUM_MODES.join(" or ")}`);
  return mode.toUpperCase() as "WHEN_SUPPORTED" | "WHEN_REQUIRED";
}

/** Validates an `s3://bucket?…` URL (one-line errors naming the parameter) without touching the network. */
export function parseS3Url(url: URL, env: (name: string) => string | undefined = (n) => Deno.env.get(n)): S3Settings {
  const params = driverParams(url, S3_URL_PARAMETERS, WHAT);
  const bucket = decodeURIComponent(url.host);
  if (!bucket) fail(url, "no bucket: expected s3://bucket");
  if (url.pathname !== "" && url.pathname !== "/") {
    fail(url, `unexpected path ${JSON.stringify(url.pathname)}: put key prefixes in ?prefix=`);
  }
  const sdk = params.get("awssdk");
  if (sdk !== undefined && !/^v[12]$/i.test(sdk)) fail(url, `awssdk=${JSON.stringify(sdk)}: expected v1 or v2`);
  const prefix = params.get("prefix") ?? "";
  if (prefix !== "") {
    try {
      assertValidKey(`${prefix}x`);
    } catch {
      fail(url, `prefix=${JSON.stringify(prefix)}: expected a relative key prefix like autopgo/`);
    }
  }
  const disableHttps = boolParam(url, params, ["disable_https", "disableSSL", "disable_ssl"]);
  let endpoint = params.get("endpoint");
  if (endpoint !== undefined) {
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint)) endpoint = `${disableHttps ? "http" : "https"}://${endpoint}`;
    try {
      new URL(endpoint);
    } catch {
      fail(url, `endpoint=${JSON.stringify(params.get("endpoint"))}: expected a URL like http://127.0.0.1:9000`);
    }
  }
  const sse = params.get("ssetype");
  const serverSideEncryption = sse === undefined
    ? undefined
    : SSE_TYPES.find((t) => t.toLowerCase() === sse.toLowerCase()) ??
      fail(url, `ssetype=${JSON.stringify(sse)}: expected ${SSE_TYPES.join(", ")}`);
  const hostnameImmutable = boolParam(url, params, ["hostname_immutable"]);
  const fallbackRegion = env("AWS_REGION") ? undefined : env("AWS_DEFAULT_REGION");
  return {
    bucket,
    prefix,
    region: params.get("region") ?? (fallbackRegion || undefined),
    endpoint,
    // A fixed host (hostname_immutable with an endpoint) can only address the bucket in the path.
    forcePathStyle: boolParam(url, params, ["use_path_style", "s3ForcePathStyle", "s3_force_path_style"]) ||
      (hostnameImmutable && endpoint !== undefined),
    disableHttps,
    dualstack: boolParam(url, params, ["dualstack"]),
    fips: boolParam(url, params, ["fips"]),
    accelerate: boolParam(url, params, ["accelerate"]),
    profile: params.get("profile"),
    rateLimiterCapacity: params.has("rate_limiter_capacity")
      ? intParam(params, "rate_limiter_capacity", 0, 0, 2 ** 31 - 1, WHAT)
      : undefined,
    serverSideEncryption,
    kmsKeyId: params.get("kmskeyid"),
    requestChecksumCalculation: checksumMode(url, params, "request_checksum_calculation"),
    responseChecksumValidation: checksumMode(url, params, "response_checksum_validation"),
  };
}

/** The SDK client configuration for `settings` (exported for tests). */
export function s3ClientConfig(settings: S3Settings): S3ClientConfig {
  return {
    region: settings.region,
    endpoint: settings.endpoint,
    forcePathStyle: settings.forcePathStyle,
    tls: !settings.disableHttps,
    useDualstackEndpoint: settings.dualstack,
    useFipsEndpoint: settings.fips,
    useAccelerateEndpoint: settings.accelerate,
    profile: settings.profile,
    requestChecksumCalculation: settings.requestChecksumCalculation,
    responseChecksumValidation: settings.responseChecksumValidation,
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 60_000 },
  };
}
