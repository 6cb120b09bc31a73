/**
 * file:// blob driver: the shared conformance suite plus what only a directory can get
 * wrong — URL forms, plain files on disk, internal files never listed, metadata that does
 * not match its file (crash, hand-copied file), object/folder clashes, health check.
 * The cross-process race lives in tests/blob_race_test.ts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { PreconditionFailedError } from "../../core/blob.ts";
import { blobConformance } from "../../tests/support/blob_conformance.ts";
import { fileUrlFromPath } from "../driver_url.ts";
import { openFileBlobStore } from "./file_blob.ts";

const enc = (text: string) => new TextEncoder().encode(text);

async function tempStore() {
  const dir = await Deno.makeTempDir({ prefix: "autopgo-file-blob-" });
  const store = await openFileBlobStore(pathToFileURL(dir));
  return { dir, store, cleanup: () => Deno.remove(dir, { recursive: true }) };
}

async function keys(store: Awaited<ReturnType<typeof tempStore>>["store"], prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const info of store.list(prefix)) out.push(info.key);
  return out;
}

blobConformance("file", async () => {
  const { store, cleanup } = await tempStore();
  return { store, cleanup };
});

Deno.test("file blob: URL forms", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "autopgo-file-blob-url-" });
  try {
    await t.step("file:///abs and file://localhost/abs open, creating the directory", async () => {
      const nested = join(dir, "a", "b");
      const store = await openFileBlobStore(`file://${nested}/`);
      assert.equal(store.root, nested);
      assert.ok((await Deno.stat(nested)).isDirectory);
      assert.equal((await openFileBlobStore(`file://localhost${nested}`)).root, nested);
    });
    await t.step("relative, host-qualified and parameterised URLs are rejected", async () => {
      await assert.rejects(openFileBlobStore("file://./data"), /host "\." not supported; use an absolute path/);
      await assert.rejects(openFileBlobStore("file://server/share"), /host "server" not supported/);
      await assert.rejects(openFileBlobStore(`file://${dir}?create=1`), /unknown parameter "create"/);
    });
    await t.step("fileUrlFromPath resolves relative directories", () => {
      assert.equal(fileUrlFromPath("rel/dir"), pathToFileURL(join(Deno.cwd(), "rel/dir")).href);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file blob: objects are plain files; internal files are reserved and never listed", async () => {
  const { dir, store, cleanup } = await tempStore();
  try {
    await store.write("app/default.pgo", enc("profile"));
    await store.write("app/staging/1", enc("s"));
    assert.equal(await Deno.readTextFile(join(dir, "app", "default.pgo")), "profile");
    const names: string[] = [];
    for await (const e of Deno.readDir(join(dir, "app"))) names.push(e.name);
    assert.ok(names.includes(".autopgo-version.default.pgo.json"), names.join(","));
    // The original's server lists every key ending in default.pgo as an app: only the profile may.
    assert.deepEqual(names.filter((n) => n.endsWith("default.pgo")), ["default.pgo"]);
    await Deno.writeTextFile(join(dir, "app", ".autopgo-tmp.crashed"), "half");
    assert.deepEqual(await keys(store), ["app/default.pgo", "app/staging/1"]);
    await assert.rejects(store.write("app/.autopgo-meta.x", enc("x")), /reserved/);
    await assert.rejects(store.read(".autopgo-locks/00"), /reserved/);
    await assert.rejects(store.write(`app/${"x".repeat(201)}`, enc("x")), /longer than 200 bytes/);
  } finally {
    await cleanup();
  }
});

Deno.test("file blob: a file copied in by hand gets a stable derived version usable for CAS", async () => {
  const { dir, store, cleanup } = await tempStore();
  try {
    await Deno.mkdir(join(dir, "app"));
    await Deno.writeTextFile(join(dir, "app", "default.pgo"), "manual");
    const first = await store.read("app/default.pgo");
    assert.equal(new TextDecoder().decode(first.data), "manual");
    assert.equal((await store.stat("app/default.pgo"))?.version, first.version);
    assert.deepEqual(await keys(store), ["app/default.pgo"]);
    const next = await store.write("app/default.pgo", enc("merged"), { ifVersion: first.version });
    await assert.rejects(
      store.write("app/default.pgo", enc("late"), { ifVersion: first.version }),
      PreconditionFailedError,
    );
    assert.equal((await store.read("app/default.pgo")).version, next);
  } finally {
    await cleanup();
  }
});

Deno.test("file blob: metadata that does not describe the data file is never trusted", async () => {
  const { dir, store, cleanup } = await tempStore();
  try {
    const v1 = await store.write("k", enc("one"));
    // Simulate a crash between the data rename and the metadata rename: new data, old metadata.
    await Deno.writeTextFile(join(dir, "k"), "two, longer");
    const after = await store.read("k");
    assert.notEqual(after.version, v1);
    await assert.rejects(store.write("k", enc("based on one"), { ifVersion: v1 }), PreconditionFailedError);
    // A torn metadata file is ignored the same way.
    await Deno.writeTextFile(join(dir, ".autopgo-version.k.json"), "{tor");
    assert.equal((await store.stat("k"))?.version, after.version);
    await store.write("k", enc("three"), { ifVersion: after.version });
  } finally {
    await cleanup();
  }
});

Deno.test("file blob: metadata of earlier versions (.autopgo-meta.<name>) is read, then renamed on open", async () => {
  const { dir, store, cleanup } = await tempStore();
  try {
    const version = await store.write("app/default.pgo", enc("merged"));
    // What an earlier version left on disk: the same metadata under the old name only.
    const current = join(dir, "app", ".autopgo-version.default.pgo.json");
    const legacy = join(dir, "app", ".autopgo-meta.default.pgo");
    await Deno.rename(current, legacy);
    assert.equal((await store.stat("app/default.pgo"))?.version, version);
    const reopened = await openFileBlobStore(fileUrlFromPath(dir));
    const names: string[] = [];
    for await (const e of Deno.readDir(join(dir, "app"))) names.push(e.name);
    assert.deepEqual(names.sort(), [".autopgo-version.default.pgo.json", "default.pgo"]);
    assert.equal((await reopened.stat("app/default.pgo"))?.version, version);
    const next = await reopened.write("app/default.pgo", enc("again"), { ifVersion: version });
    assert.notEqual(next, version);
    // A legacy file next to current metadata is removed, and never trusted over it.
    await Deno.writeTextFile(legacy, JSON.stringify({ version: "9-stale", size: 1, mtimeMs: 0 }));
    await openFileBlobStore(fileUrlFromPath(dir));
    await assert.rejects(Deno.stat(legacy), Deno.errors.NotFound);
    assert.equal((await reopened.stat("app/default.pgo"))?.version, next);
    // Written under the old name after this store opened (an earlier version beside it): read, then
    // replaced by the next write's current metadata; a delete removes it too.
    await Deno.rename(current, legacy);
    assert.equal((await reopened.stat("app/default.pgo"))?.version, next);
    const third = await reopened.write("app/default.pgo", enc("third"), { ifVersion: next });
    const listed = async () => (await Array.fromAsync(Deno.readDir(join(dir, "app")))).map((e) => e.name).sort();
    assert.deepEqual(await listed(), [".autopgo-version.default.pgo.json", "default.pgo"]);
    await Deno.rename(current, legacy);
    assert.equal(await reopened.delete("app/default.pgo", { ifVersion: third }), true);
    assert.deepEqual(await listed(), []);
    await reopened.close();
  } finally {
    await cleanup();
  }
});

Deno.test("file blob: an object and a folder cannot share a name", async () => {
  const { store, cleanup } = await tempStore();
  try {
    await store.write("a", enc("object"));
    await assert.rejects(store.write("a/b", enc("x")), /write "a\/b": a parent path is an object/);
    await store.write("f/x", enc("x"));
    await assert.rejects(store.write("f", enc("x")), /write "f": a folder of other objects has this name/);
    await assert.rejects(store.read("f"), /not found/);
    assert.equal(await store.stat("f"), undefined);
    assert.equal(await store.delete("f"), false);
    assert.deepEqual(await keys(store), ["a", "f/x"]);
  } finally {
    await cleanup();
  }
});

Deno.test("file blob: check fails once the directory is gone; closed stores refuse work", async () => {
  const { dir, store, cleanup } = await tempStore();
  await store.check();
  await cleanup();
  await assert.rejects(store.check(), new RegExp(`file blob store ${dir}: not usable`));
  await store.close();
  await assert.rejects(store.stat("k"), /closed/);
  await Deno.mkdir(dir).then(() => Deno.remove(dir));
});

Deno.test("file blob: versions use the injected token source and count generations", async () => {
  const dir = await Deno.makeTempDir({ prefix: "autopgo-file-blob-token-" });
  try {
    let n = 0;
    const store = await openFileBlobStore(pathToFileURL(dir), { newToken: () => `t${++n}` });
    assert.equal(await store.write("k", enc("a")), "1-t1");
    assert.equal(await store.write("k", enc("b")), "2-t2");
    await store.delete("k");
    assert.equal(await store.write("k", enc("c")), "1-t3");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file blob: a long listing lets the event loop run between slices of its synchronous reads", async () => {
  const { dir, store, cleanup } = await tempStore();
  try {
    await Deno.mkdir(join(dir, "app", "staging"), { recursive: true });
    for (let i = 0; i < 400; i++) await Deno.writeTextFile(join(dir, "app", "staging", `u${i}`), "x");
    let timerRan = -1;
    let listed = 0;
    setTimeout(() => timerRan = listed, 0);
    for await (const _ of store.list("app/staging/")) listed++;
    assert.equal(listed, 400);
    assert.ok(timerRan >= 0 && timerRan < 400, `a timer ran during the listing (after ${timerRan} entries)`);
  } finally {
    await cleanup();
  }
});

Deno.test("file blob: a write-once object has no version file; its version is the file's identity", async () => {
  const { dir, store, cleanup } = await tempStore();
  try {
    const v = await store.write("app/staging/1-a", enc("upload"), { ifAbsent: true, writeOnce: true });
    assert.match(v, /^0-f\d+\.\d+\.6$/);
    assert.deepEqual([...Deno.readDirSync(join(dir, "app", "staging"))].map((e) => e.name), ["1-a"]);
    // Beside objects with version files, a listing gives each its own version.
    const other = await store.write("app/staging/2-b", enc("upload"), { ifAbsent: true });
    const listed = [];
    for await (const info of store.list("app/staging/")) listed.push(info.version);
    assert.deepEqual(listed, [v, other]);
    assert.equal(await store.delete("app/staging/1-a", { ifVersion: v }), true);
    assert.deepEqual(await keys(store), ["app/staging/2-b"]);
    // Replaced by a conditional write, it gets a version file like any other object.
    const w = await store.write("app/lease", enc("l"), { ifAbsent: true, writeOnce: true });
    await store.write("app/lease", enc("m"), { ifVersion: w });
    assert.ok(Deno.statSync(join(dir, "app", ".autopgo-version.lease.json")).isFile);
  } finally {
    await cleanup();
  }
});
