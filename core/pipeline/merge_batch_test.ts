/**
 * Tests of the batched merge (merge_batch.ts, batch_job.ts): what a batch takes (bounds), that one
 * write merges exactly what one merge per upload merges (compaction none and pgo, prune rules,
 * in a decode pool too), poison and unmergeable members left out without failing the batch, and
 * bases that are not canonical normalised or set aside as merge_upload.ts does.
 */

import assert from "node:assert/strict";
import { openMemBlobStore } from "../../adapters/blob/mem_blob.ts";
import { cpuProfile, fn, loc, mapping, sample } from "../../tests/support/build_profiles.ts";
import { committedProfiles } from "../../tests/support/fixtures.ts";
import { MAPPABLE_VARIANTS, UNMAPPABLE_VARIANTS, variantBytes } from "../../tests/support/profile_variants.ts";
import { assertSameSamples } from "../../tests/support/samples.ts";
import type { BlobStore } from "../blob.ts";
import { isCanonical } from "../pprof/canonical.ts";
import { decodeProfile } from "../pprof/decode.ts";
import { encodeProfile } from "../pprof/encode.ts";
import { mergeProfiles } from "../pprof/merge.ts";
import { readBaseState, writeBaseState } from "./base_state.ts";
import { DecodePool } from "./decode_pool.ts";
import { baseKey, stagingKey } from "./keys.ts";
import { gatherBatch, mergeBatch } from "./merge_batch.ts";
import { type CompactionMode, mergeUpload } from "./merge_upload.ts";
import { parsePruneConfig } from "./prune_config.ts";
import { listRejected, readBase } from "./profiles_view.ts";

const profiles = committedProfiles();
const real = [...profiles.cpu, ...profiles.cpuLabelled].map((p) => Deno.readFileSync(p));
const heap = Deno.readFileSync(profiles.heap);

function depsFor(store: BlobStore, compaction: CompactionMode = "none") {
  return { store, pruneConfig: [], compaction, sleep: () => Promise.resolve(), random: () => 0 };
}

let n = 0;
async function stage(store: BlobStore, app: string, data: Uint8Array): Promise<string> {
  const key = stagingKey(app, 1_700_000_000_000_000_000n + BigInt(n++), `b${n}`);
  await store.write(key, data, { ifAbsent: true });
  return key;
}

async function base(store: BlobStore, app: string) {
  return decodeProfile((await readBase(store, app))!.data);
}

/** Counts conditional writes of `app`'s base. */
function countingBaseWrites(store: BlobStore, app: string): { store: BlobStore; writes: () => number } {
  let writes = 0;
  const counted: BlobStore = {
    read: (k, s) => store.read(k, s),
    stat: (k, s) => store.stat(k, s),
    write: (k, d, c, s) => {
      if (k === baseKey(app)) writes++;
      return store.write(k, d, c, s);
    },
    delete: (k, c, s) => store.delete(k, c, s),
    list: (p, s) => store.list(p, s),
    listPrefixes: (p, s) => store.listPrefixes(p, s),
    check: (s) => store.check(s),
    close: () => store.close(),
  };
  return { store: counted, writes: () => writes };
}

Deno.test("gatherBatch: the handled upload plus the oldest others, within the count and byte bounds", async () => {
  const store = await openMemBlobStore("mem://");
  const keys = [];
  for (let i = 0; i < 6; i++) keys.push(await stage(store, "g", new Uint8Array(100)));
  await stage(store, "other", new Uint8Array(100));
  const newest = keys[5];
  assert.deepEqual(await gatherBatch(store, "g", newest, 100, { maxUploads: 3, maxBytes: 1 << 20 }), [
    keys[0],
    keys[1],
    newest,
  ]);
  assert.deepEqual(await gatherBatch(store, "g", newest, 100, { maxUploads: 64, maxBytes: 350 }), [
    keys[0],
    keys[1],
    newest,
  ]);
  assert.deepEqual(await gatherBatch(store, "g", keys[2], 100, { maxUploads: 64, maxBytes: 1 << 20 }), keys);
  assert.deepEqual(await gatherBatch(store, "g", newest, 100, { maxUploads: 1, maxBytes: 1 << 20 }), [newest]);
  assert.deepEqual(await gatherBatch(store, "g", newest, 5000, { maxUploads: 64, maxBytes: 1000 }), [newest]);
});

Deno.test("mergeBatch: one write holds exactly what one merge per upload holds (none, pgo, prune rules)", async () => {
  const prune = parsePruneConfig('[{"app":"b","rules":[{"drop":"main\\\\.sortRecords"}]}]', "p.json");
  for (const compaction of ["none", "pgo"] as const) {
    for (const pruneConfig of [[], prune]) {
      const batched = countingBaseWrites(await openMemBlobStore("mem://"), "b");
      const single = await openMemBlobStore("mem://");
      const keys = [];
      for (const data of real) {
        keys.push(await stage(batched.store, "b", data));
        await mergeUpload({ ...depsFor(single, compaction), pruneConfig }, "b", await stage(single, "b", data));
      }
      const outcome = await mergeBatch({ ...depsFor(batched.store, compaction), pruneConfig }, "b", keys);
      assert.deepEqual(outcome.merged, keys);
      assert.equal(batched.writes(), 1, "one conditional write");
      const got = await base(batched.store, "b"), want = await base(single, "b");
      assertSameSamples(got, want, `compaction ${compaction}, ${pruneConfig.length} prune rules`);
      // Both paths gzip at the compaction's level: the header's XFL byte is 4 for zlib's level 1
      // (a small pgo base, rewritten by every batch), 0 for level 4 (a full one: its size matters).
      for (const store of [batched.store, single]) {
        assert.equal((await readBase(store, "b"))!.data[8], compaction === "pgo" ? 4 : 0, `gzip level, ${compaction}`);
      }
      assert.deepEqual(readBaseState(got.comments), { absorbed: keys, deletedBefore: 0n, merged: real.length });
      // A second batch on top: counted and recorded like further single merges.
      const more = [await stage(batched.store, "b", real[0]), await stage(batched.store, "b", real[1])];
      assert.deepEqual(
        (await mergeBatch({ ...depsFor(batched.store, compaction), pruneConfig }, "b", more)).merged,
        more,
      );
      assert.equal(readBaseState((await base(batched.store, "b")).comments).merged, real.length + 2);
    }
  }
});

Deno.test("mergeBatch: poison members are reported and left staged, the others merged in one write", async () => {
  const { store, writes } = countingBaseWrites(await openMemBlobStore("mem://"), "p");
  const good1 = await stage(store, "p", real[0]);
  const junk = await stage(store, "p", new TextEncoder().encode("not a profile"));
  const notCpu = await stage(store, "p", heap);
  const good2 = await stage(store, "p", real[1]);
  const outcome = await mergeBatch(depsFor(store), "p", [good2, junk, notCpu, good1]);
  assert.deepEqual(outcome.merged, [good1, good2]);
  assert.deepEqual(outcome.rejected.map((r) => r.key).sort(), [junk, notCpu].sort());
  assert.match(outcome.rejected.find((r) => r.key === notCpu)!.reason, /not a CPU profile/);
  assert.match(outcome.rejected.find((r) => r.key === junk)!.reason, /invalid profile/);
  assert.equal(writes(), 1);
  assertSameSamples(await base(store, "p"), mergeProfiles([real[0], real[1]].map((d) => decodeProfile(d))));
  assert.ok(await store.stat(junk), "the caller moves poison aside");
  // Only poison: nothing is written.
  const onlyJunk = await mergeBatch(depsFor(store), "p", [junk]);
  assert.deepEqual([onlyJunk.merged, onlyJunk.rejected.map((r) => r.key), writes()], [[], [junk], 1]);
});

Deno.test("mergeBatch: a member whose sum with the base passes 2^53 is unmergeable, the rest still merge", async () => {
  const store = await openMemBlobStore("mem://");
  const m = mapping(1, 0x400000n, 0x500000n);
  const f = fn(1, "main.hot");
  const l = loc(1, m, 0x400100n, [[f, 3]]);
  const huge = (count: number) =>
    encodeProfile(cpuProfile({ mappings: [m], functions: [f], locations: [l], samples: [sample([l], [count, 10])] }));
  const old = decodeProfile(huge(2 ** 52));
  old.comments = writeBaseState([], { absorbed: [], deletedBefore: 0n, merged: 1 });
  await store.write(baseKey("o"), encodeProfile(old), { ifAbsent: true });
  const ok = await stage(store, "o", real[0]);
  const overflowing = await stage(store, "o", huge(2 ** 52 + 2));
  const outcome = await mergeBatch(depsFor(store), "o", [ok, overflowing]);
  assert.deepEqual(outcome.merged, [ok]);
  assert.deepEqual(outcome.rejected.map((r) => r.key), [overflowing]);
  assert.match(outcome.rejected[0].reason, /cannot merge into o\/default\.pgo: .*2\^53/);
  assertSameSamples(await base(store, "o"), mergeProfiles([old, decodeProfile(real[0])]));
});

Deno.test("mergeBatch: absorbed members are skipped, members staged before a deletion dropped", async () => {
  const store = await openMemBlobStore("mem://");
  const first = await stage(store, "d", real[0]);
  await mergeBatch(depsFor(store), "d", [first]);
  const cutoff = 1_700_000_000_000_000_000n + BigInt(n) + 1n;
  const before = await stage(store, "d", real[1]);
  n += 10;
  const after = await stage(store, "d", real[2]);
  const current = await store.read(baseKey("d"));
  const tomb = decodeProfile(current.data);
  tomb.comments = writeBaseState(tomb.comments, { ...readBaseState(tomb.comments), deletedBefore: cutoff });
  await store.write(baseKey("d"), encodeProfile(tomb), { ifVersion: current.version });
  const outcome = await mergeBatch(depsFor(store), "d", [first, before, after]);
  assert.deepEqual(
    [outcome.alreadyAbsorbed, outcome.dropped, outcome.merged],
    [[first], [before], [after]],
  );
  assert.equal(await store.stat(before), undefined, "a dropped upload is deleted");
});

Deno.test("mergeBatch: a non-canonical base is normalised; an unmappable one is set aside (decode pool too)", async () => {
  const pool = new DecodePool({ size: 1 });
  try {
    for (const jobs of [undefined, pool]) {
      const store = await openMemBlobStore("mem://");
      const deps = { ...depsFor(store), jobs };
      const [a, b, c] = real;
      const odd = decodeProfile(variantBytes(a, MAPPABLE_VARIANTS.renamed));
      odd.comments = writeBaseState([], { absorbed: [], deletedBefore: 0n, merged: 1 });
      await store.write(baseKey("odd"), encodeProfile(odd), { ifAbsent: true });
      const normalized = await mergeBatch(deps, "odd", [await stage(store, "odd", b), await stage(store, "odd", c)]);
      assert.equal(normalized.baseNormalized, true);
      const merged = await base(store, "odd");
      assert.ok(isCanonical(merged));
      assertSameSamples(merged, mergeProfiles([a, b, c].map((d) => decodeProfile(d))));
      assert.equal(readBaseState(merged.comments).merged, 3);

      const broken = decodeProfile(variantBytes(a, UNMAPPABLE_VARIANTS.cpuOnlyWithoutPeriod.variant));
      broken.comments = writeBaseState([], { absorbed: [], deletedBefore: 123n, merged: 7 });
      await store.write(baseKey("stuck"), encodeProfile(broken), { ifAbsent: true });
      const replaced = await mergeBatch(deps, "stuck", [
        await stage(store, "stuck", b),
        await stage(store, "stuck", c),
      ]);
      assert.equal(replaced.merged.length, 2);
      assert.match(replaced.baseSetAside!.movedTo, /^stuck\/rejected\/base-[0-9a-f]{16}$/);
      assert.match(replaced.baseSetAside!.reason, /cannot derive samples\/count/);
      const fresh = await base(store, "stuck");
      assertSameSamples(fresh, mergeProfiles([b, c].map((d) => decodeProfile(d))), "a new base of the batch");
      assert.deepEqual([readBaseState(fresh.comments).merged, readBaseState(fresh.comments).deletedBefore], [2, 123n]);
      assert.equal((await listRejected(store))[0].bases, 1);
    }
  } finally {
    pool.close();
  }
});
