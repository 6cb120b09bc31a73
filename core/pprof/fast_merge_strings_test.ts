/**
 * Tests of the fused merge's string table (fast_merge_strings.ts): interning by bytes while the
 * byte pool and the tables grow on their own (no `reserve`), and a merge whose strings outgrow
 * the pool after the last input (a long comment set by `finish({ comments })`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { decodeProfile } from "./decode.ts";
import { encodeProfile } from "./encode.ts";
import { EncodedProfileMerger } from "./fast_merge.ts";
import { StringInterner } from "./fast_merge_strings.ts";
import { ProfileError } from "./errors.ts";
import { mergeProfiles } from "./merge.ts";
import { committedProfiles } from "../../tests/support/fixtures.ts";

Deno.test("StringInterner: equal bytes keep their id while the pool and tables grow", () => {
  const strings = new StringInterner();
  const encoder = new TextEncoder();
  const texts = Array.from({ length: 20_000 }, (_, i) => `span-${(i * 7919).toString(16).padStart(16, "0")}`);
  const ids = texts.map((t) => strings.internText(t));
  assert.equal(strings.count, texts.length + 1);
  texts.forEach((t, i) => {
    const bytes = encoder.encode(`xx${t}yy`);
    assert.equal(strings.intern(bytes, 2, bytes.length - 2), ids[i], t);
    assert.equal(strings.text(ids[i]), t);
  });
  assert.equal(strings.count, texts.length + 1, "no string added twice");
  assert.equal(strings.internText(""), 0);
});

Deno.test("fused merge: a comment that outgrows the string pool keeps every earlier string", () => {
  const inputs = committedProfiles().cpu.slice(0, 2).map((path) => Deno.readFileSync(path));
  const long = "c".repeat(200_000);
  const rewrite = (comments: string[]) => [...comments, long];
  const merged = mergeProfiles(inputs.map((d) => decodeProfile(d)));
  merged.comments = rewrite(merged.comments);
  const merger = new EncodedProfileMerger();
  for (const d of inputs) merger.add(d);
  const got = merger.finish({ compress: false, comments: rewrite }), want = encodeProfile(merged, { compress: false });
  const first = got.findIndex((b, i) => b !== want[i]);
  assert.ok(
    got.length === want.length && first < 0,
    `fused output differs (${got.length} vs ${want.length} bytes, at ${first})`,
  );
});

Deno.test("StringInterner: strings crafted to share a hash whatever the seed are refused, not merged slowly", () => {
  // Words that differ only in their top bits (byte values 0x01, 0x21, 0x41, 0x61 as each word's
  // last byte) leave a multiplicative hash's low bits alone: 4^6 such strings share at most
  // eight hashes, whatever the seed.
  const strings = new StringInterner();
  const tops = [0x01, 0x21, 0x41, 0x61];
  const buf = new Uint8Array(24).fill(0x61);
  assert.throws(() => {
    for (let n = 0; n < 4 ** 6; n++) {
      for (let word = 0; word < 6; word++) buf[4 * word + 3] = tops[(n >> (2 * word)) & 3];
      strings.intern(buf, 0, buf.length);
    }
  }, (e) => e instanceof ProfileError && e.kind === "too-large" && /share one hash/.test(e.message));
  assert.ok(strings.count <= 8 * (64 + 1) + 2, `refused after ${strings.count} strings`);
  // Ordinary strings of the same shape are not affected.
  const plain = new StringInterner();
  for (let n = 0; n < 5_000; n++) plain.intern(new TextEncoder().encode(`label-value-${n}`), 0, 12 + String(n).length);
  assert.equal(plain.count, 5_001);
});
