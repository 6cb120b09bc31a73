/**
 * Runs a fetch handler on `Deno.serve` with graceful shutdown, and the small operations app
 * (health, ready, JSON 404/405) used by components that serve nothing else (the worker).
 *
 * Timeouts: every request of the profile API carries a deadline (server_app.ts) and, with a
 * connection guard, request heads, idle keep-alive connections and bodies are bounded too.
 * Shutdown stops accepting connections and waits for in-flight requests to finish.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { Hono, type MiddlewareHandler } from "hono";
import { type HealthCheck, healthRoutes } from "../health.ts";
import { messageLine } from "../public_error.ts";
import { noRouteMessage } from "../api_answers.ts";
import { type ConnGuardOptions, type ConnGuardStats, startConnGuard } from "./conn_guard.ts";

/** A running HTTP server. */
export interface HttpServerHandle {
  /** The bound port (the real one when 0 was requested). */
  port: number;
  hostname: string;
  /** The real listening address as a URL: `http://0.0.0.0:8080` when listening on all interfaces. */
  url: string;
  /**
   * Graceful stop: new requests are answered 503 at once, requests already being handled
   * (an upload still streaming its body included) run to completion, bounded by `drainMs`;
   * then the listener closes.
   */
  shutdown(drainMs?: number): Promise<void>;
  /**
   * Closes the connections whose request body stalls, to free the upload memory they hold (with
   * the connection guard; without it, none); returns how many.
   */
  closeStallingBodies(): number;
  /** The connection guard's counters (undefined without a guard). */
  connections(): ConnGuardStats | undefined;
}

const log = getLogger(["autopgo", "http"]);

/** The message for a request whose Host header does not make a URL. */
function invalidHost(host: string | null): string {
  const shown = host === null ? "" : host.length > 64 ? `${host.slice(0, 64)}…` : host;
  return `invalid Host header ${JSON.stringify(shown)}`;
}

function jsonError(code: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ message, code }) + "\n", {
    status: code,
    headers: { "content-type": "application/json", ...headers },
  });
}

/**
 * Starts serving `handler` on `hostname:port`. With `guard`, the public socket belongs to a
 * connection guard (conn_guard.ts: header, idle and body timeouts) relaying to `Deno.serve` on
 * an ephemeral loopback port. Deno's own `shutdown()` cuts the bodies of in-flight requests, so
 * draining is done here first: count in-flight requests, refuse new ones with 503.
 */
export function startHttpServer(
  hostname: string,
  port: number,
  handler: (request: Request) => Response | Promise<Response>,
  guard?: ConnGuardOptions,
): HttpServerHandle {
  let inFlight = 0;
  let invalidHosts = 0;
  let draining = false;
  let idle: (() => void) | undefined;
  const server = Deno.serve(
    { hostname: guard ? "127.0.0.1" : hostname, port: guard ? 0 : port, onListen: () => {} },
    async (request) => {
      if (draining) return jsonError(503, "server is shutting down", { connection: "close", "retry-after": "5" });
      // `request.url` is built from the Host header unchecked: `Host: a b` made every `new URL`
      // of it throw, answered 500 with a stack trace on standard error.
      if (!URL.canParse(request.url)) {
        invalidHosts++; // before routing: no access log line nor request metrics; counted with the guard's 400s
        return jsonError(400, invalidHost(request.headers.get("host")));
      }
      inFlight++;
      try {
        return await handler(request);
      } catch (error) {
        // The handler's own errors are answered by it; this is a last resort, one line, no stack.
        log.error("{method} {path} failed: {error}", {
          method: request.method,
          path: new URL(request.url).pathname,
          error: messageLine(error),
        });
        return jsonError(500, "internal server error");
      } finally {
        if (--inFlight === 0) idle?.();
      }
    },
  );
  const served = server.addr as Deno.NetAddr;
  let front;
  try {
    front = guard ? startConnGuard(hostname, port, served.port, guard) : undefined;
  } catch (error) {
    // The public port could not be bound (taken, not permitted): release the inner listener.
    server.shutdown().catch(() => {});
    throw error;
  }
  const addr = front ?? served;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return {
    port: addr.port,
    hostname: addr.hostname,
    url: `http://${host}:${addr.port}`,
    closeStallingBodies: () => front?.closeStallingBodies() ?? 0,
    connections: () => {
      const stats = front?.stats();
      return stats && { ...stats, malformed: { ...stats.malformed, host: invalidHosts } };
    },
    async shutdown(drainMs = 120_000) {
      draining = true;
      front?.stopAccepting();
      if (inFlight > 0) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((resolve) => {
          idle = resolve;
          timer = setTimeout(resolve, drainMs);
        });
        clearTimeout(timer);
      }
      await server.shutdown();
      await front?.drain(5_000);
    },
  };
}

/**
 * Health, readiness and JSON errors for unknown routes: the whole HTTP surface of the worker and
 * the scraper. `middleware` runs first on every request (the access log and the request metrics).
 */
export function createOpsApp(
  checks: HealthCheck[],
  isReady: () => boolean,
  middleware: MiddlewareHandler[] = [],
): Hono {
  const app = new Hono();
  for (const m of middleware) app.use("*", m);
  app.route("/", healthRoutes(checks, isReady));
  const error = jsonError;
  app.all(
    "/api/health",
    (c) => error(405, `method ${c.req.method} not allowed, use GET, HEAD`, { allow: "GET, HEAD" }),
  );
  app.all("/api/ready", (c) => error(405, `method ${c.req.method} not allowed, use GET, HEAD`, { allow: "GET, HEAD" }));
  app.notFound((c) => error(404, noRouteMessage(c.req.method, c.req.path)));
  app.onError((e) => error(500, e.message));
  return app;
}
