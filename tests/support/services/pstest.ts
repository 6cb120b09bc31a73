/**
 * Google's in-memory Pub/Sub fake (`cloud.google.com/go/pubsub/v2/pstest`, wrapped by
 * `tests/fixtures/pstest` and built by `.ci/install-services.sh pstest` into `pstest-server`) on a
 * free port of 127.0.0.1, for the `gcppubsub://` driver tests. Clients reach it with
 * `PUBSUB_EMULATOR_HOST` = {@link PstestServer.host}. See the fixture's doc for what the fake does.
 *
 * @module
 */

import type { PubSub } from "@google-cloud/pubsub";
import { cachedBinary, freePort, launch, type LaunchedProcess, portOpen, serviceSkip } from "./service.ts";

/** The cached binary's name. */
export const PSTEST_BINARY = "pstest-server";

/** A running fake. */
export interface PstestServer {
  /** `127.0.0.1:<port>`, the value for `PUBSUB_EMULATOR_HOST`. */
  readonly host: string;
  readonly process: LaunchedProcess;
  /** SIGTERM, then SIGKILL; resolves when it has exited. */
  stop(): Promise<void>;
}

/** `false` when pstest-server is installed, else the skip reason (throws under CI). */
export function pstestSkip(): string | false {
  return serviceSkip("pstest", cachedBinary(PSTEST_BINARY) !== undefined, `${PSTEST_BINARY} not found`);
}

/** Starts a fresh, empty fake and waits until it accepts connections. */
export async function startPstest(): Promise<PstestServer> {
  const command = cachedBinary(PSTEST_BINARY);
  if (!command) throw new Error(`${PSTEST_BINARY} is not installed; run .ci/install-services.sh pstest`);
  const port = freePort();
  const process = await launch({
    name: "pstest",
    command,
    args: ["-port", String(port)],
    ready: () => portOpen(port),
    readyTimeoutMs: 20_000,
  });
  return { host: `127.0.0.1:${port}`, process, stop: () => process.stop(2_000) };
}

/** An admin client of `project` on `server` (plain gRPC, no credentials), to create topics and subscriptions. */
export async function pstestAdmin(server: PstestServer, project: string): Promise<PubSub> {
  const { PubSub } = await import("@google-cloud/pubsub");
  return new PubSub({
    projectId: project,
    apiEndpoint: server.host,
    emulatorMode: true,
    universeDomain: "googleapis.com",
  });
}
