/**
 * Would the Go compiler use this profile for PGO? A verdict with one-line reasons.
 *
 * Mirrors what `cmd/internal/pgo.FromPProf` requires (see go-pgo.md §1–2): the value column
 * is the first sample type that is `samples/count` or `cpu/nanoseconds`; samples whose
 * value there is 0 are ignored; the call graph is built from the two innermost locations
 * of each sample, and at least one of its nodes (with non-zero weight) must carry a
 * non-zero `Function.start_line`.
 *
 * @module
 */

import type { Function, Profile } from "./profile.ts";

/** Result of {@link checkPgo}. */
export interface PgoVerdict {
  /** True when the Go compiler would use the profile. */
  usable: boolean;
  /** Why it is not usable (one line each); empty when usable. */
  reasons: string[];
  /** Index of the sample type the compiler reads, -1 if none. */
  sampleIndex: number;
}

/** Index of the first `samples/count` or `cpu/nanoseconds` sample type (the compiler's pick), or -1. */
export function pgoSampleIndex(p: Profile): number {
  return p.sampleType.findIndex((t) =>
    (t.type === "samples" && t.unit === "count") || (t.type === "cpu" && t.unit === "nanoseconds")
  );
}

/**
 * Checks whether `p` is usable as a Go PGO profile: it must have a `samples/count` or
 * `cpu/nanoseconds` sample type, samples with non-zero weight in that column, and a
 * non-zero `Function.start_line` on a function the compiler's graph reaches.
 */
export function checkPgo(p: Profile): PgoVerdict {
  const sampleIndex = pgoSampleIndex(p);
  const reasons: string[] = [];
  if (sampleIndex < 0) {
    const types = p.sampleType.map((t) => `${t.type}/${t.unit}`).join(", ");
    reasons.push(`not a CPU profile: sample types are [${types}], need samples/count or cpu/nanoseconds`);
    return { usable: false, reasons, sampleIndex };
  }
  const column = `${p.sampleType[sampleIndex].type}/${p.sampleType[sampleIndex].unit}`;
  if (p.sample.length === 0) {
    reasons.push("profile has no samples");
    return { usable: false, reasons, sampleIndex };
  }

  // Graph nodes as the compiler builds them: (name, address, start line, line) per frame of
  // the two innermost locations; weights may cancel out, so sum them like NewGraph does.
  // Function names are interned to small ids once per function, so a frame's key is short
  // whatever the name's length (a crafted 100 KB name would otherwise be hashed per frame).
  const nameIds = new Map<string, number>();
  const fnIds = new Map<Function, number>();
  const nameId = (fn: Function): number => {
    let id = fnIds.get(fn);
    if (id === undefined) {
      id = nameIds.get(fn.name);
      if (id === undefined) nameIds.set(fn.name, id = nameIds.size);
      fnIds.set(fn, id);
    }
    return id;
  };
  const cum = new Map<string, number>();
  const flat = new Map<string, number>();
  let weighted = 0;
  for (const s of p.sample) {
    const w = s.value[sampleIndex];
    if (w === 0) continue;
    weighted++;
    const seen = new Set<string>();
    let leaf: string | undefined;
    for (let i = Math.min(1, s.location.length - 1); i >= 0; i--) {
      const loc = s.location[i];
      for (let j = loc.line.length - 1; j >= 0; j--) {
        const fn = loc.line[j].function;
        leaf = fn && fn.startLine !== 0
          ? `${nameId(fn)}|${loc.address}|${fn.startLine}|${loc.line[j].line}`
          : undefined;
        if (leaf !== undefined && !seen.has(leaf)) {
          seen.add(leaf);
          cum.set(leaf, (cum.get(leaf) ?? 0) + w);
        }
      }
    }
    if (leaf !== undefined) flat.set(leaf, (flat.get(leaf) ?? 0) + w);
  }
  if (weighted === 0) {
    reasons.push(`all ${p.sample.length} samples have zero ${column}`);
    return { usable: false, reasons, sampleIndex };
  }
  const hasStartLine = [...cum.keys()].some((k) => cum.get(k) !== 0 || (flat.get(k) ?? 0) !== 0);
  if (!hasStartLine) {
    reasons.push(
      "no sampled function has Function.start_line (profiled binary built by Go older than 1.20 or re-symbolized?)",
    );
  }
  return { usable: reasons.length === 0, reasons, sampleIndex };
}
