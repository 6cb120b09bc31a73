import { deepStrictEqual as assertEquals, ok, rejects, throws } from "node:assert/strict";
import { explainEdgeMap, formatExplainReport, runExplain, thresholdArg } from "./explain.ts";
import { CliError } from "./cli_error.ts";
import { decodeProfile } from "../core/pprof/decode.ts";
import { edgeMap, serializePreprofile, type WeightedCallEdge } from "../core/pprof/edges.ts";
import { committedProfiles } from "../tests/support/fixtures.ts";

const edge = (caller: string, callee: string, callSiteOffset: number, weight: number): WeightedCallEdge => ({
  caller,
  callee,
  callSiteOffset,
  weight,
});

Deno.test("explainEdgeMap: shares, cumulative shares, hot cut and devirtualization candidates", () => {
  const map = {
    sampleIndex: 0,
    totalWeight: 100,
    byWeight: [edge("m.a", "m.b", 2, 60), edge("m.a", "m.c", 2, 30), edge("m.d", "m.e", 1, 10)],
  };
  const r = explainEdgeMap(map, { file: "f", format: "pprof", sampleType: "samples/count" }, 80);
  assertEquals(r.hotEdges.map((e) => [e.callee, e.share, e.cumulativeShare]), [["m.b", 60, 60], ["m.c", 30, 90]]);
  assertEquals([r.hotCallSiteCount, r.hotCallees], [1, ["m.b", "m.c"]]);
  assertEquals(r.devirtualization.map((c) => [c.caller, c.callee, c.siteShare, c.calleeCount]), [
    ["m.a", "m.b", (60 / 90) * 100, 2],
    ["m.d", "m.e", 100, 1],
  ]);
  const text = formatExplainReport(r, 1);
  ok(text.includes("Hot (80% CDF): 2 edges at 1 call sites"), text);
  ok(text.includes("… 1 more (use --top 0 to list all)"), text);
  ok(/60\s+60\.00%\s+60\.00%\s+m\.a\s+\+2\s+m\.b/.test(text), text);
});

Deno.test("explainEdgeMap: a profile the compiler ignores says so", () => {
  const r = explainEdgeMap({ sampleIndex: 0, totalWeight: 0, byWeight: [] }, {
    file: "f",
    format: "pprof",
    sampleType: "",
  });
  ok(r.ignoredReason !== "");
  ok(formatExplainReport(r, 20).includes("The Go compiler ignores this profile"));
});

Deno.test("runExplain: real committed profile and its preprofile form give the same report", async () => {
  const path = committedProfiles().cpuLabelled[0];
  const fromPprof = await runExplain(path, { threshold: 99 });
  const map = edgeMap(decodeProfile(await Deno.readFile(path)));
  assertEquals(fromPprof.totalWeight, map.totalWeight);
  assertEquals(fromPprof.edgeCount, map.byWeight.length);
  assertEquals(fromPprof.sampleType, "samples/count");
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/edges.pre`, serializePreprofile(map));
    const fromPre = await runExplain(`${dir}/edges.pre`, { threshold: 99 });
    assertEquals(fromPre.format, "preprofile");
    assertEquals(fromPre.hotEdges, fromPprof.hotEdges);
    assertEquals(fromPre.devirtualization, fromPprof.devirtualization);
    await Deno.writeTextFile(`${dir}/junk`, "not a profile at all");
    await rejects(runExplain(`${dir}/junk`, { threshold: 99 }), (e: Error) => {
      ok(e instanceof CliError && e.message.startsWith(`explain "${dir}/junk": `) && !e.message.includes("\n"));
      return true;
    });
    await rejects(runExplain(`${dir}/none`, { threshold: 99 }), /explain ".*none": no such file/);
    await rejects(runExplain(committedProfiles().heap, { threshold: 99 }), /samples\/count/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("thresholdArg accepts 0..100 only", () => {
  assertEquals(thresholdArg("99.5"), 99.5);
  for (const bad of ["", "abc", "-1", "101"]) throws(() => thresholdArg(bad));
});
