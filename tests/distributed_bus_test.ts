/**
 * The original's multi-machine deployment on real brokers, as separate processes
 * (tests/support/distributed_pipeline.ts): server, two workers and a scraper on a MinIO store,
 * with NATS JetStream and then Kafka as the bus; each worker is killed with SIGKILL twice while
 * 200 uploads run. With `--compaction none` every merged profile must hold exactly the samples of
 * `go tool pprof -proto` of the same inputs: 0 lost, 0 counted twice.
 *
 * @module
 */

import { runDistributedPipeline } from "./support/distributed_pipeline.ts";
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
    const { Kafka, logLevel } = await import("kafkajs");
    const admin = new Kafka({ brokers: [kafka.brokers], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: "autopgo-profile", numPartitions: 3 }], waitForLeaders: true });
    await admin.disconnect();
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
