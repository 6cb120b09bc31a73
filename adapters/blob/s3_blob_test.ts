/**
 * s3:// blob driver: gocloud-compatible URL parsing and error classification (no server), the
 * shared conformance suite against a real MinIO through `openBlobStore` (so the portable Bucket
 * is in the path), and one-line errors for a missing bucket and a wrong secret. The heavier
 * cloud suite (process races, big listings, outage) is tests/s3_cloud_test.ts.
 *
 * Each conformance step gets its own MinIO (about half a second), so no server outlives a
 * test and the resource sanitizers stay on.
 *
 * @module
 */

import assert from "node:assert/strict";
import { BlobError, type BlobStore, PreconditionFailedError } from "../../core/blob.ts";
import { openBlobStore } from "../../core/registry.ts";
import { blobConformance } from "../../tests/support/blob_conformance.ts";
import { minioBinary, type MinioServer, startMinio } from "../../tests/support/services/minio.ts";
import { serviceSkip } from "../../tests/support/services/service.ts";
import { registerBuiltinDrivers } from "../mod.ts";
import { Bucket } from "../../core/blob_bucket.ts";
import { openS3Blob, S3BlobDriver } from "./s3_blob.ts";
import { parseS3Url, s3ClientConfig } from "./s3_url.ts";
import { delegatingStore } from "../../tests/support/delegating_store.ts";

const skip = serviceSkip("minio", minioBinary() !== undefined, "needed for the s3:// driver tests");
const noEnv = () => undefined;
const parse = (text: string, env: (name: string) => string | undefined = noEnv) => parseS3Url(new URL(text), env);

/** Sets `env` in this process (the SDK reads credentials from it); returns the undo. */
function applyEnv(env: Record<string, string>): () => void {
  const previous = Object.keys(env).map((name) => [name, Deno.env.get(name)] as const);
  for (const [name, value] of Object.entries(env)) Deno.env.set(name, value);
  return () => {
    for (const [name, value] of previous) value === undefined ? Deno.env.delete(name) : Deno.env.set(name, value);
  };
}

/** Runs `fn` with `env` set. */
async function withEnv<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const restore = applyEnv(env);
  try {
    return await fn();
  } finally {
    restore();
  }
}

Deno.test("s3 blob URL: every gocloud parameter is accepted with its meaning", () => {
  const settings = parse(
    "s3://profiles?region=eu-west-1&endpoint=http://127.0.0.1:9000&use_path_style=true&disable_https=true" +
      "&dualstack=true&fips=true&hostname_immutable=false&profile=ci&awssdk=v2&rate_limiter_capacity=500" +
      "&ssetype=aws:kms&kmskeyid=key-1&accelerate=true&request_checksum_calculation=when_required" +
      "&response_checksum_validation=WHEN_SUPPORTED&prefix=autopgo/",
  );
  assert.deepEqual(settings, {
    bucket: "profiles",
    prefix: "autopgo/",
    region: "eu-west-1",
    endpoint: "http://127.0.0.1:9000",
    forcePathStyle: true,
    disableHttps: true,
    dualstack: true,
    fips: true,
    accelerate: true,
    profile: "ci",
    rateLimiterCapacity: 500,
    serverSideEncryption: "aws:kms",
    kmsKeyId: "key-1",
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_SUPPORTED",
  });
  const config = s3ClientConfig(settings);
  assert.equal(config.maxAttempts, 1, "the Bucket layer retries, not the SDK");
  assert.equal(config.tls, false);
  assert.equal(config.useAccelerateEndpoint, true);
  assert.equal(config.profile, "ci");
});

Deno.test("s3 blob URL: the original's MinIO URL, v1 aliases and defaults", () => {
  const dev = parse("s3://default?endpoint=http://localhost:9000&use_path_style=true&disable_https=true");
  assert.equal(dev.bucket, "default");
  assert.equal(dev.forcePathStyle, true);
  assert.equal(dev.region, undefined, "left to the SDK chain (AWS_REGION, profile)");
  const v1 = parse("s3://b?awssdk=V1&s3ForcePathStyle=1&disableSSL=true&endpoint=localhost:9000&region=us-east-1");
  assert.equal(v1.forcePathStyle, true);
  assert.equal(v1.endpoint, "http://localhost:9000", "a bare host gets http:// with disable_https");
  assert.equal(parse("s3://b?endpoint=minio.local").endpoint, "https://minio.local");
  assert.equal(parse("s3://b?endpoint=http://h:1&hostname_immutable=true").forcePathStyle, true);
  assert.equal(parse("s3://b?hostname_immutable=true").forcePathStyle, false, "no effect without endpoint");
  assert.equal(parse("s3://b", (n) => ({ AWS_DEFAULT_REGION: "ap-south-1" })[n]).region, "ap-south-1");
  assert.equal(parse("s3://b", (n) => ({ AWS_DEFAULT_REGION: "x", AWS_REGION: "y" })[n]).region, undefined);
  assert.equal(parse("s3://b?ssetype=aes256").serverSideEncryption, "AES256");
  assert.equal(parse("s3://b").prefix, "");
});

Deno.test("s3 blob URL: mistakes are one-line errors naming the parameter", () => {
  const cases: [string, RegExp][] = [
    ["s3://b?regoin=x", /unknown parameter "regoin" \(known: region, endpoint/],
    ["s3://b?region=a&region=b", /"region" given twice/],
    ["s3://b?use_path_style=yes", /use_path_style="yes": expected true or false/],
    ["s3://b?use_path_style=true&s3ForcePathStyle=true", /use_path_style and s3ForcePathStyle mean the same thing/],
    ["s3://b?awssdk=v3", /awssdk="v3": expected v1 or v2/],
    ["s3://b?ssetype=des", /ssetype="des": expected AES256, aws:kms, aws:kms:dsse/],
    ["s3://b?rate_limiter_capacity=-1", /rate_limiter_capacity="-1": expected an integer/],
    ["s3://b?request_checksum_calculation=always", /request_checksum_calculation="always": expected when_supported/],
    ["s3://b?prefix=/abs/", /prefix="\/abs\/": expected a relative key prefix/],
    ["s3://b?prefix=a//b/", /prefix="a\/\/b\/"/],
    ["s3://b/some/path", /unexpected path "\/some\/path": put key prefixes in \?prefix=/],
    ["s3://?region=x", /no bucket: expected s3:\/\/bucket/],
    ["s3://b?endpoint=http://[bad", /endpoint="http:\/\/\[bad": expected a URL/],
  ];
  for (const [url, pattern] of cases) {
    assert.throws(() => parse(url), (e: Error) => pattern.test(e.message) && !e.message.includes("\n"), url);
  }
});

Deno.test("s3 blob: SDK errors map to portable kinds", () => {
  const driver = new S3BlobDriver(parse("s3://b?region=us-east-1"));
  const sdkError = (name: string, status?: number) =>
    Object.assign(new Error(name), { name, $metadata: status === undefined ? {} : { httpStatusCode: status } });
  const expected: [unknown, string][] = [
    [sdkError("NoSuchKey", 404), "not-found"],
    [sdkError("NotFound", 404), "not-found"],
    [sdkError("NoSuchBucket", 404), "not-found"],
    [sdkError("PreconditionFailed", 412), "precondition"],
    [sdkError("ConditionalRequestConflict", 409), "precondition"],
    [sdkError("AccessDenied", 403), "permission"],
    [sdkError("InvalidAccessKeyId", 403), "permission"],
    [sdkError("SignatureDoesNotMatch", 403), "permission"],
    [sdkError("CredentialsProviderError"), "permission"],
    [sdkError("SlowDown", 503), "unavailable"],
    [sdkError("Throttling", 400), "unavailable"],
    [sdkError("RequestTimeout", 400), "unavailable"],
    [sdkError("UnknownError", 503), "unavailable"],
    [sdkError("InternalError", 500), "unavailable"],
    [sdkError("Unknown", 403), "permission"],
    [sdkError("InvalidArgument", 400), "invalid"],
    [
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED", $metadata: {} }),
      "unavailable",
    ],
    [Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }), "unavailable"],
    [new Error("something odd"), "unknown"],
  ];
  for (const [error, kind] of expected) assert.equal(driver.errorKind(error), kind, (error as Error).name);
});

Deno.test("s3 blob: the driver is registered lazily for s3:// and names the bucket", async () => {
  registerBuiltinDrivers();
  const store = await openBlobStore("s3://profiles?endpoint=http://127.0.0.1:1&use_path_style=true&prefix=p/");
  try {
    assert.equal(store.description, 's3 bucket "profiles" prefix "p/" at http://127.0.0.1:1');
  } finally {
    await store.close();
  }
  await assert.rejects(openBlobStore("s3://b?bogus=1"), /s3 blob store URL "s3:\/\/b\?bogus=1": unknown parameter/);
});

Deno.test("s3 blob: no region and an unreachable endpoint fail with the right kinds", async () => {
  const saved = ["AWS_REGION", "AWS_CONFIG_FILE", "AWS_PROFILE"].map((name) => [name, Deno.env.get(name)] as const);
  Deno.env.delete("AWS_REGION");
  Deno.env.delete("AWS_PROFILE");
  Deno.env.set("AWS_CONFIG_FILE", "/nonexistent/autopgo-test-aws-config");
  const unreachable = "s3://bucket?endpoint=http://127.0.0.1:1&use_path_style=true";
  const noRegion = new Bucket(await openS3Blob(new URL(unreachable)), { retryBaseMs: 1 });
  const refused = new Bucket(await openS3Blob(new URL(`${unreachable}&region=us-east-1`)), { retryBaseMs: 1 });
  try {
    await withEnv({ AWS_ACCESS_KEY_ID: "id", AWS_SECRET_ACCESS_KEY: "secret" }, async () => {
      await assert.rejects(noRegion.check(), (e) => {
        assert.ok(e instanceof BlobError && e.kind === "invalid", String(e));
        assert.equal(
          e.message,
          's3 bucket "bucket" at http://127.0.0.1:1: no AWS region: add ?region=… or set AWS_REGION',
        );
        return true;
      });
      await assert.rejects(refused.read("k"), (e) => e instanceof BlobError && e.kind === "unavailable");
    });
  } finally {
    await noRegion.close();
    await refused.close();
    for (const [name, value] of saved) value === undefined ? Deno.env.delete(name) : Deno.env.set(name, value);
  }
});

/** A fresh MinIO with one bucket; `url` opens it through the registry with `extra` parameters. */
async function minioWithBucket(bucket = "conformance"): Promise<{ minio: MinioServer; url: string }> {
  const minio = await startMinio();
  try {
    await minio.createBucket(bucket);
  } catch (error) {
    await minio.stop();
    throw error;
  }
  return { minio, url: minio.url(bucket) };
}

/** `store`, whose close() also runs `after` (the conformance suite closes what openMissing returns). */
function closingAlso(store: BlobStore, after: () => Promise<void>): BlobStore {
  return delegatingStore(store, {
    close: async () => {
      await store.close();
      await after();
    },
  });
}

blobConformance("s3 (MinIO)", async () => {
  registerBuiltinDrivers();
  const { minio, url } = await minioWithBucket();
  const restore = applyEnv(minio.env);
  const store = await openBlobStore(url);
  return {
    store,
    cleanup: async () => {
      await minio.stop();
      restore();
    },
  };
}, {
  skip,
  capabilities: {
    versionIsContentHash: "an S3 ETag is the MD5 of the content, so rewriting equal bytes keeps the version",
    deleteConditionNotEnforced:
      "MinIO answers 204 to a DELETE whose If-Match does not hold; the driver compares the stat'ed ETag first, " +
      "which leaves a window between stat and delete",
  },
  openMissing: async () => {
    const minio = await startMinio();
    const restore = applyEnv(minio.env);
    const store = await openBlobStore(minio.url("no-such-bucket"));
    return closingAlso(store, async () => {
      await minio.stop();
      restore();
    });
  },
});

Deno.test(
  { name: "s3 blob (MinIO): missing bucket, wrong secret, checked delete, prefix", ignore: Boolean(skip) },
  async (t) => {
    registerBuiltinDrivers();
    const { minio, url } = await minioWithBucket("present");
    try {
      await t.step("a missing bucket: one line naming the bucket and endpoint, for check() and read", async () => {
        await withEnv(minio.env, async () => {
          const store = await openBlobStore(minio.url("absent-bucket"));
          try {
            for (const call of [() => store.check(), () => store.read("k")]) {
              await assert.rejects(call(), (e) => {
                assert.ok(e instanceof BlobError && e.kind === "not-found", String(e));
                assert.equal(
                  e.message,
                  `s3 bucket "absent-bucket" at ${minio.endpoint}: the bucket does not exist: ` +
                    "create it or fix the URL",
                );
                return true;
              });
            }
          } finally {
            await store.close();
          }
        });
      });
      await t.step("a wrong secret: one-line permission errors on check() and read", async () => {
        await withEnv(minio.env, async () => {
          const good = await openBlobStore(url);
          await good.write("k", new TextEncoder().encode("v"));
          await good.close();
        });
        await withEnv({ ...minio.env, AWS_SECRET_ACCESS_KEY: "not-the-secret" }, async () => {
          const store = await openBlobStore(url);
          try {
            await assert.rejects(store.check(), (e) => {
              assert.ok(e instanceof BlobError && e.kind === "permission", String(e));
              assert.match(e.message, /^s3 bucket "present" at http:\/\/127\.0\.0\.1:\d+: access denied \(HTTP 403\)/);
              assert.ok(!e.message.includes("\n") && !e.message.includes("not-the-secret"));
              return true;
            });
            await assert.rejects(store.read("k"), (e) => {
              assert.ok(e instanceof BlobError && e.kind === "permission", String(e));
              assert.match(e.message, /^read "k" on s3 bucket "present" at .*: The request signature/);
              assert.ok(!e.message.includes("\n"));
              return true;
            });
          } finally {
            await store.close();
          }
        });
      });
      await t.step(
        "delete with a stale ifVersion is refused by the stat'ed ETag (MinIO ignores If-Match)",
        async () => {
          await withEnv(minio.env, async () => {
            const store = await openBlobStore(url);
            try {
              const stale = await store.write("d", new TextEncoder().encode("one"));
              const current = await store.write("d", new TextEncoder().encode("two"));
              await assert.rejects(store.delete("d", { ifVersion: stale }), PreconditionFailedError);
              assert.equal((await store.stat("d"))?.version, current);
              assert.equal(await store.delete("d", { ifVersion: current }), true);
            } finally {
              await store.close();
            }
          });
        },
      );
      await t.step("prefix: keys live under it, listings strip it", async () => {
        await withEnv(minio.env, async () => {
          const prefixed = await openBlobStore(minio.url("present", { prefix: "tenant-a/" }));
          const plain = await openBlobStore(url);
          try {
            await prefixed.write("app/default.pgo", new TextEncoder().encode("base"));
            assert.equal(new TextDecoder().decode((await plain.read("tenant-a/app/default.pgo")).data), "base");
            const listed = [];
            for await (const info of prefixed.list("")) listed.push(info.key);
            assert.deepEqual(listed, ["app/default.pgo"]);
            const folders = [];
            for await (const folder of prefixed.listPrefixes("")) folders.push(folder);
            assert.deepEqual(folders, ["app/"]);
            assert.equal(await prefixed.delete("app/default.pgo"), true);
            assert.equal(await plain.stat("tenant-a/app/default.pgo"), undefined);
          } finally {
            await prefixed.close();
            await plain.close();
          }
        });
      });
    } finally {
      await minio.stop();
    }
  },
);
