/**
 * Binding a component's HTTP port first, before it loads rules or opens its store and bus: a port
 * that is taken (or not permitted) is named at once, in one line, instead of after minutes of
 * waiting for a broker. Until the component is built, the port answers 503 `starting`, with what
 * it waits for once a store or bus has not answered ({@link reportStartupWait}).
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

let waitingFor: string | undefined;

/**
 * Says what start-up is waiting for (a store or bus that is not reachable yet), added to the 503
 * `starting` answers so that a client sees why; `undefined` once it is open. The text is public:
 * give URLs redacted and errors as `publicMessage` makes them.
 */
export function reportStartupWait(text: string | undefined): void {
  waitingFor = text;
}

/** What start-up waits for, as last reported; undefined when nothing is reported. */
export function startupWait(): string | undefined {
  return waitingFor;
}

/** The answer while the component starts: 503 `starting`, with what it waits for when known. */
export function startingResponse(): Response {
  const message = waitingFor ? `starting: ${waitingFor}` : "starting";
  return Response.json({ message, code: 503 }, { status: 503, headers: { "retry-after": "1" } });
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

/**
 * `--host`'s default: every interface, IPv6 and IPv4 alike, as Go's `:8080` listens (the original's
 * components). On a machine without IPv6 (a kernel or container with it turned off) this address
 * cannot be bound, and every IPv4 interface (`0.0.0.0`) is listened on instead.
 */
export const ALL_INTERFACES = "::";

/** How `--help` shows {@link ALL_INTERFACES}. */
export const ALL_INTERFACES_HELP = "::, all interfaces, IPv6 and IPv4 (0.0.0.0 where IPv6 is off)";

/**
 * Binds `host:port` now, through the connection guard, and answers 503 until `serve`. The guard is
 * not optional: the scraper's port once had none, and a client that sent nothing held each of its
 * connections for good.
 */
export function listenEarly(component: string, host: string, port: number, guard: ConnGuardOptions): EarlyServer {
  let handler: Handler = startingResponse;
  const http = bindHost(
    host,
    (hostname) => startHttpServer(hostname, port, (request) => handler(request), guard),
    (hostname, error) => listenError(component, hostname, port, error),
  );
  return { http, serve: (h) => handler = h };
}

/**
 * `bind(host)`; for {@link ALL_INTERFACES} on a machine that has no IPv6, `bind("0.0.0.0")`. A port
 * that is taken or forbidden is not retried. Errors are thrown as `describe` words them.
 */
export function bindHost<T>(
  host: string,
  bind: (hostname: string) => T,
  describe: (host: string, e: unknown) => Error,
): T {
  try {
    return bind(host);
  } catch (error) {
    const portProblem = error instanceof Deno.errors.AddrInUse || error instanceof Deno.errors.PermissionDenied ||
      error instanceof Deno.errors.NotCapable;
    if (host !== ALL_INTERFACES || portProblem) throw describe(host, error);
  }
  try {
    return bind("0.0.0.0");
  } catch (error) {
    throw describe("0.0.0.0", error);
  }
}
