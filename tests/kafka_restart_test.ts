/**
 * A Kafka broker killed and restarted under a running server and worker: uploads are still
 * accepted, and merging resumes within the readers' session timeout (default 10 s). The group
 * waits that long for the readers' old memberships after the broker comes back; with the earlier
 * default of 30 s merging stopped for 30 s.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileUrlFromPath } from "../adapters/driver_url.ts";
import { committedProfiles } from "./support/fixtures.ts";
import { type AutopgoProcess, startAutopgo, upload, waitFor } from "./support/pipeline_process.ts";
import { kafkaSkip, startKafka } from "./support/services/kafka.ts";

Deno.test({
  name: "kafka: after the broker is killed and restarted, merging resumes within the session timeout",
  ignore: Boolean(kafkaSkip()),
}, async () => {
  const kafka = await startKafka();
  const store = await Deno.makeTempDir({ prefix: "autopgo-kafka-restart-" });
  const processes: AutopgoProcess[] = [];
  try {
    await kafka.createTopic("events", 3);
    const env = { KAFKA_BROKERS: kafka.brokers };
    const local = ["--port", "0", "--host", "127.0.0.1", "--blob-store-url", fileUrlFromPath(store)];
    const bus = ["--event-writer-url", "kafka://events"];
    const server = await startAutopgo(["server", ...local, ...bus], { env });
    processes.push(server);
    const reader = "kafka://workers?topic=events&offset=oldest";
    // No sweep during the test: only events can merge the uploads.
    const worker = ["worker", ...local, ...bus, "--event-reader-url", reader, "--sweep-interval", "10m"];
    processes.push(await startAutopgo(worker, { env }));
    const profile = Deno.readFileSync(committedProfiles().cpu[0]);
    const staged = () => [...Deno.readDirSync(`${store}/shop/staging`)].filter((e) => !e.name.startsWith(".")).length;
    assert.equal((await upload(server.url, "shop", profile)).status, 201);
    await waitFor(() => staged() === 0, 60_000, "the first upload merged");

    await kafka.restart({ kill: true, downMs: 3_000 });
    const after = await upload(server.url, "shop", profile);
    assert.equal(after.status, 201, JSON.stringify(after.body));
    const started = performance.now();
    await waitFor(() => staged() === 0, 60_000, "the upload after the restart merged");
    const seconds = (performance.now() - started) / 1000;
    console.log(`merged ${seconds.toFixed(1)} s after the upload that followed the broker's restart`);
    // 10 s of session timeout and the group's rejoin; the earlier 30 s default took 30 s.
    assert.ok(seconds < 25, `merging resumed after ${seconds.toFixed(1)} s, not soon after the 10 s session timeout`);
  } finally {
    for (const p of processes) await p.stop();
    await kafka.stop();
    await Deno.remove(store, { recursive: true });
  }
});
