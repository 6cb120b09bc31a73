import assert from "node:assert/strict";
import { committedProfiles } from "../tests/support/fixtures.ts";
import { decodeProfile } from "../core/pprof/decode.ts";
import { edgeMap, serializePreprofile } from "../core/pprof/edges.ts";
import { encodeProfile } from "../core/pprof/encode.ts";
import { applyNoInlineGuards, NOINLINE_PREFIX, noInlineGuards } from "../core/pprof/noinline.ts";
import { formatExplainReport, runExplain } from "./explain.ts";
import { runInspect } from "./inspect.ts";

const SORT = String.raw`^main\.sortRecords$`;

async function withFiles(fn: (files: { plain: string; guarded: string; preprofile: string }) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "autopgo-noinline-visible-" });
  try {
    const plain = decodeProfile(Deno.readFileSync(committedProfiles().cpu[0]));
    const guarded = applyNoInlineGuards(plain, noInlineGuards({ patterns: [SORT], defaults: false }));
    const files = { plain: `${dir}/plain.pgo`, guarded: `${dir}/guarded.pgo`, preprofile: `${dir}/guarded.pre` };
    await Deno.writeFile(files.plain, encodeProfile(plain));
    await Deno.writeFile(files.guarded, encodeProfile(guarded));
    await Deno.writeTextFile(files.preprofile, serializePreprofile(edgeMap(guarded)));
    await fn(files);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("inspect says which no-inline guards applied and what they renamed (text and JSON)", async () => {
  await withFiles(async ({ plain, guarded }) => {
    const text = await runInspect(guarded, { top: 5 });
    assert.match(
      text,
      /^No-inline: +1 guard applied \(\^main\\\.sortRecords\$\); renamed, so PGO inlines them nowhere and nothing into them: main\.sortRecords$/m,
    );
    const json = JSON.parse(await runInspect(guarded, { top: 5, json: true }));
    assert.deepEqual(json.noInline, { guards: [SORT], functions: ["main.sortRecords"] });
    assert.doesNotMatch(await runInspect(plain, { top: 5 }), /No-inline/);
    assert.deepEqual(JSON.parse(await runInspect(plain, { top: 5, json: true })).noInline, {
      guards: [],
      functions: [],
    });
  });
});

Deno.test("explain says which no-inline guards applied; the renamed edges show under the guarded name", async () => {
  await withFiles(async ({ plain, guarded, preprofile }) => {
    const report = await runExplain(guarded, { threshold: 99 });
    assert.deepEqual(report.noInline, { guards: [SORT], functions: ["main.sortRecords"] });
    const text = formatExplainReport(report, 0);
    assert.match(text, /^No-inline: 1 guard applied \(\^main\\\.sortRecords\$\); renamed, .*: main\.sortRecords$/m);
    assert.ok(report.hotEdges.some((e) => e.caller === `${NOINLINE_PREFIX}main.sortRecords`));
    assert.ok(!report.hotEdges.some((e) => e.caller === "main.sortRecords" || e.callee === "main.sortRecords"));
    // Renamed functions are neither hot callees nor callers of hot call sites the compiler could match.
    const unguarded = await runExplain(plain, { threshold: 99 });
    assert.ok(unguarded.hotCallees.includes("main.sortRecords"));
    assert.ok(!report.hotCallees.some((c) => c.includes("main.sortRecords")));
    assert.equal(report.hotCallees.length, unguarded.hotCallees.length - 1);
    assert.ok(report.hotCallSiteCount < unguarded.hotCallSiteCount);
    // A preprocessed profile has no comments: only the renamed functions are known.
    const pre = await runExplain(preprofile, { threshold: 99 });
    assert.deepEqual(pre.noInline, { guards: [], functions: ["main.sortRecords"] });
    assert.match(formatExplainReport(pre, 0), /^No-inline: no guard recorded; renamed, .*: main\.sortRecords$/m);
    const none = await runExplain(plain, { threshold: 99 });
    assert.deepEqual(none.noInline, { guards: [], functions: [] });
    assert.doesNotMatch(formatExplainReport(none, 0), /No-inline/);
  });
});
