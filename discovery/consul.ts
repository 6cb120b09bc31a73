/**
 * `consul` discovery through Consul's HTTP API: `GET /v1/catalog/services` filtered on the
 * `autopgo.scrape=true` and `autopgo.scrape.app=<app>` service tags gives the service names, then
 * `GET /v1/health/service/<name>?passing=true` returns only instances whose checks all pass.
 * The target host is the service address, or the node address when the service has none
 * (IPv6-safe); the port is the service port; `autopgo.scrape.scheme`/`.path` tags are optional.
 *
 * Environment as Consul's own clients: CONSUL_HTTP_ADDR (default 127.0.0.1:8500),
 * CONSUL_HTTP_TOKEN / CONSUL_HTTP_TOKEN_FILE (`X-Consul-Token`), CONSUL_HTTP_SSL, CONSUL_CACERT,
 * CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY, CONSUL_NAMESPACE (`ns`), CONSUL_PARTITION. Disabling
 * certificate verification (CONSUL_HTTP_SSL_VERIFY=false) cannot be honoured by Deno's fetch and
 * is rejected with a clear error.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { makeTarget, parseScrapeTags, SCRAPE_KEYS, type Target, type TargetSource } from "../core/scrape/target.ts";
import { envTrue, JsonApi, parseAgentAddress, tagsFilter } from "./http_json.ts";

/** One entry of `GET /v1/health/service/<name>` (the fields used). */
interface ServiceEntry {
  Node: { Node: string; Address: string };
  Service: { ID: string; Service: string; Tags: string[] | null; Address: string; Port: number };
  Checks: { Status: string }[] | null;
}

/** Options of {@link ConsulTargetSource}. */
export interface ConsulSourceOptions {
  /** Application whose services are scraped. */
  app: string;
  /** Environment to read CONSUL_* from (default `Deno.env.toObject()`). */
  env?: Record<string, string | undefined>;
  /** fetch (tests). */
  fetch?: typeof fetch;
}

/** Targets from Consul's catalog, passing instances only. */
export class ConsulTargetSource implements TargetSource {
  /** Health dependency name. */
  readonly name = "consul";
  readonly #api: JsonApi;
  readonly #app: string;
  readonly #tags: string[];

  /** Reads the CONSUL_* environment; throws one-line errors for bad settings. */
  constructor(options: ConsulSourceOptions) {
    const env = options.env ?? Deno.env.toObject();
    const verify = env.CONSUL_HTTP_SSL_VERIFY;
    if (verify !== undefined && verify.trim() !== "" && !envTrue(verify)) {
      throw new Error("consul: CONSUL_HTTP_SSL_VERIFY=false is not supported; point CONSUL_CACERT at the server's CA");
    }
    const baseUrl = parseAgentAddress(
      env.CONSUL_HTTP_ADDR || "127.0.0.1:8500",
      "consul",
      "CONSUL_HTTP_ADDR",
      envTrue(env.CONSUL_HTTP_SSL),
    );
    let token = env.CONSUL_HTTP_TOKEN;
    if (!token && env.CONSUL_HTTP_TOKEN_FILE) {
      try {
        token = Deno.readTextFileSync(env.CONSUL_HTTP_TOKEN_FILE).trim();
      } catch (e) {
        throw new Error(
          `consul: cannot read CONSUL_HTTP_TOKEN_FILE ${env.CONSUL_HTTP_TOKEN_FILE}: ${(e as Error).message}`,
        );
      }
    }
    const headers: Record<string, string> = {};
    if (token) headers["X-Consul-Token"] = token;
    const query: Record<string, string> = {};
    if (env.CONSUL_NAMESPACE) query.ns = env.CONSUL_NAMESPACE;
    if (env.CONSUL_PARTITION) query.partition = env.CONSUL_PARTITION;
    this.#app = options.app;
    this.#tags = [`${SCRAPE_KEYS.scrape}=true`, `${SCRAPE_KEYS.app}=${options.app}`];
    this.#api = new JsonApi({
      service: "consul",
      baseUrl,
      headers,
      query,
      fetch: options.fetch,
      tls: { caCert: env.CONSUL_CACERT, clientCert: env.CONSUL_CLIENT_CERT, clientKey: env.CONSUL_CLIENT_KEY },
    });
  }

  /** Lists matching service names, then their passing instances. */
  async list(signal: AbortSignal): Promise<Target[]> {
    const log = getLogger(["autopgo", "scrape", "consul"]);
    const names = await this.#serviceNames(signal);
    const targets: Target[] = [];
    for (const name of names) {
      const { body } = await this.#api.get<ServiceEntry[] | null>(
        `/v1/health/service/${encodeURIComponent(name)}`,
        { passing: "true", filter: tagsFilter("Service.Tags", this.#tags) },
        signal,
      );
      if (body !== null && !Array.isArray(body)) throw new Error(`consul: health of service ${name} is not an array`);
      for (const entry of body ?? []) {
        const tags = parseScrapeTags(entry.Service?.Tags);
        if (tags.get(SCRAPE_KEYS.scrape) !== "true" || tags.get(SCRAPE_KEYS.app) !== this.#app) continue;
        if ((entry.Checks ?? []).some((c) => c.Status !== "passing")) continue;
        try {
          targets.push(makeTarget({
            scheme: tags.get(SCRAPE_KEYS.scheme),
            host: entry.Service.Address || entry.Node?.Address,
            port: entry.Service.Port,
            path: tags.get(SCRAPE_KEYS.path),
          }));
        } catch (e) {
          log.warn("skipping consul service {service} on node {node}: {error}", {
            service: entry.Service?.ID,
            node: entry.Node?.Node,
            error: (e as Error).message,
          });
        }
      }
    }
    return targets;
  }

  /** Healthy when the catalog call succeeds (the original's check). */
  async check(signal: AbortSignal): Promise<void> {
    await this.#serviceNames(signal);
  }

  /** Releases the TLS client. */
  close(): void {
    this.#api.close();
  }

  async #serviceNames(signal: AbortSignal): Promise<string[]> {
    const { body } = await this.#api.get<Record<string, string[] | null> | null>(
      "/v1/catalog/services",
      { filter: tagsFilter("ServiceTags", this.#tags) },
      signal,
    );
    if (body === null) return [];
    if (typeof body !== "object" || Array.isArray(body)) throw new Error("consul: catalog services is not an object");
    return Object.keys(body).sort();
  }
}
