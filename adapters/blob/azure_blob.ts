/**
 * `azblob://container` blob driver: Azure Blob Storage (and Azurite) through the
 * `@azure/storage-blob` SDK, loaded only when such a URL is opened. It is a thin
 * {@link BlobDriver}: the portable `Bucket` around it checks keys and conditions, wraps errors
 * by {@link AzureBlobDriver.errorKind} and retries reads, so the SDK's own retries are off
 * (one attempt per call; the SDK would otherwise retry writes whose answer was lost).
 *
 * Contract, mapped onto Azure:
 * - an object is a block blob named `prefix + key`, written in one `Put Blob` (no staged
 *   blocks: readers see the old or the new blob, never a mix; Azure accepts up to 5,000 MiB
 *   that way, far beyond a profile);
 * - `version` is the blob's ETag, which Azure changes on every write, even of equal bytes;
 * - `ifAbsent` is `If-None-Match: *`, `ifVersion` is `If-Match: <etag>`, on writes and
 *   deletes alike: the service decides, the driver never reads before it writes;
 * - `list` / `listPrefixes` are `List Blobs` (flat, or by hierarchy with delimiter `/`), page by
 *   page with the continuation marker; Azure returns names in lexicographic order.
 *
 * Where the service endpoint comes from (gocloud's azureblob rules; see {@link azureBlobSettings}):
 * `<protocol>://<account>.<domain>` by default (`https`, `blob.core.windows.net`);
 * `<protocol>://<domain>` with `cdn=true`; `<protocol>://<domain>/<account>` with
 * `localemu=true` or a domain starting with `localhost` / `127.0.0.1` (Azurite). Credentials
 * come from `AZURE_STORAGE_ACCOUNT` + `AZURE_STORAGE_KEY` (shared key), `AZURE_STORAGE_ACCOUNT`
 * + `AZURE_STORAGE_SAS_TOKEN`, or `AZURE_STORAGE_CONNECTION_STRING`, in that order.
 * DefaultAzureCredential (managed identity, `az login`) would need `@azure/identity`, which
 * autopgo does not bundle, so without one of these the opener fails with a one-line error.
 *
 * @module
 */

import type { ContainerClient, StoragePipelineOptions } from "@azure/storage-blob";
import {
  BlobError,
  type BlobErrorKind,
  type BlobInfo,
  type BlobObject,
  PreconditionFailedError,
  type WriteConditions,
} from "../../core/blob.ts";
import { type BlobDriver, kindFromHttpStatus, kindFromNetworkError } from "../../core/blob_bucket.ts";
import { type AzureBlobSettings, azureBlobSettings } from "./azure_blob_url.ts";
import { sdkExports } from "../sdk_exports.ts";

export { AZBLOB_PARAMS, type AzureBlobAuth, type AzureBlobSettings, azureBlobSettings } from "./azure_blob_url.ts";

/** Options of {@link openAzureBlob} (injection points for tests and tools). */
export interface AzureBlobOptions {
  /** Reads an environment variable (default `Deno.env.get`). */
  env?: (name: string) => string | undefined;
  /** Names per `List Blobs` page (default 1,000, Azure allows up to 5,000). */
  pageSize?: number;
}

const DEFAULT_PAGE_SIZE = 1_000;
const CREDENTIAL_HINT =
  "check AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, or AZURE_STORAGE_CONNECTION_STRING";

/** Azure error codes whose kind the HTTP status alone does not tell (or tells wrongly). */
const KIND_BY_CODE: Record<string, BlobErrorKind> = {
  BlobNotFound: "not-found",
  ContainerNotFound: "not-found",
  ResourceNotFound: "not-found",
  ConditionNotMet: "precondition",
  BlobAlreadyExists: "precondition",
  TargetConditionNotMet: "precondition",
  AuthenticationFailed: "permission",
  AuthorizationFailure: "permission",
  AuthorizationPermissionMismatch: "permission",
  AuthorizationResourceTypeMismatch: "permission",
  InsufficientAccountPermissions: "permission",
  AccountIsDisabled: "permission",
  ServerBusy: "unavailable",
  InternalError: "unavailable",
  OperationTimedOut: "unavailable",
  ContainerBeingDeleted: "unavailable",
  REQUEST_SEND_ERROR: "unavailable",
};

/**
 * Opens `azblob://container?prefix=…&domain=…&protocol=…&cdn=…&localemu=…&storage_account=…`
 * (see `azure_blob_url.ts`). Nothing is contacted until the first call; `check()`
 * tells whether the container exists and the credentials work.
 */
export async function openAzureBlob(url: URL, options: AzureBlobOptions = {}): Promise<AzureBlobDriver> {
  const settings = azureBlobSettings(url, options.env ?? ((name) => Deno.env.get(name)));
  const sdk = sdkExports(await import("@azure/storage-blob"));
  const pipeline: StoragePipelineOptions = {
    retryOptions: { maxTries: 1 },
    userAgentOptions: { userAgentPrefix: "autopgo" },
  };
  const { auth, container } = settings;
  let client: ContainerClient;
  try {
    if (auth.kind === "shared-key") {
      const credential = new sdk.StorageSharedKeyCredential(auth.account, auth.key);
      client = new sdk.ContainerClient(`${settings.serviceUrl}/${container}`, credential, pipeline);
    } else if (auth.kind === "sas") {
      client = new sdk.ContainerClient(
        `${settings.serviceUrl}/${container}?${auth.token}`,
        new sdk.AnonymousCredential(),
        pipeline,
      );
    } else {
      client = new sdk.ContainerClient(auth.connectionString, container, pipeline);
    }
  } catch (e) {
    const source = auth.kind === "connection-string" ? auth.variable : "the azblob URL";
    throw new Error(`azblob container "${container}": cannot build a client from ${source}: ${firstLine(e)}`);
  }
  return new AzureBlobDriver(client, settings, options.pageSize ?? DEFAULT_PAGE_SIZE);
}

/** The {@link BlobDriver} over one container; see the module documentation. */
export class AzureBlobDriver implements BlobDriver {
  /** The SDK client of the container (escape hatch, like gocloud's `As`). */
  readonly client: ContainerClient;
  /** Names the container, its endpoint and key prefix in errors, without secrets. */
  readonly description: string;
  readonly #settings: AzureBlobSettings;
  readonly #pageSize: number;

  /** Wraps a container client; prefer {@link openAzureBlob}. */
  constructor(client: ContainerClient, settings: AzureBlobSettings, pageSize = DEFAULT_PAGE_SIZE) {
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 5_000) {
      throw new Error(`azblob page size ${pageSize}: expected an integer from 1 to 5000`);
    }
    this.client = client;
    this.#settings = settings;
    this.#pageSize = pageSize;
    const endpoint = new URL(client.url);
    endpoint.search = ""; // a SAS token must never reach a log line
    endpoint.pathname = endpoint.pathname.replace(/\/[^/]*$/, "");
    const prefix = settings.prefix ? `, prefix "${settings.prefix}"` : "";
    this.description = `azblob container "${settings.container}" (${endpoint.href.replace(/\/$/, "")}${prefix})`;
  }

  /** Reads the whole blob in one GET; its ETag is the version of exactly these bytes. */
  read(key: string, signal?: AbortSignal): Promise<BlobObject> {
    return this.#call("read", key, async () => {
      const response = await this.#blob(key).download(0, undefined, { abortSignal: signal, maxRetryRequests: 0 });
      const size = response.contentLength ?? 0;
      const data = new Uint8Array(size);
      let got = 0;
      const body = response.readableStreamBody;
      if (body) {
        for await (const chunk of body as AsyncIterable<Uint8Array>) {
          if (got + chunk.length > size) throw new Error(`blob grew while reading (more than ${size} bytes)`);
          data.set(chunk, got);
          got += chunk.length;
        }
      }
      if (got !== size) throw new Error(`blob body ended after ${got} of ${size} bytes`);
      return { key, size, modified: response.lastModified ?? new Date(0), version: requireEtag(response.etag), data };
    });
  }

  /** `Get Blob Properties`; `undefined` when the blob does not exist. */
  stat(key: string, signal?: AbortSignal): Promise<BlobInfo | undefined> {
    return this.#call("stat", key, async () => {
      try {
        const props = await this.#blob(key).getProperties({ abortSignal: signal });
        return {
          key,
          size: props.contentLength ?? 0,
          modified: props.lastModified ?? new Date(0),
          version: requireEtag(props.etag),
        };
      } catch (e) {
        if (azureErrorCode(e) === "BlobNotFound" || isBlobMissing(e)) return undefined;
        throw e;
      }
    });
  }

  /** One `Put Blob` of the whole buffer with `If-None-Match: *` or `If-Match: <etag>`; returns the new ETag. */
  write(key: string, data: Uint8Array, conditions: WriteConditions, signal?: AbortSignal): Promise<string> {
    return this.#call("write", key, async () => {
      const access = conditions.ifAbsent
        ? { ifNoneMatch: "*" }
        : conditions.ifVersion !== undefined
        ? { ifMatch: conditions.ifVersion }
        : undefined;
      try {
        const response = await this.#blob(key).upload(data, data.byteLength, {
          conditions: access,
          abortSignal: signal,
        });
        return requireEtag(response.etag);
      } catch (e) {
        // If-Match on a blob that is gone is a lost race, not a missing object.
        if (conditions.ifVersion !== undefined && isBlobMissing(e)) {
          throw new PreconditionFailedError(key, "the blob no longer exists", { cause: e });
        }
        throw e;
      }
    });
  }

  /** `Delete Blob` (with its snapshots), guarded by `If-Match` when `ifVersion` is set; false when absent. */
  delete(key: string, conditions: Pick<WriteConditions, "ifVersion">, signal?: AbortSignal): Promise<boolean> {
    return this.#call("delete", key, async () => {
      const blob = this.#blob(key);
      try {
        await blob.delete({
          deleteSnapshots: "include",
          conditions: conditions.ifVersion === undefined ? undefined : { ifMatch: conditions.ifVersion },
          abortSignal: signal,
        });
        return true;
      } catch (e) {
        if (isBlobMissing(e)) return false;
        // Azure answers 412 to If-Match on a missing blob too: only after losing, look whether it is gone.
        if (conditions.ifVersion !== undefined && this.errorKind(e) === "precondition") {
          if (!await blob.exists({ abortSignal: signal })) return false;
        }
        throw e;
      }
    });
  }

  /** Flat `List Blobs` under `prefix`, page by page, in name order. */
  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<BlobInfo> {
    const pages = this.client.listBlobsFlat({ prefix: this.#settings.prefix + prefix, abortSignal: signal })
      .byPage({ maxPageSize: this.#pageSize });
    for await (const page of this.#pages("list", pages)) {
      for (const item of page.segment.blobItems) {
        yield {
          key: this.#keyOf(item.name),
          size: item.properties.contentLength ?? 0,
          modified: item.properties.lastModified,
          version: requireEtag(item.properties.etag),
        };
      }
    }
  }

  /** `List Blobs` with delimiter `/`: the folders directly below `prefix`, in name order. */
  async *listPrefixes(prefix: string, signal?: AbortSignal): AsyncIterable<string> {
    const pages = this.client
      .listBlobsByHierarchy("/", { prefix: this.#settings.prefix + prefix, abortSignal: signal })
      .byPage({ maxPageSize: this.#pageSize });
    for await (const page of this.#pages("listPrefixes", pages)) {
      for (const folder of page.segment.blobPrefixes ?? []) yield this.#keyOf(folder.name);
    }
  }

  /**
   * Lists at most one name under the prefix: resolves when the container exists and the
   * credentials may list it. (`Get Container Properties` would be refused to a container SAS,
   * which autopgo needs to list anyway.)
   */
  check(signal?: AbortSignal): Promise<void> {
    return this.#call("check", undefined, async () => {
      const pages = this.client.listBlobsFlat({ prefix: this.#settings.prefix, abortSignal: signal })
        .byPage({ maxPageSize: 1 });
      await pages.next();
    });
  }

  /** Nothing to release: the SDK's HTTP client and its keep-alive sockets are shared by the whole process. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Maps an SDK error to a portable kind: by Azure error code first, then HTTP status, then network failure. */
  errorKind(error: unknown): BlobErrorKind {
    if (error instanceof AzureBlobFailure || error instanceof BlobError) return error.kind;
    const code = azureErrorCode(error);
    const byCode = code === undefined ? undefined : KIND_BY_CODE[code];
    return byCode ?? kindFromHttpStatus(httpStatus(error)) ?? kindFromNetworkError(error) ?? "unknown";
  }

  #blob(key: string) {
    return this.client.getBlockBlobClient(this.#settings.prefix + key);
  }

  #keyOf(name: string): string {
    return name.startsWith(this.#settings.prefix) ? name.slice(this.#settings.prefix.length) : name;
  }

  async *#pages<T>(operation: string, pages: AsyncIterable<T>): AsyncIterable<T> {
    const iterator = pages[Symbol.asyncIterator]();
    while (true) {
      const next = await this.#call(operation, undefined, () => iterator.next());
      if (next.done) return;
      yield next.value;
    }
  }

  /** Runs one SDK call, rewording the failures a user must act on (missing container, credentials). */
  async #call<T>(operation: string, key: string | undefined, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (e) {
      const code = azureErrorCode(e);
      const where = key === undefined ? "" : ` "${key}"`;
      if (code === "ContainerNotFound" || (key === undefined && httpStatus(e) === 404)) {
        throw new BlobError(
          "not-found",
          `${operation}${where} on ${this.description}: the container does not exist; create it or fix the URL`,
          { key, cause: e },
        );
      }
      if (this.errorKind(e) === "permission") {
        throw new AzureBlobFailure(
          "permission",
          `access denied (${code ?? `HTTP ${httpStatus(e)}`}); ${CREDENTIAL_HINT}`,
          e,
        );
      }
      throw e;
    }
  }
}

/** An SDK failure this driver reworded, with its portable kind. */
class AzureBlobFailure extends Error {
  readonly kind: BlobErrorKind;
  constructor(kind: BlobErrorKind, message: string, cause: unknown) {
    super(message, { cause });
    this.name = "AzureBlobFailure";
    this.kind = kind;
  }
}

/** The `x-ms-error-code` of an SDK error (also for HEAD requests, whose answers carry no body). */
function azureErrorCode(error: unknown): string | undefined {
  const e = error as {
    code?: unknown;
    details?: { errorCode?: unknown };
    response?: { headers?: { get?(name: string): string | undefined } };
  } | undefined;
  if (!e || typeof e !== "object") return undefined;
  const header = typeof e.response?.headers?.get === "function" ? e.response.headers.get("x-ms-error-code") : undefined;
  for (const candidate of [header, e.details?.errorCode, e.code]) {
    if (typeof candidate === "string" && candidate !== "") return candidate;
  }
  return undefined;
}

function httpStatus(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof status === "number" ? status : undefined;
}

/** A 404 about the blob itself (not about its container). */
function isBlobMissing(error: unknown): boolean {
  const code = azureErrorCode(error);
  return code === "BlobNotFound" || (httpStatus(error) === 404 && code !== "ContainerNotFound");
}

/**
 * The ETag in its header form: headers quote it (`"0x8D…"`) but `List Blobs` bodies do not,
 * and a version must be the same token whichever call returned it.
 */
function requireEtag(etag: string | undefined): string {
  if (!etag) throw new Error("the service answered without an ETag");
  return etag.startsWith('"') || etag.startsWith("W/") ? etag : `"${etag}"`;
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0].trim();
}
