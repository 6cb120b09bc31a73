/**
 * `s3://bucket?…` blob store on Amazon S3 or an S3-compatible server (MinIO), a thin
 * {@link BlobDriver} under the portable `Bucket` (which checks keys and conditions, retries
 * transient failures and wraps errors by {@link S3BlobDriver.errorKind}).
 *
 * URL parameters are gocloud's s3blob names, so a URL written for the original works unchanged
 * (adapters/blob/s3_url.ts lists them); `prefix=` stores every key under a fixed prefix, as
 * gocloud's generic `prefix` parameter does. Unknown parameters are an error. Credentials come from the
 * AWS SDK's default chain: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (+`AWS_SESSION_TOKEN`),
 * `AWS_PROFILE` or `?profile=` with the shared config files, web identity, ECS and EC2 roles.
 *
 * Guarantees and how they are met:
 * - compare-and-swap uses the store's own conditional PUT, never read-then-write:
 *   `If-None-Match: *` for ifAbsent and `If-Match: <etag>` for ifVersion. The version is the
 *   ETag exactly as S3 sends it (quoted), the same from PUT, HEAD, GET and listings. A PUT with
 *   If-Match on a missing object is a lost condition, whatever status the server gives it;
 * - the ETag of a single-part upload is the content's MD5, so rewriting equal bytes keeps the
 *   version. Compare-and-swap stays correct (equal version ⇒ equal content);
 * - delete: S3's DELETE does not say whether anything was there, so the driver stats first to
 *   return true/false. With ifVersion it compares the stat'ed ETag and also sends If-Match;
 *   servers that ignore If-Match on DELETE (MinIO) leave a window between stat and delete in
 *   which a concurrent rewrite can be deleted. Nothing in autopgo relies on conditional deletes;
 * - listings follow ListObjectsV2 continuation tokens (any number of keys), folders come from
 *   `Delimiter=/` common prefixes; S3 returns keys in (UTF-8 byte) order;
 * - the SDK itself never retries (`maxAttempts: 1`): the Bucket layer retries what is safe.
 *
 * The SDK client is created on first use, so opening a store does no I/O and `check()` is the
 * first request.
 *
 * @module
 */

import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type PutObjectCommandInput,
  S3Client,
} from "@aws-sdk/client-s3";
import {
  BlobError,
  type BlobErrorKind,
  type BlobInfo,
  type BlobObject,
  PreconditionFailedError,
  type WriteConditions,
} from "../../core/blob.ts";
import { type BlobDriver, kindFromHttpStatus, kindFromNetworkError } from "../../core/blob_bucket.ts";
import { redactUrl } from "../../core/registry.ts";
import { parseS3Url, s3ClientConfig, type S3Settings } from "./s3_url.ts";

/** Opens `s3://bucket?…`; no request is made until the first operation. */
// deno-lint-ignore require-await
export async function openS3Blob(url: URL): Promise<S3BlobDriver> {
  return new S3BlobDriver(parseS3Url(url));
}

const NAMES: Record<string, BlobErrorKind> = {
  NoSuchKey: "not-found",
  NotFound: "not-found",
  NoSuchBucket: "not-found",
  PreconditionFailed: "precondition",
  ConditionalRequestConflict: "precondition",
  AccessDenied: "permission",
  Forbidden: "permission",
  InvalidAccessKeyId: "permission",
  SignatureDoesNotMatch: "permission",
  ExpiredToken: "permission",
  InvalidToken: "permission",
  CredentialsProviderError: "permission",
  SlowDown: "unavailable",
  Throttling: "unavailable",
  ThrottlingException: "unavailable",
  RequestTimeout: "unavailable",
  InternalError: "unavailable",
  ServiceUnavailable: "unavailable",
};

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/**
 * The Prefix to send for `list(prefix)`, or `undefined` when no valid key can start with
 * `prefix` (a complete segment that is empty, "." or "..", or a leading "/"): servers such as
 * MinIO refuse such prefixes instead of listing nothing. A trailing partial "." or ".." (which
 * a valid key may continue: "..a") is left out of the request; the caller filters by `prefix`.
 */
function listRequestPrefix(prefix: string): string | undefined {
  const cut = prefix.lastIndexOf("/") + 1;
  const folders = prefix.slice(0, cut);
  const partial = prefix.slice(cut);
  if (folders && folders.slice(0, -1).split("/").some((s) => s === "" || s === "." || s === "..")) return undefined;
  return partial === "." || partial === ".." ? folders : prefix;
}

/** The endpoint as given, unless it carries a password (then redacted). */
function shownEndpoint(endpoint: string): string {
  return new URL(endpoint).password ? redactUrl(endpoint) : endpoint;
}

/** The version token of an ETag: always in its quoted form, whichever way a response spelled it. */
function versionOf(etag: string | undefined): string {
  if (!etag) throw new Error("S3 response without an ETag");
  return etag.startsWith('"') || etag.startsWith('W/"') ? etag : `"${etag}"`;
}

/** The S3 driver; see the module header for its guarantees. */
export class S3BlobDriver implements BlobDriver {
  /** Names the bucket, endpoint and prefix in errors (no secrets). */
  readonly description: string;
  readonly #settings: S3Settings;
  #client?: S3Client;

  /** Creates the driver for validated settings. */
  constructor(settings: S3Settings) {
    this.#settings = settings;
    this.description = `s3 bucket "${settings.bucket}"` +
      (settings.prefix ? ` prefix "${settings.prefix}"` : "") +
      (settings.endpoint ? ` at ${shownEndpoint(settings.endpoint)}` : settings.region ? ` in ${settings.region}` : "");
  }

  get #s3(): S3Client {
    return this.#client ??= new S3Client(s3ClientConfig(this.#settings));
  }

  async #send<T>(call: (client: S3Client) => Promise<T>): Promise<T> {
    try {
      return await call(this.#s3);
    } catch (error) {
      if (error instanceof Error && /region is missing/i.test(error.message)) {
        throw new BlobError("invalid", `${this.description}: no AWS region: add ?region=… or set AWS_REGION`, {
          cause: error,
        });
      }
      if ((error as { name?: unknown })?.name === "NoSuchBucket") {
        throw new BlobError("not-found", `${this.description}: the bucket does not exist: create it or fix the URL`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  #key(key: string): string {
    return this.#settings.prefix + key;
  }

  /** Reads a whole object. */
  async read(key: string, signal?: AbortSignal): Promise<BlobObject> {
    const out = await this.#send((s3) =>
      s3.send(new GetObjectCommand({ Bucket: this.#settings.bucket, Key: this.#key(key) }), { abortSignal: signal })
    );
    const data = out.Body ? await out.Body.transformToByteArray() : new Uint8Array();
    return { key, data, size: data.length, modified: out.LastModified ?? new Date(), version: versionOf(out.ETag) };
  }

  /** Metadata, `undefined` when absent. */
  async stat(key: string, signal?: AbortSignal): Promise<BlobInfo | undefined> {
    try {
      const out = await this.#send((s3) =>
        s3.send(new HeadObjectCommand({ Bucket: this.#settings.bucket, Key: this.#key(key) }), { abortSignal: signal })
      );
      return {
        key,
        size: out.ContentLength ?? 0,
        modified: out.LastModified ?? new Date(),
        version: versionOf(out.ETag),
      };
    } catch (error) {
      if (this.#missingKey(error)) return undefined;
      throw error;
    }
  }

  /** One conditional PUT; a lost If-Match reported as a missing key is still a lost condition. */
  async write(key: string, data: Uint8Array, conditions: WriteConditions, signal?: AbortSignal): Promise<string> {
    const input: PutObjectCommandInput = {
      Bucket: this.#settings.bucket,
      Key: this.#key(key),
      Body: data,
      ContentLength: data.length,
      IfNoneMatch: conditions.ifAbsent ? "*" : undefined,
      IfMatch: conditions.ifVersion,
      ServerSideEncryption: this.#settings.serverSideEncryption,
      SSEKMSKeyId: this.#settings.kmsKeyId,
    };
    try {
      const out = await this.#send((s3) => s3.send(new PutObjectCommand(input), { abortSignal: signal }));
      return versionOf(out.ETag);
    } catch (error) {
      if (conditions.ifVersion !== undefined && this.#missingKey(error)) {
        throw new PreconditionFailedError(key, `object does not exist (wanted version ${conditions.ifVersion})`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  /** Stats (S3 DELETE reports no existence), checks ifVersion, then deletes with If-Match. */
  async delete(key: string, conditions: Pick<WriteConditions, "ifVersion">, signal?: AbortSignal): Promise<boolean> {
    const current = await this.stat(key, signal);
    if (!current) return false;
    if (conditions.ifVersion !== undefined && current.version !== conditions.ifVersion) {
      throw new PreconditionFailedError(key, `version is ${current.version}, wanted ${conditions.ifVersion}`);
    }
    try {
      await this.#send((s3) =>
        s3.send(
          new DeleteObjectCommand({
            Bucket: this.#settings.bucket,
            Key: this.#key(key),
            IfMatch: conditions.ifVersion,
          }),
          { abortSignal: signal },
        )
      );
    } catch (error) {
      if (this.#missingKey(error)) return false;
      throw error;
    }
    return true;
  }

  async *#pages(prefix: string, delimiter: string | undefined, signal?: AbortSignal) {
    let token: string | undefined;
    do {
      const page = await this.#send((s3) =>
        s3.send(
          new ListObjectsV2Command({
            Bucket: this.#settings.bucket,
            Prefix: this.#key(prefix),
            Delimiter: delimiter,
            ContinuationToken: token,
          }),
          { abortSignal: signal },
        )
      );
      yield page;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** Lists objects under `prefix` in key order, page by page. */
  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<BlobInfo> {
    const request = listRequestPrefix(prefix);
    if (request === undefined) return;
    const strip = this.#settings.prefix.length;
    for await (const page of this.#pages(request, undefined, signal)) {
      for (const object of page.Contents ?? []) {
        const key = object.Key?.slice(strip);
        if (key === undefined || !key.startsWith(prefix)) continue;
        yield {
          key,
          size: object.Size ?? 0,
          modified: object.LastModified ?? new Date(0),
          version: versionOf(object.ETag),
        };
      }
    }
  }

  /** Lists the folders directly below `prefix` (`Delimiter=/` common prefixes), page by page. */
  async *listPrefixes(prefix: string, signal?: AbortSignal): AsyncIterable<string> {
    const strip = this.#settings.prefix.length;
    for await (const page of this.#pages(prefix, "/", signal)) {
      for (const common of page.CommonPrefixes ?? []) if (common.Prefix) yield common.Prefix.slice(strip);
    }
  }

  /** HeadBucket: a missing bucket and refused credentials each fail with one line naming the bucket. */
  async check(signal?: AbortSignal): Promise<void> {
    try {
      await this.#send((s3) =>
        s3.send(new HeadBucketCommand({ Bucket: this.#settings.bucket }), { abortSignal: signal })
      );
    } catch (error) {
      const kind = this.errorKind(error);
      const name = (error as { name?: unknown })?.name;
      const code = typeof name === "string" && !/^Unknown/.test(name) ? name : `HTTP ${statusOf(error)}`;
      if (kind === "not-found" && !(error instanceof BlobError)) {
        throw new BlobError(kind, `${this.description}: the bucket does not exist: create it or fix the URL`, {
          cause: error,
        });
      }
      if (kind === "permission") {
        throw new BlobError(
          kind,
          `${this.description}: access denied (${code}): check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the profile and the bucket policy`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  /** Destroys the SDK client (its sockets). */
  close(): Promise<void> {
    this.#client?.destroy();
    this.#client = undefined;
    return Promise.resolve();
  }

  /** Maps SDK errors by name, then network failures, then HTTP status. */
  errorKind(error: unknown): BlobErrorKind {
    if (error instanceof BlobError) return error.kind;
    const name = (error as { name?: unknown })?.name;
    if (typeof name === "string" && NAMES[name]) return NAMES[name];
    const status = statusOf(error);
    if (status === undefined || status === 0) {
      const network = kindFromNetworkError(error);
      if (network) return network;
    }
    return kindFromHttpStatus(status) ?? kindFromNetworkError(error) ?? "unknown";
  }

  /**
   * True for a not-found answer about the key. A missing bucket was already turned into a
   * BlobError by #send when the answer names it (GET, PUT, LIST); HEAD answers carry no code, so
   * stat of a key in a missing bucket reads as an absent key, as in gocloud.
   */
  #missingKey(error: unknown): boolean {
    return !(error instanceof BlobError) && this.errorKind(error) === "not-found";
  }
}
