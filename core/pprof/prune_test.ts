import assert from "node:assert/strict";
import { pruneFrom, pruneProfile, simplifyFunctionName } from "./prune.ts";
import { compactProfile } from "./merge.ts";
import type { Location, Profile } from "./profile.ts";
import { cpuProfile, fn, loc, mapping, sample } from "../../tests/support/build_profiles.ts";

/** Profile with one sample per stack; stacks are leaf-first lists of location names. */
function stacks(...paths: string[][]): { p: Profile; byName: Map<string, Location> } {
  const m = mapping(1, 0x1000n, 0x9000n);
  const byName = new Map<string, Location>();
  const p = cpuProfile({ mappings: [m] });
  for (const path of paths) {
    for (const name of path) {
      if (byName.has(name)) continue;
      const f = fn(p.function.length + 1, name, 1);
      const l = loc(p.location.length + 1, m, 0x1000n + BigInt(p.location.length * 8), [[f, 2]]);
      p.function.push(f);
      p.location.push(l);
      byName.set(name, l);
    }
    p.sample.push(sample(path.map((n) => byName.get(n)!), [1, 10]));
  }
  return { p, byName };
}

const names = (p: Profile) =>
  p.sample.map((s) => s.location.map((l) => l.line.map((ln) => ln.function!.name).join("+")));

Deno.test("simplifyFunctionName follows pprof's simplifyFunc", () => {
  assert.equal(simplifyFunctionName("pkg.(*T).Method"), "pkg.");
  assert.equal(simplifyFunctionName("pkg.T.Method"), "pkg.T.Method");
  assert.equal(simplifyFunctionName("pkg.F.func1"), "pkg.F.func1");
  assert.equal(simplifyFunctionName("pkg.F[...]"), "pkg.F[...]");
  assert.equal(simplifyFunctionName(".foo"), "foo");
  assert.equal(simplifyFunctionName("..foo"), ".foo");
  assert.equal(simplifyFunctionName("foo(int)"), "foo");
  assert.equal(simplifyFunctionName("(anonymous namespace)::f(int)"), "(anonymous namespace)::f");
  assert.equal(simplifyFunctionName("Foo::operator()(int) const"), "Foo::operator()");
  assert.equal(simplifyFunctionName("plain"), "plain");
});

Deno.test("prune vs pruneFrom: pprof's documented [A,B,C,B,D] example", () => {
  const run = (f: (p: Profile) => void) => {
    const { p } = stacks(["A", "B", "C", "B", "D"]);
    f(p);
    return names(p)[0];
  };
  assert.deepEqual(run((p) => pruneFrom(p, /A/)), ["A", "B", "C", "B", "D"]);
  assert.deepEqual(run((p) => pruneProfile(p, /A/)), ["B", "C", "B", "D"]);
  assert.deepEqual(run((p) => pruneFrom(p, /B/)), ["B", "C", "B", "D"]);
  assert.deepEqual(run((p) => pruneProfile(p, /B/)), ["D"]);
  assert.deepEqual(run((p) => pruneProfile(p, /^X$/)), ["A", "B", "C", "B", "D"]);
});

Deno.test("prune: leading matching frames (before the first user frame) are never cut", () => {
  const { p } = stacks(["A", "runtime.mcall", "runtime.goexit"], ["A", "B", "runtime.goexit"], [
    "runtime.x",
    "B",
    "runtime.goexit",
  ]);
  pruneProfile(p, /runtime\./);
  assert.deepEqual(names(p), [["A", "runtime.mcall", "runtime.goexit"], ["A", "B", "runtime.goexit"], [
    "B",
    "runtime.goexit",
  ]]);
});

Deno.test("prune: unanchored match on the simplified name; keep only exempts the frame itself", () => {
  const { p } = stacks(["leaf", "pkg.(*T).Lock", "main.main"], ["leaf", "sync.Mutex.Lock", "main.main"]);
  pruneProfile(p, /Lock/);
  // "pkg.(*T).Lock" simplifies to "pkg." and does not match.
  assert.deepEqual(names(p), [["leaf", "pkg.(*T).Lock", "main.main"], ["main.main"]]);

  const q = stacks(["leaf", "keepme.x", "drop.y", "main"]).p;
  pruneProfile(q, /drop|keepme/, /keepme/);
  assert.deepEqual(names(q), [["main"]], "frames beneath a prune point go even if they match keep");
  const r = stacks(["leaf", "keepme.x", "main"]).p;
  pruneProfile(r, /keepme|leaf/, /keepme/);
  assert.deepEqual(names(r), [["keepme.x", "main"]]);
});

Deno.test("prune: inline frames are trimmed per location (pruneBeneath keeps the location as leaf)", () => {
  const m = mapping(1, 0x1000n, 0x2000n);
  const [fLeaf, fDrop, fOuter, fMain] = [fn(1, "leaf"), fn(2, "drop.me"), fn(3, "outer"), fn(4, "main")];
  // One location: leaf inlined into drop.me inlined into outer.
  const l1 = loc(1, m, 0x1100n, [[fLeaf, 1], [fDrop, 2], [fOuter, 3]]);
  const l2 = loc(2, m, 0x1200n, [[fMain, 4]]);
  const lDrop = loc(3, m, 0x1300n, [[fLeaf, 5], [fDrop, 6]]);
  const p = cpuProfile({
    mappings: [m],
    functions: [fLeaf, fDrop, fOuter, fMain],
    locations: [l1, l2, lDrop],
    samples: [sample([l1, l2], [1, 1]), sample([lDrop, l2], [2, 2])],
  });
  pruneProfile(p, /^drop\./);
  assert.deepEqual(names(p), [["outer", "main"], ["main"]]);
  // Locations stay in the table (no compaction) until compactProfile.
  assert.equal(p.location.length, 3);
  const c = compactProfile(p);
  assert.equal(c.location.length, 2);
});

Deno.test("pruneFrom: keeps the lowest matching frame, trims inline frames beneath it", () => {
  const m = mapping(1, 0x1000n, 0x2000n);
  const [fLeaf, fMid, fTop] = [fn(1, "leaf"), fn(2, "mid.X"), fn(3, "top")];
  const l1 = loc(1, m, 0x1100n, [[fLeaf, 1], [fMid, 2], [fTop, 3]]);
  const l2 = loc(2, m, 0x1200n, [[fMid, 4]]);
  const l3 = loc(3, m, 0x1300n, [[fTop, 5]]);
  const p = cpuProfile({
    mappings: [m],
    functions: [fLeaf, fMid, fTop],
    locations: [l1, l2, l3],
    samples: [sample([l1, l3], [1, 1]), sample([l3, l2, l3], [1, 1])],
  });
  pruneFrom(p, /mid/);
  assert.deepEqual(names(p), [["mid.X+top", "top"], ["mid.X", "top"]]);
});

Deno.test("prune: stateful regexp flags do not change matching, re-aggregation after compaction", () => {
  const { p } = stacks(["a1", "drop", "main"], ["a2", "drop", "main"], ["a3", "drop", "main"]);
  pruneProfile(p, /drop/g);
  assert.deepEqual(names(p), [["main"], ["main"], ["main"]]);
  const c = compactProfile(p);
  assert.equal(c.sample.length, 1);
  assert.deepEqual(c.sample[0].value, [3, 30]);
});
