/**
 * `deno task bench:slow-clients`: what slow clients that hold every connection place do to the
 * other clients of a real `autopgo server` (file store, embedded worker, 127.0.0.1), and to its
 * memory. Side by side in one run: health checks with no slow clients (the reference), then the
 * same checks while `--connections` slow clients (tests/support/slow_clients.ts: `--kind bodies`
 * send a request head and then one body byte every `--every-ms`, `heads` one header line, `mixed`
 * half of each; each reconnects `--reconnect-ms` after the server closes it) keep the server's
 * places taken, for `--seconds`.
 * Prints how many checks were answered 200 and their latency, the server's RSS before, at the end
 * and 20 s after (time for the server to give a burst's free memory back: cmd/native_memory.ts),
 * and its CPU while the slow clients ran (core/pipeline/conn_pressure.ts says what the server does
 * about them).
 *
 * `--checks-from 127.0.0.2` makes the health checks from another loopback address than the slow
 * clients' (127.0.0.1): another client, for the case of more slow connections than the places
 * and the waiting line together.
 *
 * Usage: deno task bench:slow-clients [--connections 1100] [--seconds 30] [--every-ms 3000]
 *                                     [--reconnect-ms 0] [--kind bodies|heads|mixed] [--max-connections N]
 *                                     [--checks-from ADDRESS]
 *
 * @module
 */

import { benchArgs } from "./cli.ts";
import { startAutopgoServer } from "../tests/support/autopgo_processes.ts";
import { slowClients, type SlowKind } from "../tests/support/slow_clients.ts";
import { rssMiB } from "../tests/support/hostile_run.ts";
import { cpuSeconds } from "./proc_stats.ts";
import { percentile } from "./ingest_run.ts";

/**
 * One health check a second for `seconds`, each on a new connection (as a new client makes; a
 * kept-alive one would hold its place from before); how many were answered 200 within 4 s, and
 * the latencies in ms.
 */
async function healthChecks(
  url: string,
  seconds: number,
  localAddress?: string,
): Promise<{ ok: number; total: number; ms: number[] }> {
  const ms: number[] = [];
  let ok = 0;
  for (let i = 0; i < seconds; i++) {
    const started = performance.now();
    const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0, localAddress });
    try {
      const response = await fetch(`${url}/api/health`, { client, signal: AbortSignal.timeout(4_000) });
      await response.body?.cancel();
      if (response.status === 200) ok++;
    } catch { /* refused or timed out: not ok */ }
    client.close();
    ms.push(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  return { ok, total: seconds, ms: ms.sort((a, b) => a - b) };
}

async function main(): Promise<void> {
  const { values } = benchArgs(import.meta.url, {
    options: {
      connections: { type: "string", default: "1100" },
      seconds: { type: "string", default: "30" },
      "every-ms": { type: "string", default: "3000" },
      "reconnect-ms": { type: "string", default: "0" },
      "max-connections": { type: "string" },
      kind: { type: "string", default: "bodies" },
      "checks-from": { type: "string" },
    },
  });
  if (!["bodies", "heads", "mixed"].includes(values.kind)) {
    console.error(`bench/slow_clients.ts: --kind must be bodies, heads or mixed, not "${values.kind}"`);
    Deno.exit(2);
  }
  const flags = values["max-connections"] ? ["--max-connections", values["max-connections"]] : [];
  const server = await startAutopgoServer(flags);
  try {
    const pid = server.child.pid;
    const seconds = Number(values.seconds);
    const from = values["checks-from"];
    const quiet = await healthChecks(server.url, Math.min(10, seconds), from);
    const rssBefore = rssMiB(pid);
    const cpuBefore = cpuSeconds(pid);
    const slow = slowClients(
      Number(new URL(server.url).port),
      Number(values.connections),
      Number(values["every-ms"]),
      Number(values["reconnect-ms"]),
      values.kind as SlowKind,
    );
    const flooded = await healthChecks(server.url, seconds, from);
    const cpu = cpuSeconds(pid) - cpuBefore;
    const rssEnd = rssMiB(pid);
    const opened = await slow.stop();
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    const rssRested = rssMiB(pid);
    const line = (name: string, r: { ok: number; total: number; ms: number[] }) =>
      `| ${name} | ${r.ok} of ${r.total} | ${percentile(r.ms, 50).toFixed(0)} ms | ${
        percentile(r.ms, 99).toFixed(0)
      } ms |`;
    console.log(
      [
        `| health checks${from ? ` from ${from}` : ""} | answered 200 | p50 | p99 |`,
        "|---|---|---|---|",
        line("no slow clients (reference)", quiet),
        line(`${values.connections} slow clients`, flooded),
      ].join("\n"),
    );
    console.log(
      `\nslow clients opened ${opened} connections in ${seconds} s; server CPU ${cpu.toFixed(1)} s while they ran; ` +
        `RSS ${rssBefore.toFixed(0)} MiB before, ${rssEnd.toFixed(0)} MiB at the end, ${
          rssRested.toFixed(0)
        } MiB 20 s later`,
    );
  } finally {
    await server.close();
  }
}

if (import.meta.main) await main();
