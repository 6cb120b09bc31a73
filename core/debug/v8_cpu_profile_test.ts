/**
 * Tests of the V8 → pprof conversion behind `--debug`'s `/debug/pprof/profile`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { decodeProfile } from "../pprof/decode.ts";
import { encodeProfile } from "../pprof/encode.ts";
import { checkPgo } from "../pprof/pgo.ts";
import { type V8CpuProfile, v8ToPprof } from "./v8_cpu_profile.ts";
import { profileSeconds } from "./pprof_routes.ts";

const frame = (functionName: string, lineNumber: number, url = "file:///app/main.ts") => ({
  functionName,
  scriptId: "1",
  url,
  lineNumber,
  columnNumber: 0,
});

/** root → main (line 10) → { hot (line 20, 3 hits on two lines), (anonymous) (1 hit) }, plus idle and GC. */
const V8: V8CpuProfile = {
  startTime: 1_000_000,
  endTime: 3_000_000,
  nodes: [
    { id: 1, callFrame: frame("(root)", -1, ""), hitCount: 0, children: [2, 5, 6] },
    { id: 2, callFrame: frame("main", 9), hitCount: 0, children: [3, 4] },
    {
      id: 3,
      callFrame: frame("hot", 19),
      hitCount: 3,
      positionTicks: [{ line: 21, ticks: 2 }, { line: 22, ticks: 1 }],
    },
    { id: 4, callFrame: frame("", 30), hitCount: 1 },
    { id: 5, callFrame: frame("(idle)", -1, ""), hitCount: 50 },
    { id: 6, callFrame: frame("(garbage collector)", -1, ""), hitCount: 2 },
  ],
};

function stacks(p: ReturnType<typeof v8ToPprof>): string[] {
  return p.sample.map((s) =>
    `${s.location.map((l) => `${l.line[0].function!.name}:${l.line[0].line}`).join(" < ")} = ${s.value.join("/")}`
  ).sort();
}

Deno.test("v8ToPprof builds Go's CPU layout: leaf lines from positionTicks, callers, idle dropped", () => {
  const p = v8ToPprof(V8, { periodNs: 10_000_000, started: new Date(1_700_000_000_000) });
  assert.deepEqual(p.sampleType, [{ type: "samples", unit: "count" }, { type: "cpu", unit: "nanoseconds" }]);
  assert.deepEqual(p.periodType, { type: "cpu", unit: "nanoseconds" });
  assert.equal(p.period, 10_000_000);
  assert.equal(p.timeNanos, 1_700_000_000_000_000_000n);
  assert.equal(p.durationNanos, 2_000_000_000n);
  assert.deepEqual(stacks(p), [
    "(anonymous):31 < main:10 = 1/10000000",
    "(garbage collector):0 = 2/20000000",
    "hot:21 < main:10 = 2/20000000",
    "hot:22 < main:10 = 1/10000000",
  ]);
  const hot = p.function.find((f) => f.name === "hot")!;
  assert.equal(hot.startLine, 20);
  assert.equal(hot.filename, "file:///app/main.ts");
  assert.equal(p.function.filter((f) => f.name === "main").length, 1, "one function per name, file and line");
});

Deno.test("v8ToPprof output survives encode/decode and is usable by Go PGO", () => {
  const p = v8ToPprof(V8, { periodNs: 10_000_000, started: new Date() });
  const decoded = decodeProfile(encodeProfile(p));
  assert.deepEqual(stacks(decoded), stacks(p));
  assert.equal(checkPgo(decoded).usable, true);
});

Deno.test("v8ToPprof never gives more ticks to lines than the node has hits", () => {
  const p = v8ToPprof({
    startTime: 0,
    endTime: 1,
    nodes: [
      { id: 1, callFrame: frame("(root)", -1, ""), children: [2] },
      { id: 2, callFrame: frame("f", 0), hitCount: 1, positionTicks: [{ line: 1, ticks: 5 }] },
    ],
  }, { periodNs: 1, started: new Date(0) });
  assert.deepEqual(stacks(p), ["f:1 = 1/1"]);
});

Deno.test("profileSeconds reads ?seconds= like Go's handler: a positive integer, else 30", () => {
  assert.equal(profileSeconds("5"), 5);
  assert.equal(profileSeconds(null), 30);
  assert.equal(profileSeconds("0"), 30);
  assert.equal(profileSeconds("-3"), 30);
  assert.equal(profileSeconds("1.5"), 30);
});
