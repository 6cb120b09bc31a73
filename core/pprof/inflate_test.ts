import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { ProfileError } from "./errors.ts";
import { inflateGzip, inflateGzipPrefix, isGzip } from "./inflate.ts";

const text = (s: string) => new TextEncoder().encode(s);
const gzip = (s: string) => new Uint8Array(gzipSync(text(s)));
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), at += p.length;
  return out;
};

function kindOf(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (error) {
    assert.ok(error instanceof ProfileError, `expected ProfileError, got ${error}`);
    assert.ok(!error.message.includes("\n"), "one-line message");
    return error.kind;
  }
}

Deno.test("isGzip checks the two magic bytes only", () => {
  assert.equal(isGzip(new Uint8Array([0x1f, 0x8b])), true);
  assert.equal(isGzip(new Uint8Array([0x1f, 0x8b, 0, 0])), true);
  assert.equal(isGzip(new Uint8Array([0x1f])), false);
  assert.equal(isGzip(new Uint8Array([0x0a, 0x1f, 0x8b])), false);
  assert.equal(isGzip(new Uint8Array()), false);
});

Deno.test("inflates one member and concatenates several (Go's multistream reader)", () => {
  assert.equal(new TextDecoder().decode(inflateGzip(gzip("hello"), 100)), "hello");
  const joined = concat(gzip("hello "), gzip("gzip "), gzip("members"));
  assert.equal(new TextDecoder().decode(inflateGzip(joined, 100)), "hello gzip members");
});

Deno.test("trailing bytes after the last member are rejected, as Go does (even zero padding)", () => {
  assert.equal(kindOf(() => inflateGzip(concat(gzip("x"), new Uint8Array([0, 0, 0])), 100)), "decompress");
  assert.equal(kindOf(() => inflateGzip(concat(gzip("x"), new Uint8Array([1, 2, 3])), 100)), "decompress");
  assert.equal(kindOf(() => inflateGzip(concat(gzip("x"), new Uint8Array([0x1f, 0x8b])), 100)), "decompress");
});

Deno.test("corrupt streams are kind decompress: truncation, bad CRC, bad size, bad method", () => {
  const good = gzip("some profile bytes ".repeat(20));
  assert.equal(kindOf(() => inflateGzip(good.subarray(0, good.length - 3), 1000)), "decompress");
  assert.equal(kindOf(() => inflateGzip(good.subarray(0, 12), 1000)), "decompress");
  const badCrc = good.slice();
  badCrc[badCrc.length - 6] ^= 1;
  assert.equal(kindOf(() => inflateGzip(badCrc, 1000)), "decompress");
  const badSize = good.slice();
  badSize[badSize.length - 1] ^= 1;
  assert.equal(kindOf(() => inflateGzip(badSize, 1000)), "decompress");
  const badMethod = good.slice();
  badMethod[2] = 7;
  assert.equal(kindOf(() => inflateGzip(badMethod, 1000)), "decompress");
});

Deno.test("reserved header flag bits are ignored like Go's reader", () => {
  const flagged = gzip("flags");
  flagged[3] |= 0xe0;
  assert.equal(new TextDecoder().decode(inflateGzip(flagged, 100)), "flags");
});

Deno.test("output beyond the limit is kind too-large, including exactly one byte over", () => {
  const data = gzip("a".repeat(1000));
  assert.equal(inflateGzip(data, 1000).length, 1000);
  assert.equal(kindOf(() => inflateGzip(data, 999)), "too-large");
  assert.equal(kindOf(() => inflateGzip(data, 0)), "too-large");
  assert.equal(kindOf(() => inflateGzip(concat(data, data), 1500)), "too-large");
});

Deno.test("a 64 MiB zero bomb stops at a 1 MiB limit without inflating it all", () => {
  const bomb = new Uint8Array(gzipSync(new Uint8Array(64 << 20), { level: 9 }));
  const before = Deno.memoryUsage().rss;
  assert.equal(kindOf(() => inflateGzip(bomb, 1 << 20)), "too-large");
  const grown = Deno.memoryUsage().rss - before;
  assert.ok(grown < 48 << 20, `RSS grew ${grown >> 20} MiB`);
});

Deno.test("inflateGzipPrefix: a stream cut anywhere gives a prefix of the output; corrupt data the whole stream's error", () => {
  const words = Array.from({ length: 4000 }, (_, i) => `w${(i * 7919) % 1009}`).join(" ");
  const whole = gzip(words);
  const expected = text(words);
  for (let cut = 0; cut <= whole.length; cut += 97) {
    const out = inflateGzipPrefix(whole.subarray(0, cut), 1 << 20);
    assert.ok(out !== undefined, `cut at ${cut}`);
    assert.deepEqual(out, expected.subarray(0, out.length), `cut at ${cut}: a prefix of the output`);
  }
  assert.deepEqual(inflateGzipPrefix(whole, 1 << 20), expected);
  assert.equal(inflateGzipPrefix(whole, 100), undefined, "past the bound: undefined, not an error");
  const corrupt = whole.slice();
  corrupt.fill(0xff, 20, 40);
  let prefixError: unknown, wholeError: unknown;
  try {
    inflateGzipPrefix(corrupt.subarray(0, 60), 1 << 20);
  } catch (error) {
    prefixError = error;
  }
  try {
    inflateGzip(corrupt, 1 << 20);
  } catch (error) {
    wholeError = error;
  }
  assert.ok(prefixError instanceof ProfileError && prefixError.kind === "decompress", String(prefixError));
  assert.equal(prefixError.message, (wholeError as Error).message);
});
