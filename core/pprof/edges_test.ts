import { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  compareCodePoints,
  devirtualizationCandidates,
  edgeMap,
  hotCallSites,
  MISSING_START_LINE_MESSAGE,
  NO_SAMPLE_INDEX_MESSAGE,
  parsePreprofile,
  serializePreprofile,
  type WeightedCallEdge,
} from "./edges.ts";
import { ProfileError } from "./errors.ts";
import { assertThrows, at, buildProfile } from "./pgo_test_profiles.ts";

const edge = (caller: string, callee: string, callSiteOffset: number, weight: number): WeightedCallEdge => ({
  caller,
  callee,
  callSiteOffset,
  weight,
});

Deno.test("edgeMap: leaf and caller give one edge keyed by line minus start line", () => {
  const p = buildProfile([
    { stack: [at(0x20, "main.b:18:20"), at(0x10, "main.a:10:12"), at(0x5, "main.main:1:3")], value: [5, 50] },
  ]);
  const m = edgeMap(p);
  assertEquals(m.sampleIndex, 0);
  assertEquals(m.totalWeight, 5);
  assertEquals(m.byWeight, [edge("main.a", "main.b", 2, 5)]);
});

Deno.test("edgeMap: frames option visits more of the stack", () => {
  const p = buildProfile([
    { stack: [at(0x20, "main.b:18:20"), at(0x10, "main.a:10:12"), at(0x5, "main.main:1:3")], value: [5, 50] },
  ]);
  const m = edgeMap(p, { frames: 3 });
  assertEquals(m.totalWeight, 10);
  assertEquals(m.byWeight, [edge("main.a", "main.b", 2, 5), edge("main.main", "main.a", 2, 5)]);
  assertThrows(() => edgeMap(p, { frames: 0 }), RangeError);
});

Deno.test("edgeMap: inline lines are visited outermost to innermost and create edges", () => {
  // Leaf location: inner (inlined) at index 0, outer at index 1; caller location x.
  const p = buildProfile([
    {
      stack: [{ address: 0x30, frames: ["main.inner:40:41", "main.outer:30:33"] }, at(0x10, "main.x:10:15")],
      value: [
        3,
        30,
      ],
    },
  ]);
  assertEquals(edgeMap(p).byWeight, [edge("main.outer", "main.inner", 3, 3), edge("main.x", "main.outer", 5, 3)]);
  assertEquals(edgeMap(p).totalWeight, 6);
});

Deno.test("edgeMap: value index is the first samples/count or cpu/nanoseconds column; zero weights skipped", () => {
  const types = [{ type: "alloc", unit: "bytes" }, { type: "cpu", unit: "nanoseconds" }, {
    type: "samples",
    unit: "count",
  }];
  const p = buildProfile([
    { stack: [at(0x20, "b:1:2"), at(0x10, "a:1:4")], value: [100, 7, 1] },
    { stack: [at(0x21, "c:1:2"), at(0x10, "a:1:4")], value: [100, 0, 1] },
  ], types);
  const m = edgeMap(p);
  assertEquals(m.sampleIndex, 1);
  assertEquals(m.byWeight, [edge("a", "b", 3, 7)]);
});

Deno.test("edgeMap: Go's errors for unusable profiles, empty results for ignorable ones", () => {
  const noIndex = buildProfile([{ stack: [at(1, "b:1:2"), at(2, "a:1:2")], value: [1] }], [{
    type: "alloc",
    unit: "bytes",
  }]);
  const e1 = assertThrows(() => edgeMap(noIndex), ProfileError);
  assertEquals(e1.message, NO_SAMPLE_INDEX_MESSAGE);
  const noStart = buildProfile([{ stack: [at(1, "b:0:2"), at(2, "a:0:2")], value: [1, 1] }]);
  assertEquals(assertThrows(() => edgeMap(noStart), ProfileError).message, MISSING_START_LINE_MESSAGE);
  // All selected weights zero: Go's graph has no nodes, so the start-line check fails too.
  const allZero = buildProfile([{ stack: [at(1, "b:1:2"), at(2, "a:1:2")], value: [0, 9] }]);
  assertEquals(assertThrows(() => edgeMap(allZero), ProfileError).message, MISSING_START_LINE_MESSAGE);
  // No samples at all: accepted, empty (even without sample types).
  assertEquals(edgeMap(buildProfile([], [])), { sampleIndex: -1, totalWeight: 0, byWeight: [] });
  // Only single-frame stacks: accepted, total weight 0, ignored.
  const flat = buildProfile([{ stack: [at(1, "b:1:2")], value: [4, 4] }]);
  assertEquals(edgeMap(flat), { sampleIndex: 0, totalWeight: 0, byWeight: [] });
});

Deno.test("edgeMap: node identity includes the address (recursion self-edges)", () => {
  const same = buildProfile([{ stack: [at(0x10, "f:10:12"), at(0x10, "f:10:12")], value: [2, 2] }]);
  assertEquals(edgeMap(same).totalWeight, 0);
  const different = buildProfile([{ stack: [at(0x11, "f:10:12"), at(0x10, "f:10:12")], value: [2, 2] }]);
  assertEquals(edgeMap(different).byWeight, [edge("f", "f", 2, 2)]);
  // Lines without function and locations without lines are nameless nodes keyed by address.
  const unsymbolized = buildProfile([
    { stack: [at(0x99, "?"), at(0x10, "f:10:12")], value: [1, 1] },
    { stack: [{ address: 0x98, frames: [] }, at(0x10, "f:10:12")], value: [1, 1] },
  ]);
  assertEquals(edgeMap(unsymbolized).byWeight, [edge("f", "", 2, 2)]);
});

Deno.test("edgeMap: per-sample dedup of repeated nodes and edges", () => {
  // Caller and leaf locations at the same address with lines [B, A]: node sequence A, B, A, B.
  const p = buildProfile([{
    stack: [{ address: 0x10, frames: ["B:20:21", "A:10:11"] }, { address: 0x10, frames: ["B:20:21", "A:10:11"] }],
    value: [4, 4],
  }]);
  assertEquals(edgeMap(p).byWeight, [edge("A", "B", 1, 4), edge("B", "A", 1, 4)]);
});

Deno.test("edgeMap: ByWeight orders by weight, then caller, callee, offset", () => {
  const p = buildProfile([
    { stack: [at(1, "z:1:2"), at(2, "b:1:5")], value: [3, 0] },
    { stack: [at(3, "y:1:2"), at(4, "b:1:2")], value: [3, 0] },
    { stack: [at(3, "y:1:2"), at(5, "b:1:9")], value: [3, 0] },
    { stack: [at(6, "x:1:2"), at(7, "a:1:9")], value: [3, 0] },
    { stack: [at(8, "w:1:2"), at(9, "c:1:9")], value: [8, 0] },
  ]);
  assertEquals(edgeMap(p).byWeight.map((e) => `${e.caller}>${e.callee}@${e.callSiteOffset}`), [
    "c>w@8",
    "a>x@8",
    "b>y@1",
    "b>y@8",
    "b>z@4",
  ]);
});

Deno.test("compareCodePoints orders like Go's byte-wise string comparison", () => {
  assertEquals(compareCodePoints("a", "b") < 0, true);
  assertEquals(compareCodePoints("ab", "a") > 0, true);
  // U+1F600 (surrogate pair in UTF-16) sorts after U+FFFD in UTF-8 byte order.
  assertEquals(compareCodePoints("\u{1F600}", "\uFFFD") > 0, true);
  assertEquals(compareCodePoints("\uFFFD", "\u{1F600}") < 0, true);
});

Deno.test("serializePreprofile writes go tool preprofile's format and parsePreprofile reads it back", () => {
  const p = buildProfile([
    { stack: [at(0x20, "main.b:18:20"), at(0x10, "main.a:10:12")], value: [5, 0] },
    { stack: [at(0x21, "main.c:18:20"), at(0x10, "main.a:10:12")], value: [7, 0] },
  ]);
  const text = serializePreprofile(edgeMap(p));
  assertEquals(text, "GO PREPROFILE V1\nmain.a\nmain.c\n2 7\nmain.a\nmain.b\n2 5\n");
  const back = parsePreprofile(text);
  assertEquals(back.totalWeight, 12);
  assertEquals(serializePreprofile(back), text);
  assertEquals(serializePreprofile(edgeMap(buildProfile([]))), "GO PREPROFILE V1\n");
  assertThrows(() => parsePreprofile("nope\n"), ProfileError);
  assertThrows(() => parsePreprofile("GO PREPROFILE V1\na\nb\n1\n"), ProfileError);
  assertThrows(() => parsePreprofile("GO PREPROFILE V1\na\nb\n1 2\na\nb\n1 3\n"), ProfileError);
});

Deno.test("hotCallSites: includes the edge that crosses the CDF threshold", () => {
  const map = {
    sampleIndex: 0,
    totalWeight: 100,
    byWeight: [edge("a", "b", 1, 50), edge("a", "c", 1, 30), edge("d", "e", 2, 19), edge("f", "g", 3, 1)],
  };
  assertEquals(hotCallSites(map).edges.length, 4); // cum 99 is not > 99, the last edge crosses
  const half = hotCallSites(map, 50);
  assertEquals(half.edges, [edge("a", "b", 1, 50), edge("a", "c", 1, 30)]);
  assertEquals(half.callSites, [{ caller: "a", callSiteOffset: 1 }]);
  assertEquals(half.callees, ["b", "c"]);
  assertEquals(hotCallSites(map, 40).edges.length, 1);
});

Deno.test("devirtualizationCandidates: heaviest callee per call site, ties to the smaller name", () => {
  const map = {
    sampleIndex: 0,
    totalWeight: 23,
    byWeight: [edge("c", "Y", 3, 5), edge("c", "X", 3, 5), edge("c", "Z", 3, 2), edge("c", "Q", 4, 11)].sort(
      (a, b) => b.weight - a.weight || a.callee.localeCompare(b.callee),
    ),
  };
  assertEquals(devirtualizationCandidates(map), [
    { caller: "c", callSiteOffset: 4, callee: "Q", weight: 11, siteWeight: 11, tiedWith: [], calleeCount: 1 },
    { caller: "c", callSiteOffset: 3, callee: "X", weight: 5, siteWeight: 12, tiedWith: ["Y"], calleeCount: 3 },
  ]);
});
