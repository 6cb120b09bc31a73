/**
 * Parsing `gs://bucket?…` URLs and `STORAGE_EMULATOR_HOST` into a {@link GcsBlobConfig}, and
 * turning that into `@google-cloud/storage` options. The parameters, credentials and emulator
 * rules are documented with the driver (`gcs_blob.ts`); this module only reads them, so it
 * needs no SDK at run time (its SDK import is types only).
 *
 * @module
 */

import type { StorageOptions } from "@google-cloud/storage";
import { assertValidKey } from "../../core/blob.ts";
import { redactUrl } from "../../core/registry.ts";
import { driverParams } from "../driver_url.ts";

const WHAT = "gs blob store";
const PARAMS = ["prefix", "access_id", "private_key_path", "anonymous"] as const;
/** The public endpoint written with its default port: the same server, but the SDK then skips authentication. */
const ANONYMOUS_ENDPOINT = "https://storage.googleapis.com:443";

/** How the driver authenticates. */
export type GcsAuth =
  | { kind: "default" }
  | { kind: "anonymous" }
  | { kind: "service-account"; clientEmail: string; privateKey: string };

/** Everything a `gs://` URL and the environment say about one store. */
export interface GcsBlobConfig {
  /** The bucket name (the URL host). */
  bucket: string;
  /** Prepended to every key (`""` for none). */
  prefix: string;
  /** Credentials to use; ignored when {@link GcsBlobConfig.emulatorEndpoint} is set. */
  auth: GcsAuth;
  /** `http://host:port` of the emulator named by `STORAGE_EMULATOR_HOST`, if any. */
  emulatorEndpoint?: string;
}

/** Go's `strconv.ParseBool` spellings, as gocloud parses `anonymous`. */
function parseBool(text: string, name: string, shown: string): boolean {
  if (/^(1|t|T|TRUE|true|True)$/.test(text)) return true;
  if (/^(0|f|F|FALSE|false|False)$/.test(text)) return false;
  throw new Error(`${WHAT} URL ${shown}: ${name}=${JSON.stringify(text)} is not a boolean; use true or false`);
}

/**
 * The `http://host:port` origin of `STORAGE_EMULATOR_HOST` (`host:port`, or a URL whose path,
 * such as `/storage/v1`, is dropped).
 */
export function emulatorEndpoint(host: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(host) ? host : `http://${host}`;
  try {
    const url = new URL(withScheme);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("not http");
    return url.origin;
  } catch {
    throw new Error(`STORAGE_EMULATOR_HOST=${JSON.stringify(host)} is not host:port or an http(s) URL`);
  }
}

async function serviceAccountFrom(
  keyPath: string,
  accessId: string | undefined,
  shown: string,
): Promise<GcsAuth> {
  let text: string;
  try {
    text = await Deno.readTextFile(keyPath);
  } catch (e) {
    throw new Error(`${WHAT} URL ${shown}: cannot read private_key_path ${keyPath}: ${(e as Error).message}`);
  }
  if (text.trimStart().startsWith("{")) {
    let key: { client_email?: unknown; private_key?: unknown };
    try {
      key = JSON.parse(text);
    } catch {
      throw new Error(`${WHAT} URL ${shown}: private_key_path ${keyPath} is not valid JSON`);
    }
    const clientEmail = accessId ?? key.client_email;
    if (typeof key.private_key !== "string" || typeof clientEmail !== "string") {
      throw new Error(
        `${WHAT} URL ${shown}: private_key_path ${keyPath} has no "private_key" and "client_email"; use a service-account JSON key`,
      );
    }
    return { kind: "service-account", clientEmail, privateKey: key.private_key };
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    throw new Error(
      `${WHAT} URL ${shown}: private_key_path ${keyPath} is neither a service-account JSON key nor a PEM private key`,
    );
  }
  if (!accessId) {
    throw new Error(`${WHAT} URL ${shown}: a PEM private_key_path needs access_id=<service-account email>`);
  }
  return { kind: "service-account", clientEmail: accessId, privateKey: text };
}

/**
 * Parses and checks a `gs://bucket?…` URL (see the module documentation) and reads
 * `STORAGE_EMULATOR_HOST` through `env`. Reads the private key file when one is named.
 */
export async function gcsConfigFromUrl(
  url: URL,
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): Promise<GcsBlobConfig> {
  const shown = JSON.stringify(redactUrl(url.href));
  const params = driverParams(url, PARAMS, WHAT);
  if (url.protocol !== "gs:") throw new Error(`${WHAT} URL ${shown}: expected gs://bucket`);
  if (url.username || url.password || url.port) {
    throw new Error(`${WHAT} URL ${shown}: expected gs://bucket without user, password or port`);
  }
  if (url.pathname !== "" && url.pathname !== "/") {
    throw new Error(`${WHAT} URL ${shown}: expected gs://bucket without a path; use ?prefix=folder/ for a folder`);
  }
  if (url.hash) throw new Error(`${WHAT} URL ${shown}: unexpected fragment`);
  const bucket = url.hostname;
  if (!/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(bucket)) {
    throw new Error(
      `${WHAT} URL ${shown}: bucket ${JSON.stringify(bucket)} is not a GCS bucket name (3-222 of a-z 0-9 . _ -)`,
    );
  }
  const prefix = params.get("prefix") ?? "";
  if (prefix !== "") {
    try {
      assertValidKey(prefix.endsWith("/") ? prefix.slice(0, -1) : prefix);
    } catch {
      throw new Error(`${WHAT} URL ${shown}: prefix ${JSON.stringify(prefix)} is not a valid key prefix`);
    }
  }
  const anonymousParam = params.has("anonymous") && parseBool(params.get("anonymous")!, "anonymous", shown);
  const accessId = params.get("access_id") || undefined;
  const keyPath = params.get("private_key_path") || undefined;
  const anonymous = anonymousParam || accessId === "-";
  if (anonymous && (keyPath || (accessId && accessId !== "-"))) {
    throw new Error(`${WHAT} URL ${shown}: anonymous access cannot be combined with access_id or private_key_path`);
  }
  const auth: GcsAuth = anonymous
    ? { kind: "anonymous" }
    : keyPath
    ? await serviceAccountFrom(keyPath, accessId, shown)
    : { kind: "default" };
  const emulator = env("STORAGE_EMULATOR_HOST");
  return { bucket, prefix, auth, emulatorEndpoint: emulator ? emulatorEndpoint(emulator) : undefined };
}

/**
 * The SDK options for `config` and the JSON API base URL to set on the client afterwards
 * (`undefined`: keep the SDK's). Retries are always off.
 */
export function storageOptionsFor(config: GcsBlobConfig): { options: StorageOptions; baseUrl?: string } {
  const options: StorageOptions = {
    // RetryNever (0): no request is repeated by the SDK; the portable layer decides.
    retryOptions: { autoRetry: false, idempotencyStrategy: 0 },
  };
  if (config.emulatorEndpoint) {
    options.apiEndpoint = config.emulatorEndpoint;
    return { options, baseUrl: `${config.emulatorEndpoint}/storage/v1` };
  }
  if (config.auth.kind === "anonymous") {
    // A custom endpoint is used without credentials unless useAuthWithCustomEndpoint is set.
    options.apiEndpoint = ANONYMOUS_ENDPOINT;
    options.useAuthWithCustomEndpoint = false;
  } else if (config.auth.kind === "service-account") {
    options.credentials = { client_email: config.auth.clientEmail, private_key: config.auth.privateKey };
  }
  return { options };
}
