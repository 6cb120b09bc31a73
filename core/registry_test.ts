/**
 * URL-scheme registries: opening by scheme, one-line errors for bad and unknown URLs
 * (listing the known schemes, secrets redacted). The built-in drivers are tested in
 * adapters/mod_test.ts (core/ never imports adapters/).
 *
 * @module
 */

import assert from "node:assert/strict";
import { redactUrl, SchemeRegistry } from "./registry.ts";

Deno.test("registry: opens by scheme and passes the parsed URL", async () => {
  const registry = new SchemeRegistry<string>("thing");
  registry.register("fake", (url) => Promise.resolve(`opened ${url.host}${url.pathname}`));
  assert.equal(await registry.open("fake://bucket/path"), "opened bucket/path");
  registry.register("fake", () => Promise.resolve("replaced"));
  assert.equal(await registry.open("fake://x"), "replaced");
  assert.deepEqual(registry.schemes(), ["fake"]);
});

Deno.test("registry: unknown schemes and malformed URLs are one-line errors", async () => {
  const registry = new SchemeRegistry<string>("blob store");
  await assert.rejects(registry.open("s3://bucket"), {
    message: `unknown blob store URL scheme "s3" in "s3://bucket" (known schemes: none registered)`,
  });
  registry.register("mem", () => Promise.resolve("m"));
  registry.register("file", () => Promise.resolve("f"));
  await assert.rejects(registry.open("gs://b"), /\(known schemes: file, mem\)$/);
  await assert.rejects(registry.open("/var/lib/autopgo"), /invalid blob store URL "\/var\/lib\/autopgo": expected/);
  await assert.rejects(registry.open("file:relative"), /a file URL needs an absolute path/);
  assert.equal(await registry.open("file:///var/lib/autopgo"), "f");
  assert.throws(() => registry.register("Bad:", () => Promise.resolve("x")), /invalid blob store URL scheme/);
});

Deno.test("registry: secrets never appear in errors", async () => {
  const registry = new SchemeRegistry<string>("event writer");
  const error = await registry.open("nats://user:hunter2@host/x?token=abc&queue=w").catch((e) => e as Error);
  assert.ok(error instanceof Error);
  assert.doesNotMatch(error.message, /hunter2|abc/);
  assert.match(error.message, /queue=w/);
  assert.equal(redactUrl("not a url"), "not a url");
});
