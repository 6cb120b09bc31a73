/**
 * The engine against the reference implementation, on real Go CPU profiles:
 * (a) mergeProfiles vs `go tool pprof -proto a b c …` (same samples and same structure);
 * (b) pruneFrom vs `go tool pprof -proto -prune_from=RX`;
 * (c) pruneProfile / mergeProfiles / compactProfile vs google/pprof's Prune / Merge / Compact
 *     run by the pproforacle Go program, compared structurally (headers, entity tables, ids).
 * Skips with a printed reason without Go; fails under CI=true.
 */

import assert from "node:assert/strict";
import { decodeProfile } from "../core/pprof/decode.ts";
import { encodeProfile } from "../core/pprof/encode.ts";
import { ProfileError } from "../core/pprof/errors.ts";
import { compactProfile, mergeProfiles } from "../core/pprof/merge.ts";
import type { Profile } from "../core/pprof/profile.ts";
import { pruneFrom, pruneProfile } from "../core/pprof/prune.ts";
import { committedProfiles, fixtureTempDir, generateProfiles, heapProfile } from "./support/fixtures.ts";
import { runGo, skipUnlessGo } from "./support/go.ts";
import { runOracle } from "./support/oracle.ts";
import { assertSameProfile, assertSameSamples } from "./support/samples.ts";
import { cpuProfile, fn, loc, mapping, sample } from "./support/build_profiles.ts";

async function load(path: string): Promise<Profile> {
  return decodeProfile(await Deno.readFile(path));
}

/** Real inputs: committed profiles plus freshly generated ones (with and without labels). */
async function realInputs(): Promise<string[]> {
  const committed = committedProfiles();
  const plain = await generateProfiles({ count: 3, durationMs: 300, seed: 11 });
  const labelled = await generateProfiles({ count: 3, durationMs: 300, labels: true, seed: 12 });
  return [...committed.cpu, ...committed.cpuLabelled, ...plain, ...labelled];
}

/** `go tool pprof -proto ARGS… INPUTS…` decoded. */
async function goPprofProto(args: string[], inputs: string[]): Promise<Profile> {
  const out = `${await fixtureTempDir()}/pprof-${crypto.randomUUID()}.pb.gz`;
  await runGo(["tool", "pprof", "-proto", "-symbolize=none", `-output=${out}`, ...args, ...inputs]);
  try {
    return await load(out);
  } finally {
    await Deno.remove(out);
  }
}

async function oracle(args: string[]): Promise<Profile> {
  return decodeProfile(await runOracle(args));
}

// Function-name patterns that exist in the hotpath fixture's profiles (simplified names).
const PATTERNS = ["main\\.runUnit", "runtime\\.", "main\\.(stage|sort)", "^main\\.", "pprof\\.Do", "mallocgc"];

Deno.test("oracle (a): mergeProfiles holds the samples of go tool pprof -proto", async () => {
  const name = "mergeProfiles vs go tool pprof -proto";
  if (!skipUnlessGo(name)) return;
  const inputs = await realInputs();
  const ours = mergeProfiles(await Promise.all(inputs.map(load)));
  const theirs = await goPprofProto([], inputs);
  assertSameSamples(ours, theirs, "merge of all inputs");
  assertSameProfile(ours, theirs, "merge of all inputs");
  // Different orders and subsets give different first-profile specialisations and ids.
  const reversed = inputs.slice().reverse().slice(0, 5);
  const ours2 = mergeProfiles(await Promise.all(reversed.map(load)));
  assertSameProfile(ours2, await goPprofProto([], reversed), "merge of reversed subset");
  // The same profile twice: every value doubles.
  const twice = [inputs[0], inputs[0]];
  assertSameProfile(mergeProfiles(await Promise.all(twice.map(load))), await goPprofProto([], twice), "twice");
});

Deno.test("oracle (b): pruneFrom matches go tool pprof -proto -prune_from", async () => {
  const name = "pruneFrom vs go tool pprof -prune_from";
  if (!skipUnlessGo(name)) return;
  const inputs = (await realInputs()).slice(0, 4);
  for (const rx of PATTERNS) {
    const ours = mergeProfiles(await Promise.all(inputs.map(load)));
    pruneFrom(ours, new RegExp(rx));
    const theirs = await goPprofProto([`-prune_from=${rx}`], inputs);
    assertSameSamples(ours, theirs, `prune_from=${rx}`);
    assertSameProfile(ours, theirs, `prune_from=${rx}`);
  }
});

Deno.test("oracle (c): pruneProfile(drop, keep) equals google/pprof Prune, structurally", async () => {
  if (!skipUnlessGo("pruneProfile vs pproforacle prune")) return;
  const inputs = await realInputs();
  const cases: [string, string][] = [
    ["runtime\\.", ""],
    ["main\\.runUnit", ""],
    ["main\\.", "main\\.(stage|sort)"],
    ["mallocgc|memmove", ""],
    ["pprof\\.Do", "nothing"],
  ];
  for (const input of [inputs[0], inputs[3], inputs[inputs.length - 1]]) {
    for (const [drop, keep] of cases) {
      const ours = await load(input);
      pruneProfile(ours, new RegExp(drop), keep ? new RegExp(keep) : undefined);
      const theirs = await oracle(["prune", "-", drop, keep, input]);
      assertSameProfile(ours, theirs, `prune ${drop} keep ${keep || "-"} of ${input}`);
      // Pruned then compacted (what the worker stores) equals pprof's Compact of the same.
      assertSameProfile(compactProfile(ours), compactProfile(theirs), `compacted prune ${drop}`);
    }
  }
});

Deno.test("oracle (c): mergeProfiles and compactProfile equal google/pprof Merge and Compact", async () => {
  if (!skipUnlessGo("mergeProfiles vs pproforacle merge")) return;
  const inputs = await realInputs();
  const ours = mergeProfiles(await Promise.all(inputs.map(load)));
  assertSameProfile(ours, await oracle(["merge", "-", ...inputs]), "merge");
  for (const input of inputs) {
    assertSameProfile(compactProfile(await load(input)), await oracle(["compact", "-", input]), `compact ${input}`);
  }
});

Deno.test("oracle (c): a CPU and a heap profile are incompatible for both", async () => {
  if (!skipUnlessGo("incompatible merge vs pproforacle")) return;
  const [cpu] = await realInputs();
  const heap = await heapProfile();
  await assert.rejects(oracle(["merge", "-", cpu, heap]), /incompatible period types/);
  assert.throws(
    () => mergeProfiles([decodeProfile(Deno.readFileSync(cpu)), decodeProfile(Deno.readFileSync(heap))]),
    (e: unknown) =>
      e instanceof ProfileError && e.kind === "incompatible" &&
      e.message === "incompatible period types cpu/nanoseconds and space/bytes",
  );
});

// The lines-string overlap is fixed in google/pprof newer than the copy vendored in Go 1.26's
// `go tool pprof` (the pproforacle module has the fix); we match `go tool pprof`.
Deno.test("oracle (a): pprof's key quirks (lines-string overlap, label-encoding collision) are reproduced", async () => {
  if (!skipUnlessGo("key quirks vs go tool pprof -proto")) return;
  const m = mapping(1, 0x1000n, 0x9000n);
  const [f1, f2, f3] = [fn(1, "a", 1), fn(2, "b", 2), fn(3, "c", 3)];
  // Two-line locations differing only in line 0's column (overwritten in pprof's key), one in the last column.
  const l1 = loc(1, m, 0x1100n, [[f1, 5, 7], [f2, 6, 0]]);
  const l2 = loc(2, m, 0x1100n, [[f1, 5, 9], [f2, 6, 0]]);
  const l3 = loc(3, m, 0x1100n, [[f1, 5, 7], [f2, 6, 1]]);
  const root = loc(4, m, 0x1200n, [[f3, 9]]);
  const p = cpuProfile({
    mappings: [m],
    functions: [f1, f2, f3],
    locations: [l1, l2, l3, root],
    samples: [
      sample([l1, root], [1, 1]),
      sample([l2, root], [2, 2]),
      sample([l3, root], [4, 4]),
      // pprof's label encoding: string {k: ["\x00"]} and numeric {k: [1]} encode alike.
      sample([root], [8, 8], { label: { k: ["\x00"] } }),
      sample([root], [16, 16], { numLabel: { k: [1] } }),
      sample([root], [32, 32], { numLabel: { k: [2] } }),
    ],
  });
  const path = `${await fixtureTempDir()}/quirks-${crypto.randomUUID()}.pb.gz`;
  await Deno.writeFile(path, encodeProfile(p));
  try {
    const theirs = await goPprofProto([], [path, path]);
    const ours = mergeProfiles([await load(path), await load(path)]);
    assertSameProfile(ours, theirs, "quirks");
    assert.deepEqual(ours.sample.map((s) => s.value[0]), [6, 8, 48, 64]);
  } finally {
    await Deno.remove(path);
  }
});
