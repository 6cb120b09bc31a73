/**
 * The canonical form of stored profiles: the sample types the Go compiler reads, `samples/count`
 * and `cpu/nanoseconds` in that order, and the period type `cpu/nanoseconds`. Every upload is
 * normalised to it before it is merged, so a base is always canonical and every normalised upload
 * merges with it (pprof's merge requires identical sample and period types).
 *
 * Rules ({@link canonicalizeProfile}):
 * - the first `samples/count` and the first `cpu/nanoseconds` column are kept, in that order;
 *   every other column (an extra type, a duplicate, a renamed one) is dropped;
 * - the period is known when the period type is CPU time (`cpu/nanoseconds`, or `cpu/microseconds`,
 *   `cpu/milliseconds`, `cpu/seconds`, converted to nanoseconds) and the period is positive;
 * - a missing `samples/count` is derived as `cpu/nanoseconds ÷ period`, the inverse of what Go's
 *   runtime writes (`cpu = count × period`); a value that is not a multiple of the period is
 *   rounded to the nearest integer, and a non-zero value never becomes 0 (a sampled stack stays
 *   sampled). So is a present one when `cpu/nanoseconds` comes first: Go's compiler reads the
 *   first of the two columns, and the canonical form's first is `samples/count`, so the weights it
 *   reads follow the ones it would have read from the upload (up to that rounding);
 * - a missing `cpu/nanoseconds` is derived as `samples/count × period` (exactly what Go writes);
 * - an absent period type (empty type and unit) becomes `cpu/nanoseconds` with period 0 when both
 *   columns are present; any other period type (`space/bytes`, `wall/nanoseconds`) is not a CPU
 *   profile;
 * - the default sample type is kept when it names a kept column (`samples` or `cpu`), else cleared.
 * Anything else cannot be mapped and throws a one-line {@link ProfileError} of kind `unsupported`:
 * neither column, a column to derive without a known period, a derived value beyond 2^53.
 *
 * Uploads are held to more ({@link checkUploadValues}): no negative value in either column (Go's
 * runtime never writes one; pprof diff profiles are not PGO input) and column totals within 2^53,
 * so that no aggregation of the upload's own samples (compaction) can overflow.
 *
 * For a Go runtime CPU profile the canonical form is the profile itself. For a profile whose
 * values are exact multiples of the period (every Go runtime profile) the derived column equals
 * the one Go would have written, so a variant (types reordered, extra types, `cpu/nanoseconds`
 * only) normalises to exactly the plain profile it came from.
 *
 * @module
 */

import { ProfileError } from "./errors.ts";
import type { Profile, ValueType } from "./profile.ts";

/** The canonical sample types, in order. */
export const CANONICAL_SAMPLE_TYPES: readonly Readonly<ValueType>[] = Object.freeze([
  Object.freeze({ type: "samples", unit: "count" }),
  Object.freeze({ type: "cpu", unit: "nanoseconds" }),
]);

/** The canonical period type. */
export const CANONICAL_PERIOD_TYPE: Readonly<ValueType> = CANONICAL_SAMPLE_TYPES[1];

/** Nanoseconds per unit of the CPU time units a period type may use (`cpu/microseconds`…). */
const CPU_TIME_UNITS: Readonly<Record<string, number>> = Object.freeze({
  nanoseconds: 1,
  microseconds: 1_000,
  milliseconds: 1_000_000,
  seconds: 1_000_000_000,
});

/** How a profile's columns map onto the canonical ones (see the module doc). */
export interface CanonicalPlan {
  /** Index of the first `samples/count` column, -1 when it must be derived. */
  count: number;
  /** Index of the first `cpu/nanoseconds` column, -1 when it must be derived. */
  cpu: number;
  /** The known period in nanoseconds, 0 when unknown. */
  period: number;
}

function same(a: ValueType, b: Readonly<ValueType>): boolean {
  return a.type === b.type && a.unit === b.unit;
}

function fmt(t: ValueType): string {
  return `${t.type}/${t.unit}`;
}

/** True when `p` already has exactly the canonical sample and period types. */
export function isCanonical(p: Profile): boolean {
  return p.sampleType.length === 2 && same(p.sampleType[0], CANONICAL_SAMPLE_TYPES[0]) &&
    same(p.sampleType[1], CANONICAL_SAMPLE_TYPES[1]) && same(p.periodType, CANONICAL_PERIOD_TYPE);
}

/** How `p` maps onto the canonical form; throws a one-line ProfileError (`unsupported`) when it cannot. */
export function canonicalPlan(p: Profile): CanonicalPlan {
  const count = p.sampleType.findIndex((t) => same(t, CANONICAL_SAMPLE_TYPES[0]));
  const cpu = p.sampleType.findIndex((t) => same(t, CANONICAL_SAMPLE_TYPES[1]));
  if (count < 0 && cpu < 0) {
    throw new ProfileError(
      "unsupported",
      `not a CPU profile: sample types are [${
        p.sampleType.map(fmt).join(", ")
      }], need samples/count or cpu/nanoseconds`,
    );
  }
  const pt = p.periodType;
  const scale = pt.type === "cpu" ? CPU_TIME_UNITS[pt.unit] : undefined;
  if (scale === undefined && (pt.type !== "" || pt.unit !== "")) {
    throw new ProfileError(
      "unsupported",
      `not a CPU profile: period type is ${fmt(pt)}, need CPU time (cpu/nanoseconds); autopgo merges CPU profiles only`,
    );
  }
  const period = scale !== undefined && p.period > 0 ? p.period * scale : 0;
  if (!Number.isSafeInteger(period)) {
    throw new ProfileError("unsupported", `period ${p.period} ${pt.unit} is beyond 2^53 nanoseconds`);
  }
  if (period === 0 && (count < 0 || cpu < 0)) {
    const [missing, from] = count < 0 ? ["samples/count", "cpu/nanoseconds"] : ["cpu/nanoseconds", "samples/count"];
    const had = scale !== undefined ? `period ${p.period}` : "no period type";
    throw new ProfileError("unsupported", `cannot derive ${missing} from ${from}: no CPU time period (${had})`);
  }
  // Go's compiler weighs edges by the first of the two columns; when that is cpu/nanoseconds, the
  // stored samples/count (which comes first in the canonical form) is derived from it.
  const reads = cpu >= 0 && (count < 0 || cpu < count) ? "cpu" : "count";
  return { count: reads === "cpu" && period > 0 ? -1 : count, cpu, period };
}

/** `samples/count` for a `cpu/nanoseconds` value: nearest multiple of the period, never 0 for a non-zero value. */
export function derivedCount(cpu: number, period: number): number {
  if (cpu === 0) return 0;
  const n = Math.max(1, Math.round(Math.abs(cpu) / period));
  return cpu < 0 ? -n : n;
}

/**
 * Rewrites `p` IN PLACE to the canonical form and returns it (see the module doc); a canonical
 * profile is returned untouched. Throws a one-line ProfileError (`unsupported`) when `p` cannot be
 * mapped, leaving it unchanged.
 */
export function canonicalizeProfile(p: Profile): Profile {
  if (isCanonical(p)) return p;
  const plan = canonicalPlan(p);
  const values: number[][] = new Array(p.sample.length);
  for (let i = 0; i < p.sample.length; i++) {
    const v = p.sample[i].value;
    const count = plan.count >= 0 ? v[plan.count] : derivedCount(v[plan.cpu], plan.period);
    const cpu = plan.cpu >= 0 ? v[plan.cpu] : count * plan.period;
    if (!Number.isSafeInteger(cpu)) {
      throw new ProfileError(
        "unsupported",
        `sample ${i}: derived cpu/nanoseconds (${count} × period ${plan.period}) exceeds 2^53`,
      );
    }
    values[i] = [count, cpu];
  }
  for (let i = 0; i < p.sample.length; i++) p.sample[i].value = values[i];
  p.sampleType = CANONICAL_SAMPLE_TYPES.map((t) => ({ ...t }));
  p.periodType = { ...CANONICAL_PERIOD_TYPE };
  p.period = plan.period;
  if (p.defaultSampleType !== "samples" && p.defaultSampleType !== "cpu") p.defaultSampleType = "";
  return p;
}

/**
 * Checks the values of a canonical upload: none negative, and each column's total within 2^53
 * (so aggregating the upload's own samples cannot overflow). Throws a one-line ProfileError
 * (`unsupported`) naming the first offending sample or column.
 */
export function checkUploadValues(p: Profile): void {
  let count = 0, cpu = 0;
  for (let i = 0; i < p.sample.length; i++) {
    const v = p.sample[i].value;
    for (let c = 0; c < v.length; c++) {
      if (v[c] < 0) {
        throw new ProfileError(
          "unsupported",
          `sample ${i} has a negative ${fmt(p.sampleType[c])} value ${v[c]} (a diff profile is not PGO input)`,
        );
      }
    }
    count += v[0];
    cpu += v[1];
  }
  for (const [total, t] of [[count, 0], [cpu, 1]]) {
    if (!Number.isSafeInteger(total)) {
      throw new ProfileError("unsupported", `the ${fmt(p.sampleType[t])} values of the upload sum beyond 2^53`);
    }
  }
}
