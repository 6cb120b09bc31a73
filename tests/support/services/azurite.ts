/**
 * Azurite (Microsoft's Azure Storage emulator), blob service only, for the `azblob://` tests:
 * `startAzurite()` launches `azurite-blob` from the npm install that `.ci/install-services.sh`
 * caches (`install_azurite`) on a free 127.0.0.1 port with its own data directory, and returns
 * the well-known development account, a `restart()` that keeps the data and helpers to create
 * containers.
 *
 * Flags and why:
 * - `--skipApiVersionCheck`: the pinned SDK speaks a newer REST API version than Azurite
 *   accepts by default;
 * - `--disableTelemetry`: Azurite otherwise tries to report usage over the network;
 * - `--location DIR`: data survives a restart. Azurite keeps blob bytes in extent files at
 *   once but saves its metadata database only every 5 s and on a clean shutdown; `restart()`
 *   therefore stops gracefully (SIGTERM, which saves) and `crash()` is the kill -9 variant,
 *   after which the last few seconds of writes may be forgotten (real Azure never does that).
 *
 * @module
 */

import { join } from "node:path";
import { freePort, httpAnswers, launch, type LaunchedProcess, serviceCacheDir, serviceDataDir } from "./service.ts";

/** The emulator's documented development account (public, identical in every Azurite). */
export const AZURITE_ACCOUNT = "devstoreaccount1";
/** The documented key of {@link AZURITE_ACCOUNT} (public; not a secret). */
export const AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/** The `azurite-blob` launcher installed by `.ci/install-services.sh`, or `undefined`. */
export function azuriteBinary(): string | undefined {
  const path = join(serviceCacheDir(), "azurite", "node_modules", ".bin", "azurite-blob");
  try {
    return Deno.statSync(path).isFile ? path : undefined;
  } catch {
    return undefined;
  }
}

/** A running Azurite blob service. */
export interface Azurite {
  /** `127.0.0.1:<port>`, the `domain=` of an `azblob://…?localemu=true&protocol=http` URL. */
  readonly domain: string;
  /** `http://127.0.0.1:<port>/devstoreaccount1`, the blob service endpoint. */
  readonly serviceUrl: string;
  /** The account's connection string (for `AZURE_STORAGE_CONNECTION_STRING`). */
  readonly connectionString: string;
  /** Environment variables that let the `azblob` driver reach this emulator with the dev account's key. */
  readonly env: Record<string, string>;
  /** The running process (replaced by {@link Azurite.restart}). */
  readonly process: LaunchedProcess;
  /** `azblob://<container>?localemu=true&protocol=http&domain=…` (extra query parameters appended). */
  url(container: string, query?: Record<string, string>): string;
  /** Creates a container (no error when it exists already). */
  createContainer(name: string): Promise<void>;
  /** Deletes a container and everything in it (no error when it is missing). */
  deleteContainer(name: string): Promise<void>;
  /**
   * Stops (SIGTERM, which saves the metadata; kill -9 after 10 s), stays down `downtimeMs`
   * (default 0) and starts again on the same port and data.
   */
  restart(downtimeMs?: number): Promise<void>;
  /** kill -9 and start again on the same port and data; unsaved metadata (≤ 5 s) may be lost. */
  crash(): Promise<void>;
  /** Kills the process and removes its data directory. */
  stop(): Promise<void>;
  /** The same as {@link Azurite.stop} but synchronous, for an `unload` handler. */
  stopNow(): void;
}

/** Starts Azurite's blob service; throws with its log tail when it does not come up. */
export async function startAzurite(): Promise<Azurite> {
  const binary = azuriteBinary();
  if (!binary) throw new Error("azurite is not installed; run .ci/install-services.sh azurite");
  const data = await serviceDataDir("azurite");
  const port = freePort();
  const domain = `127.0.0.1:${port}`;
  const serviceUrl = `http://${domain}/${AZURITE_ACCOUNT}`;
  const spawn = () =>
    launch({
      name: "azurite",
      command: binary,
      args: [
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        String(port),
        "--location",
        data.path,
        "--silent",
        "--skipApiVersionCheck",
        "--disableTelemetry",
      ],
      // Any HTTP answer means the listener is up (an unsigned request gets 4xx).
      ready: () => httpAnswers(`${serviceUrl}?comp=list`, {}, true),
    });
  let process = await spawn();
  const containerClient = async (name: string) => {
    const { ContainerClient, StorageSharedKeyCredential } = await import("@azure/storage-blob");
    return new ContainerClient(`${serviceUrl}/${name}`, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY), {
      keepAliveOptions: { enable: false },
    });
  };
  return {
    domain,
    serviceUrl,
    connectionString:
      `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${serviceUrl};`,
    env: { AZURE_STORAGE_ACCOUNT: AZURITE_ACCOUNT, AZURE_STORAGE_KEY: AZURITE_KEY },
    get process() {
      return process;
    },
    url(container, query = {}) {
      const params = new URLSearchParams({ localemu: "true", protocol: "http", domain, ...query });
      return `azblob://${container}?${params}`;
    },
    async createContainer(name) {
      await (await containerClient(name)).createIfNotExists();
    },
    async deleteContainer(name) {
      await (await containerClient(name)).deleteIfExists();
    },
    async restart(downtimeMs = 0) {
      await process.stop(10_000);
      if (downtimeMs > 0) await new Promise((resolve) => setTimeout(resolve, downtimeMs));
      process = await spawn();
    },
    async crash() {
      await process.kill();
      process = await spawn();
    },
    async stop() {
      await process.kill();
      await data.remove();
    },
    stopNow() {
      try {
        Deno.kill(process.pid, "SIGKILL");
      } catch { /* already gone */ }
      try {
        Deno.removeSync(data.path, { recursive: true });
      } catch { /* already removed */ }
    },
  };
}
