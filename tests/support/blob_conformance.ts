/**
 * The behaviour every {@link BlobStore} driver must share, as one reusable Deno test:
 * `blobConformance("file", open)` registers a test whose steps each open a fresh, empty
 * store, exercise one rule and clean up. Drivers added later (s3, gs, azblob) run the
 * same suite against their emulators.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type BlobInfo, BlobNotFoundError, type BlobStore, PreconditionFailedError } from "../../core/blob.ts";

/** An empty store for one step and how to dispose of it. */
export interface BlobFixture {
  store: BlobStore;
  cleanup(): Promise<void>;
}

const enc = (text: string) => new TextEncoder().encode(text);
const dec = (data: Uint8Array) => new TextDecoder().decode(data);

async function collect(store: BlobStore, prefix: string): Promise<BlobInfo[]> {
  const out: BlobInfo[] = [];
  for await (const info of store.list(prefix)) out.push(info);
  return out;
}

/**
 * What a store guarantees beyond the common contract (go-cloud's drivertest `Harness`); a rule
 * that a store does not promise is skipped with the reason given here, never silently.
 */
export interface BlobCapabilities {
  /**
   * Why rewriting equal bytes may keep the same version, when it may (S3's ETag is the
   * content's MD5). Compare-and-swap stays correct: an equal version means equal content.
   */
  versionIsContentHash?: string;
  /**
   * Why a conditional delete is only checked, not enforced, by the service, when it is not
   * (MinIO answers 204 to a DELETE with a wrong If-Match). autopgo never relies on it.
   */
  deleteConditionNotEnforced?: string;
}

/** Options of {@link blobConformance}. */
export interface BlobConformanceOptions {
  /** Declared capabilities. */
  capabilities?: BlobCapabilities;
  /** Opens a store whose bucket does not exist; its `check()` must fail. */
  openMissing?: () => Promise<BlobStore>;
  /** Skips the whole suite with this reason (a service that is not installed outside CI). */
  skip?: string | false;
}

/** Registers `blob conformance: <name>` with one step per rule; `open` must return an empty store. */
export function blobConformance(
  name: string,
  open: () => Promise<BlobFixture>,
  options: BlobConformanceOptions = {},
): void {
  const caps = options.capabilities ?? {};
  Deno.test({ name: `blob conformance: ${name}`, ignore: Boolean(options.skip) }, async (t) => {
    const step = (title: string, fn: (store: BlobStore) => Promise<void>) =>
      t.step(title, async () => {
        const { store, cleanup } = await open();
        try {
          await fn(store);
        } finally {
          await store.close();
          await cleanup();
        }
      });

    await step("write, read and stat round-trip bytes, size, version and time", async (store) => {
      const before = Date.now();
      const version = await store.write("app/default.pgo", enc("hello"));
      assert.ok(typeof version === "string" && version.length > 0);
      const object = await store.read("app/default.pgo");
      assert.equal(dec(object.data), "hello");
      assert.equal(object.size, 5);
      assert.equal(object.key, "app/default.pgo");
      assert.equal(object.version, version);
      assert.ok(object.modified instanceof Date && object.modified.getTime() > before - 5_000);
      const info = await store.stat("app/default.pgo");
      assert.deepEqual(info && { ...info, modified: 0 }, { key: "app/default.pgo", size: 5, version, modified: 0 });
      await store.check();
    });

    await step("missing objects: read throws BlobNotFoundError, stat is undefined", async (store) => {
      await assert.rejects(store.read("nope/x"), (e) => e instanceof BlobNotFoundError && e.key === "nope/x");
      assert.equal(await store.stat("nope/x"), undefined);
    });

    await step("empty and large binary objects survive unchanged", async (store) => {
      await store.write("empty", new Uint8Array());
      assert.equal((await store.read("empty")).data.length, 0);
      const big = new Uint8Array(3 << 20);
      for (let i = 0; i < big.length; i += 65_536) crypto.getRandomValues(big.subarray(i, i + 65_536));
      await store.write("big/blob", big);
      assert.deepEqual((await store.read("big/blob")).data, big);
    });

    await step("stored bytes are isolated from the caller's arrays", async (store) => {
      const data = enc("abc");
      await store.write("k", data);
      data[0] = 0x7a;
      const first = await store.read("k");
      assert.equal(dec(first.data), "abc");
      first.data[0] = 0x7a;
      assert.equal(dec((await store.read("k")).data), "abc");
    });

    await step("every rewrite gets a new version, even with equal content", async (store) => {
      const seen = new Set<string>();
      for (let i = 0; i < 5; i++) seen.add(await store.write("same", enc(caps.versionIsContentHash ? `x${i}` : "x")));
      assert.equal(seen.size, 5);
      assert.equal((await store.stat("same"))?.version, [...seen][4]);
    });

    await step("ifAbsent creates once and never overwrites", async (store) => {
      const v = await store.write("a/new", enc("first"), { ifAbsent: true });
      await assert.rejects(
        store.write("a/new", enc("second"), { ifAbsent: true }),
        (e) => e instanceof PreconditionFailedError && e.key === "a/new",
      );
      const object = await store.read("a/new");
      assert.equal(dec(object.data), "first");
      assert.equal(object.version, v);
    });

    await step(
      "a write-once object has one version everywhere: written, read, stat, listed, deleted",
      async (store) => {
        const v = await store.write("once/up-1", enc("staged"), { ifAbsent: true, writeOnce: true });
        await assert.rejects(
          store.write("once/up-1", enc("again"), { ifAbsent: true, writeOnce: true }),
          PreconditionFailedError,
        );
        assert.equal((await store.read("once/up-1")).version, v);
        assert.equal((await store.stat("once/up-1"))?.version, v);
        const listed = [];
        for await (const info of store.list("once/")) listed.push([info.key, info.version]);
        assert.deepEqual(listed, [["once/up-1", v]]);
        // A conditional write still works on it (and gives it a new version).
        const next = await store.write("once/up-1", enc("replaced"), { ifVersion: v });
        assert.notEqual(next, v);
        await assert.rejects(store.write("once/up-1", enc("late"), { ifVersion: v }), PreconditionFailedError);
        assert.equal(await store.delete("once/up-1", { ifVersion: next }), true);
        assert.equal(await store.stat("once/up-1"), undefined);
      },
    );

    await step("ifVersion replaces only the version that was read", async (store) => {
      const v1 = await store.write("base", enc("one"));
      const v2 = await store.write("base", enc("two"), { ifVersion: v1 });
      assert.notEqual(v2, v1);
      await assert.rejects(store.write("base", enc("stale"), { ifVersion: v1 }), PreconditionFailedError);
      await assert.rejects(store.write("absent", enc("x"), { ifVersion: v1 }), PreconditionFailedError);
      assert.equal(await store.stat("absent"), undefined);
      const object = await store.read("base");
      assert.equal(dec(object.data), "two");
      assert.equal(object.version, v2);
    });

    await step("ifAbsent together with ifVersion is rejected", async (store) => {
      const v = await store.write("k", enc("x"));
      await assert.rejects(store.write("k", enc("y"), { ifAbsent: true, ifVersion: v }), (e) => {
        return e instanceof Error && !(e instanceof PreconditionFailedError);
      });
      assert.equal(dec((await store.read("k")).data), "x");
    });

    await step("delete: true once, false when absent, ifVersion guarded", async (store) => {
      const v1 = await store.write("d/x", enc("1"));
      const v2 = await store.write("d/x", enc("2"));
      if (!caps.deleteConditionNotEnforced) {
        await assert.rejects(store.delete("d/x", { ifVersion: v1 }), PreconditionFailedError);
      }
      assert.equal(dec((await store.read("d/x")).data), "2");
      assert.equal(await store.delete("d/x", { ifVersion: v2 }), true);
      assert.equal(await store.stat("d/x"), undefined);
      assert.equal(await store.delete("d/x"), false);
      assert.equal(await store.delete("d/x", { ifVersion: v2 }), false);
      await store.write("d/y", enc("y"));
      assert.equal(await store.delete("d/y"), true);
      await assert.rejects(store.read("d/y"), BlobNotFoundError);
    });

    await step("a re-created object never gets the version of its deleted predecessor", async (store) => {
      const old = await store.write("re", enc("same"));
      await store.delete("re");
      const fresh = await store.write("re", enc(caps.versionIsContentHash ? "other" : "same"), { ifAbsent: true });
      assert.notEqual(fresh, old);
      await assert.rejects(store.write("re", enc("late"), { ifVersion: old }), PreconditionFailedError);
    });

    await step("list returns matching keys in lexicographic order with their metadata", async (store) => {
      const keys = ["b", "a/c/d", "a-c", "a/b", "app/staging/2", "app/staging/10", "app/default.pgo", "ab"];
      const versions = new Map<string, string>();
      for (const key of keys) versions.set(key, await store.write(key, enc(key)));
      const all = await collect(store, "");
      assert.deepEqual(all.map((i) => i.key), [...keys].sort());
      for (const info of all) {
        assert.equal(info.version, versions.get(info.key));
        assert.equal(info.size, enc(info.key).length);
      }
      assert.deepEqual((await collect(store, "a/")).map((i) => i.key), ["a/b", "a/c/d"]);
      assert.deepEqual((await collect(store, "a")).map((i) => i.key), [
        "a-c",
        "a/b",
        "a/c/d",
        "ab",
        "app/default.pgo",
        "app/staging/10",
        "app/staging/2",
      ]);
      assert.deepEqual((await collect(store, "app/staging/")).map((i) => i.key), ["app/staging/10", "app/staging/2"]);
      assert.deepEqual((await collect(store, "app/st")).map((i) => i.key), ["app/staging/10", "app/staging/2"]);
      assert.deepEqual((await collect(store, "a/c/d")).map((i) => i.key), ["a/c/d"]);
      assert.deepEqual(await collect(store, "zzz"), []);
      assert.deepEqual(await collect(store, "../"), []);
      await store.delete("a/b");
      assert.deepEqual((await collect(store, "a/")).map((i) => i.key), ["a/c/d"]);
    });

    await step("listPrefixes returns the folders directly below a prefix, in order", async (store) => {
      for (const key of ["b/x", "a/c/d", "a-c", "a/b", "app/staging/2", "app/default.pgo", "top"]) {
        await store.write(key, enc(key));
      }
      const folders = async (prefix: string) => {
        const out: string[] = [];
        for await (const folder of store.listPrefixes(prefix)) out.push(folder);
        return out;
      };
      assert.deepEqual(await folders(""), ["a/", "app/", "b/"]);
      assert.deepEqual(await folders("a/"), ["a/c/"]);
      assert.deepEqual(await folders("app/"), ["app/staging/"]);
      assert.deepEqual(await folders("zzz/"), []);
      await assert.rejects(async () => await folders("a"), /invalid folder prefix/);
    });

    await step("concurrent ifVersion writers from one read: exactly one wins", async (store) => {
      await store.write("cas", enc("start"));
      const { version } = await store.read("cas");
      const results = await Promise.allSettled(
        Array.from({ length: 16 }, (_, i) => store.write("cas", enc(`writer-${i}`), { ifVersion: version })),
      );
      const winners = results.flatMap((r, i) => r.status === "fulfilled" ? [{ i, version: r.value }] : []);
      assert.equal(winners.length, 1, "exactly one ifVersion writer wins");
      for (const r of results) {
        if (r.status === "rejected") assert.ok(r.reason instanceof PreconditionFailedError, String(r.reason));
      }
      const object = await store.read("cas");
      assert.equal(dec(object.data), `writer-${winners[0].i}`);
      assert.equal(object.version, winners[0].version);
    });

    await step("concurrent ifAbsent creators: exactly one wins", async (store) => {
      const results = await Promise.allSettled(
        Array.from({ length: 16 }, (_, i) => store.write("fresh/key", enc(`creator-${i}`), { ifAbsent: true })),
      );
      const winners = results.flatMap((r, i) => r.status === "fulfilled" ? [i] : []);
      assert.equal(winners.length, 1);
      assert.equal(dec((await store.read("fresh/key")).data), `creator-${winners[0]}`);
    });

    await step("invalid keys are rejected by every operation", async (store) => {
      const bad = [
        "",
        "/abs",
        "trailing/",
        "a//b",
        "..",
        "../escape",
        "a/../b",
        "./a",
        "a\\b",
        "nul\u0000",
        "tab\tkey",
      ];
      for (const key of bad) {
        const isKeyError = (e: unknown) => e instanceof Error && /invalid blob key/.test(e.message);
        await assert.rejects(store.write(key, enc("x")), isKeyError, `write ${JSON.stringify(key)}`);
        await assert.rejects(store.read(key), isKeyError, `read ${JSON.stringify(key)}`);
        await assert.rejects(store.stat(key), isKeyError, `stat ${JSON.stringify(key)}`);
        await assert.rejects(store.delete(key), isKeyError, `delete ${JSON.stringify(key)}`);
      }
      assert.deepEqual(await collect(store, ""), []);
    });

    await step("an aborted signal stops an operation before it writes", async (store) => {
      const controller = new AbortController();
      controller.abort();
      await assert.rejects(store.write("aborted", enc("x"), {}, controller.signal));
      assert.equal(await store.stat("aborted"), undefined);
    });

    if (options.openMissing) {
      const openMissing = options.openMissing;
      await t.step("a bucket that does not exist fails check() with one line naming it", async () => {
        const store = await openMissing();
        try {
          await assert.rejects(store.check(), (e) => e instanceof Error && !e.message.includes("\n"));
        } finally {
          await store.close();
        }
      });
    }
  });
}
