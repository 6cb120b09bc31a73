/**
 * The store and bus set-ups that `bench/pipeline.ts` measures side by side: `file://` for both
 * (the reference), then each cloud store over the file bus and each broker over the file store,
 * so one thing changes per row. Each set-up starts its own local server (tests/support/services)
 * and is skipped, with a printed reason, when that server is not installed.
 *
 * @module
 */

import { fileUrlFromPath } from "../adapters/mod.ts";
import { startMinio } from "../tests/support/services/minio.ts";
import { cachedBinary } from "../tests/support/services/service.ts";

/** One configuration of the pipeline under measurement. */
export interface BenchSetup {
  /** Row name, e.g. `s3 (MinIO) + file`. */
  name: string;
  blobUrl: string;
  writerUrl: string;
  readerUrl: string;
  /** Environment for the autopgo processes (credentials, broker addresses). */
  env: Record<string, string>;
  /** A bus-only measurement for this row's bus (fresh topic), when the row is about a bus. */
  busBench?: () => Promise<{ name: string; writerUrl: string; readerUrl: string }>;
  /** Stops the servers and removes the data. */
  stop(): Promise<void>;
}

async function tempDirs(): Promise<{ store: string; bus: string; remove(): Promise<void> }> {
  const root = await Deno.makeTempDir({ prefix: "autopgo-bench-" });
  await Deno.mkdir(`${root}/store`);
  await Deno.mkdir(`${root}/bus`);
  return {
    store: fileUrlFromPath(`${root}/store`),
    bus: fileUrlFromPath(`${root}/bus`),
    remove: () => Deno.remove(root, { recursive: true }),
  };
}

let busCounter = 0;

async function fileFile(): Promise<BenchSetup> {
  const dirs = await tempDirs();
  return {
    name: "file + file",
    blobUrl: dirs.store,
    writerUrl: dirs.bus,
    readerUrl: `${dirs.bus}?poll=10ms`,
    env: {},
    busBench: async () => {
      const dir = await Deno.makeTempDir({ prefix: `autopgo-bench-bus-${++busCounter}-` });
      return { name: "file", writerUrl: fileUrlFromPath(dir), readerUrl: `${fileUrlFromPath(dir)}?poll=10ms` };
    },
    stop: dirs.remove,
  };
}

async function s3File(): Promise<BenchSetup | undefined> {
  if (!cachedBinary("minio")) return void console.warn("skipping s3: minio is not installed");
  const minio = await startMinio();
  await minio.createBucket("bench");
  const dirs = await tempDirs();
  return {
    name: "s3 (MinIO) + file",
    blobUrl: minio.url("bench"),
    writerUrl: dirs.bus,
    readerUrl: `${dirs.bus}?poll=10ms`,
    env: minio.env,
    stop: async () => {
      await minio.stop();
      await dirs.remove();
    },
  };
}

/** The set-ups, in table order; each factory returns `undefined` when its server is missing. */
export function benchSetups(): (() => Promise<BenchSetup | undefined>)[] {
  return [fileFile, s3File];
}
