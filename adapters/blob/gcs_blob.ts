/**
 * `gs://bucket` blob driver: Google Cloud Storage through `@google-cloud/storage`, loaded only
 * when a `gs://` URL is opened. A thin {@link BlobDriver}: key checks, retries, error wrapping and
 * metrics live in `core/blob_bucket.ts`.
 *
 * # URLs
 *
 * `gs://<bucket>` — the bucket must exist. Query parameters (anything else is an error):
 * - `prefix=<p>`: every key is stored as `<p><key>` and listed without it (gocloud's generic
 *   `prefix`); `p` usually ends in `/`;
 * - `access_id=<service-account email>` and `private_key_path=<file>`: authenticate as that
 *   service account. The file is either a service-account JSON key (`client_email` and
 *   `private_key`; `access_id` then optional) or a PEM private key (`access_id` required).
 *   gocloud's gcsblob accepts the same two parameters but uses them only to sign URLs, which
 *   autopgo never does; `access_id` alone changes nothing (Application Default Credentials
 *   still authenticate), except `access_id=-`, which as in gocloud means anonymous;
 * - `anonymous=true`: send no credentials at all (public buckets), as gocloud ≥ 0.41.
 *
 * # Credentials and emulators
 *
 * Without parameters, Application Default Credentials authenticate: `GOOGLE_APPLICATION_CREDENTIALS`,
 * the gcloud user credentials, or the metadata server on Google Cloud. When
 * `STORAGE_EMULATOR_HOST` is set (`host:port` or `http://host:port`, as gocloud and the Go client
 * read it), every request goes to that emulator (over plain HTTP unless the variable says
 * `https://`) and no credentials are used.
 * The SDK reads that variable too, but builds a broken JSON API address from a bare `host:port`;
 * this driver sets both the upload endpoint and the JSON API base itself.
 *
 * # Versions and conditions
 *
 * An object's version is its GCS generation (a decimal string). Conditions go to the service and
 * are never emulated by reading first: `ifAbsent` sends `ifGenerationMatch=0`, `ifVersion`
 * sends `ifGenerationMatch=<generation>` on uploads and deletes; a lost condition is HTTP 412.
 * A version that is not a positive decimal cannot be any object's generation, so such an
 * `ifVersion` fails as a precondition without a request. Uploads are single non-resumable
 * requests that declare the data's MD5, so the service rejects corrupted bytes atomically (the
 * SDK's own after-the-fact check would delete the object, which could be another writer's).
 * The SDK's retries are off: a write whose answer was lost may have landed, and the portable
 * layer retries only what is safe to repeat.
 *
 * Reads are one `alt=media` request made with `fetch` and the SDK's credentials: the bytes, plus
 * generation (`x-goog-generation`) and time (`Last-Modified`, so to the second, where `stat` and
 * `list` give milliseconds) from the same response, checked against the MD5 (or CRC32C) the
 * service reports. The SDK's download stream is not used: under Deno's Node compatibility it
 * prints a "possible EventEmitter memory leak" warning on every read.
 *
 * # Listing
 *
 * `list` and `listPrefixes` follow `pageToken` one page (1,000 names) at a time, in the service's
 * byte-wise lexicographic order; `listPrefixes` uses `delimiter=/`. Names that are not valid keys
 * (a folder placeholder `dir/`, `a//b`) are skipped.
 *
 * # Errors
 *
 * 404 not-found, 412 precondition, 401/403 and missing credentials permission, 408/429/5xx and
 * refused or reset connections unavailable, other 4xx invalid. A download whose bytes do not
 * match the service's checksum is unavailable (the object changed mid-read; reading again is safe).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import type { Bucket as GcsBucket, File as GcsFile, Storage } from "@google-cloud/storage";
import {
  assertValidKey,
  type BlobErrorKind,
  type BlobInfo,
  type BlobObject,
  type WriteConditions,
} from "../../core/blob.ts";
import { type BlobDriver, kindFromHttpStatus, kindFromNetworkError } from "../../core/blob_bucket.ts";
import { type GcsBlobConfig, gcsConfigFromUrl, storageOptionsFor } from "./gcs_url.ts";
import { sdkExports } from "../sdk_exports.ts";
import { abortable } from "../../core/sleep.ts";

export { emulatorEndpoint, type GcsAuth, type GcsBlobConfig, gcsConfigFromUrl, storageOptionsFor } from "./gcs_url.ts";

/** Names per list page (the service's maximum). */
const PAGE_SIZE = 1_000;

/** Opens `gs://bucket?…` (see the module documentation); the bucket is not contacted until used. */
export async function openGcsBlob(url: URL): Promise<GcsBlobDriver> {
  const config = await gcsConfigFromUrl(url);
  const { Storage } = sdkExports(await import("@google-cloud/storage"));
  const { options, baseUrl } = storageOptionsFor(config);
  const storage = new Storage(options);
  if (baseUrl) storage.baseUrl = baseUrl;
  return new GcsBlobDriver(storage, config);
}

/** An error this driver raises itself, with the HTTP status it stands for. */
export class GcsDriverError extends Error {
  /** The HTTP status the condition corresponds to (404 for a missing bucket). */
  readonly status?: number;
  /** Creates the error with a one-line message. */
  constructor(message: string, status?: number) {
    super(message);
    this.name = "GcsDriverError";
    this.status = status;
  }
}

/** The HTTP status carried by an SDK error (`ApiError.code`, gaxios' `status` / `response.status`). */
function httpStatusOf(error: unknown): number | undefined {
  const e = error as { code?: unknown; status?: unknown; response?: { status?: unknown } } | undefined;
  for (const candidate of [e?.code, e?.status, e?.response?.status]) {
    if (typeof candidate === "number" && candidate >= 100 && candidate < 600) return candidate;
  }
  return undefined;
}

/** The service's one-line reason from an error answer (`{"error":{"message"}}` or plain text). */
async function errorText(response: Response): Promise<string> {
  const text = await response.text().catch(() => "");
  try {
    const message = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    if (typeof message === "string") return message;
  } catch { /* not JSON */ }
  return text.replace(/\s+/g, " ").trim().slice(0, 200) || response.statusText;
}

/** One object of a JSON API listing, with the fields the driver asks for. */
interface ListedObject {
  name: string;
  size?: string | number;
  generation?: string | number;
  updated?: string;
}

function isListableKey(key: string): boolean {
  try {
    assertValidKey(key);
    return true;
  } catch {
    return false;
  }
}

/** A {@link BlobDriver} over one GCS bucket (optionally below a prefix). */
export class GcsBlobDriver implements BlobDriver {
  readonly #storage: Storage;
  readonly #bucket: GcsBucket;
  readonly #config: GcsBlobConfig;

  /** Wraps an SDK client; prefer {@link openGcsBlob}. */
  constructor(storage: Storage, config: GcsBlobConfig) {
    this.#storage = storage;
    this.#bucket = storage.bucket(config.bucket);
    this.#config = config;
  }

  /** `gs bucket "name"` (with the prefix, if any). */
  get description(): string {
    const prefix = this.#config.prefix ? ` prefix ${JSON.stringify(this.#config.prefix)}` : "";
    return `gs bucket ${JSON.stringify(this.#config.bucket)}${prefix}`;
  }

  /** The SDK client (an escape hatch, like gocloud's `As`). */
  get storage(): Storage {
    return this.#storage;
  }

  /** Maps HTTP statuses, credential failures and network failures to portable kinds. */
  errorKind(error: unknown): BlobErrorKind {
    const byStatus = kindFromHttpStatus(httpStatusOf(error));
    if (byStatus) return byStatus;
    const message = error instanceof Error ? error.message : String(error);
    if (
      /Could not load the default credentials|invalid_grant|unauthorized_client|Could not refresh access token/i.test(
        message,
      )
    ) {
      return "permission";
    }
    return kindFromNetworkError(error) ?? "unknown";
  }

  /**
   * Downloads the object with one `alt=media` request; generation and time come from the same
   * response, and the bytes are checked against the service's MD5 (or CRC32C).
   */
  async read(key: string, signal?: AbortSignal): Promise<BlobObject> {
    const name = this.#config.prefix + key;
    const url = `${this.#storage.baseUrl}/b/${encodeURIComponent(this.#config.bucket)}/o/${
      encodeURIComponent(name)
    }?alt=media`;
    const response = await fetch(url, { headers: await this.#authHeaders(url), signal });
    if (!response.ok) {
      throw new GcsDriverError(`download: HTTP ${response.status} ${await errorText(response)}`, response.status);
    }
    const data = new Uint8Array(await response.arrayBuffer());
    // A gzip-stored object arrives decompressed by fetch; its hashes describe the stored bytes.
    const stored = response.headers.get("x-goog-stored-content-encoding") ?? "identity";
    if (stored === "identity") await this.#verify(data, response.headers.get("x-goog-hash"));
    const version = response.headers.get("x-goog-generation");
    if (!version) throw new GcsDriverError("download: the answer carried no x-goog-generation header");
    const modified = new Date(response.headers.get("last-modified") ?? 0);
    return { key, size: data.length, modified, version, data };
  }

  /** The object's metadata; `undefined` on 404. */
  async stat(key: string, signal?: AbortSignal): Promise<BlobInfo | undefined> {
    try {
      const [metadata] = await abortable(this.#file(key).getMetadata(), signal);
      return this.#info(key, metadata);
    } catch (error) {
      if (httpStatusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** One non-resumable upload with `ifGenerationMatch` and the declared MD5; returns the new generation. */
  async write(key: string, data: Uint8Array, conditions: WriteConditions, signal?: AbortSignal): Promise<string> {
    const ifGenerationMatch = conditions.ifAbsent ? 0 : this.#generation(conditions.ifVersion);
    const file = this.#file(key);
    await abortable(
      file.save(data, {
        resumable: false,
        validation: false,
        contentType: "application/octet-stream",
        metadata: { md5Hash: createHash("md5").update(data).digest("base64") },
        preconditionOpts: ifGenerationMatch === undefined ? undefined : { ifGenerationMatch },
      }),
      signal,
    );
    const generation = file.metadata.generation;
    if (generation === undefined || generation === null || String(generation) === "") {
      throw new GcsDriverError(`write "${key}": the upload answer carried no generation`);
    }
    return String(generation);
  }

  /** Deletes (with `ifGenerationMatch` for `ifVersion`); false on 404. */
  async delete(key: string, conditions: Pick<WriteConditions, "ifVersion">, signal?: AbortSignal): Promise<boolean> {
    const ifGenerationMatch = this.#generation(conditions.ifVersion);
    try {
      await abortable(
        this.#file(key).delete(ifGenerationMatch === undefined ? {} : { ifGenerationMatch }),
        signal,
      );
      return true;
    } catch (error) {
      if (httpStatusOf(error) === 404) return false;
      throw error;
    }
  }

  /** Lists objects under `prefix`, one page request at a time. */
  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<BlobInfo> {
    let pageToken: string | undefined;
    do {
      const page = await this.#page(
        { prefix, pageToken, fields: "items(name,size,generation,updated),nextPageToken" },
        signal,
      );
      for (const item of page.items) {
        const key = item.name.slice(this.#config.prefix.length);
        if (isListableKey(key)) yield this.#info(key, item);
      }
      pageToken = page.nextPageToken;
    } while (pageToken);
  }

  /** Lists the folders directly below `prefix` (`delimiter=/`), one page request at a time. */
  async *listPrefixes(prefix: string, signal?: AbortSignal): AsyncIterable<string> {
    let pageToken: string | undefined;
    let last = "";
    do {
      const page = await this.#page({ prefix, pageToken, delimiter: "/", fields: "prefixes,nextPageToken" }, signal);
      // Some servers repeat every folder on each page; keep only those past the last one yielded.
      const folders = page.prefixes.map((p) => p.slice(this.#config.prefix.length)).sort();
      for (const folder of folders) {
        if (folder <= last || !isListableKey(folder.slice(0, -1))) continue;
        last = folder;
        yield folder;
      }
      pageToken = page.nextPageToken;
    } while (pageToken);
  }

  /** Lists at most one name: proves the bucket exists and the credentials may list it. */
  async check(signal?: AbortSignal): Promise<void> {
    try {
      await abortable(
        this.#bucket.getFiles({
          prefix: this.#config.prefix,
          maxResults: 1,
          autoPaginate: false,
          fields: "nextPageToken",
        }),
        signal,
      );
    } catch (error) {
      if (httpStatusOf(error) === 404) {
        throw new GcsDriverError("the bucket does not exist; create it or fix the bucket name in the URL", 404);
      }
      throw error;
    }
  }

  /** Nothing to release: neither the SDK client nor `fetch` holds sockets or timers past a request. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  /** The SDK's credentials as request headers; none for an emulator or anonymous access. */
  async #authHeaders(url: string): Promise<Headers> {
    if (this.#config.emulatorEndpoint || this.#config.auth.kind === "anonymous") return new Headers();
    return await this.#storage.authClient.getRequestHeaders(url);
  }

  /** Throws an `unavailable` error when `data` does not match the download's `x-goog-hash`. */
  async #verify(data: Uint8Array, hashHeader: string | null): Promise<void> {
    const hashes = new Map(
      (hashHeader ?? "").split(",").map((pair) => {
        const at = pair.indexOf("=");
        return [pair.slice(0, at).trim(), pair.slice(at + 1).trim()] as const;
      }),
    );
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.length);
    let actual: string | undefined;
    let expected = hashes.get("md5");
    if (expected) {
      actual = createHash("md5").update(bytes).digest("base64");
    } else if ((expected = hashes.get("crc32c"))) {
      const { CRC32C } = sdkExports(await import("@google-cloud/storage"));
      const crc = new CRC32C();
      crc.update(bytes);
      actual = crc.toString();
    }
    if (expected !== undefined && actual !== expected) {
      throw new GcsDriverError(`download: the bytes do not match the object's checksum (changed mid-read?)`, 503);
    }
  }

  #file(key: string): GcsFile {
    return this.#bucket.file(this.#config.prefix + key);
  }

  /** `ifVersion` as a generation; a token that cannot be a generation fails as a precondition. */
  #generation(ifVersion: string | undefined): string | undefined {
    if (ifVersion === undefined) return undefined;
    if (!/^[1-9][0-9]*$/.test(ifVersion)) {
      throw new GcsDriverError(`version ${JSON.stringify(ifVersion)} is not a GCS generation`, 412);
    }
    return ifVersion;
  }

  async #page(
    query: { prefix: string; pageToken?: string; delimiter?: string; fields: string },
    signal?: AbortSignal,
  ): Promise<{ items: ListedObject[]; prefixes: string[]; nextPageToken?: string }> {
    // With `fields`, the SDK hands back the JSON API's answer as it came: read it directly.
    const [, , response] = await abortable(
      this.#bucket.getFiles({
        ...query,
        prefix: this.#config.prefix + query.prefix,
        autoPaginate: false,
        maxResults: PAGE_SIZE,
      }),
      signal,
    );
    const body = (response ?? {}) as { items?: ListedObject[]; prefixes?: string[]; nextPageToken?: string };
    return { items: body.items ?? [], prefixes: body.prefixes ?? [], nextPageToken: body.nextPageToken || undefined };
  }

  #info(key: string, metadata: { size?: unknown; generation?: unknown; updated?: unknown }): BlobInfo {
    return {
      key,
      size: Number(metadata.size ?? 0),
      modified: new Date(String(metadata.updated ?? 0)),
      version: String(metadata.generation),
    };
  }
}
