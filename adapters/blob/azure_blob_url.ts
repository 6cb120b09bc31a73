/**
 * What an `azblob://` URL and the environment mean, without touching the network or the SDK:
 * the container, the key prefix, the service endpoint and the credentials
 * ({@link azureBlobSettings}). Kept apart from the driver so the rules are testable alone.
 *
 * The rules follow gocloud's azureblob opener, so a URL that works with the original works here:
 * - URL parameters `domain`, `protocol`, `cdn`, `localemu`, `storage_account` override the
 *   environment defaults `AZURE_STORAGE_DOMAIN`, `AZURE_STORAGE_PROTOCOL`,
 *   `AZURE_STORAGE_IS_CDN`, `AZURE_STORAGE_IS_LOCAL_EMULATOR`, `AZURE_STORAGE_ACCOUNT`;
 *   `prefix` (gocloud's generic prefixed bucket) is put before every key;
 * - the endpoint is `<protocol>://<account>.<domain>`; `<protocol>://<domain>` for a CDN;
 *   `<protocol>://<domain>/<account>` for the local emulator (`localemu=true`, or a domain
 *   that starts with `localhost` or `127.0.0.1`);
 * - credentials, first match wins: account + `AZURE_STORAGE_KEY` (shared key), account +
 *   `AZURE_STORAGE_SAS_TOKEN` (the token rides on every request URL, so URL parameters may not
 *   move it to another endpoint than the environment names), `AZURE_STORAGE_CONNECTION_STRING`
 *   (or `AZURE_STORAGEBLOB_CONNECTIONSTRING`; it names its own endpoint, so endpoint
 *   parameters in the URL are refused rather than silently ignored).
 *
 * Two deliberate differences from gocloud: the emulator style defaults to `http` and (with
 * `localemu=true` and no domain) to `127.0.0.1:10000`, Azurite's defaults, where gocloud would
 * build an unusable `https://blob.core.windows.net/<account>`; and with no credentials at all
 * the opener fails, because gocloud's fallback, DefaultAzureCredential, needs `@azure/identity`,
 * which autopgo does not bundle.
 *
 * @module
 */

import { assertFolderPrefix } from "../../core/blob.ts";
import { redactUrl } from "../../core/registry.ts";
import { driverParams } from "../driver_url.ts";

/** The query parameters an `azblob://` URL accepts. */
export const AZBLOB_PARAMS = ["prefix", "domain", "protocol", "cdn", "localemu", "storage_account"] as const;

/** How requests authenticate (secrets included: never log this). */
export type AzureBlobAuth =
  | { kind: "shared-key"; account: string; key: string }
  | { kind: "sas"; account: string; token: string }
  | { kind: "connection-string"; variable: string; connectionString: string };

/** The resolved meaning of an `azblob://` URL plus environment. */
export interface AzureBlobSettings {
  /** Container name (the URL host). */
  container: string;
  /** Put before every key (`""` or ending in `/`). */
  prefix: string;
  /** Service endpoint without credentials (`https://acct.blob.core.windows.net`); absent for connection strings. */
  serviceUrl?: string;
  /** Credentials. */
  auth: AzureBlobAuth;
}

const WHAT = "azblob";
const DEFAULT_DOMAIN = "blob.core.windows.net";
const EMULATOR_DOMAIN = "127.0.0.1:10000";
const CONNECTION_STRING_VARS = ["AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGEBLOB_CONNECTIONSTRING"];
const ENDPOINT_PARAMS = ["domain", "protocol", "cdn", "localemu", "storage_account"];
const NO_CREDENTIALS = "no credentials: set AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, " +
  "or AZURE_STORAGE_CONNECTION_STRING (DefaultAzureCredential is not supported: it needs @azure/identity, " +
  "which autopgo does not bundle)";
/** Container names: 3-63 of [a-z0-9-], starting and ending with a letter or digit, no `--`; or a system container. */
const CONTAINER_NAME = /^(?:[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}|\$root|\$web|\$logs)$/;
const DOMAIN = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

interface Endpoint {
  account?: string;
  domain?: string;
  protocol?: string;
  cdn: boolean;
  localemu: boolean;
}

/**
 * Resolves `url` (`azblob://container?…`) and the environment (`env(name)`) into settings, or
 * throws a one-line error that names the offending parameter or variable and the fix.
 */
export function azureBlobSettings(url: URL, env: (name: string) => string | undefined): AzureBlobSettings {
  const shown = JSON.stringify(redactUrl(url.href));
  const fail = (reason: string): never => {
    throw new Error(`${WHAT} URL ${shown}: ${reason}`);
  };
  if (url.protocol !== "azblob:") fail(`expected the azblob: scheme`);
  if (url.username || url.password) fail("credentials do not belong in the URL; use AZURE_STORAGE_* variables");
  if (url.port) fail("a port does not belong after the container name; use domain=host:port");
  if (url.pathname !== "" && url.pathname !== "/") {
    fail(`unexpected path "${url.pathname}"; put a key prefix in prefix=${url.pathname.slice(1).replace(/\/?$/, "/")}`);
  }
  if (url.hash) fail("unexpected fragment");
  const container = url.hostname;
  if (!container) fail("missing container name, as in azblob://my-container");
  if (!CONTAINER_NAME.test(container)) {
    fail(`invalid container name "${container}": use 3-63 lower-case letters, digits and single hyphens`);
  }
  const params = driverParams(url, AZBLOB_PARAMS, WHAT);
  const prefix = params.get("prefix") ?? "";
  try {
    assertFolderPrefix(prefix);
  } catch {
    fail(`prefix=${JSON.stringify(prefix)} must be a folder path ending in "/", like prefix=autopgo/`);
  }
  const setting = (param: string, variable: string) => nonEmpty(params.get(param)) ?? nonEmpty(env(variable));
  const flag = (param: string, variable: string) => {
    const text = setting(param, variable);
    const value = text === undefined ? false : parseBool(text);
    if (value === undefined) fail(`${param}=${text}: expected true or false`);
    return value as boolean;
  };
  const endpoint: Endpoint = {
    account: setting("storage_account", "AZURE_STORAGE_ACCOUNT"),
    domain: setting("domain", "AZURE_STORAGE_DOMAIN"),
    protocol: setting("protocol", "AZURE_STORAGE_PROTOCOL"),
    cdn: flag("cdn", "AZURE_STORAGE_IS_CDN"),
    localemu: flag("localemu", "AZURE_STORAGE_IS_LOCAL_EMULATOR"),
  };

  const key = nonEmpty(env("AZURE_STORAGE_KEY"));
  const sas = nonEmpty(env("AZURE_STORAGE_SAS_TOKEN"))?.replace(/^\?/, "");
  const variable = CONNECTION_STRING_VARS.find((name) => nonEmpty(env(name)) !== undefined);
  const account = endpoint.account;
  if (account !== undefined && key !== undefined) {
    return { container, prefix, serviceUrl: serviceUrl(endpoint, fail), auth: { kind: "shared-key", account, key } };
  }
  if (sas !== undefined) {
    if (account === undefined) fail("AZURE_STORAGE_SAS_TOKEN needs AZURE_STORAGE_ACCOUNT (or storage_account=)");
    const chosen = serviceUrl(endpoint, fail);
    const fromEnv = serviceUrl({
      account: nonEmpty(env("AZURE_STORAGE_ACCOUNT")) ?? account,
      domain: nonEmpty(env("AZURE_STORAGE_DOMAIN")),
      protocol: nonEmpty(env("AZURE_STORAGE_PROTOCOL")),
      cdn: parseBool(env("AZURE_STORAGE_IS_CDN") ?? "") ?? false,
      localemu: parseBool(env("AZURE_STORAGE_IS_LOCAL_EMULATOR") ?? "") ?? false,
    }, fail);
    if (new URL(chosen).origin !== new URL(fromEnv).origin) {
      fail("with AZURE_STORAGE_SAS_TOKEN the URL may not change the service endpoint; set AZURE_STORAGE_DOMAIN etc.");
    }
    return { container, prefix, serviceUrl: chosen, auth: { kind: "sas", account: account as string, token: sas } };
  }
  if (variable !== undefined) {
    const given = ENDPOINT_PARAMS.filter((name) => params.has(name));
    if (given.length) fail(`${given.join(", ")} cannot be combined with ${variable}, which names its own endpoint`);
    return { container, prefix, auth: { kind: "connection-string", variable, connectionString: env(variable)! } };
  }
  if (key !== undefined) fail("AZURE_STORAGE_KEY needs AZURE_STORAGE_ACCOUNT (or storage_account=)");
  return fail(NO_CREDENTIALS);
}

/** gocloud's service endpoint rules; see the module documentation. */
function serviceUrl(endpoint: Endpoint, fail: (reason: string) => never): string {
  const account = endpoint.account ?? fail("missing storage account: set AZURE_STORAGE_ACCOUNT or storage_account=");
  if (!/^[a-z0-9]{3,24}$/.test(account)) {
    fail(`invalid storage account "${account}": use 3-24 lower-case letters and digits`);
  }
  const emulatorDomain = endpoint.domain !== undefined &&
    (endpoint.domain.startsWith("localhost") || endpoint.domain.startsWith("127.0.0.1"));
  const emulator = endpoint.localemu || emulatorDomain;
  const domain = endpoint.domain ?? (endpoint.localemu ? EMULATOR_DOMAIN : DEFAULT_DOMAIN);
  if (!DOMAIN.test(domain)) fail(`domain=${domain}: expected a host name like ${DEFAULT_DOMAIN} (no scheme or path)`);
  const protocol = endpoint.protocol ?? (emulator ? "http" : "https");
  if (protocol !== "http" && protocol !== "https") fail(`protocol=${protocol}: expected http or https`);
  if (emulator) return `${protocol}://${domain}/${account}`;
  if (endpoint.cdn) return `${protocol}://${domain}`;
  return `${protocol}://${account}.${domain}`;
}

/** Go's `strconv.ParseBool` spellings; `undefined` for anything else. */
function parseBool(text: string): boolean | undefined {
  if (["1", "t", "T", "true", "TRUE", "True"].includes(text)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(text)) return false;
  return undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}
