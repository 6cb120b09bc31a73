/** Tests of the flame graph JSON (flame_graph.ts) on hand-made and committed real profiles. */

import assert from "node:assert/strict";
import { committedProfiles } from "../../tests/support/fixtures.ts";
import { cpuProfile, fn, loc, sample, smallProfile } from "../../tests/support/build_profiles.ts";
import { compactForPgo } from "../pprof/compact_pgo.ts";
import { decodeProfile } from "../pprof/decode.ts";
import { summarizeProfile } from "../pprof/summary.ts";
import { type FlameGraph, flameGraph, FRAME_STRIDE } from "./flame_graph.ts";

interface Frame {
  name: string;
  depth: number;
  total: number;
  self: number;
}

function framesOf(g: FlameGraph): Frame[] {
  const out: Frame[] = [];
  for (let i = 0; i < g.frames.length; i += FRAME_STRIDE) {
    out.push({ name: g.names[g.frames[i]], depth: g.frames[i + 1], total: g.frames[i + 2], self: g.frames[i + 3] });
  }
  return out;
}

Deno.test("flameGraph: stacks run root to leaf, inlined lines become frames, children follow their parent", () => {
  const g = flameGraph(smallProfile(), 1);
  assert.equal(g.sampleType, "cpu/nanoseconds");
  assert.equal(g.unit, "nanoseconds");
  assert.equal(g.total, 60);
  assert.equal(g.maxDepth, 3);
  assert.equal(g.maxLocations, 2);
  assert.equal(g.omitted, 0);
  assert.deepEqual(framesOf(g), [
    { name: "root", depth: 0, total: 60, self: 0 },
    { name: "main.main", depth: 1, total: 60, self: 0 },
    { name: "main.work", depth: 2, total: 60, self: 20 },
    { name: "main.leaf", depth: 3, total: 40, self: 40 },
  ]);
  assert.deepEqual(g.names, ["root", "main.main", "main.work", "main.leaf"]);
});

Deno.test("flameGraph: heaviest sibling first, addresses name unsymbolized frames, zero and negative samples are left out", () => {
  const a = fn(1, "pkg.a");
  const b = fn(2, "pkg.b");
  const la = loc(1, undefined, 0x10n, [[a, 2]]);
  const lb = loc(2, undefined, 0x20n, [[b, 2]]);
  const bare = loc(3, undefined, 0x4a0fn, []);
  const p = cpuProfile({
    functions: [a, b],
    locations: [la, lb, bare],
    samples: [
      sample([la], [1, 5]),
      sample([lb], [1, 7]),
      sample([bare, lb], [1, 1]),
      sample([la], [1, 0]),
      sample([la], [1, -3]),
    ],
  });
  const frames = framesOf(flameGraph(p, 1));
  assert.deepEqual(frames.map((f) => `${f.depth} ${f.name} ${f.total}`), [
    "0 root 13",
    "1 pkg.b 8",
    "2 0x4a0f 1",
    "1 pkg.a 5",
  ]);
  assert.deepEqual(flameGraph(p, -1), {
    sampleType: "",
    unit: "",
    total: 0,
    names: ["root"],
    frames: [0, 0, 0, 0],
    maxDepth: 0,
    maxLocations: 0,
    omitted: 0,
  });
});

Deno.test("flameGraph: widths agree with inspect's totals and flat values on a real profile", async () => {
  const p = decodeProfile(await Deno.readFile(committedProfiles().cpu[0]));
  const summary = summarizeProfile(p, { top: 1000 });
  const index = p.sampleType.findIndex((t) => `${t.type}/${t.unit}` === summary.rankedBy);
  const g = flameGraph(p, index);
  assert.equal(g.omitted, 0);
  assert.ok(g.maxLocations > 2);
  assert.equal(flameGraph(compactForPgo(p), index).maxLocations, 2, "what --compaction pgo stores");
  assert.equal(g.total, summary.totals[index].total);
  const flat = new Map<string, number>();
  for (const f of framesOf(g)) if (f.self > 0) flat.set(f.name, (flat.get(f.name) ?? 0) + f.self);
  assert.deepEqual(flat, new Map(summary.topFlat.map((f) => [f.name, f.flat])));
  // Each depth's frames lie within their parents: per depth, totals never exceed the root.
  const byDepth = new Map<number, number>();
  for (const f of framesOf(g)) byDepth.set(f.depth, (byDepth.get(f.depth) ?? 0) + f.total);
  for (const sum of byDepth.values()) assert.ok(sum <= g.total);
});

Deno.test("flameGraph: maxFrames and minShare omit the narrowest frames with everything under them", async () => {
  const p = decodeProfile(await Deno.readFile(committedProfiles().cpu[0]));
  const full = flameGraph(p, 1);
  const small = flameGraph(p, 1, { maxFrames: 50 });
  const kept = small.frames.length / FRAME_STRIDE;
  assert.ok(kept <= 50, `${kept} frames`);
  assert.equal(kept + small.omitted, full.frames.length / FRAME_STRIDE);
  const narrowest = Math.min(...framesOf(small).map((f) => f.total));
  const dropped = framesOf(full).filter((f) => f.total > narrowest).length;
  assert.ok(dropped <= kept, "no frame wider than a kept one is omitted");
  const byShare = flameGraph(p, 1, { minShare: 0.05 });
  assert.ok(framesOf(byShare).every((f) => f.total > full.total * 0.05));
  assert.equal(new Set(byShare.frames.filter((_, i) => i % FRAME_STRIDE === 0)).size, byShare.names.length);
});
