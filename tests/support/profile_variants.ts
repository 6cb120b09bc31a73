/**
 * Test support: variants of a real CPU profile that differ only in their sample and period types
 * (the traps of issue 15): a renamed type, reordered types, an extra type, only `cpu/nanoseconds`,
 * only `samples/count`, an absent or foreign period type. Each rewrites a decoded copy; the values
 * are rearranged, never recomputed, so a mappable variant normalises to exactly its source.
 *
 * @module
 */

import { decodeProfile } from "../../core/pprof/decode.ts";
import { encodeProfile } from "../../core/pprof/encode.ts";
import type { Profile, ValueType } from "../../core/pprof/profile.ts";

/** A named rewrite of a decoded `[samples/count, cpu/nanoseconds]` profile. */
export type Variant = (p: Profile) => Profile;

function columns(p: Profile, types: ValueType[], pick: (v: number[]) => number[]): Profile {
  p.sampleType = types;
  for (const s of p.sample) s.value = pick(s.value);
  return p;
}

const COUNT = () => ({ type: "samples", unit: "count" });
const CPU = () => ({ type: "cpu", unit: "nanoseconds" });

/** Variants that normalise to their source profile exactly. */
export const MAPPABLE_VARIANTS: Record<string, Variant> = {
  /** The reproduction: `samples/count` renamed `simples/count`. */
  renamed: (p) => columns(p, [{ type: "simples", unit: "count" }, CPU()], (v) => v),
  reordered: (p) => columns(p, [CPU(), COUNT()], ([n, c]) => [c, n]),
  extraType: (p) =>
    columns(p, [{ type: "wall", unit: "nanoseconds" }, COUNT(), CPU(), { type: "alloc", unit: "bytes" }], ([n, c]) => [
      c + 7,
      n,
      c,
      n * 3,
    ]),
  cpuOnly: (p) => columns(p, [CPU()], ([, c]) => [c]),
  countOnly: (p) => columns(p, [COUNT()], ([n]) => [n]),
  duplicated: (p) => columns(p, [CPU(), COUNT(), COUNT(), CPU()], ([n, c]) => [c, n, n + 1, c + 1]),
  noPeriodType: (p) => Object.assign(p, { periodType: { type: "", unit: "" }, period: 0 }),
  microsecondPeriod: (p) =>
    Object.assign(p, { periodType: { type: "cpu", unit: "microseconds" }, period: p.period / 1000 }),
  cpuOnlyMicrosecondPeriod: (p) =>
    Object.assign(columns(p, [CPU()], ([, c]) => [c]), {
      periodType: { type: "cpu", unit: "microseconds" },
      period: p.period / 1000,
    }),
};

/** Variants that cannot be mapped, with the reason's pattern. */
export const UNMAPPABLE_VARIANTS: Record<string, { variant: Variant; reason: RegExp }> = {
  renamedBoth: {
    variant: (p) => columns(p, [{ type: "simples", unit: "count" }, { type: "cpu", unit: "nanosecs" }], (v) => v),
    reason: /not a CPU profile: sample types are \[simples\/count, cpu\/nanosecs\]/,
  },
  cpuOnlyWithoutPeriod: {
    variant: (p) => Object.assign(columns(p, [CPU()], ([, c]) => [c]), { periodType: { type: "", unit: "" } }),
    reason: /cannot derive samples\/count from cpu\/nanoseconds: no CPU time period/,
  },
  countOnlyZeroPeriod: {
    variant: (p) => Object.assign(columns(p, [COUNT()], ([n]) => [n]), { period: 0 }),
    reason: /cannot derive cpu\/nanoseconds from samples\/count/,
  },
  wallPeriod: {
    variant: (p) => Object.assign(p, { periodType: { type: "wall", unit: "nanoseconds" } }),
    reason: /not a CPU profile: period type is wall\/nanoseconds/,
  },
  negative: {
    variant: (p) => {
      p.sample[0].value = [-p.sample[0].value[0], -p.sample[0].value[1]];
      return p;
    },
    reason: /sample 0 has a negative samples\/count value/,
  },
};

/** `variant` applied to a decoded copy of `bytes`, encoded (gzip). */
export function variantBytes(bytes: Uint8Array, variant: Variant): Uint8Array {
  return encodeProfile(variant(decodeProfile(bytes)));
}
