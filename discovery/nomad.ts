/**
 * `nomad` discovery through Nomad's native service HTTP API: `GET /v1/services` (with a filter
 * on the `autopgo.scrape=true` and `autopgo.scrape.app=<app>` tags) lists matching service names
 * per namespace, then `GET /v1/service/<name>` returns their registrations, whose `Address` and
 * `Port` become targets (`autopgo.scrape.scheme` / `autopgo.scrape.path` tags optional).
 *
 * Environment as the Nomad CLI: NOMAD_ADDR (default http://127.0.0.1:4646), NOMAD_TOKEN
 * (`X-Nomad-Token`), NOMAD_NAMESPACE (default `*`, every namespace the token may read),
 * NOMAD_REGION, NOMAD_CACERT, NOMAD_CLIENT_CERT, NOMAD_CLIENT_KEY. NOMAD_SKIP_VERIFY cannot be
 * honoured by Deno's fetch and is rejected with a clear error.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { makeTarget, parseScrapeTags, SCRAPE_KEYS, type Target, type TargetSource } from "../core/scrape/target.ts";
import { envTrue, JsonApi, parseAgentAddress, tagsFilter } from "./http_json.ts";

/** One entry of `GET /v1/services`. */
interface NamespaceServices {
  Namespace: string;
  Services: { ServiceName: string; Tags: string[] | null }[] | null;
}

/** One entry of `GET /v1/service/<name>` (the fields used). */
interface ServiceRegistration {
  ServiceName: string;
  Namespace: string;
  Address: string;
  Port: number;
  Tags: string[] | null;
  AllocID?: string;
}

/** Options of {@link NomadTargetSource}. */
export interface NomadSourceOptions {
  /** Application whose services are scraped. */
  app: string;
  /** Environment to read NOMAD_* from (default `Deno.env.toObject()`). */
  env?: Record<string, string | undefined>;
  /** fetch (tests). */
  fetch?: typeof fetch;
}

/** Targets from Nomad's service registrations. */
export class NomadTargetSource implements TargetSource {
  /** Health dependency name. */
  readonly name = "nomad";
  readonly #api: JsonApi;
  readonly #app: string;
  readonly #namespace: string;
  readonly #filter: string;

  /** Reads the NOMAD_* environment; throws one-line errors for bad settings. */
  constructor(options: NomadSourceOptions) {
    const env = options.env ?? Deno.env.toObject();
    if (envTrue(env.NOMAD_SKIP_VERIFY)) {
      throw new Error("nomad: NOMAD_SKIP_VERIFY is not supported; point NOMAD_CACERT at the CA that signed the server");
    }
    const baseUrl = parseAgentAddress(env.NOMAD_ADDR || "http://127.0.0.1:4646", "nomad", "NOMAD_ADDR");
    const headers: Record<string, string> = {};
    if (env.NOMAD_TOKEN) headers["X-Nomad-Token"] = env.NOMAD_TOKEN;
    const query: Record<string, string> = {};
    if (env.NOMAD_REGION) query.region = env.NOMAD_REGION;
    this.#app = options.app;
    this.#namespace = env.NOMAD_NAMESPACE || "*";
    this.#filter = tagsFilter("Tags", [`${SCRAPE_KEYS.scrape}=true`, `${SCRAPE_KEYS.app}=${options.app}`]);
    this.#api = new JsonApi({
      service: "nomad",
      baseUrl,
      headers,
      query,
      fetch: options.fetch,
      tls: { caCert: env.NOMAD_CACERT, clientCert: env.NOMAD_CLIENT_CERT, clientKey: env.NOMAD_CLIENT_KEY },
    });
  }

  /** Lists matching service names, then each service's registrations. */
  async list(signal: AbortSignal): Promise<Target[]> {
    const log = getLogger(["autopgo", "scrape", "nomad"]);
    const names = await this.#paged<NamespaceServices>("/v1/services", { namespace: this.#namespace }, signal);
    const targets: Target[] = [];
    for (const ns of names) {
      for (const svc of ns.Services ?? []) {
        const regs = await this.#paged<ServiceRegistration>(
          `/v1/service/${encodeURIComponent(svc.ServiceName)}`,
          { namespace: ns.Namespace },
          signal,
        );
        for (const reg of regs) {
          const tags = parseScrapeTags(reg.Tags);
          if (tags.get(SCRAPE_KEYS.scrape) !== "true" || tags.get(SCRAPE_KEYS.app) !== this.#app) continue;
          try {
            targets.push(makeTarget({
              scheme: tags.get(SCRAPE_KEYS.scheme),
              host: reg.Address,
              port: reg.Port,
              path: tags.get(SCRAPE_KEYS.path),
            }));
          } catch (e) {
            log.warn("skipping nomad service {service} ({alloc}): {error}", {
              service: reg.ServiceName,
              alloc: reg.AllocID ?? "",
              error: (e as Error).message,
            });
          }
        }
      }
    }
    return targets;
  }

  /** Healthy when the service list call succeeds (the original's check). */
  async check(signal: AbortSignal): Promise<void> {
    await this.#api.get("/v1/services", { namespace: this.#namespace, filter: this.#filter }, signal);
  }

  /** Releases the TLS client. */
  close(): void {
    this.#api.close();
  }

  /** GETs every page of a list endpoint (following `X-Nomad-NextToken`). */
  async #paged<T>(path: string, params: Record<string, string>, signal: AbortSignal): Promise<T[]> {
    const out: T[] = [];
    let next: string | null = null;
    for (let page = 0; page < 1000; page++) {
      const query: Record<string, string> = { ...params, filter: this.#filter };
      if (next) query.next_token = next;
      const { body, headers } = await this.#api.get<T[] | null>(path, query, signal);
      if (body !== null && !Array.isArray(body)) throw new Error(`nomad: GET ${path} answered a non-array`);
      out.push(...(body ?? []));
      next = headers.get("X-Nomad-NextToken");
      if (!next) return out;
    }
    throw new Error(`nomad: GET ${path} kept paging; giving up after 1000 pages`);
  }
}
