/**
 * Start-up against real cloud stores and brokers: a missing bucket, wrong credentials or a
 * missing subscription stop `autopgo server` / `worker` with one line naming the problem; a store
 * or broker that is down only delays readiness (`/api/ready` 503 until it answers); a broker that
 * goes down later slows one upload's answer, not every one.
 *
 * @module
 */

import assert from "node:assert/strict";
import { runAutopgo } from "./support/cli.ts";
import { spawnAutopgo } from "./support/autopgo_processes.ts";
import { upload, waitFor } from "./support/pipeline_process.ts";
import { committedProfiles } from "./support/fixtures.ts";
import { fileUrlFromPath } from "../adapters/driver_url.ts";
import { minioBinary, startMinio } from "./support/services/minio.ts";
import { natsSkip, startNatsServer } from "./support/services/nats.ts";
import { freePort, serviceSkip } from "./support/services/service.ts";

const SERVER = ["server", "--port", "0", "--host", "127.0.0.1", "--event-writer-url", "mem://events"];

/** The last non-empty stderr line, and how many error lines there are. */
function errorLines(stderr: string): string[] {
  return stderr.split("\n").filter((line) => line.startsWith("autopgo:"));
}

Deno.test({
  name: "startup: a missing bucket and a wrong secret are one-line errors; a store that is down delays readiness",
  ignore: Boolean(serviceSkip("minio", minioBinary() !== undefined, "the s3 start-up errors")),
}, async () => {
  const minio = await startMinio();
  try {
    const missing = await runAutopgo([...SERVER, "--blob-store-url", minio.url("no-such-bucket")], { env: minio.env });
    assert.notEqual(missing.code, 0);
    assert.equal(errorLines(missing.stderr).length, 1, missing.stderr);
    assert.match(errorLines(missing.stderr)[0], /no-such-bucket.*(does not exist|not found)/i);
    await minio.createBucket("profiles");
    const wrong = await runAutopgo([...SERVER, "--blob-store-url", minio.url("profiles")], {
      env: { ...minio.env, AWS_SECRET_ACCESS_KEY: "not-the-secret" },
    });
    assert.notEqual(wrong.code, 0);
    assert.equal(errorLines(wrong.stderr).length, 1, wrong.stderr);
    assert.match(errorLines(wrong.stderr)[0], /profiles.*(denied|credentials|permission|signature|403)/i);
    assert.doesNotMatch(wrong.stderr, /not-the-secret/, "the secret is never printed");
    // A store that is down: the server starts, says so, and is not ready until the store answers.
    await minio.halt();
    const server = spawnAutopgo([...SERVER, "--blob-store-url", minio.url("profiles")], { env: minio.env });
    try {
      const url = (await server.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 90_000))[1];
      assert.match(server.lines.join("\n"), /not reachable yet/);
      // Probes are answered within a second; the store is named once its first check has failed.
      await waitFor(
        async () => {
          const notReady = await fetch(`${url}/api/ready`);
          assert.equal(notReady.status, 503);
          return /not ready: .*profiles/.test((await notReady.json()).message);
        },
        30_000,
        "a not-ready answer naming the bucket",
      );
      await minio.start();
      await waitFor(async () => (await fetch(`${url}/api/ready`)).status === 200, 30_000, "ready once MinIO is back");
    } finally {
      await server.stop("SIGKILL");
    }
  } finally {
    await minio.stop();
  }
});

Deno.test({
  name: "startup: a worker whose NATS server is down says so while it waits, then serves and becomes ready",
  ignore: Boolean(natsSkip()),
}, async () => {
  const port = freePort(), apiPort = freePort();
  const bus = "nats://autopgo.profile?natsv2=true&jetstream=true";
  const worker = spawnAutopgo([
    "worker",
    "--port",
    String(apiPort),
    "--host",
    "127.0.0.1",
    "--blob-store-url",
    "mem://store",
    "--event-reader-url",
    `${bus}&queue=w`,
    "--event-writer-url",
    bus,
  ], { env: { NATS_SERVER_URL: `nats://127.0.0.1:${port}` } });
  try {
    await worker.waitFor(/is not reachable yet, retrying/, 60_000);
    // Meanwhile health says what start-up waits for (no query string, no credentials).
    const starting = await fetch(`http://127.0.0.1:${apiPort}/api/health`);
    assert.equal(starting.status, 503);
    const startup = (await starting.json()).dependencies.find((d: { name: string }) => d.name === "startup");
    assert.match(
      startup?.message ?? "",
      /^event (reader|writer) nats:\/\/autopgo\.profile is not reachable yet \(.+\); retrying$/,
    );
    let nats = await startNatsServer({ port });
    try {
      const url = (await worker.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 90_000))[1];
      await waitFor(async () => (await fetch(`${url}/api/ready`)).status === 200, 60_000, "ready once NATS is up");
      // The bus goes away: health and readiness say so, naming the reader; it comes back: healthy again.
      await nats.stop();
      await waitFor(async () => (await fetch(`${url}/api/health`)).status === 503, 30_000, "unhealthy without NATS");
      const health = await (await fetch(`${url}/api/health`)).json();
      const reader = health.dependencies.find((d: { name: string }) => d.name === "event-reader");
      assert.equal(reader?.status, "unhealthy", JSON.stringify(health));
      assert.equal((await fetch(`${url}/api/ready`)).status, 503);
      nats = await startNatsServer({ port });
      await waitFor(async () => (await fetch(`${url}/api/health`)).status === 200, 60_000, "healthy once NATS is back");
    } finally {
      await nats.stop();
    }
  } finally {
    await worker.stop("SIGKILL");
  }
});

Deno.test({
  name:
    "outage: with NATS down one upload waits out one reconnect (one warning), the next answer at once; then events flow",
  ignore: Boolean(natsSkip()),
}, async () => {
  const nats = await startNatsServer();
  const store = await Deno.makeTempDir({ prefix: "autopgo-outage-" });
  const bus = "nats://autopgo.outage?natsv2=true&jetstream=true";
  const local = ["--port", "0", "--host", "127.0.0.1", "--blob-store-url", fileUrlFromPath(store)];
  const server = spawnAutopgo(["server", ...local, "--event-writer-url", bus], { env: { NATS_SERVER_URL: nats.url } });
  const profile = Deno.readFileSync(committedProfiles().cpu[0]);
  const timed = async () => {
    const started = performance.now();
    const answer = await upload(url, "shop", profile);
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    return { key: String(answer.body.key), ms: performance.now() - started };
  };
  const failedFor = (key: string) =>
    server.lines.some((l) => l.includes(`publishing profile.uploaded for ${key} failed`));
  let url = "";
  try {
    url = (await server.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 60_000))[1];
    await waitFor(async () => (await fetch(`${url}/api/ready`)).status === 200, 30_000, "ready");
    assert.equal(failedFor((await timed()).key), false);
    await nats.halt();
    const first = await timed(); // waits for the bus client's reconnect once (5 s), not through every retry
    assert.ok(
      first.ms < 15_000,
      `the first upload of the outage answered in ${first.ms.toFixed(0)} ms (4 retries: 21 s)`,
    );
    // Logged before the answer, but read from the server's stderr after it: wait for the line.
    await server.waitFor(new RegExp(`publishing profile\\.uploaded for ${first.key} failed`), 5_000);
    for (let i = 0; i < 3; i++) {
      const next = await timed();
      assert.ok(next.ms < 3_000, `an upload during the outage answered in ${next.ms.toFixed(0)} ms`);
      assert.ok(!server.lines.some((l) => l.includes(next.key) && /\[(WRN|ERR)\]/.test(l)), "one warning per outage");
    }
    await nats.start();
    // A passing health check ends the outage; the next upload's event is sent, and the log says how many waited.
    await waitFor(async () => (await fetch(`${url}/api/health`)).status === 200, 60_000, "healthy once NATS is back");
    const after = await timed();
    await waitFor(
      () => server.lines.some((l) => /events are sent again; the 4 uploads staged without one since/.test(l)),
      5_000,
      "the end of the outage in the log",
    );
    assert.equal(failedFor(after.key), false, server.lines.slice(-3).join("\n"));
  } finally {
    await server.stop("SIGKILL");
    await nats.stop();
    await Deno.remove(store, { recursive: true });
  }
});
