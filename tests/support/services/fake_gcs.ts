/**
 * fake-gcs-server (github.com/fsouza/fake-gcs-server, built by `.ci/install-services.sh` as
 * `fake-gcs-server`) for the `gs://` tests: `startFakeGcs()` runs it over plain HTTP on a free
 * 127.0.0.1 port and returns the `STORAGE_EMULATOR_HOST` environment, bucket helpers and a
 * `restart()` on the same port.
 *
 * Backends:
 * - `memory` (default): conditions are checked and objects replaced under one lock; data is
 *   lost when the process stops;
 * - `filesystem`: objects are files under a temporary directory, so a restart keeps them (the
 *   restart test needs that). Its generations are microsecond timestamps taken before the
 *   write lock, so concurrent writes of one key can get the same generation (3 of 500 in a
 *   probe of 50 concurrent writers; the memory backend gave none), and a download may pair one
 *   generation's header with the next one's bytes (the driver's checksum check then fails the
 *   read as `unavailable`, and it is retried).
 *
 * What v1.56.1 enforces (read from its source and probed): `ifGenerationMatch` on simple,
 * multipart and resumable uploads, both `0` (create only) and a generation, checked under the
 * backend's lock so racing creates have one winner. It ignores `ifGenerationMatch` on object
 * DELETE (the object is deleted whatever its generation), and it checks no credentials.
 *
 * @module
 */

import {
  cachedBinary,
  freePort,
  httpAnswers,
  launch,
  type LaunchedProcess,
  serviceDataDir,
  serviceSkip,
} from "./service.ts";

/** The binary's name in the service cache. */
export const FAKE_GCS_BINARY = "fake-gcs-server";

/** `false` when fake-gcs-server is installed, else the skip reason (throws under CI). */
export function fakeGcsSkip(): string | false {
  return serviceSkip(FAKE_GCS_BINARY, cachedBinary(FAKE_GCS_BINARY) !== undefined, "gs:// blob tests");
}

/** Options of {@link startFakeGcs}. */
export interface FakeGcsOptions {
  /** `memory` (default) or `filesystem` (data survives {@link FakeGcs.restart}). */
  backend?: "memory" | "filesystem";
}

/** A running fake-gcs-server. */
export interface FakeGcs {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** `{ STORAGE_EMULATOR_HOST: "127.0.0.1:<port>" }`: what the `gs` driver needs to reach it. */
  readonly env: Record<string, string>;
  /** The running process (replaced by {@link FakeGcs.restart}). */
  readonly process: LaunchedProcess;
  /** `gs://<bucket>` with `query` appended. */
  url(bucket: string, query?: Record<string, string>): string;
  /** Creates a bucket (no error when it exists). */
  createBucket(name: string): Promise<void>;
  /** Deletes every object of a bucket, then the bucket (no error when it is missing). */
  deleteBucket(name: string): Promise<void>;
  /** Stops the server, waits `downtimeMs`, and starts it again on the same port (and data, for `filesystem`). */
  restart(downtimeMs?: number): Promise<void>;
  /** Kills the server and removes its data. */
  stop(): Promise<void>;
}

async function expectOk(response: Response, what: string, allowed: number[] = []): Promise<void> {
  const body = await response.text();
  if (!response.ok && !allowed.includes(response.status)) {
    throw new Error(`fake-gcs-server: ${what}: HTTP ${response.status} ${body.slice(0, 200)}`);
  }
}

/** Starts fake-gcs-server; throws with its log tail when it does not come up. */
export async function startFakeGcs(options: FakeGcsOptions = {}): Promise<FakeGcs> {
  const binary = cachedBinary(FAKE_GCS_BINARY);
  if (!binary) throw new Error("fake-gcs-server is not installed; run .ci/install-services.sh fakegcs");
  const backend = options.backend ?? "memory";
  const data = await serviceDataDir("fake-gcs");
  const port = freePort();
  const host = `127.0.0.1:${port}`;
  const endpoint = `http://${host}`;
  const args = ["-scheme", "http", "-host", "127.0.0.1", "-port", String(port), "-log-level", "warn"];
  args.push("-backend", backend);
  if (backend === "filesystem") args.push("-filesystem-root", data.path);
  const spawn = () =>
    launch({
      name: "fake-gcs-server",
      command: binary,
      args,
      ready: () => httpAnswers(`${endpoint}/_internal/healthcheck`),
    });
  let process = await spawn();
  const api = `${endpoint}/storage/v1`;
  return {
    endpoint,
    env: { STORAGE_EMULATOR_HOST: host },
    get process() {
      return process;
    },
    url(bucket, query = {}) {
      const params = new URLSearchParams(query).toString();
      return `gs://${bucket}${params ? `?${params}` : ""}`;
    },
    async createBucket(name) {
      const response = await fetch(`${api}/b`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name }),
      });
      await expectOk(response, `create bucket ${name}`, [409]);
    },
    async deleteBucket(name) {
      const bucket = `${api}/b/${encodeURIComponent(name)}`;
      for (;;) {
        const listing = await fetch(`${bucket}/o?maxResults=1000`);
        if (listing.status === 404) return void await listing.body?.cancel();
        const { items = [] } = await listing.json() as { items?: { name: string }[] };
        if (items.length === 0) break;
        for (const item of items) {
          await expectOk(await fetch(`${bucket}/o/${encodeURIComponent(item.name)}`, { method: "DELETE" }), "delete", [
            404,
          ]);
        }
      }
      await expectOk(await fetch(bucket, { method: "DELETE" }), `delete bucket ${name}`, [404]);
    },
    async restart(downtimeMs = 0) {
      await process.stop();
      if (downtimeMs > 0) await new Promise((resolve) => setTimeout(resolve, downtimeMs));
      process = await spawn();
    },
    async stop() {
      await process.kill();
      await data.remove();
    },
  };
}
