/**
 * The original's multi-machine deployment on real stores, as separate processes
 * (tests/support/distributed_pipeline.ts): server, two workers and a scraper; 200 concurrent
 * uploads for three apps plus the scraped app; `--compaction none`, so each merged profile must
 * hold exactly the samples of `go tool pprof -proto` of the same inputs. The bus is `file://`
 * here (tests/distributed_bus_test.ts runs the brokers); the store is file://, then s3://
 * (MinIO), gs:// (fake-gcs-server) and azblob:// (Azurite).
 *
 * @module
 */

import { fileUrlFromPath } from "../adapters/mod.ts";
import { type DistributedSetup, runDistributedPipeline } from "./support/distributed_pipeline.ts";
import { goAvailable } from "./support/go.ts";
import { azuriteBinary, startAzurite } from "./support/services/azurite.ts";
import { fakeGcsSkip, startFakeGcs } from "./support/services/fake_gcs.ts";
import { minioBinary, startMinio } from "./support/services/minio.ts";
import { serviceSkip } from "./support/services/service.ts";

const noGo = serviceSkip("go", goAvailable(), "the oracle is go tool pprof");

/** A file:// bus in a fresh directory, plus the cleanup. */
async function fileBus(): Promise<{ writerUrl: string; readerUrl: string; remove(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "autopgo-dist-bus-" });
  const url = fileUrlFromPath(dir);
  return { writerUrl: url, readerUrl: `${url}?poll=20ms`, remove: () => Deno.remove(dir, { recursive: true }) };
}

async function runOnStore(
  name: string,
  blobUrl: string,
  env: Record<string, string>,
  extra: Partial<DistributedSetup> = {},
) {
  const bus = await fileBus();
  try {
    const report = await runDistributedPipeline({ blobUrl, env, ...bus, ...extra });
    console.log(`${name}: ${JSON.stringify(report)}`);
  } finally {
    await bus.remove();
  }
}

Deno.test({
  name: "distributed: file:// store and file:// bus, each worker and the server killed with SIGKILL twice (soak)",
  ignore: Boolean(noGo),
}, async () => {
  const root = await Deno.makeTempDir({ prefix: "autopgo-dist-file-" });
  try {
    await runOnStore("file/file", fileUrlFromPath(root), {}, { killsPerWorker: 2, serverKills: 2 });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test({
  name: "distributed: s3:// (MinIO) store and file:// bus",
  ignore: Boolean(noGo || serviceSkip("minio", minioBinary() !== undefined, "needed for the s3:// pipeline")),
}, async () => {
  const minio = await startMinio();
  try {
    await minio.createBucket("pipeline");
    await runOnStore("s3/file", minio.url("pipeline"), minio.env);
  } finally {
    await minio.stop();
  }
});

Deno.test({
  name: "distributed: gs:// (fake-gcs-server) store and file:// bus",
  ignore: Boolean(noGo || fakeGcsSkip()),
}, async () => {
  const gcs = await startFakeGcs();
  try {
    await gcs.createBucket("pipeline");
    await runOnStore("gs/file", gcs.url("pipeline"), gcs.env);
  } finally {
    await gcs.stop();
  }
});

Deno.test({
  name: "distributed: azblob:// (Azurite) store and file:// bus",
  ignore: Boolean(
    noGo || serviceSkip("azurite", azuriteBinary() !== undefined, "needed for the azblob:// pipeline"),
  ),
}, async () => {
  const azurite = await startAzurite();
  try {
    await azurite.createContainer("pipeline");
    await runOnStore("azblob/file", azurite.url("pipeline"), azurite.env);
  } finally {
    await azurite.stop();
  }
});
