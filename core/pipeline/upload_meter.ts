/**
 * Accounting of the bytes one upload holds on its way through the server, for the tests and the
 * benchmark that prove the upload path's memory bound: at any moment an upload is held at most
 * once as bytes (the body buffer the server streams it into, which is also what is staged), plus
 * what decoding derives from it (the inflated profile.proto of a gzip upload, the decoder's input,
 * and the decoded tables).
 *
 * The server reports to an injected {@link UploadMeter} ({@link ServerAppDeps.uploadMeter}) each
 * time it starts or stops holding bytes, by kind:
 * - `chunk`: a chunk of the request body as the HTTP layer handed it over, held until it is
 *   copied into the body buffer;
 * - `body`: the body buffer's committed bytes (it grows in place as the body arrives);
 * - `copy`: any further copy of the upload's bytes (none on the server's own path: a meter that
 *   sees one has found a regression);
 * - `inflated`: the inflated bytes of a gzip upload while it is decoded (reported by the check job);
 * - `tables`: the decoded model, estimated by {@link decodedTableBytes} (reported by the check job).
 *
 * Reports are deltas, so a meter can sum what is live; {@link PeakMeter} keeps the peak and what
 * made it up. Without a meter nothing is counted and nothing is estimated.
 *
 * @module
 */

import type { Profile } from "../pprof/profile.ts";

/** What a reported amount of bytes is (see the module doc). */
export type HeldKind = "chunk" | "body" | "copy" | "inflated" | "tables";

/** Receives the bytes an upload starts (positive delta) or stops (negative) holding. */
export interface UploadMeter {
  /** `delta` bytes of kind `kind` are now held (positive) or no longer held (negative). */
  held(kind: HeldKind, delta: number): void;
}

/** The bytes held per kind. */
export type HeldBytes = Record<HeldKind, number>;

function noneHeld(): HeldBytes {
  return { chunk: 0, body: 0, copy: 0, inflated: 0, tables: 0 };
}

/** Sum of the bytes in `held`, or of the listed kinds only. */
export function totalHeld(held: HeldBytes, kinds: readonly HeldKind[] = Object.keys(held) as HeldKind[]): number {
  let sum = 0;
  for (const kind of kinds) sum += held[kind];
  return sum;
}

/**
 * A meter that sums live bytes and keeps the peak: overall ({@link PeakMeter.peak}, with the
 * breakdown at that moment) and per kind.
 *
 * @example
 * ```ts
 * const meter = new PeakMeter();
 * meter.held("body", 1024);
 * meter.held("body", -1024);
 * console.assert(meter.peak === 1024 && meter.live.body === 0);
 * ```
 */
export class PeakMeter implements UploadMeter {
  /** Bytes held now, per kind. */
  readonly live: HeldBytes = noneHeld();
  /** The largest sum of live bytes seen. */
  peak = 0;
  /** The live bytes per kind when {@link PeakMeter.peak} was reached. */
  atPeak: HeldBytes = noneHeld();
  /** The largest live amount seen per kind. */
  readonly peakByKind: HeldBytes = noneHeld();
  /** Reports received, for assertions about what happened. */
  reports = 0;

  /** See {@link UploadMeter.held}; a kind that would go below zero is a bug in the reporter. */
  held(kind: HeldKind, delta: number): void {
    const next = this.live[kind] + delta;
    if (next < 0) throw new RangeError(`upload meter: ${kind} would hold ${next} bytes after a delta of ${delta}`);
    this.live[kind] = next;
    this.reports++;
    if (next > this.peakByKind[kind]) this.peakByKind[kind] = next;
    const total = totalHeld(this.live);
    if (total > this.peak) {
      this.peak = total;
      this.atPeak = { ...this.live };
    }
  }
}

// V8 sizes (64-bit, pointer compression): object header 12 bytes + 4 per field, arrays 16 + 4 per
// element (8 for doubles), a one-byte string 16 + its length. Rounded up: an estimate, not a count.
const OBJECT = 16;
const FIELD = 4;
const ARRAY = 16;
const SLOT = 8;

function stringBytes(s: string): number {
  return 16 + s.length * 2;
}

function labelBytes(labels: Record<string, unknown[]> | undefined): number {
  if (!labels) return 0;
  let n = OBJECT;
  for (const [key, values] of Object.entries(labels)) {
    n += FIELD + stringBytes(key) + ARRAY + values.length * SLOT;
    for (const v of values) if (typeof v === "string") n += stringBytes(v);
  }
  return n;
}

/**
 * An estimate of the heap bytes of a decoded profile's tables (samples with their values, stacks
 * and labels; locations with lines; functions; mappings; strings counted once per reference, as
 * the decoder may share them or not). Used to report the `tables` kind; the benchmark measures the
 * real figure (BENCHMARKS.md).
 */
export function decodedTableBytes(p: Profile): number {
  let n = 0;
  for (const s of p.sample) {
    n += OBJECT + 6 * FIELD + 2 * ARRAY + s.value.length * SLOT + s.location.length * FIELD;
    n += labelBytes(s.label) + labelBytes(s.numLabel) + labelBytes(s.numUnit);
  }
  for (const l of p.location) n += OBJECT + 6 * FIELD + ARRAY + l.line.length * (FIELD + OBJECT + 3 * FIELD) + SLOT;
  for (const f of p.function) {
    n += OBJECT + 5 * FIELD + stringBytes(f.name) + stringBytes(f.systemName) + stringBytes(f.filename);
  }
  for (const m of p.mapping) n += OBJECT + 10 * FIELD + 3 * SLOT + stringBytes(m.file) + stringBytes(m.buildId);
  return n + ARRAY * 4 + FIELD * (p.sample.length + p.location.length + p.function.length + p.mapping.length);
}
