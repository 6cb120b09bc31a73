import assert from "node:assert/strict";
import { decodeProfile } from "./decode.ts";
import { ProfileError } from "./errors.ts";
import { DEFAULT_DECODE_LIMITS, resolveDecodeLimits, WORK_SLACK, workBudget } from "./limits.ts";
import {
  deepStackProfile,
  gzip,
  manyEntitiesProfile,
  manyLabelsProfile,
  paddedGzipBomb,
  wideLocationProfile,
} from "../../tests/support/crafted_profiles.ts";
import { committedProfiles } from "../../tests/support/fixtures.ts";
import { uploadDecodeLimits } from "../pipeline/upload_limits.ts";

function tooLarge(pattern: RegExp) {
  return (e: unknown) => e instanceof ProfileError && e.kind === "too-large" && pattern.test(e.message);
}

Deno.test("workBudget: the smaller of the absolute total and the per-input-byte budget plus slack", () => {
  const lim = resolveDecodeLimits({ maxInlineFramesPerByte: 4, maxCharsPerByte: 8, maxTotalInlineFrames: 1e6 });
  assert.deepEqual(workBudget(lim, 1000), { inlineFrames: 4000 + WORK_SLACK, chars: 8000 + WORK_SLACK });
  assert.equal(workBudget(lim, 1e6).inlineFrames, 1e6, "the absolute limit caps a large input");
  assert.deepEqual(workBudget(DEFAULT_DECODE_LIMITS, 0), {
    inlineFrames: DEFAULT_DECODE_LIMITS.maxTotalInlineFrames,
    chars: DEFAULT_DECODE_LIMITS.maxReferencedChars,
  });
});

Deno.test("resolveDecodeLimits accepts Infinity and rejects negative or NaN budgets", () => {
  assert.equal(resolveDecodeLimits({ maxInflationRatio: Infinity }).maxInflationRatio, Infinity);
  assert.throws(() => resolveDecodeLimits({ maxTotalFrames: -1 }), RangeError);
  assert.throws(() => resolveDecodeLimits({ maxCharsPerByte: NaN }), RangeError);
});

Deno.test("decodeProfile budget: inline frames reached through samples are capped per input byte", () => {
  // 2,000 samples of ~12 bytes, each naming a 64-line location twice: 256,000 inline frames.
  const data = wideLocationProfile({ lines: 64, samples: 2_000 });
  assert.throws(() => decodeProfile(data, { maxInlineFramesPerByte: 1 }), tooLarge(/inlined frames in all samples/));
  assert.throws(() => decodeProfile(data, { maxTotalInlineFrames: 255_999 }), tooLarge(/inlined frames/));
  assert.equal(decodeProfile(data, { maxInlineFramesPerByte: 16, maxTotalInlineFrames: 256_000 }).sample.length, 2000);
});

Deno.test("decodeProfile budget: total frames and total labels over all samples", () => {
  const deep = deepStackProfile({ depth: 100, samples: 10 });
  assert.throws(() => decodeProfile(deep, { maxTotalFrames: 999 }), tooLarge(/999 frames in all samples/));
  assert.equal(decodeProfile(deep, { maxTotalFrames: 1000 }).sample.length, 10);
  const labelled = manyLabelsProfile({ labels: 10, samples: 10 });
  assert.throws(() => decodeProfile(labelled, { maxTotalLabels: 99 }), tooLarge(/99 labels in all samples/));
  assert.equal(decodeProfile(labelled, { maxTotalLabels: 100 }).sample.length, 10);
});

Deno.test("decodeProfile budget: characters of resolved string references are capped per input byte", () => {
  // 5,000 functions (with a location and a sample each, ~32 bytes) share one 10 KB name and
  // system name: 100 M characters for every key built from them, from ~200 KB.
  const data = manyEntitiesProfile({ count: 5_000, nameBytes: 10_000 });
  assert.ok(data.length < 250_000, `${data.length} bytes`);
  const started = performance.now();
  assert.throws(() => decodeProfile(data, { maxCharsPerByte: 128 }), tooLarge(/characters of strings/));
  assert.ok(performance.now() - started < 1_000, "refused before the names are used");
  assert.throws(() => decodeProfile(data, { maxReferencedChars: 1_000_000 }), tooLarge(/characters/));
  assert.equal(decodeProfile(data).function.length, 5000, "the CLI defaults still decode it");
});

Deno.test("decodeProfile budget: gzip input inflating past maxInflationRatio stops early", () => {
  const bomb = paddedGzipBomb(64); // ~65 KB inflating to 64 MiB of a valid profile
  assert.ok(bomb.length < 100_000, `bomb is ${bomb.length} bytes`);
  const started = performance.now();
  assert.throws(() => decodeProfile(bomb, { maxInflationRatio: 16 }), tooLarge(/inflates more than 16x/));
  assert.ok(performance.now() - started < 1_000);
  assert.equal(decodeProfile(bomb).sample.length, 1, "without a ratio limit it is a valid (padded) profile");
  const raw = deepStackProfile({ depth: 2, samples: 3 });
  assert.equal(decodeProfile(raw, { maxInflationRatio: 0 }).sample.length, 3, "raw input has no ratio");
  assert.equal(decodeProfile(gzip(raw), { maxInflationRatio: 16 }).sample.length, 3);
});

Deno.test("uploadDecodeLimits: every committed real profile decodes at its own size", () => {
  const committed = committedProfiles();
  for (const path of [...committed.cpu, ...committed.cpuLabelled, committed.heap]) {
    const data = Deno.readFileSync(path);
    assert.ok(decodeProfile(data, uploadDecodeLimits(data.length)).sample.length > 0, path);
  }
});

Deno.test("uploadDecodeLimits: the crafted inputs of issue 10 are refused within milliseconds", () => {
  const limits = uploadDecodeLimits(64 << 20);
  const crafted: Record<string, Uint8Array> = {
    "4,096-line location": wideLocationProfile({ lines: 4_096, samples: 2_000 }),
    "512-line location named by every sample": wideLocationProfile({ lines: 512, samples: 30_000 }),
    "65,536-frame stacks": deepStackProfile({ depth: 65_536, samples: 2 }),
    "4,096 labels per sample": manyLabelsProfile({ labels: 4_096, samples: 4 }),
    "shared 60 KB function name": manyEntitiesProfile({ count: 2_000, nameBytes: 60_000 }),
    "gzip bomb": paddedGzipBomb(256),
  };
  for (const [name, data] of Object.entries(crafted)) {
    const started = performance.now();
    assert.throws(() => decodeProfile(data, limits), tooLarge(/./), name);
    const ms = performance.now() - started;
    assert.ok(ms < 1_000, `${name}: refused after ${ms.toFixed(0)} ms`);
  }
});
