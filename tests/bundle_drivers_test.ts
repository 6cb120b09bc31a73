/**
 * The cloud drivers are part of the self-contained program: build/bundle.ts's `autopgo.js` (offline),
 * run from an empty directory with no node_modules, no deno.json and no repository beside it,
 * stores uploads in MinIO through the `s3://` driver and moves events through NATS JetStream to a
 * bundled worker that merges them, and does the same on fake-gcs-server and Pub/Sub (pstest). The other drivers are loaded from the bundle too: a bundled
 * worker pointed at unreachable endpoints reaches each SDK's network code (it logs the store or
 * bus as not reachable yet) instead of failing to load a module.
 *
 * @module
 */

import assert from "node:assert/strict";
import { buildTestBundle } from "./support/bundle.ts";
import { spawnAutopgo } from "./support/autopgo_processes.ts";
import { committedProfiles } from "./support/fixtures.ts";
import { download, startAutopgo, upload, waitFor } from "./support/pipeline_process.ts";
import { minioBinary, startMinio } from "./support/services/minio.ts";
import { natsSkip, startNatsServer } from "./support/services/nats.ts";
import { fakeGcsSkip, startFakeGcs } from "./support/services/fake_gcs.ts";
import { pstestAdmin, pstestSkip, startPstest } from "./support/services/pstest.ts";
import { freePort, serviceSkip } from "./support/services/service.ts";

/** Where a bundled server and worker keep profiles and move events in {@link runBundledPipeline}. */
interface Backends {
  env: Record<string, string>;
  blobUrl: string;
  writerUrl: string;
  readerUrl: string;
}

/**
 * Runs a bundled server and worker from an empty directory on `backends`, uploads a real profile
 * and waits until the worker has merged it; nothing may be written beside the bundle.
 */
async function runBundledPipeline(prefix: string, backends: Backends): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  const empty = `${dir}/empty`;
  await Deno.mkdir(empty);
  const processes: { stop(signal?: Deno.Signal): Promise<number> }[] = [];
  try {
    const { command, env: cache } = await buildTestBundle(dir);
    const options = { env: { ...backends.env, ...cache }, cwd: empty, command };
    const common = ["--port", "0", "--host", "127.0.0.1", "--blob-store-url", backends.blobUrl];
    const server = await startAutopgo(["server", ...common, "--event-writer-url", backends.writerUrl], options);
    processes.push(server);
    processes.push(
      await startAutopgo(
        ["worker", ...common, "--event-reader-url", backends.readerUrl, "--event-writer-url", backends.writerUrl],
        options,
      ),
    );
    const profile = await Deno.readFile(committedProfiles().cpu[0]);
    assert.equal((await upload(server.url, "bundled", profile)).status, 201);
    await waitFor(async () => (await download(server.url, "bundled")) !== undefined, 60_000, "the bundled merge");
    assert.deepEqual([...await Array.fromAsync(Deno.readDir(empty))], [], "nothing was written beside the bundle");
  } finally {
    await Promise.all(processes.map((p) => p.stop("SIGKILL")));
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "bundle: a bundled server and worker run on MinIO (s3://) and NATS JetStream from an empty directory",
  ignore: Boolean(serviceSkip("minio", minioBinary() !== undefined, "the bundle's s3 run") || natsSkip()),
}, async () => {
  const minio = await startMinio();
  const nats = await startNatsServer();
  try {
    await minio.createBucket("bundled");
    const bus = "nats://bundled.profile?natsv2=true&jetstream=true";
    await runBundledPipeline("autopgo-bundle-drivers-", {
      env: { ...minio.env, NATS_SERVER_URL: nats.url },
      blobUrl: minio.url("bundled"),
      writerUrl: bus,
      readerUrl: `${bus}&queue=w`,
    });
  } finally {
    await nats.stop();
    await minio.stop();
  }
});

// The SDKs of both are CommonJS, which a split bundle hands over as a lone default export
// (adapters/sdk_exports.ts); Pub/Sub also loads gRPC.
Deno.test({
  name: "bundle: a bundled server and worker run on fake-gcs-server (gs://) and Pub/Sub (pstest)",
  ignore: Boolean(fakeGcsSkip() || pstestSkip()),
}, async () => {
  const gcs = await startFakeGcs();
  const pstest = await startPstest();
  const admin = await pstestAdmin(pstest, "bundled");
  try {
    await gcs.createBucket("bundled");
    const [topic] = await admin.createTopic("events");
    await topic.createSubscription("workers", { ackDeadlineSeconds: 10 });
    await runBundledPipeline("autopgo-bundle-gcp-", {
      env: { ...gcs.env, PUBSUB_EMULATOR_HOST: pstest.host },
      blobUrl: gcs.url("bundled"),
      writerUrl: "gcppubsub://projects/bundled/topics/events",
      readerUrl: "gcppubsub://projects/bundled/subscriptions/workers",
    });
  } finally {
    await admin.close();
    await pstest.stop();
    await gcs.stop();
  }
});

Deno.test("bundle: every other cloud driver loads from the bundle and reaches its SDK's network code", async () => {
  const dir = await Deno.makeTempDir({ prefix: "autopgo-bundle-sdks-" });
  const empty = `${dir}/empty`;
  await Deno.mkdir(empty);
  try {
    const { command, env: cache } = await buildTestBundle(dir);
    const dead = `127.0.0.1:${freePort()}`;
    const env = {
      ...cache,
      STORAGE_EMULATOR_HOST: dead,
      AZURE_STORAGE_ACCOUNT: "devstoreaccount1",
      AZURE_STORAGE_KEY: btoa("not-a-real-key-but-valid-base64!"),
      KAFKA_BROKERS: dead,
      PUBSUB_EMULATOR_HOST: dead,
      AWS_ACCESS_KEY_ID: "x",
      AWS_SECRET_ACCESS_KEY: "y",
      AWS_REGION: "us-east-1",
      SERVICEBUS_CONNECTION_STRING: `Endpoint=sb://${
        dead.replace("127.0.0.1", "localhost")
      }/;SharedAccessKeyName=k;SharedAccessKey=dmFsdWU=`,
    };
    const cases: [string, string, string][] = [
      ["gs", `gs://bucket`, "mem://t"],
      ["azblob", `azblob://container?localemu=true&protocol=http&domain=${dead}`, "mem://t"],
      ["kafka", "mem://", "kafka://group?topic=t"],
      ["gcppubsub", "mem://", "gcppubsub://projects/p/subscriptions/s"],
      ["awssqs", "mem://", `awssqs://${dead}/000000000000/q?endpoint=http://${dead}`],
      ["azuresb", "mem://", "azuresb://topic?subscription=sub"],
    ];
    await Promise.all(cases.map(async ([scheme, blob, reader]) => {
      const writer = reader.startsWith("mem:")
        ? "mem://t"
        : reader.replace(/\?.*$/, "").replace("/subscriptions/s", "/topics/t").replace("kafka://group", "kafka://t");
      const worker = spawnAutopgo([
        "worker",
        "--port",
        "0",
        "--host",
        "127.0.0.1",
        "--blob-store-url",
        blob,
        "--event-reader-url",
        reader,
        "--event-writer-url",
        writer,
      ], { env, cwd: empty, command });
      try {
        // Either start-up goes on with a warning, or the driver refuses to start: both only after
        // its SDK tried the network, never because a module is missing from the bundle.
        await worker.waitFor(/is not reachable yet/, 90_000).catch(() => {});
        const text = worker.lines.join("\n");
        assert.doesNotMatch(
          text,
          /Module not found|Cannot find module|is not defined|not a function/i,
          `${scheme}: ${text}`,
        );
        assert.match(text, /ECONNREFUSED|[Cc]onnection refused|not reachable yet/, `${scheme}: ${text.slice(-1500)}`);
      } finally {
        await worker.stop("SIGKILL");
      }
    }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
