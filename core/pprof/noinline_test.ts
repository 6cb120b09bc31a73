import assert from "node:assert/strict";
import { decodeProfile } from "./decode.ts";
import { edgeMap } from "./edges.ts";
import { encodeProfile } from "./encode.ts";
import {
  applyNoInlineGuards,
  compileNoInlinePattern,
  DEFAULT_NOINLINE_GUARDS,
  guardedName,
  NO_NOINLINE_GUARDS,
  NOINLINE_PREFIX,
  NoInlineGuardError,
  noInlineGuards,
  noInlineReport,
  recordedNoInlineGuards,
  sameNoInlineGuards,
} from "./noinline.ts";
import { at, buildProfile, randomProfile } from "./pgo_test_profiles.ts";
import type { Profile } from "./profile.ts";

const GUARD_F = noInlineGuards({ patterns: [String.raw`^main\.f$`], defaults: false });

/** main.run calls main.f at +2; main.f calls main.g at +3 (g inlined into f at one PC); main.run calls main.h. */
function callGraph(): Profile {
  return buildProfile([
    { stack: [at(0x10, "main.f:20:21"), at(0x20, "main.run:10:12")], value: [5, 50] },
    { stack: [at(0x11, "main.g:30:31", "main.f:20:23"), at(0x20, "main.run:10:12")], value: [3, 30] },
    { stack: [at(0x30, "main.h:40:41"), at(0x31, "main.run:10:13")], value: [7, 70] },
  ]);
}

function totals(p: Profile): number[] {
  return p.sampleType.map((_, i) => p.sample.reduce((sum, s) => sum + s.value[i], 0));
}

Deno.test("applyNoInlineGuards renames every line of a guarded function, so no edge into or out of it keeps its name", () => {
  const p = callGraph();
  const before = edgeMap(p);
  const guarded = applyNoInlineGuards(p, GUARD_F);
  const after = edgeMap(guarded);
  const f = `${NOINLINE_PREFIX}main.f`;
  assert.deepEqual(
    after.byWeight.map((e) => `${e.caller} -> ${e.callee} +${e.callSiteOffset} = ${e.weight}`).sort(),
    [
      `${f} -> main.g +3 = 3`,
      `main.run -> ${f} +2 = 8`,
      "main.run -> main.h +3 = 7",
    ],
  );
  assert.ok(!after.byWeight.some((e) => e.caller === "main.f" || e.callee === "main.f"));
  // Totals and the edge map's total weight are unchanged; every other edge is identical.
  assert.equal(after.totalWeight, before.totalWeight);
  assert.deepEqual(totals(guarded), totals(p));
  assert.equal(guarded.sample.length, p.sample.length);
  assert.deepEqual(
    after.byWeight.filter((e) => e.caller === "main.run" && e.callee === "main.h"),
    before.byWeight.filter((e) => e.caller === "main.run" && e.callee === "main.h"),
  );
  assert.deepEqual(recordedNoInlineGuards(guarded.comments), [String.raw`^main\.f$`]);
  assert.ok(guarded.comments.includes("hand-built"));
});

Deno.test("applyNoInlineGuards leaves its input alone and shares what it does not change", () => {
  const p = callGraph();
  const snapshot = encodeProfile(p);
  const guarded = applyNoInlineGuards(p, GUARD_F);
  assert.deepEqual(encodeProfile(p), snapshot);
  assert.equal(p.function.find((f) => f.name === "main.f")?.name, "main.f");
  const h = p.sample[2];
  assert.equal(guarded.sample[2], h, "a sample without guarded frames is shared");
  assert.notEqual(guarded.sample[0], p.sample[0]);
});

Deno.test("applyNoInlineGuards is idempotent, and returns the profile itself when nothing changes", () => {
  const once = applyNoInlineGuards(callGraph(), GUARD_F);
  const twice = applyNoInlineGuards(once, GUARD_F);
  assert.equal(twice, once);
  assert.ok(!twice.function.some((f) => f.name.startsWith(NOINLINE_PREFIX + NOINLINE_PREFIX)));
  // Through the encoder and back, too.
  const decoded = decodeProfile(encodeProfile(once));
  assert.deepEqual(encodeProfile(applyNoInlineGuards(decoded, GUARD_F)), encodeProfile(once));
});

Deno.test("applyNoInlineGuards matches the original name: an unanchored guard never double-prefixes", () => {
  const guards = noInlineGuards({ patterns: ["main"], defaults: false });
  const once = applyNoInlineGuards(callGraph(), guards);
  assert.deepEqual(once.function.map((f) => f.name).sort(), [
    `${NOINLINE_PREFIX}main.f`,
    `${NOINLINE_PREFIX}main.g`,
    `${NOINLINE_PREFIX}main.h`,
    `${NOINLINE_PREFIX}main.run`,
  ]);
  assert.equal(applyNoInlineGuards(once, guards), once);
});

Deno.test("applyNoInlineGuards restores a function no guard matches any more, and drops the record", () => {
  const p = callGraph();
  const guarded = applyNoInlineGuards(p, GUARD_F);
  const restored = applyNoInlineGuards(guarded, NO_NOINLINE_GUARDS);
  assert.deepEqual(encodeProfile(restored), encodeProfile(p));
  assert.deepEqual(recordedNoInlineGuards(restored.comments), []);
  // A different guard list: f back, h renamed.
  const other = applyNoInlineGuards(guarded, noInlineGuards({ patterns: [String.raw`^main\.h$`], defaults: false }));
  assert.deepEqual(noInlineReport(other), { guards: [String.raw`^main\.h$`], functions: ["main.h"] });
});

Deno.test("applyNoInlineGuards keeps every sample and value of random profiles", () => {
  for (let seed = 1; seed <= 30; seed++) {
    const p = randomProfile(seed);
    const guards = noInlineGuards({ patterns: [`^f${seed % 7}$`, "f3"], defaults: true });
    const guarded = applyNoInlineGuards(p, guards);
    assert.deepEqual(totals(guarded), totals(p), `seed ${seed}`);
    assert.deepEqual(guarded.sample.map((s) => s.value), p.sample.map((s) => s.value), `seed ${seed}`);
    assert.deepEqual(
      guarded.sample.map((s) => s.location.map((l) => l.line.length)),
      p.sample.map((s) => s.location.map((l) => l.line.length)),
      `seed ${seed}`,
    );
    const names = (q: Profile, rename = (n: string) => n) =>
      q.sample.map((s) => s.location.map((l) => l.line.map((ln) => rename(ln.function?.name ?? "")).join("|")));
    assert.deepEqual(names(guarded), names(p, (n) => guardedName(n, guards)), `seed ${seed}`);
    assert.equal(edgeMap(guarded).totalWeight, edgeMap(p).totalWeight, `seed ${seed}`);
  }
});

Deno.test("noInlineGuards puts the built-in list first, dedups, and refuses bad regexps with one line", () => {
  const defaults = DEFAULT_NOINLINE_GUARDS.map((g) => g.pattern);
  assert.deepEqual(noInlineGuards().patterns.map((r) => r.source), defaults);
  assert.deepEqual(
    noInlineGuards({ patterns: ["x", "x", defaults[0]] }).patterns.map((r) => r.source),
    [...defaults, "x"],
  );
  assert.deepEqual(noInlineGuards({ defaults: false }).patterns, []);
  assert.throws(() => noInlineGuards({ patterns: ["(unclosed"] }), (e: Error) => {
    assert.ok(e instanceof NoInlineGuardError);
    assert.match(e.message, /^no-inline guard "\(unclosed": not a valid regular expression: /);
    assert.ok(!e.message.includes("\n"));
    return true;
  });
  assert.throws(() => compileNoInlinePattern(""), NoInlineGuardError);
});

Deno.test("the built-in guards match exactly the functions of the two Go issues", () => {
  const guards = noInlineGuards();
  const names = [
    "google.golang.org/grpc/internal/transport.(*loopyWriter).processData",
    "runtime.gopark",
    "runtime.goparkunlock",
    "google.golang.org/grpc/internal/transport.(*loopyWriter).processDataX",
    "xruntime.gopark",
  ];
  assert.deepEqual(names.map((n) => guardedName(n, guards) !== n), [true, true, false, false, false]);
});

Deno.test("sameNoInlineGuards compares the recorded regexps with the guard list, in order", () => {
  const guards = noInlineGuards({ patterns: ["a", "b"], defaults: false });
  assert.ok(sameNoInlineGuards(["a", "b"], guards));
  assert.ok(!sameNoInlineGuards(["b", "a"], guards));
  assert.ok(!sameNoInlineGuards(["a"], guards));
  assert.ok(sameNoInlineGuards([], NO_NOINLINE_GUARDS));
});

Deno.test("noInlineReport names the recorded guards and the renamed functions by their original names", () => {
  const guarded = applyNoInlineGuards(callGraph(), GUARD_F);
  assert.deepEqual(noInlineReport(guarded), { guards: [String.raw`^main\.f$`], functions: ["main.f"] });
  assert.deepEqual(noInlineReport(callGraph()), { guards: [], functions: [] });
});
