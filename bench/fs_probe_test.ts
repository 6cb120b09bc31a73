/**
 * Tests of the benchmarks' filesystem probe (fs_probe.ts).
 */

import assert from "node:assert/strict";
import { benchTempDir, fileCreateMicros, mountOf, storeFilesystemLine, tmpdirPrefix } from "./fs_probe.ts";

const MOUNTS = [
  "/dev/vda / ext4 rw,relatime,discard 0 0",
  "tmpfs /dev/shm tmpfs rw,relatime 0 0",
  "/dev/loop0 /mnt/with\\040space ext4 rw,relatime 0 0",
  "/dev/loop1 /mnt/ext4j ext4 rw,relatime 0 0",
  "/dev/loop2 /mnt/back\\134slash ext4 rw,relatime 0 0",
].join("\n");

Deno.test("mountOf: the longest mount point containing the path, not a sibling sharing its prefix", () => {
  assert.deepEqual(mountOf("/tmp/x", MOUNTS), { source: "/dev/vda", point: "/", type: "ext4" });
  assert.equal(mountOf("/dev/shm/bench/a", MOUNTS)?.type, "tmpfs");
  assert.equal(mountOf("/dev/shm", MOUNTS)?.point, "/dev/shm");
  assert.equal(mountOf("/mnt/ext4jx/a", MOUNTS)?.point, "/", "/mnt/ext4jx is not inside /mnt/ext4j");
  assert.equal(mountOf("/mnt/with space/a", MOUNTS)?.source, "/dev/loop0");
  assert.equal(mountOf("/mnt/back\\slash/a", MOUNTS)?.source, "/dev/loop2");
  assert.equal(mountOf("/x", ""), undefined);
});

Deno.test("fileCreateMicros: a positive mean, and the probe folder is gone afterwards", () => {
  const dir = Deno.makeTempDirSync({ prefix: "autopgo-fs-probe-test-" });
  try {
    assert.ok(fileCreateMicros(dir) > 0);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    assert.match(storeFilesystemLine(dir), /^file:\/\/ stores in .* \d+ µs per file creation$/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("tmpdirPrefix and benchTempDir follow TMPDIR, which decides where the stores live", () => {
  const previous = Deno.env.get("TMPDIR");
  try {
    Deno.env.set("TMPDIR", "/mnt/journaled");
    assert.equal(tmpdirPrefix(), "TMPDIR=/mnt/journaled ");
    assert.equal(benchTempDir(), "/mnt/journaled");
    Deno.env.delete("TMPDIR");
    assert.equal(tmpdirPrefix(), "");
    assert.equal(benchTempDir(), "/tmp");
  } finally {
    if (previous === undefined) Deno.env.delete("TMPDIR");
    else Deno.env.set("TMPDIR", previous);
  }
});
