import assert from "node:assert/strict";
import { ProfileError } from "./errors.ts";
import { decodeStrings, WireReader } from "./wire.ts";
import { WireWriter } from "./wire_writer.ts";

/** Reference varint encoder for unsigned 64-bit values. */
function varintBytes(value: bigint): Uint8Array {
  let v = BigInt.asUintN(64, value);
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return new Uint8Array(out);
}

function kindOf(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (error) {
    assert.ok(error instanceof ProfileError, `expected ProfileError, got ${error}`);
    return error.kind;
  }
}

const EDGE_VALUES = [
  0n,
  1n,
  127n,
  128n,
  300n,
  2n ** 31n - 1n,
  2n ** 31n,
  2n ** 32n - 1n,
  2n ** 32n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 63n - 1n,
  -1n,
  -2n,
  -(2n ** 31n),
  -(2n ** 53n) + 1n,
  -(2n ** 53n),
  -(2n ** 63n),
];

Deno.test("varint readers decode every edge value exactly or reject it as unsupported", () => {
  for (const value of EDGE_VALUES) {
    const bytes = varintBytes(value);
    assert.equal(new WireReader(bytes).bigInt(), value, `bigInt ${value}`);
    assert.equal(new WireReader(bytes).bigUint(), BigInt.asUintN(64, value), `bigUint ${value}`);
    const safe = value >= -(2n ** 53n) + 1n && value <= 2n ** 53n - 1n;
    if (safe) assert.equal(new WireReader(bytes).int("v"), Number(value), `int ${value}`);
    else assert.equal(kindOf(() => new WireReader(bytes).int("v")), "unsupported", `int ${value}`);
    const unsignedSafe = BigInt.asUintN(64, value) <= 2n ** 53n - 1n;
    if (unsignedSafe) assert.equal(new WireReader(bytes).uint("v"), Number(BigInt.asUintN(64, value)));
    else assert.equal(kindOf(() => new WireReader(bytes).uint("v")), "unsupported", `uint ${value}`);
    const reader = new WireReader(bytes);
    reader.varint64();
    assert.equal(reader.pos, bytes.length, `consumed all of ${value}`);
  }
});

Deno.test("negative int64 is a 10-byte varint and round-trips through the writer", () => {
  const w = new WireWriter(16);
  w.varint(-1);
  assert.deepEqual(Array.from(w.finish()), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  for (const value of EDGE_VALUES) {
    const writer = new WireWriter(16);
    writer.bigVarint(value);
    assert.deepEqual(Array.from(writer.finish()), Array.from(varintBytes(value)), `bigVarint ${value}`);
    if (value >= -(2n ** 53n) + 1n && value <= 2n ** 53n - 1n) {
      const n = new WireWriter(16);
      n.varint(Number(value));
      assert.deepEqual(Array.from(n.finish()), Array.from(varintBytes(value)), `varint ${value}`);
    }
  }
});

Deno.test("10th varint byte keeps only its low bit (as Go) and may not continue", () => {
  // 0xff x9 then 0x7f: Go keeps bit 63 only -> 2^64-1
  const bytes = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
  assert.equal(new WireReader(bytes).bigUint(), 2n ** 64n - 1n);
  const even = new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02]);
  assert.equal(new WireReader(even).bigUint(), 0n);
  const tooLong = new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x81, 0x00]);
  assert.equal(kindOf(() => new WireReader(tooLong).varint64()), "malformed");
});

Deno.test("a 10-byte field key keeps its exact wire type", () => {
  const key = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  const tag = new WireReader(key).tag();
  assert.equal(tag & 7, 7);
  assert.ok(tag / 8 > 2 ** 40, "huge field number");
  const field1 = new Uint8Array([0x88, 0x80, 0x80, 0x80, 0x00]); // field 1, wire type 0, non-minimal
  assert.equal(new WireReader(field1).tag(), 8);
});

Deno.test("reads never cross the message end", () => {
  assert.equal(kindOf(() => new WireReader(new Uint8Array([0x80, 0x80]), 0, 1).varint64()), "malformed");
  assert.equal(kindOf(() => new WireReader(new Uint8Array([0x96, 0x01]), 0, 1).int("x")), "malformed");
  const delimited = new WireReader(new Uint8Array([0x05, 1, 2, 3]));
  assert.equal(kindOf(() => delimited.delimited()), "malformed");
  assert.equal(kindOf(() => new WireReader(new Uint8Array([1, 2, 3])).skip(1)), "malformed");
  assert.equal(kindOf(() => new WireReader(new Uint8Array([1, 2, 3])).skip(5)), "malformed");
  for (const wireType of [3, 4, 6, 7]) {
    assert.equal(kindOf(() => new WireReader(new Uint8Array([1])).skip(wireType)), "malformed");
  }
});

Deno.test("finishDelimited shifts bodies of 128 bytes and more", () => {
  for (const size of [0, 1, 127, 128, 300, 16383, 16384, 70000]) {
    const w = new WireWriter(4);
    const at = w.startDelimited(3);
    for (let i = 0; i < size; i++) w.buf[w.pos++] = i & 0xff, w.ensure(1);
    w.finishDelimited(at);
    const out = w.finish();
    const r = new WireReader(out);
    assert.equal(r.tag(), 3 * 8 + 2);
    const end = r.delimited();
    assert.equal(end - r.pos, size);
    assert.equal(end, out.length);
    for (let i = 0; i < size; i++) assert.equal(out[r.pos + i], i & 0xff);
  }
});

Deno.test("strings are UTF-8 both ways, including astral characters and a BOM", () => {
  for (const s of ["", "main.main", "ünïcödé", "日本語", "🔥 hot", "\ufeffbom", "x".repeat(200), "é".repeat(100)]) {
    const w = new WireWriter(1);
    w.stringField(6, s);
    const out = w.finish();
    const r = new WireReader(out);
    r.tag();
    const end = r.delimited();
    assert.deepEqual(out.subarray(r.pos, end), new TextEncoder().encode(s));
    assert.equal(r.string(r.pos, end), s);
  }
});

Deno.test("decodeStrings: contiguous, scattered, non-ASCII and invalid UTF-8 strings", () => {
  const parts = ["", "main.main", "ünï", "\u0080x", "🔥", "a".repeat(300), "\ufeffbom", "x"];
  const w = new WireWriter(8);
  for (const s of parts) w.stringField(6, s);
  const buf = w.finish();
  const spans: number[] = [];
  const r = new WireReader(buf);
  while (r.pos < r.end) {
    r.tag();
    const end = r.delimited();
    spans.push(r.pos, end);
    r.pos = end;
  }
  assert.deepEqual(decodeStrings(buf, spans), parts);
  // reversed and scattered spans (far apart) decode the same strings
  const reversed: number[] = [];
  for (let i = spans.length - 2; i >= 0; i -= 2) reversed.push(spans[i], spans[i + 1]);
  assert.deepEqual(decodeStrings(buf, reversed), [...parts].reverse());
  const padded = new Uint8Array(100_000);
  padded.set(buf, 50_000);
  assert.deepEqual(decodeStrings(padded, [50_000 + spans[2], 50_000 + spans[3], 0, 3]), ["main.main", "\0\0\0"]);
  // invalid UTF-8 becomes U+FFFD, as TextDecoder does
  assert.deepEqual(decodeStrings(new Uint8Array([0x61, 0xff, 0x62]), [0, 3]), ["a\ufffdb"]);
  assert.deepEqual(decodeStrings(new Uint8Array(), []), []);
});
