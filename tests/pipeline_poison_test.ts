/**
 * Poison messages never stop the worker (the original crash-looped, spec §8.7): junk envelopes,
 * bad payloads, unknown event types, a staged junk blob and a staged heap profile are published
 * straight onto the file:// bus a real `autopgo worker` consumes. The worker keeps running,
 * moves the unusable staged blobs to `<app>/rejected/` with a reason, and later good uploads
 * still merge.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileUrlFromPath, openFileBlobStore, openFileEventWriter } from "../adapters/mod.ts";
import { encodeEnvelope, makeEnvelope } from "../core/events.ts";
import { stagingKey } from "../core/pipeline/keys.ts";
import { decodeProfile } from "../core/pprof/decode.ts";
import { committedProfiles } from "./support/fixtures.ts";
import { type AutopgoProcess, download, listFiles, startAutopgo, upload, waitFor } from "./support/pipeline_process.ts";
import { assertSameSamples } from "./support/samples.ts";

Deno.test("poison events leave the worker running and later uploads still merge", async () => {
  const root = await Deno.makeTempDir({ prefix: "autopgo-poison-" });
  await Deno.mkdir(`${root}/store`);
  await Deno.mkdir(`${root}/bus`);
  const blob = fileUrlFromPath(`${root}/store`);
  const bus = fileUrlFromPath(`${root}/bus`);
  const processes: AutopgoProcess[] = [];
  const store = await openFileBlobStore(blob);
  const writer = await openFileEventWriter(bus);
  try {
    const common = ["--port", "0", "--host", "127.0.0.1", "--blob-store-url", blob, "--event-writer-url", bus];
    const worker = await startAutopgo([
      "worker",
      ...common,
      "--event-reader-url",
      `${bus}?poll=20ms`,
      "--compaction",
      "none",
    ]);
    processes.push(worker);
    const server = await startAutopgo(["server", ...common]);
    processes.push(server);

    const now = new Date();
    const nanos = BigInt(now.getTime()) * 1_000_000n;
    const junkKey = stagingKey("victim", nanos, "junk");
    const heapKey = stagingKey("victim", nanos + 1n, "heap");
    await store.write(junkKey, new TextEncoder().encode("this is not a profile"), { ifAbsent: true });
    await store.write(heapKey, await Deno.readFile(committedProfiles().heap), { ifAbsent: true });
    const event = (type: "profile.uploaded" | "profile.merged" | "profile.deleted", payload: Record<string, string>) =>
      encodeEnvelope(makeEnvelope(type, payload as never, crypto.randomUUID(), now));
    const poison: Uint8Array[] = [
      new TextEncoder().encode("\x00\x01 definitely not json"),
      new TextEncoder().encode('{"id":1,"type":"profile.uploaded"}'),
      event("profile.uploaded", { app: "Victim", profileKey: junkKey }),
      event("profile.uploaded", { app: "thief", profileKey: heapKey }),
      event("profile.uploaded", { app: "victim" }),
      event("profile.merged", { app: "victim", profileKey: "../../etc/passwd", mergedKey: "x" }),
      encodeEnvelope({ id: "x", timestamp: now.toISOString(), type: "profile.unknown", payload: {} }),
      event("profile.uploaded", { app: "victim", profileKey: junkKey }),
      event("profile.uploaded", { app: "victim", profileKey: heapKey }),
      event("profile.uploaded", { app: "victim", profileKey: "victim/staging/1700000000000000000-missing" }),
    ];
    for (const body of poison) await writer.send({ body, orderingKey: "victim" });

    await waitFor(
      async () => {
        const files = await listFiles(`${root}/store`);
        return files.filter((f) => f.startsWith("victim/rejected/")).length === 4;
      },
      60_000,
      "junk and heap staged uploads moved to rejected/",
    );
    const reasons = await Promise.all(
      (await listFiles(`${root}/store`)).filter((f) => f.endsWith(".reason")).map((f) =>
        Deno.readTextFile(`${root}/store/${f}`)
      ),
    );
    assert.ok(reasons.some((r) => /invalid profile/.test(r)), reasons.join(" | "));
    assert.ok(reasons.some((r) => /not a CPU profile/.test(r)), reasons.join(" | "));

    const good = await Deno.readFile(committedProfiles().cpu[0]);
    assert.equal((await upload(server.url, "victim", good)).status, 201);
    await waitFor(
      async () => (await listFiles(`${root}/store`)).includes("victim/default.pgo"),
      60_000,
      "good upload merged",
    );
    const merged = await download(server.url, "victim");
    assert.ok(merged);
    assertSameSamples(merged, decodeProfile(good));
    assert.equal((await fetch(`${worker.url}/api/health`)).status, 200);
    assert.match(worker.logs(), /dropping malformed/);
    for (const p of processes) assert.equal(await p.stop(), 0, "worker and server stop cleanly");
  } finally {
    await Promise.all(processes.map((p) => p.stop("SIGKILL")));
    await writer.close();
    await store.close();
    await Deno.remove(root, { recursive: true });
  }
});
