/**
 * Hand-written profile.proto bytes that are small on the wire and expensive to process: the
 * hostile inputs of issue 10 (defect 3). Built with a tiny protobuf writer, not the engine's
 * encoder, so they can hold what the model cannot express compactly (a location with thousands
 * of lines, a sample repeating one location id 65,536 times, megabyte function names).
 *
 * Each builder keeps the profile structurally valid and PGO-shaped (`samples/count` +
 * `cpu/nanoseconds`, functions with a start line), so without a decode budget it passes decoding
 * and reaches `checkPgo` and the merge.
 *
 * @module
 */

import * as zlib from "node:zlib";

/** A minimal protobuf writer: varints, keys and length-delimited fields. */
export class ProtoBytes {
  #parts: number[] = [];

  /** Appends a varint (non-negative safe integer). */
  varint(n: number): this {
    while (n >= 0x80) {
      this.#parts.push((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    this.#parts.push(n);
    return this;
  }

  /** Appends a varint field `field = n`. */
  int(field: number, n: number): this {
    return this.varint(field * 8).varint(n);
  }

  /** Appends a length-delimited field holding `bytes`. */
  bytes(field: number, bytes: Uint8Array | number[]): this {
    this.varint(field * 8 + 2).varint(bytes.length);
    for (const b of bytes) this.#parts.push(b);
    return this;
  }

  /** Appends a length-delimited field holding the message built by `build`. */
  message(field: number, build: (m: ProtoBytes) => void): this {
    const inner = new ProtoBytes();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  /** The bytes written so far. */
  finish(): Uint8Array {
    return Uint8Array.from(this.#parts);
  }
}

const encoder = new TextEncoder();

/** Writes the common header: string table, sample types samples/count + cpu/nanoseconds, period type. */
function header(p: ProtoBytes, extraStrings: string[] = []): number {
  const strings = ["", "samples", "count", "cpu", "nanoseconds", "main.f", "f.go", ...extraStrings];
  p.message(1, (m) => m.int(1, 1).int(2, 2)).message(1, (m) => m.int(1, 3).int(2, 4));
  for (const s of strings) p.bytes(6, encoder.encode(s));
  p.message(11, (m) => m.int(1, 3).int(2, 4)).int(12, 10_000_000);
  return strings.length;
}

/** A function (id, name string index) with file "f.go" and start line 1. */
function writeFunction(p: ProtoBytes, id: number, name = 5): void {
  p.message(5, (m) => m.int(1, id).int(2, name).int(3, name).int(4, 6).int(5, 1));
}

/** A sample with packed location ids `ids` and values `[1, 1000]`. */
function writeSample(p: ProtoBytes, ids: number[], values = [1, 1000]): void {
  p.message(2, (m) => {
    const packed = new ProtoBytes();
    for (const id of ids) packed.varint(id);
    m.bytes(1, packed.finish());
    const vs = new ProtoBytes();
    for (const v of values) vs.varint(v);
    m.bytes(2, vs.finish());
  });
}

/**
 * One location with `lines` inlined lines of one function whose name is `nameBytes` long, and
 * `samples` samples each naming that location twice: every sample makes PGO checks and
 * compaction walk 2 × `lines` frames, and hash the long name for each.
 */
export function wideLocationProfile(opts: { lines: number; samples: number; nameBytes?: number }): Uint8Array {
  const p = new ProtoBytes();
  header(p, ["x".repeat(opts.nameBytes ?? 16)]);
  writeFunction(p, 1, 7);
  p.message(4, (m) => {
    m.int(1, 1).int(3, 0x1000);
    for (let i = 0; i < opts.lines; i++) m.message(4, (l) => l.int(1, 1).int(2, 1 + (i % 100)));
  });
  for (let i = 0; i < opts.samples; i++) writeSample(p, [1, 1], [1, 1000 + i]);
  return p.finish();
}

/** `samples` samples whose stacks repeat one location `depth` times (one byte per frame on the wire). */
export function deepStackProfile(opts: { depth: number; samples: number }): Uint8Array {
  const p = new ProtoBytes();
  header(p);
  writeFunction(p, 1);
  p.message(4, (m) => m.int(1, 1).int(3, 0x1000).message(4, (l) => l.int(1, 1).int(2, 2)));
  const ids = new Array(opts.depth).fill(1);
  for (let i = 0; i < opts.samples; i++) writeSample(p, ids, [1, 1000 + i]);
  return p.finish();
}

/** `samples` samples carrying `labels` string labels each, all with distinct keys. */
export function manyLabelsProfile(opts: { labels: number; samples: number }): Uint8Array {
  const p = new ProtoBytes();
  const keys = Array.from({ length: opts.labels }, (_, i) => `k${i}`);
  const first = header(p, keys);
  writeFunction(p, 1);
  p.message(4, (m) => m.int(1, 1).int(3, 0x1000).message(4, (l) => l.int(1, 1).int(2, 2)));
  for (let i = 0; i < opts.samples; i++) {
    p.message(2, (m) => {
      m.bytes(1, [1]).bytes(2, new ProtoBytes().varint(1).varint(1000 + i).finish());
      for (let k = 0; k < opts.labels; k++) m.message(3, (l) => l.int(1, first - opts.labels + k).int(2, 5));
    });
  }
  return p.finish();
}

/**
 * `count` distinct locations and functions (each a few bytes) and one sample per location; with
 * `nameBytes`, every function is named by one shared string of that length.
 */
export function manyEntitiesProfile(opts: { count: number; nameBytes?: number }): Uint8Array {
  const p = new ProtoBytes();
  const strings = header(p, opts.nameBytes === undefined ? [] : ["n".repeat(opts.nameBytes)]);
  for (let id = 1; id <= opts.count; id++) writeFunction(p, id, opts.nameBytes === undefined ? 5 : strings - 1);
  for (let id = 1; id <= opts.count; id++) {
    p.message(4, (m) => m.int(1, id).int(3, 0x1000 + id).message(4, (l) => l.int(1, id).int(2, 2)));
  }
  for (let id = 1; id <= opts.count; id++) writeSample(p, [id]);
  return p.finish();
}

/**
 * A gzip stream of a valid profile padded with `mib` MiB of empty (skipped) unknown fields:
 * inflates ~1000× and decodes to almost nothing, so only the inflation ratio stops it early.
 */
export function paddedGzipBomb(mib: number): Uint8Array {
  const head = deepStackProfile({ depth: 2, samples: 1 });
  // field 100, wire type 2 (a 2-byte key and a 3-byte length): a skipped unknown field of exactly 1 MiB
  const pad = new ProtoBytes().varint(100 * 8 + 2).varint((1 << 20) - 5).finish();
  const chunk = new Uint8Array(1 << 20);
  chunk.set(pad);
  const raw = new Uint8Array(head.length + mib * chunk.length);
  raw.set(head);
  for (let i = 0; i < mib; i++) raw.set(chunk, head.length + i * chunk.length);
  return new Uint8Array(zlib.gzipSync(raw, { level: 9 }));
}

/** Gzip of `data` (level 9), as an upload would send it. */
export function gzip(data: Uint8Array): Uint8Array {
  return new Uint8Array(zlib.gzipSync(data, { level: 9 }));
}

/** A valid single-member gzip stream inflating to `mib` MiB of zeros, built without allocating it. */
export function zeroGzipBomb(mib: number): Uint8Array {
  const zeros = new Uint8Array(1 << 20);
  // a sync-flushed raw deflate chunk has no final block, so copies concatenate into one stream
  const chunk = zlib.deflateRawSync(zeros, { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  const crc32 = (zlib as unknown as { crc32?: (d: Uint8Array, v: number) => number }).crc32;
  let crc = 0;
  for (let i = 0; i < mib && crc32; i++) crc = crc32(zeros, crc);
  const trailer = new Uint8Array(8);
  new DataView(trailer.buffer).setUint32(0, crc >>> 0, true);
  new DataView(trailer.buffer).setUint32(4, (mib * (1 << 20)) >>> 0, true);
  const header = new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
  const parts = [header, ...Array(mib).fill(chunk), new Uint8Array([3, 0]), trailer];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) out.set(p, pos), pos += p.length;
  return out;
}
