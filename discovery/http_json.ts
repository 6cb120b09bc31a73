/**
 * Small JSON-over-HTTP helper shared by the Nomad and Consul discovery modes: base URL from the
 * usual env var, token header, optional TLS material (CA bundle, client certificate), one-line
 * errors with the HTTP status, and `fetch` injectable for tests.
 *
 * @module
 */

import { bodySnippet, readBodyPrefix } from "../core/body_read.ts";

/** The largest answer read from a discovery agent (Nomad, Consul). */
export const MAX_DISCOVERY_RESPONSE_BYTES = 64 * 1024 * 1024;

/** TLS material read from the environment (PEM file paths). */
export interface TlsFiles {
  /** CA bundle used to verify the server. */
  caCert?: string;
  /** Client certificate for mTLS. */
  clientCert?: string;
  /** Client key for mTLS. */
  clientKey?: string;
}

/** A JSON API endpoint: base URL, fixed headers and query parameters. */
export interface JsonApiOptions {
  /** Service name used in error messages ("nomad", "consul"). */
  service: string;
  /** Base URL, e.g. `http://127.0.0.1:4646`. */
  baseUrl: URL;
  /** Headers sent with every request (tokens). */
  headers?: Record<string, string>;
  /** Query parameters added to every request (region, namespace…). */
  query?: Record<string, string>;
  /** fetch to use (tests inject one; TLS settings build a dedicated client otherwise). */
  fetch?: typeof fetch;
  /** TLS files; only used when `fetch` is not injected. */
  tls?: TlsFiles;
}

/** A GET-only JSON client. */
export class JsonApi {
  readonly #o: JsonApiOptions;
  #client: Deno.HttpClient | undefined;

  /** Creates the client; reads TLS files (throws one-line errors when unreadable). */
  constructor(options: JsonApiOptions) {
    this.#o = options;
    const tls = options.tls ?? {};
    if (!options.fetch && (tls.caCert || tls.clientCert || tls.clientKey)) {
      const read = (what: string, path: string) => {
        try {
          return Deno.readTextFileSync(path);
        } catch (e) {
          throw new Error(`${options.service}: cannot read ${what} ${path}: ${(e as Error).message}`);
        }
      };
      const init: Deno.CreateHttpClientOptions = {};
      if (tls.caCert) init.caCerts = [read("CA certificate", tls.caCert)];
      if (tls.clientCert || tls.clientKey) {
        if (!tls.clientCert || !tls.clientKey) {
          throw new Error(`${options.service}: a client certificate needs both the certificate and the key`);
        }
        const keyPair: Deno.TlsCertifiedKeyPem = {
          cert: read("client certificate", tls.clientCert),
          key: read("client key", tls.clientKey),
        };
        this.#client = Deno.createHttpClient({ ...init, ...keyPair });
      } else {
        this.#client = Deno.createHttpClient(init);
      }
    }
  }

  /** GETs `path` with extra query parameters; resolves the parsed JSON and the response headers. */
  async get<T>(
    path: string,
    params: Record<string, string>,
    signal: AbortSignal,
  ): Promise<{ body: T; headers: Headers }> {
    const url = new URL(this.#o.baseUrl);
    url.pathname = `${url.pathname.replace(/\/+$/, "")}${path}`;
    for (const [k, v] of Object.entries({ ...this.#o.query, ...params })) url.searchParams.set(k, v);
    const init: RequestInit & { client?: Deno.HttpClient } = { headers: this.#o.headers, signal };
    if (this.#client) init.client = this.#client;
    let res: Response;
    try {
      res = await (this.#o.fetch ?? fetch)(url, init);
    } catch (e) {
      if (signal.aborted) throw new Error(`${this.#o.service}: request to ${url.origin}${url.pathname} aborted`);
      throw new Error(`${this.#o.service}: cannot reach ${url.origin}: ${(e as Error).message}`);
    }
    if (res.status !== 200) {
      const detail = (await bodySnippet(res)).replace(/\s+/g, " ").trim().slice(0, 200);
      throw new Error(`${this.#o.service}: GET ${url.pathname} answered ${res.status}${detail ? `: ${detail}` : ""}`);
    }
    // At most MAX_DISCOVERY_RESPONSE_BYTES: an endless answer took 9 GB of the scraper's memory.
    const { bytes, complete } = await readBodyPrefix(res, MAX_DISCOVERY_RESPONSE_BYTES);
    if (!complete) {
      if (signal.aborted) throw new Error(`${this.#o.service}: request to ${url.origin}${url.pathname} aborted`);
      if (bytes.byteLength < MAX_DISCOVERY_RESPONSE_BYTES) {
        throw new Error(`${this.#o.service}: GET ${url.pathname}: the answer broke off`);
      }
      throw new Error(
        `${this.#o.service}: GET ${url.pathname} answered more than ${MAX_DISCOVERY_RESPONSE_BYTES} bytes: refused`,
      );
    }
    const text = new TextDecoder().decode(bytes);
    try {
      return { body: JSON.parse(text) as T, headers: res.headers };
    } catch {
      throw new Error(`${this.#o.service}: GET ${url.pathname} answered invalid JSON`);
    }
  }

  /** Releases the TLS client, if any. */
  close(): void {
    this.#client?.close();
    this.#client = undefined;
  }
}

/** Parses an address env var (`host:port`, `http://…`, `https://…`) into a URL; `https` forces TLS. */
export function parseAgentAddress(value: string, service: string, envName: string, https = false): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `${https ? "https" : "http"}://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`${service}: ${envName}=${JSON.stringify(value)} is not an address like http://127.0.0.1:8500`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`${service}: ${envName} scheme ${url.protocol} is not supported (use http or https)`);
  }
  if (https) url.protocol = "https:";
  return url;
}

/** True for the env spellings of "true" that Go's strconv.ParseBool accepts. */
export function envTrue(value: string | undefined): boolean {
  return value !== undefined && ["1", "t", "true", "TRUE", "True"].includes(value.trim());
}

/** Builds a HashiCorp filter expression requiring every tag in `tags` on `selector`. */
export function tagsFilter(selector: string, tags: readonly string[]): string {
  return tags.map((t) => `${selector} contains ${JSON.stringify(t)}`).join(" and ");
}
