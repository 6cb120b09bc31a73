/**
 * Rules of google/pprof's `Merge`, reproduced exactly: the compatibility check, the mapping
 * key and the lines part of the location key (with pprof's slot-overlap quirk). Labels:
 * merge_labels.ts.
 *
 * @module
 */

import { ProfileError } from "./errors.ts";
import type { Function, Line, Mapping, Profile, ValueType } from "./profile.ts";

/** pprof's mapping identity: size rounded up to 4 KiB, file offset, build id (else file name). */
export function mappingKey(m: Mapping): string {
  let size = BigInt.asUintN(64, m.memoryLimit - m.memoryStart);
  size = BigInt.asUintN(64, size + 0xfffn);
  size -= size % 0x1000n;
  return `${size}|${m.fileOffset}|${m.buildId !== "" ? m.buildId : m.file}`;
}

/**
 * A slot of pprof's location lines key: a number, or `undefined` for an empty slot ("").
 * pprof formats numbers in hex, we keep the numbers: both are injective, so equality of
 * slot sequences is the same.
 */
export type LineSlot = number | undefined;

/**
 * Fills `out` with the slots of pprof's location lines key, quirk included.
 *
 * pprof (`Location.key`) allocates 3n slots but writes line i at slots 2i, 2i+1, 2i+2, so the
 * writes overlap: slot 2i+2 ends up holding line i+1's function id (or, when that line has no
 * function, line i's column), only the last line's column survives, and the last n−1 slots
 * stay empty. Two locations whose lines differ only in an overwritten slot are therefore the
 * SAME location to pprof. We must group locations exactly as `go tool pprof -proto` does to
 * hold exactly its samples, so we compare the same slot sequence. (google/pprof fixed this
 * after 2025-11, later than the copy vendored in Go 1.26's `go tool pprof` and the
 * 2024-10 version the original autopgo pins; tests/pprof_oracle_test.ts pins the behaviour
 * against the installed `go tool pprof`.) `fns[i]` is the merged function of `lines[i]`.
 */
export function fillLineSlots(
  out: LineSlot[],
  fns: readonly (Function | undefined)[],
  lines: readonly Line[],
): void {
  const n = lines.length;
  out.length = 3 * n;
  out.fill(undefined);
  for (let i = 0; i < n; i++) {
    const f = fns[i];
    if (f) out[i * 2] = f.id;
    out[i * 2 + 1] = lines[i].line;
    out[i * 2 + 2] = lines[i].column;
  }
}

/** True when two slot sequences are equal (same length, same slots). */
export function sameLineSlots(a: readonly LineSlot[], b: readonly LineSlot[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Renders value types as pprof-style text: `[samples/count cpu/nanoseconds]`. */
function formatValueTypes(types: readonly ValueType[]): string {
  return `[${types.map((t) => `${t.type}/${t.unit}`).join(" ")}]`;
}

/**
 * Throws `ProfileError("incompatible")` unless `b` has the same period type and the same
 * sample types (type and unit, in order) as `a` — pprof's `compatible`.
 */
export function checkCompatible(a: Profile, b: Profile): void {
  if (a.periodType.type !== b.periodType.type || a.periodType.unit !== b.periodType.unit) {
    const fmt = (t: ValueType) => `${t.type}/${t.unit}`;
    throw new ProfileError("incompatible", `incompatible period types ${fmt(a.periodType)} and ${fmt(b.periodType)}`);
  }
  const same = a.sampleType.length === b.sampleType.length &&
    a.sampleType.every((t, i) => t.type === b.sampleType[i].type && t.unit === b.sampleType[i].unit);
  if (!same) {
    throw new ProfileError(
      "incompatible",
      `incompatible sample types ${formatValueTypes(a.sampleType)} and ${formatValueTypes(b.sampleType)}`,
    );
  }
}
