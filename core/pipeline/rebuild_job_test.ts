/**
 * rebuildBytes against the object path: decoding every window to `Profile`s, applying guards and
 * decay factors to the objects and merging their encodings (what rebuildBytes did before windows
 * that need neither went to the fused merger as stored). Same bytes, same windows used and left
 * out, the same unreadable window.
 *
 * @module
 */

import assert from "node:assert/strict";
import { decayFactors, decayWeight } from "../pprof/decay.ts";
import { decodeProfile } from "../pprof/decode.ts";
import { encodeProfile, encodeUncompressed } from "../pprof/encode.ts";
import { ProfileError } from "../pprof/errors.ts";
import { EncodedProfileMerger } from "../pprof/fast_merge.ts";
import {
  applyNoInlineGuards,
  type NoInlineGuards,
  noInlineGuards,
  recordNoInlineGuards,
  writtenWithGuards,
} from "../pprof/noinline.ts";
import type { Profile } from "../pprof/profile.ts";
import { smallProfile } from "../../tests/support/build_profiles.ts";
import { committedProfiles } from "../../tests/support/fixtures.ts";
import { readBaseState, writeBaseState } from "./base_state.ts";
import { rebuildBytes, type RebuildJob, type RebuildResult, rebuiltState } from "./rebuild_job.ts";

const HOUR = 3_600_000;

/** The rebuild on decoded objects: every window decoded, guarded, scaled and encoded again. */
function objectPathRebuild(job: RebuildJob): RebuildResult {
  const profiles: Profile[] = [];
  for (const [index, data] of job.windows.entries()) {
    try {
      profiles.push(decodeProfile(data));
    } catch (error) {
      if (error instanceof ProfileError) return { status: "unreadable", index, message: error.message };
      throw error;
    }
  }
  const totals = profiles.map((p) => {
    const t = p.sampleType.map(() => 0);
    for (const s of p.sample) for (const [i, v] of s.value.entries()) t[i] += Math.abs(v);
    return t;
  });
  const { factors, dropped, scale } = decayFactors(
    profiles.map((_, i) => ({ weight: job.weights[i], totals: totals[i] })),
  );
  const used = profiles.map((_, i) => i).filter((i) => factors[i] !== undefined);
  const state = rebuiltState(
    used.map((i) => ({ start: job.starts[i], state: readBaseState(profiles[i].comments) })),
    job.cutoff,
    job.settings,
    scale,
  );
  const guards = job.noinline;
  const merger = new EncodedProfileMerger();
  for (const i of used) {
    let p = profiles[i];
    if (guards && !writtenWithGuards(p.comments, guards)) p = applyNoInlineGuards(p, guards);
    const k = factors[i]!;
    if (k !== 1) p = { ...p, sample: p.sample.map((s) => ({ ...s, value: s.value.map((v) => v * k) })) };
    merger.add(encodeUncompressed(p));
  }
  const data = merger.finish({
    comments: (comments) => {
      const written = writeBaseState(comments, state);
      return guards ? recordNoInlineGuards(written, guards) : written;
    },
  });
  return { status: "merged", data, used, tooLight: dropped };
}

/** Real profiles as windows, each with window bookkeeping (an upload count and a time span). */
function windows(guards?: NoInlineGuards, guardedEvery = 0): Uint8Array[] {
  const c = committedProfiles();
  return [...c.cpu, ...c.cpuLabelled].map((path, i) => {
    const p = decodeProfile(Deno.readFileSync(path));
    const from = BigInt(i) * 3_600_000_000_000n;
    let comments = writeBaseState(p.comments, {
      absorbed: [],
      deletedBefore: 0n,
      merged: i + 1,
      samplesFrom: from,
      samplesTo: from + 1n,
    });
    let profile = { ...p, comments };
    if (guards && guardedEvery > 0 && i % guardedEvery === 0) {
      profile = applyNoInlineGuards(profile, guards);
      comments = recordNoInlineGuards(profile.comments, guards);
      profile = { ...profile, comments };
    }
    return encodeProfile(profile);
  });
}

function job(data: Uint8Array[], opts: { halfLifeHours?: number; noinline?: NoInlineGuards } = {}): RebuildJob {
  return {
    windows: data,
    starts: data.map((_, i) => 1_767_225_600 + 3600 * i),
    weights: data.map((_, i) =>
      opts.halfLifeHours === undefined ? 1 : decayWeight((data.length - 1 - i) * HOUR, opts.halfLifeHours * HOUR)
    ),
    cutoff: 0n,
    settings: { windowSeconds: 3600, ...(opts.halfLifeHours ? { halfLifeSeconds: opts.halfLifeHours * 3600 } : {}) },
    ...(opts.noinline ? { noinline: opts.noinline } : {}),
  };
}

Deno.test("rebuildBytes: the object path's bytes without decay, with decay, with guards recorded or not", () => {
  const guards = noInlineGuards({ patterns: ["^main\\."], defaults: true });
  const cases: [string, RebuildJob][] = [
    ["no decay", job(windows())],
    ["decay", job(windows(), { halfLifeHours: 2 })],
    ["guards recorded by no window", job(windows(), { noinline: guards })],
    ["guards recorded by every other window", job(windows(guards, 2), { noinline: guards })],
    ["guards and decay", job(windows(guards, 3), { halfLifeHours: 5, noinline: guards })],
  ];
  for (const [name, j] of cases) {
    const got = rebuildBytes(j), want = objectPathRebuild(j);
    assert.equal(got.status, "merged", name);
    assert.deepEqual(got, want, name);
  }
});

Deno.test("rebuildBytes: windows too heavy to sum exactly are left out as on the object path, and checked", () => {
  const heavy = encodeProfile(smallProfile(0x400000n, [[2 ** 50, 1], [2 ** 50, 1], [1, 1]]));
  const j = job(Array.from({ length: 8 }, () => heavy));
  const got = rebuildBytes(j);
  assert.equal(got.status, "merged");
  if (got.status === "merged") assert.ok(got.tooLight.length > 0, "some windows are left out");
  assert.deepEqual(got, objectPathRebuild(j));
  // A window that would be left out is still checked: an unreadable one fails the rebuild.
  const broken = encodeUncompressed({ ...smallProfile(), sample: [{ location: [], value: [1, 2, 3] }] });
  const withBroken = job([...Array.from({ length: 7 }, () => heavy), broken]);
  assert.deepEqual(rebuildBytes(withBroken), objectPathRebuild(withBroken));
});

Deno.test("rebuildBytes: an unreadable window is named, as on the object path", () => {
  const data = windows();
  for (const junk of [new TextEncoder().encode("not a profile"), new Uint8Array([0x1f, 0x8b, 1, 2, 3])]) {
    const j = job([...data.slice(0, 2), junk, ...data.slice(2)]);
    const got = rebuildBytes(j);
    assert.equal(got.status, "unreadable");
    if (got.status === "unreadable") assert.equal(got.index, 2);
    assert.deepEqual(got, objectPathRebuild(j));
  }
});
