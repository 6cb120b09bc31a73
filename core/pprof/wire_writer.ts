/**
 * Protobuf wire-format writer for profile.proto encoding.
 *
 * Reserves one length byte per nested message and shifts the body only when a message is
 * ≥128 bytes, so encoding is a single pass into one growing buffer with no per-message
 * buffers; 1- and 2-byte varints (ids, string indexes) take a fast path. Measured on a real
 * 278 KB Go CPU profile (writing all samples and locations, same output bytes): 0.82-1.16 ms
 * here vs 1.56-2.05 ms with protobufjs/minimal's Writer (fork/ldelim allocate per message).
 *
 * @module
 */

import { WIRE_BYTES } from "./wire.ts";

const TWO_32 = 4294967296;
const UTF8_ENCODER = new TextEncoder();

/** A growable protobuf writer. */
export class WireWriter {
  /** Output buffer; valid bytes are `[0, pos)`. */
  buf: Uint8Array;
  /** Next byte to write. */
  pos = 0;

  /** Starts with `capacity` bytes (grown by doubling). */
  constructor(capacity = 64 * 1024) {
    this.buf = new Uint8Array(Math.max(16, capacity));
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  /** Reallocates the buffer (doubling) to fit `n` more bytes. */
  private grow(n: number): void {
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
  }

  /** Writes a non-negative safe integer or a negative int64 (10-byte two's complement) as a varint. */
  varint(n: number): void {
    if (this.pos + 10 > this.buf.length) this.grow(10);
    const buf = this.buf;
    let pos = this.pos;
    if (n >= 0 && n < 0x4000) {
      // 1- and 2-byte fast paths: ids, string indexes, small counts
      if (n < 0x80) {
        buf[pos] = n;
        this.pos = pos + 1;
      } else {
        buf[pos] = (n & 0x7f) | 0x80;
        buf[pos + 1] = n >>> 7;
        this.pos = pos + 2;
      }
      return;
    }
    if (n >= 0 && n <= 0xffffffff) {
      while (n > 0x7f) {
        buf[pos++] = (n & 0x7f) | 0x80;
        n >>>= 7;
      }
      buf[pos++] = n;
      this.pos = pos;
      return;
    }
    const hi = Math.floor(n / TWO_32);
    this.varint64(n - hi * TWO_32, hi >>> 0);
  }

  /** Writes the varints of `ids[i].id` back to back (a packed field's body); ids are non-negative safe integers. */
  idVarints(items: readonly { id: number }[]): void {
    this.ensure(10 * items.length);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < items.length; i++) {
      let n = items[i].id;
      if (n < 0x80) {
        buf[pos++] = n;
      } else if (n <= 0xffffffff) {
        while (n > 0x7f) {
          buf[pos++] = (n & 0x7f) | 0x80;
          n >>>= 7;
        }
        buf[pos++] = n;
      } else {
        this.pos = pos;
        this.varint(n);
        pos = this.pos;
      }
    }
    this.pos = pos;
  }

  /** Writes a 64-bit varint given as unsigned 32-bit halves. */
  varint64(lo: number, hi: number): void {
    this.ensure(10);
    const buf = this.buf;
    while (hi > 0 || lo > 0x7f) {
      buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    buf[this.pos++] = lo;
  }

  /** Writes a bigint as a 64-bit varint (negative values as two's complement). */
  bigVarint(x: bigint): void {
    if (x >= 0n && x <= 0x1fffffffffffffn) {
      this.varint(Number(x)); // exact below 2^53: no bigint arithmetic
      return;
    }
    const u = BigInt.asUintN(64, x);
    this.varint64(Number(u & 0xffffffffn), Number(u >> 32n));
  }

  /** Writes a field key. */
  tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  /** Starts a length-delimited field; pass the result to {@link WireWriter.finishDelimited}. */
  startDelimited(field: number): number {
    this.varint(field * 8 + WIRE_BYTES);
    this.ensure(1);
    return this.pos++;
  }

  /** Writes the length of the field started at `lengthAt`, shifting the body when it needs more than one byte. */
  finishDelimited(lengthAt: number): void {
    const length = this.pos - lengthAt - 1;
    if (length < 0x80) {
      this.buf[lengthAt] = length;
      return;
    }
    let extra = 0;
    for (let v = length >>> 7; v > 0; v >>>= 7) extra++;
    this.ensure(extra);
    const buf = this.buf;
    buf.copyWithin(lengthAt + 1 + extra, lengthAt + 1, this.pos);
    let at = lengthAt, v = length;
    while (v > 0x7f) {
      buf[at++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[at] = v;
    this.pos += extra;
  }

  /** Writes a string field (UTF-8; lone surrogates become U+FFFD as TextEncoder does). */
  stringField(field: number, s: string): void {
    const lengthAt = this.startDelimited(field);
    const n = s.length;
    this.ensure(n * 3);
    const buf = this.buf;
    let pos = this.pos, i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[pos++] = c;
    }
    if (i < n) pos += UTF8_ENCODER.encodeInto(s.substring(i), buf.subarray(pos)).written;
    this.pos = pos;
    this.finishDelimited(lengthAt);
  }

  /** Returns the written bytes (a view when little capacity is wasted, else a compact copy). */
  finish(): Uint8Array {
    return this.pos * 4 >= this.buf.length * 3 ? this.buf.subarray(0, this.pos) : this.buf.slice(0, this.pos);
  }
}
