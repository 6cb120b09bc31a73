/**
 * Tests of the file helpers (fs_util.ts) that answer "nothing there" cheaply: a missing path is
 * `undefined` or a no-op, other failures still throw, and the stack-trace limit always comes back;
 * and the folder flushes that overlapping callers share.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { folderFlushesStarted, removeIfExists, statIfExists, syncDir, withoutStackTraces } from "./fs_util.ts";

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

Deno.test("syncDir: overlapping callers share flushes, each waits for one started after its call", async () => {
  const dir = await Deno.makeTempDir({ prefix: "autopgo-syncdir-" });
  try {
    const before = folderFlushesStarted();
    const first = syncDir(dir); // starts a flush at once
    const joined = Array.from({ length: 7 }, () => syncDir(dir)); // all join the one queued behind it
    assert.equal(new Set(joined).size, 1, "the seven later callers share one promise");
    assert.notEqual(joined[0], first, "and it is not the flush that was running when they called");
    await Promise.all([first, ...joined]);
    assert.equal(folderFlushesStarted() - before, 2, "eight callers, two flushes");
    // Once idle, a caller starts its own flush; another folder never shares.
    const other = await Deno.makeTempDir({ prefix: "autopgo-syncdir-" });
    await Promise.all([syncDir(dir), syncDir(other)]);
    assert.equal(folderFlushesStarted() - before, 4);
    await Deno.remove(other);
    await syncDir(`${dir}/missing`); // cannot be opened: a no-op that resolves
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
