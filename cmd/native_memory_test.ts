/**
 * NativeMemoryRelease: a trim only while resident memory stands the growth above the lowest it
 * has been, the floor lowered by what a trim gave back; glibc's malloc_trim reachable here.
 *
 * @module
 */

import assert from "node:assert/strict";
import { glibcTrim, NativeMemoryRelease } from "./native_memory.ts";

const MiB = 2 ** 20;

Deno.test("NativeMemoryRelease: trims while memory stands the growth above its floor, and the floor follows trims down", () => {
  let rss = 100 * MiB;
  let freeable = 0;
  const trims: number[] = [];
  const release = new NativeMemoryRelease({
    rss: () => rss,
    trim: () => {
      trims.push(rss / MiB);
      rss -= freeable;
      freeable = 0;
      return true;
    },
    growthBytes: 32 * MiB,
  });
  rss = 120 * MiB; // below the growth: nothing to do
  assert.equal(release.look(), 0);
  rss = 400 * MiB; // a burst, its memory still in use
  assert.equal(release.look(), 0);
  freeable = 290 * MiB; // the burst is over; the allocator keeps what it freed
  assert.equal(release.look(), 290 * MiB);
  assert.equal(rss, 110 * MiB);
  assert.equal(release.look(), 0, "back within the growth of the floor");
  assert.deepEqual(trims, [400, 400]);
  assert.equal(release.trims, 2);
});

Deno.test("NativeMemoryRelease: without a trim it does nothing and starts no timer", () => {
  const release = new NativeMemoryRelease({ rss: () => 1e12, trim: undefined });
  assert.equal(release.available, false);
  assert.equal(release.look(), 0);
  release.every(1)(); // no interval to leak: the test sanitizer would report it
});

Deno.test({
  name: "glibcTrim: malloc_trim is called through FFI on Linux with glibc",
  ignore: Deno.build.os !== "linux",
  fn() {
    const trim = glibcTrim();
    assert.ok(trim, "malloc_trim is available (Linux, glibc, --allow-ffi)");
    assert.equal(typeof trim(), "boolean");
  },
});
