/**
 * nats-server for tests: `nats-server -js -a 127.0.0.1 -p PORT -sd DIR` on a free port with
 * JetStream file storage in a temporary directory. {@link NatsServer.restart} stops (or kills)
 * the process and starts it again on the same port and store, so tests can check that
 * clients reconnect and that what JetStream stored survives.
 *
 * Built by `.ci/install-services.sh nats` (nats-server v2.15.2) into the service cache.
 *
 * @module
 */

import {
  cachedBinary,
  freePort,
  launch,
  type LaunchedProcess,
  portOpen,
  serviceDataDir,
  serviceSkip,
} from "./service.ts";

/** The nats-server executable, if installed. */
export function natsServerBinary(): string | undefined {
  return cachedBinary("nats-server");
}

/** Skip reason for NATS tests (`false` when nats-server is installed); throws under CI when it is missing. */
export function natsSkip(): string | false {
  return serviceSkip("nats-server", natsServerBinary() !== undefined, "nats-server not in the service cache or PATH");
}

/** Options of {@link startNatsServer}. */
export interface NatsServerOptions {
  /** The port to listen on (default: a free one). */
  port?: number;
  /** Extra arguments (e.g. `["--user", "u", "--pass", "p"]`). */
  args?: string[];
}

/** A running nats-server with JetStream. */
export interface NatsServer {
  /** `nats://127.0.0.1:PORT`, the value for `NATS_SERVER_URL`. */
  readonly url: string;
  readonly port: number;
  /** The JetStream store directory (`-sd`). */
  readonly storeDir: string;
  /** The last lines the server printed. */
  logs(): string;
  /** Stops the server (SIGTERM, or SIGKILL with `kill`) and starts it again on the same port and store. */
  restart(options?: { kill?: boolean }): Promise<void>;
  /** Stops the server (SIGTERM); its port and store stay for {@link NatsServer.start}: an outage. */
  halt(): Promise<void>;
  /** Starts the server again on the same port and store (after {@link NatsServer.halt}). */
  start(): Promise<void>;
  /** Stops the server and removes its store. */
  stop(): Promise<void>;
}

/** Starts nats-server with JetStream on a free port; resolves once it accepts connections. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const binary = natsServerBinary();
  if (!binary) throw new Error("nats-server is not installed; run .ci/install-services.sh nats");
  const store = await serviceDataDir("nats");
  const port = options.port ?? freePort();
  const args = ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", store.path, ...(options.args ?? [])];
  const start = () => launch({ name: "nats-server", command: binary, args, ready: () => portOpen(port) });
  let running: LaunchedProcess | undefined;
  try {
    running = await start();
  } catch (error) {
    await store.remove();
    throw error;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir: store.path,
    logs: () => running?.logs() ?? "",
    async restart(restartOptions = {}) {
      if (restartOptions.kill) await running?.kill();
      else await running?.stop();
      running = await start();
    },
    async halt() {
      await running?.stop();
      running = undefined;
    },
    async start() {
      if (running) throw new Error("nats-server is already running");
      running = await start();
    },
    async stop() {
      await running?.stop();
      running = undefined;
      await store.remove();
    },
  };
}
