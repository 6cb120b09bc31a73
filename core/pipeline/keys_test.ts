/**
 * Staging keys (keys.ts): ours and the original's names parse; names the blob store would refuse,
 * which events can carry, do not (the worker then drops the event as poison instead of retrying it).
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseStagingKey, stagingKey } from "./keys.ts";

Deno.test("parseStagingKey: our names and the original's parse; unsafe names do not", () => {
  assert.deepEqual(parseStagingKey(stagingKey("app", 17n, "r4nd0m")), {
    app: "app",
    name: "0000000000000000017-r4nd0m",
    unixNanos: 17n,
  });
  assert.equal(parseStagingKey("app/staging/1796197194283000000")?.unixNanos, 1796197194283000000n);
  assert.equal(parseStagingKey("app/staging/upload.pb.gz")?.unixNanos, undefined, "a foreign name, no time");
  for (const name of ["", ".", "..", ".autopgo-tmp", "a\\b", "a\u0000b", "a\tb", "a b", "é", "x".repeat(201)]) {
    assert.equal(parseStagingKey(`app/staging/${name}`), undefined, JSON.stringify(name));
  }
  assert.equal(parseStagingKey("app/staging/a/b"), undefined);
  assert.equal(parseStagingKey("App/staging/1"), undefined);
  assert.equal(parseStagingKey("app/rejected/1"), undefined);
});
