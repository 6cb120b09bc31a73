/**
 * Scrape targets for tests: a pprof endpoint that serves a fixed profile and counts hits, and a
 * target that accepts connections but never answers. Both listen on 127.0.0.1 only.
 *
 * @module
 */

import { type LocalServer, serveLocal } from "./fake_apis.ts";

/**
 * A pprof endpoint that serves `profile` (or, given a function, what it returns for each request: e.g. a
 * different real profile each time), checks `seconds`, and counts hits.
 */
export function startFakePprofTarget(
  profile: Uint8Array | (() => Uint8Array),
  opts: { requiredHeader?: [string, string] } = {},
): LocalServer & { hits: number } {
  const state = { hits: 0 };
  const server = serveLocal((req, url) => {
    if (opts.requiredHeader && req.headers.get(opts.requiredHeader[0]) !== opts.requiredHeader[1]) {
      return new Response("unauthorized\n", { status: 401 });
    }
    if (url.pathname !== "/debug/pprof/profile" || !/^\d+$/.test(url.searchParams.get("seconds") ?? "")) {
      return new Response("bad request\n", { status: 400 });
    }
    state.hits++;
    const body = typeof profile === "function" ? profile() : profile;
    return new Response(body as BodyInit, { headers: { "content-type": "application/octet-stream" } });
  });
  return Object.defineProperty(server, "hits", { get: () => state.hits }) as LocalServer & { hits: number };
}

/** A TCP listener that accepts connections and never answers (a hung target). */
export function startHangingTarget(): { url: string; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  (async () => {
    try {
      for await (const conn of listener) conns.push(conn);
    } catch { /* closed */ }
  })();
  return {
    url: `http://127.0.0.1:${listener.addr.port}`,
    close() {
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      listener.close();
    },
  };
}
