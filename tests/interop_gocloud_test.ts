/**
 * Interop with the original autopgo's buses: `tests/fixtures/gocloudbus` is a small Go program
 * that publishes and receives through gocloud.dev v0.40.0 (`natspubsub`, `kafkapubsub`) exactly
 * as the original's `internal/event` does. For plain NATS (`natsv2=true`, the original's set-up)
 * and Kafka:
 *
 * - a `profile.uploaded` event sent by the Go program, for an upload staged in a `file://` blob
 *   store the way our server stages it, is merged by our real `autopgo worker` process — and the
 *   worker's `profile.merged` reply is readable by the Go program (on Kafka: keyed by the app and
 *   in the same partition as the Go-sent record, for an app where sarama's FNV-1a partitioner and
 *   the Java client's murmur2 disagree);
 * - the `profile.uploaded` event our real `autopgo server` publishes for an HTTP upload is read
 *   by the Go program: the original's envelope shape and payload, decodable by the original's
 *   reader; on Kafka the app as the record key and no record headers (as the original). On NATS
 *   our messages carry native headers (`Nats-Msg-Id`, `Autopgo-Ordering-Key`), which gocloud
 *   surfaces as metadata and the original ignores;
 * - on Kafka, our worker and the Go program's receiver join ONE consumer group (a rolling
 *   migration from the original's workers): both speak the `range` assignment protocol, split
 *   the topic's partitions between them, and consume every event exactly once — with our reader
 *   leading the group (it joined first) and then with sarama leading it (our worker restarted).
 *   The worker's test also starts on a topic that does not exist yet (broker auto-creation).
 *
 * The worker runs with `--sweep-interval 0 --sweep-grace 1h` so its reconcile sweep cannot merge
 * the staged upload: only the event can.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileUrlFromPath, openFileBlobStore } from "../adapters/mod.ts";
import { decodeProfile } from "../core/pprof/decode.ts";
import { baseKey, dateToUnixNanos, stagingKey } from "../core/pipeline/keys.ts";
import { committedProfiles } from "./support/fixtures.ts";
import { type AutopgoProcess, delay, startAutopgo, upload, waitFor } from "./support/pipeline_process.ts";
import { assertSameSamples } from "./support/samples.ts";
import { cachedBinary, freePort, serviceSkip } from "./support/services/service.ts";
import { natsSkip, startNatsServer } from "./support/services/nats.ts";
import { type KafkaBroker, kafkaSkip, startKafka } from "./support/services/kafka.ts";
import { AssignerProtocol, Kafka, logLevel, Partitioners } from "kafkajs";

const GOCLOUDBUS = cachedBinary("gocloudbus");
const gocloudbusSkip = serviceSkip(
  "gocloudbus",
  GOCLOUDBUS !== undefined,
  "the Go gocloud.dev client built from tests/fixtures/gocloudbus",
);

// ---- the Go program -------------------------------------------------------------------------

/** One message as `gocloudbus` prints it (see tests/fixtures/gocloudbus/main.go). */
interface ReceivedLine {
  /** The exact message body. */
  body: Uint8Array;
  /** gocloud's `Message.Metadata` (NATS headers, Kafka record headers). */
  metadata: Record<string, string>;
  /** The Kafka record key (null without key or on NATS). */
  key: string | null;
  /** The Kafka partition (null on NATS). */
  partition: number | null;
  /** Why the original's `json.Unmarshal` into its Envelope failed, or null. */
  envelopeError: string | null;
}

function parseLines(stdout: string): ReceivedLine[] {
  return stdout.split("\n").filter((l) => l.trim() !== "").map((l) => {
    const raw = JSON.parse(l);
    return { ...raw, body: Uint8Array.from(atob(raw.body), (c) => c.charCodeAt(0)) };
  });
}

/** `gocloudbus publish URL TYPE PAYLOAD`; resolves the line describing what it sent. */
async function runGoPublish(
  url: string,
  type: string,
  payload: Record<string, string>,
  env: Record<string, string>,
): Promise<ReceivedLine> {
  const out = await new Deno.Command(GOCLOUDBUS!, {
    args: ["publish", url, type, JSON.stringify(payload)],
    env,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(90_000),
  }).output();
  const text = new TextDecoder();
  assert.equal(out.code, 0, `gocloudbus publish failed: ${text.decode(out.stderr)}`);
  const lines = parseLines(text.decode(out.stdout));
  assert.equal(lines.length, 1);
  return lines[0];
}

/** A running `gocloudbus receive`. */
interface GoReceiver {
  /** Resolves the received lines once it exited 0; rejects with its stderr otherwise. */
  lines(): Promise<ReceivedLine[]>;
  /** The lines it printed so far. */
  received(): ReceivedLine[];
  kill(): Promise<void>;
}

/** Starts `gocloudbus receive URL N TIMEOUT` and resolves once its subscription is open. */
async function startGoReceive(
  url: string,
  count: number,
  timeout: string,
  env: Record<string, string>,
): Promise<GoReceiver> {
  const child = new Deno.Command(GOCLOUDBUS!, {
    args: ["receive", url, String(count), timeout],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let printed = "";
  const stdout = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) printed += chunk;
    return printed;
  })();
  let stderr = "";
  const { promise: ready, resolve: announced } = Promise.withResolvers<void>();
  const drained = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderr += chunk;
      if (/^ready$/m.test(stderr)) announced();
    }
  })();
  const status = child.status;
  const failed = status.then(async (s) => {
    await drained;
    throw new Error(`gocloudbus receive exited ${s.code} before it was ready: ${stderr}`);
  });
  failed.catch(() => {});
  await Promise.race([ready, failed]);
  return {
    async lines() {
      const [s, text] = await Promise.all([status, stdout]);
      await drained;
      assert.equal(s.code, 0, `gocloudbus receive exited ${s.code}: ${stderr}\nstdout: ${text}`);
      return parseLines(text);
    },
    received: () => parseLines(printed.slice(0, printed.lastIndexOf("\n") + 1)),
    async kill() {
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
      await status;
      await Promise.all([stdout, drained]).catch(() => {});
    },
  };
}

// ---- the two checks, for any bus -------------------------------------------------------------

/** One bus under test: how to start it and the original's URLs on it. */
interface Bus {
  /** Environment that points gocloud and autopgo at the running bus (NATS_SERVER_URL, KAFKA_BROKERS). */
  env: Record<string, string>;
  /** The server's and the worker's `--event-writer-url`. */
  writerUrl: string;
  /** Our worker's `--event-reader-url`. */
  workerReaderUrl: string;
  /** A subscription URL for the Go program that sees every event published from now on. */
  goReaderUrl: string;
  /** Whether records carry the app as key (Kafka). */
  keyed: boolean;
  /** Resolves once our worker's subscription is in place (events sent before could be lost). */
  workerSubscribed(): Promise<void>;
  stop(): Promise<void>;
}

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** Asserts `line` is the original's envelope of `type` with exactly `payload`, published just now. */
function assertEnvelope(line: ReceivedLine, type: string, payload: Record<string, string>, since: number): void {
  assert.equal(line.envelopeError, null, "the original's reader decodes the envelope");
  const text = new TextDecoder().decode(line.body);
  const envelope = JSON.parse(text);
  assert.deepEqual(Object.keys(envelope), ["id", "timestamp", "type", "payload"], text);
  assert.match(envelope.id, UUID_V4);
  assert.match(envelope.timestamp, RFC3339_UTC);
  const at = Date.parse(envelope.timestamp);
  assert.ok(at >= since - 1_000 && at <= Date.now() + 1_000, `timestamp ${envelope.timestamp} is now`);
  assert.equal(envelope.type, type);
  assert.deepEqual(envelope.payload, payload);
  assert.deepEqual(Object.keys(envelope.payload), Object.keys(payload), "payload field order");
}

/** Our worker merges a `profile.uploaded` the Go program sent; the Go program reads `profile.merged`. */
async function workerMergesGoEvent(bus: Bus, app: string): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "autopgo-interop-worker-" });
  const storeUrl = fileUrlFromPath(root);
  let worker: AutopgoProcess | undefined;
  let observer: GoReceiver | undefined;
  try {
    worker = await startAutopgo([
      "worker",
      "--port",
      "0",
      "--host",
      "127.0.0.1",
      "--blob-store-url",
      storeUrl,
      "--event-reader-url",
      bus.workerReaderUrl,
      "--event-writer-url",
      bus.writerUrl,
      "--compaction",
      "none",
      "--sweep-interval",
      "0",
      "--sweep-grace",
      "1h",
    ], { env: bus.env });
    await bus.workerSubscribed();
    // Sees the uploaded event and the worker's merged reply.
    observer = await startGoReceive(bus.goReaderUrl, 2, "90s", bus.env);

    // Staged as the server stages it: the validated original bytes at <app>/staging/<nanos>-<random>.
    const file = committedProfiles().cpu[0];
    const bytes = await Deno.readFile(file);
    const store = await openFileBlobStore(storeUrl);
    const key = stagingKey(app, dateToUnixNanos(new Date()), "interop");
    await store.write(key, bytes, { ifAbsent: true });

    const since = Date.now();
    const sent = await runGoPublish(bus.writerUrl, "profile.uploaded", { app, profileKey: key }, bus.env);
    assertEnvelope(sent, "profile.uploaded", { app, profileKey: key }, since);

    await waitFor(
      async () => (await store.stat(baseKey(app))) !== undefined && (await store.stat(key)) === undefined,
      60_000,
      `${baseKey(app)} written and ${key} removed`,
    );
    const base = decodeProfile((await store.read(baseKey(app))).data);
    assertSameSamples(base, decodeProfile(bytes), "the base holds exactly the upload's samples");
    const merged = new RegExp(`merged ${key} into ${baseKey(app)}`);
    await waitFor(() => merged.test(worker!.logs()), 10_000, "the worker's merge log line");

    const lines = await observer.lines();
    assert.equal(lines.length, 2, "uploaded + merged");
    assertEnvelope(lines[0], "profile.uploaded", { app, profileKey: key }, since);
    assertEnvelope(lines[1], "profile.merged", { app, profileKey: key, mergedKey: baseKey(app) }, since);
    if (bus.keyed) {
      assert.deepEqual(lines.map((l) => l.key), [app, app], "record key = app");
      assert.equal(lines[1].partition, lines[0].partition, "our writer puts the app in sarama's partition");
    }
    assert.equal(await worker.stop(), 0, worker.logs().slice(-2000));
  } finally {
    await observer?.kill();
    await worker?.stop("SIGKILL");
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}

/** The Go program reads the `profile.uploaded` our server published for an HTTP upload. */
async function goReadsServerEvent(bus: Bus, app: string): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "autopgo-interop-server-" });
  let server: AutopgoProcess | undefined;
  let reader: GoReceiver | undefined;
  try {
    // The original worker's subscription, opened before anything is published.
    reader = await startGoReceive(bus.goReaderUrl, 1, "90s", bus.env);
    server = await startAutopgo([
      "server",
      "--port",
      "0",
      "--host",
      "127.0.0.1",
      "--blob-store-url",
      fileUrlFromPath(root),
      "--event-writer-url",
      bus.writerUrl,
    ], { env: bus.env });
    const since = Date.now();
    const result = await upload(server.url, app, await Deno.readFile(committedProfiles().cpuLabelled[0]));
    assert.equal(result.status, 201, JSON.stringify(result.body));
    const key = result.body.key as string;
    assert.match(key, new RegExp(`^${app}/staging/\\d{19}-[a-z0-9]+$`));

    const [line] = await reader.lines();
    assertEnvelope(line, "profile.uploaded", { app, profileKey: key }, since);
    assert.equal(line.key, bus.keyed ? app : null, "record key");
    if (bus.keyed) assert.deepEqual(line.metadata, {}, "no Kafka record headers, as the original");
    assert.equal(await server.stop(), 0, server.logs().slice(-2000));
  } finally {
    await reader?.kill();
    await server?.stop("SIGKILL");
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}

// ---- plain NATS (natsv2=true), the original's NATS set-up --------------------------------------

async function startNatsBus(): Promise<Bus> {
  const monitor = freePort();
  const nats = await startNatsServer({ args: ["-m", String(monitor)] });
  return {
    env: { NATS_SERVER_URL: nats.url },
    writerUrl: "nats://profile?natsv2=true",
    workerReaderUrl: "nats://profile?natsv2=true&queue=worker",
    goReaderUrl: "nats://profile?natsv2=true",
    keyed: false,
    // Core NATS drops what is published before a subscription exists: ask the server.
    workerSubscribed: () =>
      waitFor(
        async () => {
          const response = await fetch(`http://127.0.0.1:${monitor}/connz?subs=detail`);
          const connz = await response.json() as {
            connections: { subscriptions_list_detail?: { subject: string; qgroup?: string }[] }[];
          };
          return connz.connections.some((c) =>
            (c.subscriptions_list_detail ?? []).some((s) => s.subject === "profile" && s.qgroup === "worker")
          );
        },
        30_000,
        "the worker's NATS queue subscription",
      ),
    stop: () => nats.stop(),
  };
}

const natsIgnore = gocloudbusSkip || natsSkip();

Deno.test({
  name: "interop: NATS — our worker merges a profile.uploaded sent by gocloud natspubsub",
  ignore: natsIgnore !== false,
  async fn() {
    const bus = await startNatsBus();
    try {
      await workerMergesGoEvent(bus, "nats-interop");
    } finally {
      await bus.stop();
    }
  },
});

Deno.test({
  name: "interop: NATS — gocloud natspubsub reads the profile.uploaded our server publishes",
  ignore: natsIgnore !== false,
  async fn() {
    const bus = await startNatsBus();
    try {
      bus.goReaderUrl = "nats://profile?natsv2=true&queue=worker";
      await goReadsServerEvent(bus, "nats-interop");
    } finally {
      await bus.stop();
    }
  },
});

// ---- Kafka ------------------------------------------------------------------------------------

const kafkaIgnore = gocloudbusSkip || kafkaSkip();
let broker: Promise<KafkaBroker> | undefined;

Deno.test.afterAll(async () => {
  if (broker) await (await broker).stop();
});

/** The broker the Kafka tests share (started on first use; it creates missing topics with 3 partitions). */
function kafkaBroker(): Promise<KafkaBroker> {
  return broker ??= startKafka();
}

function kafkaAdmin(b: KafkaBroker) {
  return new Kafka({ clientId: "interop-test", brokers: [b.brokers], logLevel: logLevel.NOTHING }).admin();
}

/**
 * A bus on the shared broker, each test on a topic of its own: created up front with
 * `partitions` partitions and elected leaders, as in a deployment, or (`partitions` 0) left to
 * the broker's auto-creation on first use, as on a fresh cluster.
 */
async function kafkaBus(topic: string, partitions = 3): Promise<Bus> {
  const b = await kafkaBroker();
  if (partitions > 0) {
    const admin = kafkaAdmin(b);
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    } finally {
      await admin.disconnect();
    }
  }
  return {
    env: { KAFKA_BROKERS: b.brokers },
    writerUrl: `kafka://${topic}`,
    // offset=oldest (gocloud's parameter): the group reads what was sent before it joined.
    workerReaderUrl: `kafka://${topic}-worker?topic=${topic}&offset=oldest`,
    goReaderUrl: `kafka://${topic}-observer?topic=${topic}&offset=oldest`,
    keyed: true,
    workerSubscribed: () => Promise.resolve(),
    stop: () => Promise.resolve(),
  };
}

/** sarama's default hash partitioner: FNV-1a 32 of the key as int32, modulo n, negated if negative. */
function saramaPartition(key: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(key)) hash = Math.imul(hash ^ byte, 0x01000193);
  return Math.abs((hash | 0) % partitions);
}

/** An app name whose sarama partition (of 3) differs from the Java client's murmur2 one. */
function appSplittingPartitioners(prefix: string): string {
  const murmur2 = Partitioners.DefaultPartitioner();
  const partitionMetadata = [0, 1, 2].map((partitionId) => ({
    partitionId,
    leader: 1,
    partitionErrorCode: 0,
    replicas: [1],
    isr: [1],
  }));
  for (let i = 0;; i++) {
    const app = `${prefix}-${i}`;
    const java = murmur2({ topic: "t", partitionMetadata, message: { key: app, value: null } });
    if (java !== saramaPartition(app, 3)) return app;
  }
}

Deno.test({
  name: "interop: Kafka — our worker merges a profile.uploaded sent by gocloud kafkapubsub",
  ignore: kafkaIgnore !== false,
  async fn() {
    // A topic that does not exist yet: the worker's start-up checks have the broker create it.
    await workerMergesGoEvent(await kafkaBus("interop-worker", 0), appSplittingPartitioners("kafka-interop"));
  },
});

Deno.test({
  name: "interop: Kafka — gocloud kafkapubsub reads the profile.uploaded our server publishes",
  ignore: kafkaIgnore !== false,
  async fn() {
    const bus = await kafkaBus("interop-server");
    // The original worker's subscription form.
    bus.goReaderUrl = "kafka://interop-server-worker?topic=interop-server&offset=oldest";
    await goReadsServerEvent(bus, "kafka-interop");
  },
});

// ---- Kafka: one consumer group for our worker and the original's -------------------------------

/** The partitions of our member (client id `autopgo`) and of sarama's once `group` is stable with `members`. */
async function groupSplit(b: KafkaBroker, group: string, topic: string, members: number) {
  const admin = kafkaAdmin(b);
  await admin.connect();
  try {
    for (const deadline = Date.now() + 60_000;;) {
      const [described] = (await admin.describeGroups([group])).groups;
      if (described.state === "Stable" && described.members.length === members) {
        assert.deepEqual([described.protocolType, described.protocol], ["consumer", "range"]);
        const split = { ours: [] as number[], theirs: [] as number[] };
        for (const m of described.members) {
          const assigned = AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic] ?? [];
          (m.clientId === "autopgo" ? split.ours : split.theirs).push(...assigned);
        }
        return { ours: split.ours.sort(), theirs: split.theirs.sort() };
      }
      const seen = `${described.state}, members ${described.members.map((m) => m.clientId)}`;
      assert.ok(Date.now() < deadline, `group ${group} not stable with ${members} members: ${seen}`);
      await delay(200);
    }
  } finally {
    await admin.disconnect();
  }
}

/** `perPartition` app names for each of `partitions` partitions (sarama's partitioner). */
function appsPerPartition(prefix: string, partitions: number, perPartition: number): string[] {
  const apps: string[] = [];
  const counts = new Array(partitions).fill(0);
  for (let i = 0; apps.length < partitions * perPartition; i++) {
    const app = `${prefix}-${i}`;
    const partition = saramaPartition(app, partitions);
    if (counts[partition]++ < perPartition) apps.push(app);
  }
  return apps;
}

Deno.test({
  name: "interop: Kafka — our worker and gocloud kafkapubsub share a consumer group; each event is consumed once",
  ignore: kafkaIgnore !== false,
  async fn() {
    const topic = "interop-shared";
    const bus = await kafkaBus(topic, 4);
    const b = await kafkaBroker();
    const group = `kafka://${topic}-workers?topic=${topic}&offset=oldest`; // both sides' subscription URL
    const root = await Deno.makeTempDir({ prefix: "autopgo-interop-shared-" });
    const storeUrl = fileUrlFromPath(root);
    const store = await openFileBlobStore(storeUrl);
    const profile = await Deno.readFile(committedProfiles().cpu[0]);
    const worker = () =>
      startAutopgo([
        ...["worker", "--port", "0", "--host", "127.0.0.1", "--blob-store-url", storeUrl, "--event-reader-url", group],
        ...["--event-writer-url", `kafka://${topic}-merged`, "--compaction", "none"],
        ...["--sweep-interval", "0", "--sweep-grace", "1h"],
      ], { env: bus.env });
    let ours: AutopgoProcess | undefined;
    let theirs: GoReceiver | undefined;
    let logs = "";
    const staged = new Map<string, string>(); // app → its upload's staging key
    const goApps: string[] = []; // the apps whose events went to the Go member
    try {
      ours = await worker();
      assert.deepEqual(await groupSplit(b, `${topic}-workers`, topic, 1), { ours: [0, 1, 2, 3], theirs: [] });
      theirs = await startGoReceive(group, 1_000, "300s", bus.env);
      // Round 1: our reader joined first, so it leads the group and computes the assignment.
      // Round 2: our worker restarts while sarama's member stays, so sarama leads and assigns.
      for (const round of [1, 2]) {
        if (round === 2) {
          assert.equal(await ours.stop(), 0, ours.logs().slice(-2000));
          logs += ours.logs();
          assert.deepEqual(await groupSplit(b, `${topic}-workers`, topic, 1), { ours: [], theirs: [0, 1, 2, 3] });
          ours = await worker();
        }
        const split = await groupSplit(b, `${topic}-workers`, topic, 2);
        assert.deepEqual([...split.ours, ...split.theirs].sort(), [0, 1, 2, 3], "each partition has one member");
        assert.ok(split.ours.length > 0 && split.theirs.length > 0, `partitions split: ${JSON.stringify(split)}`);
        const apps = appsPerPartition(`shared-${round}`, 4, 2);
        for (const app of apps) {
          const key = stagingKey(app, dateToUnixNanos(new Date()), "shared");
          await store.write(key, profile, { ifAbsent: true });
          staged.set(app, key);
          await runGoPublish(bus.writerUrl, "profile.uploaded", { app, profileKey: key }, bus.env);
        }
        const mine = apps.filter((app) => split.ours.includes(saramaPartition(app, 4)));
        goApps.push(...apps.filter((app) => !mine.includes(app)));
        await waitFor(
          async () => {
            for (const app of mine) if ((await store.stat(staged.get(app)!)) !== undefined) return false;
            return theirs!.received().length >= goApps.length;
          },
          60_000,
          `round ${round}: our worker merges ${mine.length} uploads, the Go member gets ${goApps.length} events`,
        );
      }
      await delay(2_000); // time for a duplicate to show up
      const received = theirs.received();
      const apps = received.map((line) => JSON.parse(new TextDecoder().decode(line.body)).payload.app as string);
      assert.deepEqual(apps.toSorted(), goApps.toSorted(), "the Go member got its partitions' events, each once");
      for (const line of received) assert.equal(line.partition, saramaPartition(line.key!, 4));
      logs += ours.logs();
      for (const [app, key] of staged) {
        const merges = logs.split("\n").filter((l) => l.includes(`merged ${key} into ${baseKey(app)}`)).length;
        const goConsumed = goApps.includes(app);
        assert.equal(merges, goConsumed ? 0 : 1, `${app}: merged by our worker ${merges} times`);
        assert.equal((await store.stat(key)) !== undefined, goConsumed, `${app}: upload staged iff ours skipped it`);
      }
      assert.equal(await ours.stop(), 0, ours.logs().slice(-2000));
    } finally {
      await theirs?.kill();
      await ours?.stop("SIGKILL");
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
