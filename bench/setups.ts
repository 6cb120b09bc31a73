/**
 * The store and bus set-ups that `bench/pipeline.ts` measures side by side: `file://` for both
 * (the reference), then each cloud store over the file bus and each broker over the file store,
 * so one thing changes per row. Each set-up starts its own local server (tests/support/services)
 * and is skipped, with a printed reason, when that server is not installed.
 *
 * @module
 */

import { fileUrlFromPath } from "../adapters/mod.ts";
import { azuriteBinary, startAzurite } from "../tests/support/services/azurite.ts";
import { elasticMqInstall, startElasticMq } from "../tests/support/services/elasticmq.ts";
import { startFakeGcs } from "../tests/support/services/fake_gcs.ts";
import { kafkaSkip, startKafka } from "../tests/support/services/kafka.ts";
import { startMinio } from "../tests/support/services/minio.ts";
import { startNatsServer } from "../tests/support/services/nats.ts";
import { pstestAdmin, pstestSkip, startPstest } from "../tests/support/services/pstest.ts";
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

/** `file://` store and `file://` bus in fresh temp directories (the reference row). */
export async function fileFile(): Promise<BenchSetup> {
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

async function gsFile(): Promise<BenchSetup | undefined> {
  if (!cachedBinary("fake-gcs-server")) return void console.warn("skipping gs: fake-gcs-server is not installed");
  const gcs = await startFakeGcs();
  await gcs.createBucket("bench");
  const dirs = await tempDirs();
  return {
    name: "gs (fake-gcs-server) + file",
    blobUrl: gcs.url("bench"),
    writerUrl: dirs.bus,
    readerUrl: `${dirs.bus}?poll=10ms`,
    env: gcs.env,
    stop: async () => {
      await gcs.stop();
      await dirs.remove();
    },
  };
}

async function azblobFile(): Promise<BenchSetup | undefined> {
  if (!azuriteBinary()) return void console.warn("skipping azblob: azurite is not installed");
  const azurite = await startAzurite();
  await azurite.createContainer("bench");
  const dirs = await tempDirs();
  return {
    name: "azblob (Azurite) + file",
    blobUrl: azurite.url("bench"),
    writerUrl: dirs.bus,
    readerUrl: `${dirs.bus}?poll=10ms`,
    env: azurite.env,
    stop: async () => {
      await azurite.stop();
      await dirs.remove();
    },
  };
}

/** A row whose store is file:// and whose bus is a broker; `topic(n)` names a fresh topic pair. */
async function brokerRow(
  name: string,
  env: Record<string, string>,
  topic: (n: number) => Promise<{ writerUrl: string; readerUrl: string }>,
  stop: () => Promise<void>,
): Promise<BenchSetup> {
  const dirs = await tempDirs();
  const pipeline = await topic(0);
  return {
    name: `file + ${name}`,
    blobUrl: dirs.store,
    ...pipeline,
    env,
    busBench: async () => ({ name, ...await topic(++busCounter) }),
    stop: async () => {
      await stop();
      await dirs.remove();
    },
  };
}

/** `file://` store and NATS JetStream (a nats-server of its own); undefined when nats-server is missing. */
export async function natsJetStream(): Promise<BenchSetup | undefined> {
  if (!cachedBinary("nats-server")) return void console.warn("skipping nats: nats-server is not installed");
  const nats = await startNatsServer();
  return brokerRow("nats jetstream", { NATS_SERVER_URL: nats.url }, (n) => {
    const url = `nats://bench${n}.profile?natsv2=true&jetstream=true`;
    return Promise.resolve({ writerUrl: url, readerUrl: `${url}&queue=worker` });
  }, () => nats.stop());
}

async function kafka(): Promise<BenchSetup | undefined> {
  if (kafkaSkip()) return void console.warn("skipping kafka: the broker is not installed");
  const broker = await startKafka();
  const { Kafka, logLevel } = await import("kafkajs");
  const admin = new Kafka({ brokers: [broker.brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  return brokerRow("kafka", { KAFKA_BROKERS: broker.brokers }, async (n) => {
    await admin.createTopics({ topics: [{ topic: `bench-${n}`, numPartitions: 3 }], waitForLeaders: true });
    return { writerUrl: `kafka://bench-${n}`, readerUrl: `kafka://workers-${n}?topic=bench-${n}&offset=oldest` };
  }, async () => {
    await admin.disconnect();
    await broker.stop();
  });
}

async function sqs(): Promise<BenchSetup | undefined> {
  if (!elasticMqInstall()) return void console.warn("skipping awssqs: elasticmq is not installed");
  const server = await startElasticMq();
  return brokerRow("awssqs (ElasticMQ)", server.env, async (n) => {
    const url = await server.createQueue(`bench-${n}`);
    return { writerUrl: url, readerUrl: url };
  }, () => server.stop());
}

async function pubsub(): Promise<BenchSetup | undefined> {
  if (pstestSkip()) return void console.warn("skipping gcppubsub: pstest-server is not installed");
  const server = await startPstest();
  const admin = await pstestAdmin(server, "bench");
  return brokerRow("gcppubsub (pstest)", { PUBSUB_EMULATOR_HOST: server.host }, async (n) => {
    const [topic] = await admin.createTopic(`events-${n}`);
    await topic.createSubscription(`workers-${n}`, { enableMessageOrdering: true, ackDeadlineSeconds: 10 });
    return {
      writerUrl: `gcppubsub://projects/bench/topics/events-${n}`,
      readerUrl: `gcppubsub://projects/bench/subscriptions/workers-${n}`,
    };
  }, async () => {
    await admin.close();
    await server.stop();
  });
}

/** The set-ups, in table order; each factory returns `undefined` when its server is missing. */
export function benchSetups(): (() => Promise<BenchSetup | undefined>)[] {
  return [fileFile, s3File, gsFile, azblobFile, natsJetStream, kafka, sqs, pubsub];
}

/**
 * The command lines of a server and of a worker on `setup` (ports chosen by the OS, on
 * 127.0.0.1), with `workerFlags` added to the worker's.
 */
export function pipelineCommands(
  setup: BenchSetup,
  workerFlags: string[] = [],
): { server: string[]; worker: string[] } {
  const common = ["--port", "0", "--host", "127.0.0.1", "--blob-store-url", setup.blobUrl];
  return {
    server: ["server", ...common, "--event-writer-url", setup.writerUrl],
    worker: [
      "worker",
      ...common,
      ...workerFlags,
      ...["--event-reader-url", setup.readerUrl, "--event-writer-url", setup.writerUrl],
    ],
  };
}
