/**
 * A single-node Apache Kafka broker for tests, in KRaft mode (the broker is its own controller):
 * `.ci/install-services.sh kafka` fetched the Kafka 4.4.0 jars from Maven Central into
 * `<cache>/kafka/libs`; {@link startKafka} writes a `server.properties` for free ports on
 * 127.0.0.1 and a temporary log directory, formats the storage
 * (`kafka.tools.StorageTool format --standalone`), starts `kafka.Kafka` with a small heap and
 * resolves once a kafkajs admin client can fetch the cluster's metadata.
 *
 * Start-up takes a few seconds (more on a loaded machine), so a test file starts one broker in
 * `Deno.test.beforeAll` and shares it between its tests, each on topics of its own.
 *
 * The broker allows short consumer-group session timeouts (`group.min.session.timeout.ms=1000`)
 * so tests of crashed consumers do not wait the production default, creates missing topics with
 * three partitions (unless started with `autoCreateTopics: false`), and keeps its internal
 * topics at replication factor 1.
 *
 * @module
 */

import { join } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { cachedBinary, freePort, launch, portOpen, serviceCacheDir, serviceDataDir, serviceSkip } from "./service.ts";
import { quietKafkajsRequestQueues } from "../../../adapters/bus/kafka_common.ts";

quietKafkajsRequestQueues(); // the admin clients of the tests themselves (see kafka_common.ts)

/** The directory holding the broker's jars (complete once `.complete` exists in it). */
export function kafkaLibsDir(): string {
  return join(serviceCacheDir(), "kafka", "libs");
}

function kafkaInstalled(): boolean {
  try {
    return Deno.statSync(join(kafkaLibsDir(), ".complete")).isFile && cachedBinary("java") !== undefined;
  } catch {
    return false;
  }
}

/** Skip reason for Kafka tests (`false` when the jars and `java` are there); throws under CI when missing. */
export function kafkaSkip(): string | false {
  return serviceSkip("kafka", kafkaInstalled(), "needs the Kafka jars in the service cache and java on PATH");
}

/** A running single-node Kafka broker. */
export interface KafkaBroker {
  /** `127.0.0.1:PORT`, the value for `KAFKA_BROKERS`. */
  readonly brokers: string;
  /** The last lines the broker printed. */
  logs(): string;
  /** Creates `topic` with `partitions` partitions, as an operator would before the components start. */
  createTopic(topic: string, partitions: number): Promise<void>;
  /**
   * Stops the broker (SIGTERM, or SIGKILL with `kill`), waits `downMs`, and starts it again on the
   * same ports and data; resolves once it serves metadata.
   */
  restart(options?: { kill?: boolean; downMs?: number }): Promise<void>;
  /** Stops the broker (SIGTERM, SIGKILL after a grace period) and removes its data. */
  stop(): Promise<void>;
}

/**
 * A random cluster id as Kafka writes it: 16 bytes in URL-safe base64 without padding, not
 * starting with "-" (the storage tool would read it as an option; Kafka's own ids avoid that too).
 */
function newClusterId(): string {
  for (;;) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    const id = btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
    if (!id.startsWith("-")) return id;
  }
}

function serverProperties(dataDir: string, port: number, controllerPort: number, autoCreate: boolean): string {
  return [
    "process.roles=broker,controller",
    "node.id=1",
    `controller.quorum.bootstrap.servers=127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    "controller.listener.names=CONTROLLER",
    "inter.broker.listener.name=PLAINTEXT",
    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    `log.dirs=${join(dataDir, "logs")}`,
    "num.partitions=3",
    `auto.create.topics.enable=${autoCreate}`,
    "offsets.topic.replication.factor=1",
    "offsets.topic.num.partitions=1",
    "transaction.state.log.replication.factor=1",
    "transaction.state.log.min.isr=1",
    "share.coordinator.state.topic.replication.factor=1",
    "share.coordinator.state.topic.min.isr=1",
    "group.initial.rebalance.delay.ms=0",
    "group.min.session.timeout.ms=1000",
    "num.network.threads=2",
    "num.io.threads=2",
    "log.cleaner.dedupe.buffer.size=2097152",
    "",
  ].join("\n");
}

/** Logging for both logging back ends on the classpath: warnings and errors to the console. */
const LOG4J_PROPERTIES = [
  "log4j.rootLogger=WARN, stdout",
  "log4j.appender.stdout=org.apache.log4j.ConsoleAppender",
  "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout",
  "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n",
  "",
].join("\n");
const LOG4J2_PROPERTIES = [
  "status=error",
  "rootLogger.level=warn",
  "rootLogger.appenderRef.stdout.ref=STDOUT",
  "appender.console.type=Console",
  "appender.console.name=STDOUT",
  "appender.console.layout.type=PatternLayout",
  "appender.console.layout.pattern=[%d] %p %m (%c)%n",
  "",
].join("\n");

/** True once the broker answers a metadata request (not merely accepts connections). */
async function answersMetadata(brokers: string): Promise<boolean> {
  const admin = new Kafka({
    clientId: "autopgo-test-ready",
    brokers: [brokers],
    connectionTimeout: 1_000,
    requestTimeout: 2_000,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  }).admin();
  try {
    await admin.connect();
    await admin.describeCluster();
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Options of {@link startKafka}. */
export interface KafkaOptions {
  /** `auto.create.topics.enable` (default true). */
  autoCreateTopics?: boolean;
}

/** Formats a fresh log directory and starts a broker on free ports; resolves once it serves metadata. */
export async function startKafka(options: KafkaOptions = {}): Promise<KafkaBroker> {
  const java = cachedBinary("java");
  if (!java || !kafkaInstalled()) throw new Error("kafka is not installed; run .ci/install-services.sh kafka");
  const data = await serviceDataDir("kafka");
  const port = freePort();
  const controllerPort = freePort();
  const brokers = `127.0.0.1:${port}`;
  const properties = join(data.path, "server.properties");
  const log4j = join(data.path, "log4j.properties");
  const log4j2 = join(data.path, "log4j2.properties");
  await Deno.writeTextFile(
    properties,
    serverProperties(data.path, port, controllerPort, options.autoCreateTopics ?? true),
  );
  await Deno.writeTextFile(log4j, LOG4J_PROPERTIES);
  await Deno.writeTextFile(log4j2, LOG4J2_PROPERTIES);
  const jvm = [
    "-Xms64m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
    `-Dlog4j.configuration=file:${log4j}`,
    `-Dlog4j2.configurationFile=${log4j2}`,
    "-cp",
    `${kafkaLibsDir()}/*`,
  ];
  try {
    const format = await new Deno.Command(java, {
      args: [...jvm, "kafka.tools.StorageTool", "format", "--standalone", "-t", newClusterId(), "-c", properties],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!format.success) {
      const output = new TextDecoder().decode(format.stderr) + new TextDecoder().decode(format.stdout);
      throw new Error(`kafka storage format failed (exit ${format.code}): ${output.trim().slice(-2000)}`);
    }
    const start = () =>
      launch({
        name: "kafka",
        command: java,
        args: [...jvm, "kafka.Kafka", properties],
        ready: async () => await portOpen(port) && await answersMetadata(brokers),
        readyTimeoutMs: 120_000,
      });
    let running = await start();
    return {
      brokers,
      logs: () => running.logs(),
      async createTopic(topic, partitions) {
        const admin = new Kafka({ brokers: [brokers], logLevel: logLevel.NOTHING }).admin();
        await admin.connect();
        try {
          await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
        } finally {
          await admin.disconnect();
        }
      },
      async restart(restartOptions = {}) {
        if (restartOptions.kill) await running.kill();
        else await running.stop(15_000);
        await new Promise((resolve) => setTimeout(resolve, restartOptions.downMs ?? 0));
        running = await start();
      },
      async stop() {
        await running.stop(15_000);
        await data.remove();
      },
    };
  } catch (error) {
    await data.remove();
    throw error;
  }
}
