/**
 * Slow clients for hardening tests and benchmarks: connections to a server that never finish a
 * request (they trickle a request head one header line at a time, or send a whole head and then
 * one body byte at a time) and that open a new connection shortly after the server closes one.
 *
 * @module
 */

import { readUntilClosed } from "./raw_connection.ts";

const encoder = new TextEncoder();

/** Slow clients at work; {@link SlowClients.stop} ends them. */
export interface SlowClients {
  /** Connections open now. */
  readonly open: number;
  /** Closes every connection and resolves the number of connections opened in all. */
  stop(): Promise<number>;
}

/** What the slow clients trickle: request heads, request bodies, or half of each. */
export type SlowKind = "heads" | "bodies" | "mixed";

/**
 * Keeps `count` connections to 127.0.0.1:`port` open, each sending one more slow byte or line
 * every `everyMs`, and replaces one the server closes after `reconnectMs`.
 */
export function slowClients(
  port: number,
  count: number,
  everyMs: number,
  reconnectMs = 50,
  kind: SlowKind = "mixed",
): SlowClients {
  let running = true;
  let opened = 0;
  const live = new Set<Deno.Conn>();
  const one = async (slowHead: boolean) => {
    while (running) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port }).catch(() => undefined);
      if (!conn) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        continue;
      }
      opened++;
      live.add(conn);
      const head = "POST /api/profile/slow HTTP/1.1\r\nHost: x\r\n" +
        (slowHead ? "" : "Content-Length: 100000\r\n\r\n");
      const drip = setInterval(
        () => conn.write(encoder.encode(slowHead ? "X-Slow: 1\r\n" : "x")).catch(() => {}),
        everyMs,
      );
      await conn.write(encoder.encode(head)).catch(() => {});
      await readUntilClosed(conn, 600_000); // until the server closes it (or `stop`)
      clearInterval(drip);
      live.delete(conn);
      if (running && reconnectMs > 0) await new Promise((resolve) => setTimeout(resolve, reconnectMs));
    }
  };
  const all = Promise.all(
    Array.from({ length: count }, (_, i) => one(kind === "heads" || (kind === "mixed" && i % 2 === 0))),
  );
  return {
    get open() {
      return live.size;
    },
    async stop() {
      running = false;
      for (const conn of live) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
      await all;
      return opened;
    },
  };
}
