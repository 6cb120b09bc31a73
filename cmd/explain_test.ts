import { deepStrictEqual as assertEquals, ok, rejects, throws } from "node:assert/strict";
import { EXPLAIN_COLUMNS, explainEdgeMap, formatExplainReport, runExplain, thresholdArg } from "./explain.ts";
import { indirectCallKind, methodName } from "../core/pprof/explain.ts";
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

Deno.test("explainEdgeMap: shares, cumulative shares, hot cut and indirect call sites only", () => {
  const map = {
    sampleIndex: 0,
    totalWeight: 100,
    byWeight: [
      edge("m.a", "m.(*B).Area", 2, 50),
      edge("m.a", "m.(*C).Area", 2, 25),
      edge("m.a", "runtime.asyncPreempt", 2, 5),
      edge("m.d", "m.e", 1, 10),
      edge("m.f", "m.g.func1", 3, 6),
      edge("m.j", "m.k.func2", 5, 3),
      edge("m.j", "m.Plain", 5, 4),
      edge("m.h", "m.(*I).Lock", 1, 4),
    ],
  };
  const r = explainEdgeMap(map, { file: "f", format: "pprof", sampleType: "samples/count" }, 70);
  assertEquals(r.hotEdges.map((e) => [e.callee, e.share, e.cumulativeShare]), [
    ["m.(*B).Area", 50, 50],
    ["m.(*C).Area", 25, 75],
  ]);
  assertEquals([r.hotCallSiteCount, r.hotCallees], [1, ["m.(*B).Area", "m.(*C).Area"]]);
  // m.d → m.e (one function) and m.h → (*I).Lock (one method) may be direct calls: not listed.
  assertEquals(r.devirtualization.map((c) => [c.caller, c.callee, c.siteShare, c.calleeCount, c.kind]), [
    ["m.a", "m.(*B).Area", 62.5, 3, "interface"],
    ["m.j", "m.Plain", (4 / 7) * 100, 2, "func value"],
  ]);
  // m.f → m.g.func1: a closure, which Go's compiler never devirtualizes to (nor a direct call of it).
  const text = formatExplainReport(r, 1);
  ok(text.includes("Hot (70% CDF): 2 edges at 1 call sites"), text);
  ok(text.includes("… 1 more (use --top 0 to list all)"), text);
  ok(/50\s+50\.00%\s+50\.00%\s+m\.a\s+\+2\s+m\.\(\*B\)\.Area/.test(text), text);
  ok(/50\s+50\.00%\s+62\.50% of 3 callees\s+interface\s+m\.a\s+\+2\s+m\.\(\*B\)\.Area/.test(text), text);
});

Deno.test("indirectCallKind: several methods of one name, or a closure; nothing else", () => {
  assertEquals(indirectCallKind(["io.(*pipe).Write", "os.(*File).Write"]), "interface");
  assertEquals(indirectCallKind(["a/b.T[go.shape.int].Len", "a/b.(*U).Len"]), "interface");
  assertEquals(indirectCallKind(["main.handler.func2"]), "func value");
  assertEquals(indirectCallKind(["main.F", "main.G"]), undefined, "f(g(x)) on one line");
  assertEquals(indirectCallKind(["main.(*T).Area", "main.(*T).Perimeter"]), undefined);
  assertEquals(indirectCallKind(["main.(*T).Area", "runtime.asyncPreempt"]), undefined);
  assertEquals(methodName("github.com/x/y.v2.(*Client).Do"), "Do");
  assertEquals(methodName("strings.Compare"), undefined);
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

Deno.test("EXPLAIN_COLUMNS: every column of both tables is explained", () => {
  for (const column of ["weight", "share", "cum", "caller", "offset", "callee", "site share", "kind"]) {
    ok(EXPLAIN_COLUMNS.includes(`\n  ${column} `), column);
  }
  ok(EXPLAIN_COLUMNS.includes("func value") && EXPLAIN_COLUMNS.includes("interface"));
});

Deno.test("thresholdArg accepts 0..100 only", () => {
  assertEquals(thresholdArg("99.5"), 99.5);
  for (const bad of ["", "abc", "-1", "101"]) throws(() => thresholdArg(bad));
});
