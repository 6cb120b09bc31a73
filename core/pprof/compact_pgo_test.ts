import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { canonicalAddresses, compactForPgo } from "./compact_pgo.ts";
import { edgeMap, serializePreprofile } from "./edges.ts";
import { ProfileError } from "./errors.ts";
import { mergeProfiles } from "./merge.ts";
import type { Profile } from "./profile.ts";
import { assertThrows, at, buildProfile, randomProfile } from "./pgo_test_profiles.ts";

/** The compiler's input as text (go tool preprofile output), or the error it would report. */
function compilerView(p: Profile, frames?: number): string {
  try {
    return serializePreprofile(edgeMap(p, { frames }));
  } catch (e) {
    return `error: ${(e as Error).message}`;
  }
}

Deno.test("compactForPgo keeps the compiler's edge map on random profiles (frames 2 and 3)", () => {
  for (let seed = 1; seed <= 300; seed++) {
    const p = randomProfile(seed);
    const before = structuredClone(p);
    for (const frames of [2, 3]) {
      for (const addresses of ["canonical", "keep"] as const) {
        const c = compactForPgo(p, { frames, addresses });
        assertEquals(compilerView(c, frames), compilerView(p, frames), `seed ${seed} frames ${frames} ${addresses}`);
        ok(c.sample.every((s) => s.location.length <= frames && s.location.length > 0));
      }
    }
    assertEquals(p, before, `seed ${seed}: input was modified`);
  }
});

Deno.test("compactForPgo commutes with merging", () => {
  for (let seed = 1; seed <= 100; seed++) {
    const a = randomProfile(seed);
    const b = randomProfile(seed + 1000, 60);
    const merged = compilerView(mergeProfiles([a, b]));
    const ca = compactForPgo(a);
    const cb = compactForPgo(b);
    assertEquals(compilerView(compactForPgo(mergeProfiles([a, b]))), merged, `seed ${seed}: compact(merge)`);
    assertEquals(compilerView(mergeProfiles([ca, cb])), merged, `seed ${seed}: merge(compact)`);
    assertEquals(compilerView(compactForPgo(mergeProfiles([ca, cb]))), merged, `seed ${seed}: compact(merge(compact))`);
    // The worker merges raw uploads into a compacted base: types stay compatible.
    assertEquals(compilerView(compactForPgo(mergeProfiles([b, ca]))), merged, `seed ${seed}: raw into compacted`);
  }
});

Deno.test("compactForPgo drops everything the compiler ignores and aggregates equal stacks", () => {
  const leaf = at(0x20, "main.b:18:20");
  const p = buildProfile([
    { stack: [leaf, at(0x10, "main.a:10:12"), at(0x5, "main.main:1:3")], value: [5, 50], label: { k: ["1"] } },
    { stack: [leaf, at(0x10, "main.a:10:12"), at(0x6, "main.other:1:3")], value: [2, 20], label: { k: ["2"] } },
    // Same lines at another PC: canonical addresses collapse it into the same sample.
    { stack: [at(0x24, "main.b:18:20"), at(0x10, "main.a:10:12")], value: [1, 10] },
    { stack: [leaf, at(0x10, "main.a:10:12")], value: [0, 99] },
    { stack: [], value: [3, 30] },
  ]);
  p.durationNanos = 10n;
  p.timeNanos = 20n;
  const c = compactForPgo(p);
  assertEquals(c.sampleType, p.sampleType);
  assertEquals(c.periodType, p.periodType);
  assertEquals([c.period, c.durationNanos, c.timeNanos], [p.period, 10n, 20n]);
  assertEquals([c.comments, c.mapping, c.dropFrames, c.docUrl], [[], [], "", ""]);
  assertEquals(c.sample.length, 1);
  assertEquals(c.sample[0].value, [8, 80]);
  assertEquals(c.sample[0].label, undefined);
  assertEquals(c.sample[0].location.map((l) => [l.address, l.line.map((x) => `${x.function?.name}:${x.line}`)]), [
    [0n, ["main.b:20"]],
    [0n, ["main.a:12"]],
  ]);
  assertEquals(c.location.length, 2);
  assertEquals(c.function.map((f) => [f.name, f.systemName, f.filename, f.startLine]), [
    ["main.b", "", "", 18],
    ["main.a", "", "", 10],
  ]);
  ok(c.location.every((l) => l.mapping === undefined && !l.isFolded && l.line.every((x) => x.column === 0)));
  assertEquals(compactForPgo(p, { keepFilenames: true }).function.map((f) => f.filename), [
    "/src/main.b.go",
    "/src/main.a.go",
  ]);
  assertEquals(compactForPgo(p, { addresses: "keep" }).sample.length, 2);
  assertEquals(compilerView(c), compilerView(p));
});

Deno.test("compactForPgo clones a location used as leaf in one sample and as caller in another", () => {
  const shared = { address: 0x10, frames: ["main.inner:40:41", "main.mid:30:33"] };
  const p = buildProfile([
    { stack: [shared, at(0x5, "main.top:1:4")], value: [3, 0] },
    { stack: [at(0x30, "main.leaf:50:52"), shared, at(0x5, "main.top:1:4")], value: [2, 0] },
    // Recursion at another PC: distinct nodes, so a self-edge that zeroed addresses would lose.
    { stack: [at(0x11, "main.mid:30:33"), at(0x10, "main.mid:30:33")], value: [7, 0] },
  ]);
  const c = compactForPgo(p);
  assertEquals(compilerView(c), compilerView(p));
  ok(compilerView(p).includes("main.mid\nmain.mid\n3 7\n"), compilerView(p));
});

Deno.test("canonicalAddresses keeps the equality pattern only where line tuples collide", () => {
  const locs = buildProfile([
    { stack: [at(0x10, "f:1:2"), at(0x20, "g:1:2")], value: [1, 0] },
    { stack: [at(0x11, "f:1:2"), at(0x10, "f:1:2"), at(0x11, "f:1:2")], value: [1, 0] },
  ]).sample.map((s) => s.location);
  assertEquals(canonicalAddresses(locs[0]), [0n, 0n]);
  assertEquals(canonicalAddresses(locs[1]), [1n, 2n, 1n]);
  assertEquals(canonicalAddresses(locs[1].slice(0, 1)), [0n]);
});

Deno.test("compactForPgo rejects profiles without a PGO sample type and keeps empty ones", () => {
  const heap = buildProfile([{ stack: [at(1, "a:1:2")], value: [1] }], [{ type: "alloc", unit: "bytes" }]);
  assertEquals(assertThrows(() => compactForPgo(heap), ProfileError).kind, "invalid");
  const empty = compactForPgo(buildProfile([]));
  assertEquals([empty.sample.length, empty.sampleType.length], [0, 2]);
  assertThrows(() => compactForPgo(randomProfile(1), { frames: 1.5 }), RangeError);
});
