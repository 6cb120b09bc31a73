/**
 * Local stand-ins for the discovery APIs (Kubernetes, Nomad, Consul) that answer as the real
 * ones document: same request paths, selector/filter semantics (evaluated, not ignored), auth
 * headers and response JSON. Each can be put into an outage (503) and records its requests.
 * Everything listens on 127.0.0.1 only; scrape targets are in fake_targets.ts.
 *
 * @module
 */

/** A running local HTTP server. */
export interface LocalServer {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** Port. */
  port: number;
  /** Requests seen (`METHOD path?query`). */
  requests: string[];
  /** Answer 503 to everything while true. */
  outage: boolean;
  /** Stops the server. */
  close(): Promise<void>;
}

/** Starts `handler` on 127.0.0.1:0 with request logging and the outage switch. */
export function serveLocal(
  handler: (req: Request, url: URL) => Response | Promise<Response>,
  outageBody = "{}",
): LocalServer {
  const ac = new AbortController();
  const state = { outage: false, requests: [] as string[] };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} }, (req) => {
    const url = new URL(req.url);
    state.requests.push(`${req.method} ${url.pathname}${url.search}`);
    if (state.outage) return new Response(outageBody, { status: 503, headers: { "content-type": "application/json" } });
    return handler(req, url);
  });
  const port = server.addr.port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get requests() {
      return state.requests;
    },
    get outage() {
      return state.outage;
    },
    set outage(v: boolean) {
      state.outage = v;
    },
    close: async () => {
      ac.abort();
      await server.finished;
    },
  };
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

/**
 * Evaluates the subset of HashiCorp's go-bexpr grammar autopgo sends: clauses
 * `<Selector> contains "<v>"` or `"<v>" in <Selector>` joined by `and`. Anything else throws,
 * as the real servers answer 400 to filters they cannot parse.
 */
export function evaluateFilter(filter: string, subject: unknown): boolean {
  const clauses = filter.split(/\s+and\s+/);
  return clauses.every((clause) => {
    let m = clause.trim().match(/^([A-Za-z][\w.]*)\s+contains\s+("(?:[^"\\]|\\.)*")$/);
    let selector: string, value: string;
    if (m) [selector, value] = [m[1], JSON.parse(m[2])];
    else {
      m = clause.trim().match(/^("(?:[^"\\]|\\.)*")\s+in\s+([A-Za-z][\w.]*)$/);
      if (!m) throw new Error(`filter clause not understood: ${clause}`);
      [value, selector] = [JSON.parse(m[1]), m[2]];
    }
    let field: unknown = subject;
    for (const part of selector.split(".")) {
      if (typeof field !== "object" || field === null || !(part in field)) {
        throw new Error(`unknown selector ${selector}`);
      }
      field = (field as Record<string, unknown>)[part];
    }
    if (field === null || field === undefined) return false;
    if (!Array.isArray(field)) throw new Error(`selector ${selector} is not a collection`);
    return field.includes(value);
  });
}

// ---------------------------------------------------------------- Kubernetes

/** A pod as the fake API stores and returns it (Kubernetes JSON field names). */
export interface FakePod {
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
  };
  status: { phase: string; podIP?: string; podIPs?: { ip: string }[]; conditions?: { type: string; status: string }[] };
}

/** Builds a pod JSON object for the fake. */
export function fakePod(
  name: string,
  opts: {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ip?: string;
    phase?: string;
    ready?: boolean;
  },
): FakePod {
  const ip = opts.ip;
  return {
    metadata: { name, namespace: "default", labels: opts.labels, annotations: opts.annotations },
    status: {
      phase: opts.phase ?? "Running",
      ...(ip ? { podIP: ip, podIPs: [{ ip }] } : {}),
      conditions: [{ type: "Ready", status: opts.ready === false ? "False" : "True" }],
    },
  };
}

function labelSelectorMatches(selector: string, labels: Record<string, string> = {}): boolean {
  return selector.split(",").filter(Boolean).every((req) => {
    const m = req.match(/^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/);
    if (!m) throw new Error(`unable to parse requirement: ${req}`);
    const has = labels[m[1]] === m[3];
    return m[2] === "!=" ? !has : has;
  });
}

function fieldSelectorMatches(selector: string, pod: FakePod): boolean {
  return selector.split(",").filter(Boolean).every((req) => {
    const m = req.match(/^([\w.]+)(==|=|!=)(.*)$/);
    if (!m) throw new Error(`invalid field selector: ${req}`);
    const fields: Record<string, string | undefined> = {
      "status.phase": pod.status.phase,
      "metadata.name": pod.metadata.name,
      "metadata.namespace": pod.metadata.namespace,
      "status.podIP": pod.status.podIP,
    };
    if (!(m[1] in fields)) throw new Error(`field label not supported: ${m[1]}`);
    return m[2] === "!=" ? fields[m[1]] !== m[3] : fields[m[1]] === m[3];
  });
}

/** Fake kube-apiserver serving `GET /api/v1/pods` (all namespaces) with label and field selectors. */
export function startFakeKube(pods: FakePod[], token = "kube-test-token"): LocalServer & { pods: FakePod[] } {
  const status = (code: number, reason: string, message: string) =>
    json({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code }, code);
  const server = serveLocal((req, url) => {
    if (req.headers.get("authorization") !== `Bearer ${token}`) return status(401, "Unauthorized", "Unauthorized");
    if (req.method !== "GET" || url.pathname !== "/api/v1/pods") {
      return status(404, "NotFound", "the server could not find the requested resource");
    }
    let items: FakePod[];
    try {
      const labels = url.searchParams.get("labelSelector") ?? "";
      const fields = url.searchParams.get("fieldSelector") ?? "";
      items = state.pods.filter((p) =>
        labelSelectorMatches(labels, p.metadata.labels) && fieldSelectorMatches(fields, p)
      );
    } catch (e) {
      return status(400, "BadRequest", (e as Error).message);
    }
    return json({ kind: "PodList", apiVersion: "v1", metadata: { resourceVersion: "4242" }, items });
  }, JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", reason: "ServiceUnavailable", code: 503 }));
  const state = Object.assign(server, { pods });
  return state;
}

/** A kubeconfig (YAML) pointing at the fake with a bearer token. */
export function fakeKubeconfig(serverUrl: string, token = "kube-test-token"): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: fake",
    "  cluster:",
    `    server: ${serverUrl}`,
    // The client refuses plain http unless TLS verification is explicitly off, as for a real http endpoint.
    "    insecure-skip-tls-verify: true",
    "contexts:",
    "- name: fake",
    "  context:",
    "    cluster: fake",
    "    user: tester",
    "current-context: fake",
    "users:",
    "- name: tester",
    "  user:",
    `    token: ${token}`,
    "",
  ].join("\n");
}

// ---------------------------------------------------------------- Nomad

/** A Nomad service registration (the API's JSON field names). */
export interface FakeNomadRegistration {
  ID: string;
  ServiceName: string;
  Namespace: string;
  NodeID: string;
  Datacenter: string;
  JobID: string;
  AllocID: string;
  Tags: string[];
  Address: string;
  Port: number;
  CreateIndex: number;
  ModifyIndex: number;
}

/** Builds a registration for the fake Nomad. */
export function nomadRegistration(
  service: string,
  address: string,
  port: number,
  tags: string[],
  namespace = "default",
): FakeNomadRegistration {
  const id = crypto.randomUUID();
  return {
    ID: `_nomad-task-${id}-group-${service}-http`,
    ServiceName: service,
    Namespace: namespace,
    NodeID: crypto.randomUUID(),
    Datacenter: "dc1",
    JobID: service,
    AllocID: id,
    Tags: tags,
    Address: address,
    Port: port,
    CreateIndex: 10,
    ModifyIndex: 10,
  };
}

/** Fake Nomad agent: `GET /v1/services` and `GET /v1/service/:name`, `X-Nomad-Token` required. */
export function startFakeNomad(
  registrations: FakeNomadRegistration[],
  token = "nomad-test-token",
): LocalServer & { registrations: FakeNomadRegistration[] } {
  const server = serveLocal((req, url) => {
    if (req.headers.get("x-nomad-token") !== token) return new Response("Permission denied", { status: 403 });
    const namespace = url.searchParams.get("namespace") ?? "default";
    const inNamespace = (r: FakeNomadRegistration) => namespace === "*" || r.Namespace === namespace;
    const filter = url.searchParams.get("filter");
    const headers = { "X-Nomad-Index": "10", "X-Nomad-KnownLeader": "true", "X-Nomad-LastContact": "0" };
    try {
      if (url.pathname === "/v1/services") {
        const byNs = new Map<string, Map<string, Set<string>>>();
        for (const r of state.registrations.filter(inNamespace)) {
          const services = byNs.get(r.Namespace) ?? new Map<string, Set<string>>();
          byNs.set(r.Namespace, services);
          const tags = services.get(r.ServiceName) ?? new Set<string>();
          r.Tags.forEach((t) => tags.add(t));
          services.set(r.ServiceName, tags);
        }
        const body = [...byNs].map(([ns, services]) => ({
          Namespace: ns,
          Services: [...services].map(([name, tags]) => ({ ServiceName: name, Tags: [...tags] }))
            .filter((s) => !filter || evaluateFilter(filter, s)),
        })).filter((ns) => ns.Services.length > 0);
        return json(body, 200, headers);
      }
      const m = url.pathname.match(/^\/v1\/service\/([^/]+)$/);
      if (m) {
        const name = decodeURIComponent(m[1]);
        const body = state.registrations.filter((r) =>
          inNamespace(r) && r.ServiceName === name && (!filter || evaluateFilter(filter, r))
        );
        return json(body, 200, headers);
      }
    } catch (e) {
      return new Response(`failed to read filter expression: ${(e as Error).message}`, { status: 400 });
    }
    return new Response("Invalid URL", { status: 404 });
  });
  const state = Object.assign(server, { registrations });
  return state;
}

// ---------------------------------------------------------------- Consul

/** One Consul service instance with its node and checks (the health endpoint's JSON shape). */
export interface FakeConsulEntry {
  Node: {
    ID: string;
    Node: string;
    Address: string;
    Datacenter: string;
    TaggedAddresses: Record<string, string>;
    Meta: Record<string, string>;
  };
  Service: {
    ID: string;
    Service: string;
    Tags: string[];
    Address: string;
    Meta: Record<string, string> | null;
    Port: number;
    Namespace?: string;
  };
  Checks: { Node: string; CheckID: string; Name: string; Status: string; ServiceID: string; ServiceName: string }[];
}

/** Builds a Consul instance for the fake; `serviceAddress` "" means "use the node address". */
export function consulEntry(
  service: string,
  nodeAddress: string,
  serviceAddress: string,
  port: number,
  tags: string[],
  status = "passing",
): FakeConsulEntry {
  const node = `node-${crypto.randomUUID().slice(0, 8)}`;
  const id = `${service}-${port}`;
  return {
    Node: {
      ID: crypto.randomUUID(),
      Node: node,
      Address: nodeAddress,
      Datacenter: "dc1",
      TaggedAddresses: { lan: nodeAddress },
      Meta: {},
    },
    Service: { ID: id, Service: service, Tags: tags, Address: serviceAddress, Meta: null, Port: port },
    Checks: [
      {
        Node: node,
        CheckID: "serfHealth",
        Name: "Serf Health Status",
        Status: "passing",
        ServiceID: "",
        ServiceName: "",
      },
      {
        Node: node,
        CheckID: `service:${id}`,
        Name: `Service '${service}' check`,
        Status: status,
        ServiceID: id,
        ServiceName: service,
      },
    ],
  };
}

/** Fake Consul agent: `GET /v1/catalog/services` and `GET /v1/health/service/:name`, `X-Consul-Token` required. */
export function startFakeConsul(
  entries: FakeConsulEntry[],
  token = "consul-test-token",
): LocalServer & { entries: FakeConsulEntry[] } {
  const server = serveLocal((req, url) => {
    if (req.headers.get("x-consul-token") !== token) return new Response("ACL not found", { status: 403 });
    const filter = url.searchParams.get("filter");
    const headers = { "X-Consul-Index": "42", "X-Consul-Knownleader": "true", "X-Consul-Lastcontact": "0" };
    try {
      if (url.pathname === "/v1/catalog/services") {
        const out: Record<string, string[]> = {};
        for (const e of state.entries) {
          const flat = {
            ServiceName: e.Service.Service,
            ServiceTags: e.Service.Tags,
            ServiceAddress: e.Service.Address,
            Address: e.Node.Address,
          };
          if (filter && !evaluateFilter(filter, flat)) continue;
          out[e.Service.Service] = [...new Set([...(out[e.Service.Service] ?? []), ...e.Service.Tags])];
        }
        return json(out, 200, headers);
      }
      const m = url.pathname.match(/^\/v1\/health\/service\/([^/]+)$/);
      if (m) {
        const name = decodeURIComponent(m[1]);
        const passing = url.searchParams.has("passing") && url.searchParams.get("passing") !== "false";
        const body = state.entries.filter((e) =>
          e.Service.Service === name && (!passing || e.Checks.every((c) => c.Status === "passing")) &&
          (!filter || evaluateFilter(filter, e))
        );
        return json(body, 200, headers);
      }
    } catch (e) {
      return new Response(`Failed to create boolean expression evaluator: ${(e as Error).message}`, { status: 400 });
    }
    return new Response("Not found", { status: 404 });
  }, "No cluster leader");
  const state = Object.assign(server, { entries });
  return state;
}
