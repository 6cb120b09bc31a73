/**
 * Binding a component's HTTP port first, before it loads rules or opens its store and bus: a port
 * that is taken (or not permitted) is named at once, in one line, instead of after minutes of
 * waiting for a broker. Until the component is built, the port answers 503 `starting`.
 *
 * @module
 */

import type { ConnGuardOptions } from "../core/pipeline/conn_guard.ts";
import { type HttpServerHandle, startHttpServer } from "../core/pipeline/http_serve.ts";
import { CliError, oneLine } from "./cli_error.ts";

/** A request handler. */
export type Handler = (request: Request) => Response | Promise<Response>;

/** A bound port whose handler is set once the component is ready to serve. */
export interface EarlyServer {
  /** The running server (its real address, graceful shutdown). */
  http: HttpServerHandle;
  /** Starts answering with `handler` (until then: 503 `starting`). */
  serve(handler: Handler): void;
}

function starting(): Response {
  return Response.json({ message: "starting", code: 503 }, { status: 503, headers: { "retry-after": "1" } });
}

/** The one-line error for a port that cannot be bound; `component` names the env variables. */
export function listenError(component: string, host: string, port: number, error: unknown): CliError {
  const env = `--port / AUTOPGO_${component.toUpperCase()}_PORT`;
  if (error instanceof Deno.errors.AddrInUse) {
    return new CliError(`port ${port} is already in use (${env}): stop what holds it or choose another port`);
  }
  if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
    return new CliError(`not allowed to listen on port ${port} (${env}): use a port above 1023`);
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return new CliError(`cannot listen on ${host}: no such address on this machine (--host)`);
  }
  return new CliError(`cannot listen on ${host}:${port}: ${oneLine(error)} (--host, --port)`);
}

/** Binds `host:port` now (through the connection guard when given) and answers 503 until `serve`. */
export function listenEarly(component: string, host: string, port: number, guard?: ConnGuardOptions): EarlyServer {
  let handler: Handler = starting;
  let http: HttpServerHandle;
  try {
    http = startHttpServer(host, port, (request) => handler(request), guard);
  } catch (error) {
    throw listenError(component, host, port, error);
  }
  return { http, serve: (h) => handler = h };
}
