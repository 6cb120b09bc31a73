/**
 * Tests of the file helpers (fs_util.ts) that answer "nothing there" cheaply: a missing path is
 * `undefined` or a no-op, other failures still throw, and the stack-trace limit always comes back.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { removeIfExists, statIfExists, withoutStackTraces } from "./fs_util.ts";

Deno.test("statIfExists / removeIfExists: missing paths answer undefined or nothing; others still fail", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "a");
    Deno.writeTextFileSync(file, "abc");
    assert.equal(statIfExists(file)?.size, 3);
    assert.equal(statIfExists(join(dir, "missing")), undefined);
    assert.equal(statIfExists(join(file, "below-a-file")), undefined);
    await removeIfExists(file);
    await removeIfExists(file);
    assert.equal(statIfExists(file), undefined);
    Deno.mkdirSync(join(dir, "full"));
    Deno.writeTextFileSync(join(dir, "full", "x"), "");
    await assert.rejects(removeIfExists(join(dir, "full")));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("withoutStackTraces: errors made inside carry no frames; the limit is restored, also after a throw", () => {
  const before = Error.stackTraceLimit;
  const error = withoutStackTraces(() => new Error("expected"));
  assert.equal(error.stack, "Error: expected");
  assert.throws(() => withoutStackTraces(() => Deno.statSync("/nonexistent/autopgo")), Deno.errors.NotFound);
  assert.equal(Error.stackTraceLimit, before);
});
