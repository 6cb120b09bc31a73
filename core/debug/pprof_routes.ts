/**
 * `/debug/pprof/` for `--debug`, as the original serves through Go's `net/http/pprof`: here the
 * CPU profile of the autopgo process itself, taken with V8's sampling profiler through
 * `node:inspector` and encoded by autopgo's own pprof encoder, so that `go tool pprof` reads it
 * and `autopgo scrape` can profile autopgo.
 *
 * Routes: `GET /debug/pprof/` (index), `GET /debug/pprof/profile?seconds=N` (CPU profile, gzip
 * pprof; `seconds` defaults to 30 like Go's, at most {@link MAX_PROFILE_SECONDS}). Go's other
 * profiles (heap, goroutine, trace…) have no V8 equivalent in pprof form and answer 404
 * `Unknown profile`, as Go does for an unknown name; `cmdline` is not served (arguments may hold a
 * token). One CPU profile runs at a time (500, Go's message, otherwise). With a token, the routes
 * require `Authorization: Bearer <token>` like the profile API. The profiled thread is the main
 * one (HTTP, storage, events); decode-pool workers are separate isolates and are not included.
 *
 * @module
 */

import { Session } from "node:inspector";
import { encodeProfile } from "../pprof/encode.ts";
import { bearerRefusal } from "../pipeline/auth.ts";
import { type V8CpuProfile, v8ToPprof } from "./v8_cpu_profile.ts";

/** Longest CPU profile served. */
export const MAX_PROFILE_SECONDS = 300;
/** Sampling interval: 10 ms, Go's 100 Hz. */
export const SAMPLING_INTERVAL_US = 10_000;

/** Options of {@link withDebugRoutes}. */
export interface DebugRoutesOptions {
  /** Bearer token the routes require (the server's `--token`). */
  token?: string;
}

let profiling = false;

/**
 * Samples this process's CPU for `seconds` (stopping early when `signal` aborts) and resolves the
 * gzip pprof bytes. Throws when another profile is running.
 */
export async function profileCpu(seconds: number, signal?: AbortSignal): Promise<Uint8Array> {
  if (profiling) throw new Error("Could not enable CPU profiling: cpu profiling already in use");
  profiling = true;
  const session = new Session();
  const post = <T>(method: string, params: Record<string, unknown> = {}) =>
    new Promise<T>((resolve, reject) => {
      session.post(method, params, (error: Error | null, result?: object) =>
        error ? reject(error) : resolve(result as T));
    });
  try {
    session.connect();
    await post("Profiler.enable");
    await post("Profiler.setSamplingInterval", { interval: SAMPLING_INTERVAL_US });
    const started = new Date();
    await post("Profiler.start");
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, seconds * 1000);
      signal?.addEventListener("abort", done, { once: true });
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      }
    });
    const { profile } = await post<{ profile: V8CpuProfile }>("Profiler.stop");
    signal?.throwIfAborted();
    return encodeProfile(v8ToPprof(profile, { periodNs: SAMPLING_INTERVAL_US * 1000, started }));
  } finally {
    await post("Profiler.disable").catch(() => {});
    session.disconnect();
    profiling = false;
  }
}

/** Parses `seconds` as Go's handler does: a positive integer, anything else means 30. */
export function profileSeconds(value: string | null): number {
  const n = value !== null && /^\s*\d+\s*$/.test(value) ? Number(value) : 0;
  return n > 0 ? n : 30;
}

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff", ...headers },
  });
}

const INDEX = `<html><head><title>/debug/pprof/</title></head><body>
<p>/debug/pprof/ of autopgo (V8's CPU profiler, in pprof format)</p>
<ul><li><a href="profile?seconds=30">profile</a>: CPU profile; add ?seconds=N (default 30)</li></ul>
<p>go tool pprof http://HOST:PORT/debug/pprof/profile?seconds=30</p>
</body></html>`;

/** Answers a request below `/debug/pprof/`. */
export async function servePprof(request: Request, options: DebugRoutesOptions = {}): Promise<Response> {
  const refusal = await bearerRefusal(request, options.token);
  if (refusal) return refusal;
  if (request.method !== "GET" && request.method !== "HEAD") {
    return text(405, "method not allowed", { allow: "GET, HEAD" });
  }
  const url = new URL(request.url);
  const name = url.pathname.slice("/debug/pprof/".length);
  if (name === "") return new Response(INDEX, { headers: { "content-type": "text/html; charset=utf-8" } });
  if (name !== "profile") return text(404, "Unknown profile");
  const seconds = profileSeconds(url.searchParams.get("seconds"));
  if (seconds > MAX_PROFILE_SECONDS) {
    return text(400, `profile duration exceeds the limit of ${MAX_PROFILE_SECONDS}s`);
  }
  // Not tied to request.signal, as Go's handler: Deno aborts that signal when a response completes.
  let body: Uint8Array;
  try {
    body = await profileCpu(seconds);
  } catch (error) {
    return text(500, (error as Error).message.replace(/\s+/g, " "));
  }
  return new Response(body as BodyInit, {
    headers: {
      "content-type": "application/octet-stream",
      "content-disposition": 'attachment; filename="profile"',
      "x-content-type-options": "nosniff",
    },
  });
}

/**
 * Wraps `handler` so that `/debug/pprof` and everything below it is answered by {@link servePprof};
 * every other request goes to `handler` unchanged.
 */
export function withDebugRoutes(
  handler: (request: Request) => Response | Promise<Response>,
  options: DebugRoutesOptions = {},
): (request: Request) => Response | Promise<Response> {
  return (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/debug/pprof") return Response.redirect(new URL("/debug/pprof/", request.url), 301);
    return path.startsWith("/debug/pprof/") ? servePprof(request, options) : handler(request);
  };
}
