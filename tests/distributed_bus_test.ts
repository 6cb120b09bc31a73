/**
 * The original's multi-machine deployment on real brokers, as separate processes
 * (tests/support/distributed_pipeline.ts): server, two workers and a scraper on a MinIO store,
 * with NATS JetStream and then Kafka as the bus; each worker is killed with SIGKILL twice while
 * 200 uploads run. With `--compaction none` every merged profile must hold exactly the samples of
 * `go tool pprof -proto` of the same inputs: 0 lost, 0 counted twice.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileUrlFromPath } from "../adapters/mod.ts";
import { runDistributedPipeline } from "./support/distributed_pipeline.ts";
import { committedProfiles } from "./support/fixtures.ts";
import {
  type AutopgoProcess,
  download,
  listFiles,
  pprofMergeOracle,
  startAutopgo,
  upload,
  waitFor,
} from "./support/pipeline_process.ts";
import { assertSameSamples } from "./support/samples.ts";
import { goAvailable } from "./support/go.ts";
import { kafkaSkip, startKafka } from "./support/services/kafka.ts";
import { minioBinary, type MinioServer, startMinio } from "./support/services/minio.ts";
import { natsSkip, startNatsServer } from "./support/services/nats.ts";
import { serviceSkip } from "./support/services/service.ts";

const noGo = serviceSkip("go", goAvailable(), "the oracle is go tool pprof");
const noMinio = serviceSkip("minio", minioBinary() !== undefined, "the store of the broker pipelines");

async function withMinio(fn: (minio: MinioServer, blobUrl: string) => Promise<void>): Promise<void> {
  const minio = await startMinio();
  try {
    await minio.createBucket("pipeline");
    await fn(minio, minio.url("pipeline"));
  } finally {
    await minio.stop();
  }
}

Deno.test({
  name: "distributed: NATS JetStream bus and MinIO store, each worker killed with SIGKILL twice",
  ignore: Boolean(noGo || noMinio || natsSkip()),
}, async () => {
  const nats = await startNatsServer();
  try {
    await withMinio(async (minio, blobUrl) => {
      const bus = "nats://autopgo.profile?natsv2=true&jetstream=true";
      const report = await runDistributedPipeline({
        blobUrl,
        writerUrl: bus,
        readerUrl: `${bus}&queue=worker`,
        env: { ...minio.env, NATS_SERVER_URL: nats.url },
        killsPerWorker: 2,
      });
      console.log(`nats jetstream/s3: ${JSON.stringify(report)}`);
    });
  } finally {
    await nats.stop();
  }
});

Deno.test({
  name: "distributed: Kafka bus and MinIO store, each worker killed with SIGKILL twice",
  ignore: Boolean(noGo || noMinio || kafkaSkip()),
}, async () => {
  const kafka = await startKafka();
  try {
    // As an operator would: the topic exists before the components start (3 partitions).
    await kafka.createTopic("autopgo-profile", 3);
    await withMinio(async (minio, blobUrl) => {
      const report = await runDistributedPipeline({
        blobUrl,
        writerUrl: "kafka://autopgo-profile",
        readerUrl: "kafka://autopgo-worker?topic=autopgo-profile&offset=oldest&session_timeout=6s",
        env: { ...minio.env, KAFKA_BROKERS: kafka.brokers },
        killsPerWorker: 2,
      });
      console.log(`kafka/s3: ${JSON.stringify(report)}`);
    });
  } finally {
    await kafka.stop();
  }
});

Deno.test({
  name: "distributed: plain NATS drops events while no worker listens; the reconcile sweep merges those uploads",
  ignore: Boolean(noGo || natsSkip()),
}, async () => {
  const nats = await startNatsServer();
  const root = await Deno.makeTempDir({ prefix: "autopgo-plain-nats-" });
  const processes: AutopgoProcess[] = [];
  try {
    const env = { NATS_SERVER_URL: nats.url };
    const bus = "nats://autopgo.profile?natsv2=true";
    const common = [
      "--port",
      "0",
      "--host",
      "127.0.0.1",
      "--blob-store-url",
      fileUrlFromPath(root),
      "--compaction",
      "none",
    ];
    const server = await startAutopgo(["server", ...common, "--event-writer-url", bus], { env });
    processes.push(server);
    const files = committedProfiles().cpu.slice(0, 3);
    for (const file of files) assert.equal((await upload(server.url, "lost", await Deno.readFile(file))).status, 201);
    const worker = await startAutopgo(
      [
        "worker",
        ...common,
        "--event-reader-url",
        `${bus}&queue=worker`,
        "--event-writer-url",
        bus,
        "--sweep-grace",
        "1s",
        "--sweep-interval",
        "2s",
      ],
      { env },
    );
    processes.push(worker);
    assert.match(worker.logs(), /plain NATS/i, "the worker warns that plain NATS drops events");
    await waitFor(
      async () => {
        const merged = await download(server.url, "lost");
        return merged !== undefined && merged.sample.length > 0 &&
          (await listFiles(root)).every((f) => !f.includes("/staging/"));
      },
      60_000,
      "the sweep merged the uploads whose events were dropped",
    );
    assertSameSamples(
      (await download(server.url, "lost"))!,
      await pprofMergeOracle(files),
      "swept uploads vs go tool pprof",
    );
  } finally {
    await Promise.all(processes.map((p) => p.stop("SIGKILL")));
    await nats.stop();
    await Deno.remove(root, { recursive: true });
  }
});
