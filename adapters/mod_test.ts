/**
 * Built-in driver registration: explicit registries stay isolated from the process-wide
 * ones, registering twice is harmless, and the process-wide `open…` functions serve every
 * built-in scheme once registered.
 *
 * @module
 */

import assert from "node:assert/strict";
import { pathToFileURL } from "node:url";
import type { BlobStore } from "../core/blob.ts";
import type { EventReader, EventWriter } from "../core/events.ts";
import { blobDrivers, openBlobStore, openEventReader, openEventWriter, SchemeRegistry } from "../core/registry.ts";
import { registerBuiltinDrivers } from "./mod.ts";

Deno.test("registerBuiltinDrivers fills explicit registries only, idempotently", async () => {
  const registries = {
    blob: new SchemeRegistry<BlobStore>("blob store"),
    eventWriter: new SchemeRegistry<EventWriter>("event writer"),
    eventReader: new SchemeRegistry<EventReader>("event reader"),
  };
  const before = blobDrivers.schemes();
  registerBuiltinDrivers(registries);
  registerBuiltinDrivers(registries);
  assert.deepEqual(blobDrivers.schemes(), before);
  // file and mem are always there; cloud drivers (s3, gs, azblob, nats…) register lazy openers beside them.
  for (const r of Object.values(registries)) {
    assert.deepEqual(r.schemes().filter((s) => s === "file" || s === "mem"), ["file", "mem"]);
  }
  const writer = await registries.eventWriter.open("mem://mod-test");
  const reader = await registries.eventReader.open("mem://mod-test");
  await writer.send({ body: new Uint8Array([7]), orderingKey: "a" });
  const message = await reader.receive();
  assert.deepEqual(message?.body, new Uint8Array([7]));
  await message?.ack();
  await Promise.all([reader.close(), writer.close()]);
});

Deno.test("process-wide open functions serve file:// and mem:// after registration", async () => {
  registerBuiltinDrivers();
  const dir = await Deno.makeTempDir({ prefix: "autopgo-mod-" });
  try {
    const url = pathToFileURL(dir).href;
    const store = await openBlobStore(`${url}/blobs`);
    const version = await store.write("app/default.pgo", new Uint8Array([1, 2]), { ifAbsent: true });
    assert.equal(await (await openBlobStore("mem://mod-test")).stat("x"), undefined);
    assert.equal((await store.stat("app/default.pgo"))?.version, version);
    const writer = await openEventWriter(`${url}/bus`);
    const reader = await openEventReader(`${url}/bus?poll=10ms`);
    await writer.send({ body: new Uint8Array([9]) });
    const message = await reader.receive();
    assert.deepEqual(message?.body, new Uint8Array([9]));
    await message?.ack();
    await Promise.all([reader.close(), writer.close(), store.close()]);
    await assert.rejects(
      openBlobStore("nosuch://bucket"),
      /unknown blob store URL scheme "nosuch".*known schemes: .*file.*mem/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
